"""bin/airflow-metadata-retention against a throwaway Airflow: real `airflow db migrate`, two real runs
through `airflow dags test`, then the command itself; old runs' records and task logs go, recent ones
stay. A run "200 days old" is made by moving its recorded times back (Airflow records the wall clock)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
COMMAND = REPO / "bin" / "airflow-metadata-retention"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))

PROBE_DAG = '''
from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2020, 1, 1), catchup=False)
def retention_probe():
    @task
    def count() -> dict:
        return {"rows": 3}

    count()


retention_probe()
'''


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow_meta_home")
    (home / "dags").mkdir()
    (home / "dags" / "retention_probe.py").write_text(textwrap.dedent(PROBE_DAG))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                "PYTHONPATH": str(REPO / "plugins")})
    env.pop("RETENTION_POLICY_FILE", None)
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    return home, env


def airflow(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([AIRFLOW, *args], env=env, check=True, capture_output=True, text=True)


def rows(home: Path, sql: str, params=()) -> list[tuple]:
    with sqlite3.connect(home / "airflow.db") as db:
        return db.execute(sql, params).fetchall()


def age_run(home: Path, run_id: str, when: datetime) -> None:
    """Move every time Airflow recorded for a run back to `when` (as if it had run then)."""
    stamp = when.strftime("%Y-%m-%d %H:%M:%S.000000")
    with sqlite3.connect(home / "airflow.db") as db:
        db.execute("update dag_run set start_date = ?, end_date = ?, queued_at = ? where run_id = ?",
                   (stamp, stamp, stamp, run_id))
        db.execute("update task_instance set start_date = ?, end_date = ? where run_id = ?", (stamp, stamp, run_id))
        db.execute("update task_instance_history set start_date = ?, end_date = ? where run_id = ?",
                   (stamp, stamp, run_id))
        db.execute("update xcom set timestamp = ? where run_id = ?", (stamp, run_id))
        db.execute("update log set dttm = ? where run_id = ?", (stamp, run_id))


def write_task_log(home: Path, run_id: str, when: datetime) -> Path:
    path = home / "logs" / "dag_id=retention_probe" / f"run_id={run_id}" / "task_id=count" / "attempt=1.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"event": "Done. Returned value was: {\'rows\': 3}"}\n')
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def run_command(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(COMMAND), *args], env=env, capture_output=True, text=True)


def test_old_runs_records_and_logs_go_recent_ones_stay(airflow_home):
    home, env = airflow_home
    as_of = datetime.now(timezone.utc).replace(microsecond=0)
    # `dags test` records the logical date as the run's start; the task's times are the wall clock.
    recent = (as_of - timedelta(days=5)).replace(hour=0, minute=0, second=0)
    airflow(env, "dags", "test", "retention_probe", (recent - timedelta(days=1)).isoformat())
    airflow(env, "dags", "test", "retention_probe", recent.isoformat())
    runs = dict(rows(home, "select logical_date, run_id from dag_run where dag_id = 'retention_probe'"))
    assert len(runs) == 2
    old_run, new_run = (runs[k] for k in sorted(runs))
    age_run(home, old_run, as_of - timedelta(days=200))
    old_log = write_task_log(home, old_run, as_of - timedelta(days=200))
    new_log = write_task_log(home, new_run, as_of - timedelta(days=10))
    # Data Docs: an old run's (two gates), a recent run's, and the shared stylesheet (old, it stays).
    docs = home / "data_docs"
    old_docs, new_docs = docs / "manual__old", docs / "manual__recent"
    for run_dir, age in ((old_docs, 200), (new_docs, 10)):
        for gate in ("accounts_before", "accounts_after"):
            page = run_dir / gate / "index.html"
            page.parent.mkdir(parents=True, exist_ok=True)
            page.write_text("<html></html>")
            os.utime(page, ((as_of - timedelta(days=age)).timestamp(),) * 2)
    sheet = docs / "_assets" / "data_docs-0.css"
    sheet.parent.mkdir(parents=True)
    sheet.write_text("body {}")
    os.utime(sheet, ((as_of - timedelta(days=400)).timestamp(),) * 2)
    dp_log = home / "logs" / "dag_processor" / "old-parse.log"
    dp_log.parent.mkdir(parents=True, exist_ok=True)
    dp_log.write_text("parsed\n")
    os.utime(dp_log, ((as_of - timedelta(days=120)).timestamp(),) * 2)

    def counts(run_id):  # rows that exist for the run, per table (1 = some, 0 = none)
        return {table: min(1, rows(home, f"select count(*) from {table} where run_id = ?", (run_id,))[0][0])
                for table in ("dag_run", "task_instance", "xcom", "log")}

    assert counts(old_run) == counts(new_run) == {"dag_run": 1, "task_instance": 1, "xcom": 1, "log": 1}

    # A dry run reports and keeps everything.
    dry = run_command(env, "--as-of", as_of.isoformat(), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would delete 2 file(s)" in dry.stdout
    assert "data docs: would delete 1 run(s), 2 file(s)" in dry.stdout
    assert counts(old_run)["dag_run"] == 1 and old_log.exists() and old_docs.exists()

    # The real run: cutoff = as_of - 90 days (the policy's value).
    done = run_command(env, "--as-of", as_of.isoformat())
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"keep 90 days, cutoff {(as_of - timedelta(days=90)).isoformat()}" in done.stdout
    assert "deleted 2 file(s)" in done.stdout
    assert counts(old_run) == {"dag_run": 0, "task_instance": 0, "xcom": 0, "log": 0}
    assert counts(new_run) == {"dag_run": 1, "task_instance": 1, "xcom": 1, "log": 1}
    assert rows(home, "select count(*) from dag where dag_id = 'retention_probe'")[0][0] == 1, "the DAG stays"
    assert not old_log.exists() and not old_log.parent.parent.exists(), "the old run's log folder is gone"
    assert new_log.exists() and not dp_log.exists()
    assert "data docs: deleted 1 run(s), 2 file(s)" in done.stdout
    assert not old_docs.exists() and (new_docs / "accounts_after" / "index.html").exists() and sheet.exists()
    assert not list(home.glob("**/_airflow_deleted__*")), "no archive tables"
    assert not rows(home, "select name from sqlite_master where name like '\\_airflow\\_deleted\\_\\_%' escape '\\'")

    # Idempotent: a second pass finds nothing more.
    again = run_command(env, "--as-of", as_of.isoformat())
    assert again.returncode == 0 and "deleted 0 file(s)" in again.stdout
    assert "data docs: deleted 0 run(s)" in again.stdout
    assert counts(new_run)["dag_run"] == 1


def test_refuses_an_instant_without_time_zone_and_too_short_a_retention(airflow_home):
    _, env = airflow_home
    naive = run_command(env, "--as-of", "2026-06-15T04:00:00")
    assert naive.returncode != 0 and "time zone" in naive.stderr
    short = run_command(env, "--days", "1")
    assert short.returncode != 0 and "less than 7 days" in short.stderr
