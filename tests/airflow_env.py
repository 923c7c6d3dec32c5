"""Point Airflow at a throwaway home before anything imports it (tests run the real DAG in-process)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
_home: Path | None = None


def configure() -> Path:
    """Set AIRFLOW_HOME & co. for this test session (idempotent)."""
    global _home
    if _home is None:
        _home = Path(tempfile.mkdtemp(prefix="rt_airflow_"))
        os.environ.update(
            {
                "AIRFLOW_HOME": str(_home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                "GX_ANALYTICS_ENABLED": "false",
            }
        )
    return _home


def migrate() -> None:
    """Create the metadata database once per session (SQLite, as in `airflow dags test`)."""
    home = configure()
    marker = home / ".migrated"
    if marker.exists():
        return
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
    marker.touch()
