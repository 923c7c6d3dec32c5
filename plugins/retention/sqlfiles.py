"""SQL lives in ``sql/<area>/<verb>_<object>.sql``; this module finds and caches it."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


def sql_root() -> Path:
    """``RETENTION_SQL_DIR`` if set (deployments mount sql/ elsewhere), else the repository's sql/."""
    configured = os.environ.get("RETENTION_SQL_DIR")
    if configured:
        return Path(configured)
    # plugins/retention/sqlfiles.py -> repository root (also /opt/airflow in the compose stack)
    return Path(__file__).resolve().parents[2] / "sql"


@lru_cache(maxsize=None)
def load_sql(name: str) -> str:
    """Text of ``sql/<name>.sql``, e.g. ``load_sql("accounts/select_candidates")``."""
    path = sql_root() / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"SQL file {path} is missing")
    return path.read_text(encoding="utf-8")
