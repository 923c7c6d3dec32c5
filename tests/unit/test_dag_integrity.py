"""The DAG as the dag processor sees it: no import errors, fixed tags, documented tasks, and nothing
heavy or secret touched while parsing (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PARSE_PROBE = r"""
import json, sys
calls = []
import airflow.sdk as sdk
from airflow.sdk import BaseHook, Connection, Variable
def spy(name):
    def _f(*a, **k):
        calls.append(name)
        raise RuntimeError(f"{name} called while parsing")
    return _f
Connection.get = classmethod(spy("Connection.get"))
BaseHook.get_connection = classmethod(spy("BaseHook.get_connection"))
Variable.get = staticmethod(spy("Variable.get"))
before = set(sys.modules)
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
heavy = sorted(m for m in ("pandas", "great_expectations", "faker", "retention.accounts", "retention.quality.gx_runner")
               if m in sys.modules and m not in before)
from airflow.serialization.serialized_objects import DagSerialization
def doc_shown(t):
    # What the UI's Task Documentation shows: doc_md of the task as the scheduler serialized it.
    return bool(t.doc_md)
def describe(dag):
    shown = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    tasks = {t.task_id: {"doc": doc_shown(shown.get_task(t.task_id)), "retries": t.retries,
                          "policy": type(getattr(t, "retry_policy", None)).__name__} for t in dag.tasks}
    return {"tags": sorted(dag.tags), "catchup": dag.catchup, "max_active_runs": dag.max_active_runs,
            "timetable": type(dag.timetable).__name__, "tz": str(getattr(dag.timetable, "timezone", "")),
            "cron": getattr(dag.timetable, "expression", None), "doc_md": bool(dag.doc_md), "tasks": tasks,
            "params": sorted(dag.params.keys())}
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dag_ids": sorted(bag.dag_ids), "calls": calls, "heavy": heavy,
    "dags": {dag_id: describe(dag) for dag_id, dag in bag.dags.items()},
}))
"""


@pytest.fixture(scope="module")
def parsed(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow_home")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"), "PYTHONPATH": str(REPO / "plugins")}
    env.pop("AIRFLOW_CONN_APP_DB", None)
    out = subprocess.run([sys.executable, "-c", PARSE_PROBE, str(REPO / "dags")], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_no_import_errors_and_file_name_is_dag_id(parsed):
    assert parsed["errors"] == {}
    assert parsed["dag_ids"] == sorted(p.stem for p in (REPO / "dags").glob("*.py"))


def test_no_connection_or_variable_lookup_and_nothing_heavy_at_parse_time(parsed):
    assert parsed["calls"] == []
    assert parsed["heavy"] == []


def test_tags_come_from_the_fixed_list(parsed):
    from retention.runtime import ALLOWED_TAGS

    for dag_id, dag in parsed["dags"].items():
        assert dag["tags"] and set(dag["tags"]) <= ALLOWED_TAGS, dag_id


def test_schedule_contract(parsed):
    nightly = parsed["dags"]["gdpr_retention"]
    assert nightly["cron"] == "0 2 * * *"
    assert nightly["params"] == ["as_of", "dry_run"]
    watchdog = parsed["dags"]["gdpr_retention_watchdog"]
    assert watchdog["cron"] == "0 6 * * *"  # the deadline the privacy policy's run must meet
    assert watchdog["params"] == ["as_of"]
    requests = parsed["dags"]["gdpr_subject_requests"]
    assert requests["cron"] == "*/5 * * * *"  # a request is picked up within minutes
    assert requests["params"] == ["account_id", "as_of", "identity_verified_at", "received_at", "request_type"]
    for dag_id, dag in parsed["dags"].items():
        assert dag["timetable"] == "CronTriggerTimetable", dag_id
        assert "Europe/Paris" in dag["tz"], dag_id
        assert dag["catchup"] is False, dag_id
        assert dag["max_active_runs"] == 1, dag_id


def test_every_task_is_documented_in_the_ui(parsed):
    for dag_id, dag in parsed["dags"].items():
        assert dag["doc_md"], dag_id
        for task_id, task in dag["tasks"].items():
            assert task["doc"], f"{dag_id}.{task_id} shows no documentation in the UI"
    # The mapped batch task too (a mapped task does not take its docstring by itself).
    assert parsed["dags"]["gdpr_retention"]["tasks"]["accounts.anonymise_account_batch"]["doc"]


def test_nightly_tasks_retry_transient_errors_only(parsed):
    for task_id, task in parsed["dags"]["gdpr_retention"]["tasks"].items():
        assert task["retries"] >= 1, task_id
        assert task["policy"] == "ExceptionRetryPolicy", task_id
    for task_id, task in parsed["dags"]["gdpr_subject_requests"]["tasks"].items():
        assert task["retries"] >= 1, task_id
        assert task["policy"] == "ExceptionRetryPolicy", task_id
    # The watchdog sends alerts then fails: a retry would send them again.
    for task_id, task in parsed["dags"]["gdpr_retention_watchdog"]["tasks"].items():
        assert task["retries"] == 0, task_id


def test_dag_files_import_only_the_public_sdk():
    for path in (REPO / "dags").glob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("from airflow", "import airflow")):
                assert stripped.startswith("from airflow.sdk import"), f"{path.name}: {stripped}"
