"""Airflow's plugin manager executes every .py file of the plugins folder in every Airflow process
(scheduler, api-server, each task): only the plugin may be there for it, never the development tools."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, sys
before = set(sys.modules)
from airflow import plugins_manager
plugins_manager.ensure_plugins_loaded()
plugins, errors = plugins_manager._get_plugins()
new = set(sys.modules) - before
print(json.dumps({
    "plugins": sorted(p.name for p in plugins),
    "errors": errors,
    "ours": sorted(m for m in new if m.split(".")[0] in ("retention", "retention_ui_plugin")
                   or m in ("demo", "synthetic", "localpg", "stack", "accounts", "ui")),
    "heavy": sorted(m for m in ("numpy", "pandas", "faker", "great_expectations", "psycopg") if m in new),
}))
"""

# What the api-server needs to serve the Retention page, and nothing else of ours.
EXPECTED = ["retention", "retention.compliance", "retention.compliance.app", "retention.compliance.auth",
            "retention_ui_plugin"]


def test_the_plugin_manager_imports_only_the_plugin(tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"), "PYTHONPATH": str(REPO / "plugins")}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded["errors"] == {}
    assert "retention_ui" in loaded["plugins"]
    assert loaded["ours"] == EXPECTED
    assert loaded["heavy"] == []


def test_every_python_file_of_the_package_is_ignored_by_the_plugin_manager():
    from airflow._shared.module_loading import find_path_from_directory

    seen = {Path(p).relative_to(REPO / "plugins").as_posix()
            for p in find_path_from_directory(str(REPO / "plugins"), ".airflowignore", "glob")
            if p.endswith(".py")}
    assert seen == {"retention_ui_plugin.py"}
    # The tools the issue names exist (so the ignore file is what keeps them out).
    for tool in ("synthetic.py", "demo.py", "localpg.py"):
        assert (REPO / "plugins" / "retention" / tool).is_file()
