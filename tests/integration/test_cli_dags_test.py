"""`airflow dags test gdpr_retention`, the first command every Airflow developer runs, exits 0 and
records the run as successful (on Airflow 3.3.2 a DAG with a Deadline Alert made it crash after a
successful run and leave the run `running`)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from platform_fixture import make_platform

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_airflow_dags_test_exits_0_and_records_success(databases, tmp_path):
    p = make_platform(databases)
    with p.app() as c:
        p.add_account(c, email="cli.closed@example.org", closed_at="2026-01-01T00:00:00+00:00")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "PYTHONPATH": str(REPO / "plugins"), "AIRFLOW_CONN_APP_DB": p.pipeline_app_url,
                "AIRFLOW_CONN_STATS_WAREHOUSE": p.pipeline_warehouse_url,
                "RETENTION_DATA_DOCS_DIR": str(tmp_path / "data_docs")})
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    done = subprocess.run([airflow, "dags", "test", "gdpr_retention", "-c",
                           json.dumps({"as_of": "2026-06-15T00:00:00+00:00"})],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    with sqlite3.connect(tmp_path / "airflow.db") as db:
        assert db.execute("select state from dag_run where dag_id = 'gdpr_retention'").fetchall() == [("success",)]
    assert p.scalar("select count(*) from app.accounts where email is not null and closed_at is not null") == 0


def test_airflow_dags_test_records_and_answers_a_request_from_the_params(databases, tmp_path):
    """`airflow dags test gdpr_subject_requests -c {...}` outside the test process: the DPO's intake
    from the params (a run triggered by hand), then the erasure, recorded as a successful run."""
    p = make_platform(databases)
    with p.app() as c:
        account = p.add_account(c, email="cli.erasure@example.org")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update({"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "PYTHONPATH": str(REPO / "plugins"), "AIRFLOW_CONN_APP_DB": p.pipeline_app_url,
                "AIRFLOW_CONN_STATS_WAREHOUSE": p.pipeline_warehouse_url})
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    conf = {"as_of": "2026-06-15T00:00:00+00:00", "request_type": "erasure", "account_id": account,
            "received_at": "2026-06-01T09:00:00+02:00", "identity_verified_at": "2026-06-02T09:00:00+02:00"}
    done = subprocess.run([airflow, "dags", "test", "gdpr_subject_requests", "-c", json.dumps(conf)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    with sqlite3.connect(tmp_path / "airflow.db") as db:
        assert db.execute("select state from dag_run where dag_id = 'gdpr_subject_requests'").fetchall() == [
            ("success",)]
    assert p.rows("select state from retention.subject_requests") == [("fulfilled",)]
    assert p.scalar("select email is null and anonymised_at is not null from app.accounts where id = %s", (account,))
