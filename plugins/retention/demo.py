"""One command, end to end: PostgreSQL (found or started), two demo databases, synthetic data,
one real nightly run of ``gdpr_retention`` through Airflow, and a readable report.

    python -m retention.demo [--accounts 10000] [--seed 1] [--as-of 2026-06-15T00:00:00+00:00]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

REPO_ROOT = Path(__file__).resolve().parents[2]
VAR = REPO_ROOT / "var"
APP_DB, WAREHOUSE_DB = "retention_demo_app", "retention_demo_warehouse"


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def db_url(admin_url: str, dbname: str, user: str | None = None) -> str:
    params = conninfo_to_dict(admin_url)
    params["dbname"] = dbname
    if user:
        params["user"] = user
        params.pop("password", None)
    host = params.get("host", "127.0.0.1")
    auth = params.get("user", "postgres")
    return f"postgresql://{auth}@{host}:{params.get('port', 5432)}/{dbname}"


def airflow_env(app_url: str, warehouse_url: str) -> dict[str, str]:
    """The environment of the demo's Airflow (also used by `make ui`)."""
    home = VAR / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_APP_DB": app_url,
        "AIRFLOW_CONN_STATS_WAREHOUSE": warehouse_url,
        "PYTHONPATH": str(REPO_ROOT / "plugins"),
        "GX_ANALYTICS_ENABLED": "false",
    }


def prepare_databases(admin_url: str) -> tuple[str, str]:
    from retention.roles import apply_roles

    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in (APP_DB, WAREHOUSE_DB):
            conn.execute(f'drop database if exists "{name}" with (force)')
            conn.execute(f'create database "{name}"')
    app_admin = make_conninfo(admin_url, dbname=APP_DB)
    warehouse_admin = make_conninfo(admin_url, dbname=WAREHOUSE_DB)
    from retention.appschema import create_app_schema

    create_app_schema(app_admin)
    apply_roles(app_admin, warehouse_admin)
    return app_admin, warehouse_admin


def run_nightly(env: dict[str, str], as_of: str, log_file: Path) -> int:
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    conf = json.dumps({"as_of": as_of, "dry_run": False})
    with log_file.open("w") as out:
        proc = subprocess.Popen([airflow, "dags", "test", "gdpr_retention", "-c", conf], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
        started = time.monotonic()
        while proc.poll() is None:
            time.sleep(5)
            say(f"  ... nightly run in progress ({time.monotonic() - started:.0f} s)")
    # The run's tasks decide, not the CLI's exit code: Airflow 3.3.2's `dags test` crashes after a
    # *successful* run of a DAG that has a deadline (apache/airflow#73428), leaving the run "running".
    import sqlite3

    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as db:
        states = [s for (s,) in db.execute(
            "select state from task_instance where run_id = "
            "(select run_id from dag_run where dag_id = 'gdpr_retention' order by id desc limit 1)")]
    return 0 if states and all(s in ("success", "skipped") for s in states) else (proc.returncode or 1)


def print_report(app_admin: str, warehouse_admin: str) -> None:
    with psycopg.connect(app_admin) as conn:
        run = conn.execute("select run_id, status, report from retention.runs order by started_at desc limit 1").fetchone()
        audit = conn.execute("select rule, rows_affected, partitions_dropped, round(duration_s::numeric, 2) "
                             "from retention.rule_audit where run_id = %s order by rule", (run[0],)).fetchall() if run else []
        backlog = conn.execute("select count(*) from app.accounts where anonymised_at is null").fetchone()[0]
    with psycopg.connect(warehouse_admin) as conn:
        published = {t: conn.execute(f"select count(*), coalesce(sum(members), 0) from published.{t}").fetchone()
                     for t in ("anonymised_cohorts", "language_levels", "experience_profiles")}
        hidden = conn.execute("select count(*) from stats.anonymised_cohorts where members < "
                              "(select min_cell_size from stats.settings)").fetchone()[0]
    print()
    print("=" * 72)
    if run is None:
        print("No run was recorded: see the Airflow log above.")
        return
    report = run[2] or {}
    print(f"Nightly run {run[0]}: {run[1].upper()}")
    print(f"as_of {report.get('as_of')}")
    for name, value in (report.get("cutoffs") or {}).items():
        print(f"  cutoff {name:<24} {value}")
    print("-" * 72)
    print(f"{'rule':<28}{'rows':>12}{'partitions':>12}{'seconds':>10}")
    for rule, rows, parts, secs in audit:
        print(f"{rule:<28}{rows:>12,}{parts:>12}{secs:>10}")
    print("-" * 72)
    print(f"live accounts remaining: {backlog:,}")
    for table, (cells, members) in published.items():
        print(f"published.{table}: {cells} cell(s) shown, {members:,} member(s) in shown cells")
    print(f"cohort cells hidden (fewer than k members): {hidden}")
    print("=" * 72)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--as-of", default="2026-06-15T00:00:00+00:00")
    args = parser.parse_args(argv)

    from retention.localpg import ensure_postgres
    from retention.roles import PIPELINE_ROLE
    from retention.synthetic import generate

    started = time.monotonic()
    say("finding PostgreSQL (RETENTION_PG_URL, else 127.0.0.1:5432, else a throwaway cluster in var/pg)")
    admin_url = ensure_postgres(VAR / "pg")
    say(f"creating databases {APP_DB} and {WAREHOUSE_DB} with least-privilege roles")
    app_admin, warehouse_admin = prepare_databases(admin_url)
    say(f"generating synthetic data: {args.accounts:,} accounts, seed {args.seed}, as of {args.as_of}")
    counts = generate(app_admin, accounts=args.accounts, seed=args.seed, as_of=args.as_of,
                      documents_dir=VAR / "documents", progress=True)
    say("rows written: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))

    env = airflow_env(db_url(admin_url, APP_DB, PIPELINE_ROLE), db_url(admin_url, WAREHOUSE_DB, PIPELINE_ROLE))
    log_file = VAR / "demo-run.log"
    say(f"running one real nightly run through Airflow (airflow dags test; full log in {log_file.relative_to(REPO_ROOT)})")
    code = run_nightly(env, args.as_of, log_file)
    print_report(app_admin, warehouse_admin)
    say(f"done in {time.monotonic() - started:.0f} s; open the Airflow UI on this run with: make ui")
    return code


if __name__ == "__main__":
    sys.exit(main())
