"""One command, end to end: PostgreSQL (found or started), two demo databases, synthetic data,
real nightly runs of ``gdpr_retention`` through Airflow, and a readable report.

    python -m retention.demo [--accounts 10000] [--seed 1] [--as-of 2026-06-30T00:00:00+00:00] [--nights 5]

Between two nights the platform lives on (:func:`retention.synthetic.advance`: closures, deaths,
logins, visitors, prospects, objections), so every night has work; the default five nights span the
close of June, so the Retention page shows a history across a month's end.

Each night is ``airflow dags test gdpr_retention --use-executor``: the scheduler's loop with
LocalExecutor, every task in a process of its own that reports to an execution API server the demo
starts on 127.0.0.1, so the task logs are written where ``make ui`` shows them. The databases are
named after the checkout (:mod:`retention.checkout`): two checkouts never touch each other's demo.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta, timezone
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from retention.checkout import REPO_ROOT, demo_databases

VAR = REPO_ROOT / "var"
DEFAULT_ACCOUNTS = 10_000
DEFAULT_AS_OF = "2026-06-30T00:00:00+00:00"
# Each night through `airflow dags test --use-executor` costs 35-60 s on 2 cores (a process per task,
# Great Expectations imported by each gate): five nights keep `make demo` near 5 minutes. More with --nights.
DEFAULT_NIGHTS = 5


def say(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def db_url(admin_url: str, dbname: str, user: str | None = None, password: str | None = None) -> str:
    from urllib.parse import quote

    params = conninfo_to_dict(admin_url)
    if user:
        params["user"] = user
        params["password"] = password
    host = params.get("host", "127.0.0.1")
    auth = quote(params.get("user", "postgres"), safe="")
    if params.get("password"):
        auth += ":" + quote(params["password"], safe="")
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
    from psycopg import sql

    from retention.roles import apply_roles

    app_db, warehouse_db = demo_databases()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in (app_db, warehouse_db):
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    app_admin = make_conninfo(admin_url, dbname=app_db)
    warehouse_admin = make_conninfo(admin_url, dbname=warehouse_db)
    from retention.appschema import create_app_schema

    create_app_schema(app_admin)
    apply_roles(app_admin, warehouse_admin)
    return app_admin, warehouse_admin


def ensure_demo_databases(admin_url: str) -> tuple[str, str]:
    """The demo's databases, created and seeded (default size) when they do not exist yet (``make stack``)."""
    from retention.synthetic import generate

    app_db, warehouse_db = demo_databases()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        present = {name for (name,) in conn.execute(
            "select datname from pg_database where datname = any(%s)", ([app_db, warehouse_db],))}
    if present != {app_db, warehouse_db}:
        say(f"creating and seeding {app_db} and {warehouse_db} ({DEFAULT_ACCOUNTS:,} synthetic accounts)")
        app_admin, _ = prepare_databases(admin_url)
        generate(app_admin, accounts=DEFAULT_ACCOUNTS, seed=1, as_of=DEFAULT_AS_OF,
                 documents_dir=VAR / "documents", progress=True)
    return app_db, warehouse_db


def night_instants(first_as_of: str, nights: int) -> list[str]:
    """One as_of per night, a day apart (the first night anonymises the seeded backlog)."""
    from retention.window import parse_as_of

    first = parse_as_of(first_as_of)
    return [(first + timedelta(days=n)).isoformat() for n in range(nights)]


def run_nights(env: dict[str, str], instants: list[str], log_file: Path,
               between: Callable[[str, str], None] | None = None) -> int:
    """Each night through Airflow's scheduler loop and LocalExecutor; the exit code of the last failure.
    ``between(previous_as_of, as_of)`` runs before every night but the first (the platform's day)."""
    from retention.proctree import free_port
    from retention.stack import Supervisor, prepare_metadata, venv_bin, wait_until_healthy

    port = free_port()
    env = {**env, "PATH": f"{venv_bin()}{os.pathsep}{env.get('PATH', '')}",
           "AIRFLOW__CORE__EXECUTOR": "LocalExecutor", "AIRFLOW__CORE__PARALLELISM": "2",
           "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/"}
    prepare_metadata(env)
    supervisor = Supervisor(env=env, log_dir=VAR / "demo-logs")
    code = 0
    try:
        supervisor.start("execution-api", [str(venv_bin() / "airflow"), "api-server", "--apps", "execution",
                                           "-H", "127.0.0.1", "-p", str(port), "-w", "1"])
        wait_until_healthy(f"http://127.0.0.1:{port}/execution/health", supervisor)
        with log_file.open("w") as out:
            for number, as_of in enumerate(instants, start=1):
                if between is not None and number > 1:
                    between(instants[number - 2], as_of)
                conf = json.dumps({"as_of": as_of, "dry_run": False})
                proc = subprocess.Popen([str(venv_bin() / "airflow"), "dags", "test", "gdpr_retention",
                                         "--use-executor", "-c", conf],
                                        env=env, stdout=out, stderr=subprocess.STDOUT)
                started = time.monotonic()
                while proc.poll() is None:
                    time.sleep(5)
                    say(f"  ... night {number}/{len(instants)} (as_of {as_of}) in progress "
                        f"({time.monotonic() - started:.0f} s)")
                say(f"  night {number}/{len(instants)}: airflow dags test exited {proc.returncode} "
                    f"after {time.monotonic() - started:.0f} s")
                code = code or proc.returncode
    finally:
        supervisor.stop()
    return code


def warehouse_url(conninfo: str) -> str:
    params = conninfo_to_dict(conninfo)
    return db_url(conninfo, params["dbname"])


def print_report(app_admin: str, warehouse_admin: str, nights: int,
                 activity: dict[str, dict[str, int]] | None = None) -> None:
    """The nights, one line each (what each rule did, the gates, the time), their totals, the last
    night's detail and what was released to analysts. Counts only, never a value."""
    with psycopg.connect(app_admin) as conn:
        runs = conn.execute(
            "select r.run_id, r.status, r.as_of, extract(epoch from r.finished_at - r.started_at), "
            "coalesce(sum(a.rows_affected) filter (where a.rule = 'anonymise_deceased'), 0), "
            "coalesce(sum(a.rows_affected) filter (where a.rule = 'anonymise_closed'), 0), "
            "coalesce(sum(a.rows_affected) filter (where a.rule = 'anonymise_inactive'), 0), "
            "coalesce(sum(a.rows_affected) filter (where a.rule = 'purge_connection_logs'), 0), "
            "coalesce(sum(a.rows_affected) filter (where a.rule = 'purge_prospects'), 0), "
            "(select count(distinct q.gate) from retention.quality_results q where q.run_id = r.run_id), "
            "(select count(distinct q.gate) filter (where not q.success) from retention.quality_results q "
            " where q.run_id = r.run_id) "
            "from (select * from retention.runs where not dry_run order by started_at desc limit %s) as r "
            "left join retention.rule_audit as a using (run_id) "
            "group by r.run_id, r.status, r.as_of, r.started_at, r.finished_at order by r.started_at", (nights,)
        ).fetchall()
        last = runs[-1][0] if runs else None
        report = conn.execute("select report from retention.runs where run_id = %s", (last,)).fetchone()
        audit = conn.execute("select rule, rows_affected, partitions_dropped, round(duration_s::numeric, 2) "
                             "from retention.rule_audit where run_id = %s order by rule", (last,)).fetchall()
        backlog = conn.execute("select count(*) from app.accounts where anonymised_at is null").fetchone()[0]
        notices = conn.execute("select count(*) from retention.inactivity_notices").fetchone()[0]
    from retention.release import release_summary

    released = release_summary(warehouse_url(warehouse_admin))
    print()
    print("=" * 112)
    if not runs:
        print("No run was recorded: see the Airflow log above.")
        return
    print(f"{len(runs)} nightly run(s): {sum(1 for r in runs if r[1] == 'success')} succeeded, "
          f"{sum(1 for r in runs if r[9] and not r[10] and r[9] >= 5)} with every gate passed")
    print(f"{'night (as_of)':<14}{'status':<9}{'deceased':>9}{'closed':>8}{'inactive':>9}{'logs purged':>13}"
          f"{'prospects':>11}{'gates':>7}{'seconds':>9}  activity added before the night")
    totals = [0, 0, 0, 0, 0]
    for _run_id, status, as_of, seconds, deceased, closed, inactive, logs, prospects, gates, failed in runs:
        for i, value in enumerate((deceased, closed, inactive, logs, prospects)):
            totals[i] += value
        added = (activity or {}).get(f"{as_of.astimezone(timezone.utc):%Y-%m-%d}")
        added_text = ", ".join(f"{k} {v:,}" for k, v in added.items()) if added else "(seeded data)"
        print(f"{as_of:%Y-%m-%d}    {status:<9}{deceased:>9,}{closed:>8,}{inactive:>9,}{logs:>13,}{prospects:>11,}"
              f"{f'{gates - failed}/{gates}':>7}{float(seconds or 0):>9.1f}  {added_text}")
    print(f"{'total':<23}{totals[0]:>9,}{totals[1]:>8,}{totals[2]:>9,}{totals[3]:>13,}{totals[4]:>11,}")
    print("-" * 112)
    report = (report[0] if report else None) or {}
    print(f"last night: as_of {report.get('as_of')}, run {last}")
    for name, value in (report.get("cutoffs") or {}).items():
        print(f"  cutoff {name:<24} {value}")
    print(f"{'rule':<28}{'rows':>12}{'partitions':>12}{'seconds':>10}")
    for rule, rows, parts, secs in audit:
        print(f"{rule:<28}{rows:>12,}{parts:>12}{secs:>10}")
    print("-" * 112)
    print(f"live accounts remaining: {backlog:,}; inactivity notices pending: {notices:,}")
    for line in released or ["nothing released to analysts yet: a month is released after it has closed"]:
        print(line)
    print("=" * 112)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=DEFAULT_ACCOUNTS)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--as-of", default=DEFAULT_AS_OF, help="the first night's as_of (seeded data is relative to it)")
    parser.add_argument("--nights", type=int, default=DEFAULT_NIGHTS,
                        help=f"consecutive nights, a day apart, with synthetic activity between them "
                             f"(default {DEFAULT_NIGHTS}: about a minute each)")
    args = parser.parse_args(argv)
    if args.nights < 1:
        parser.error("--nights must be at least 1")

    from retention.localpg import ensure_postgres
    from retention.roles import PIPELINE_ROLE
    from retention.synthetic import advance, generate
    from retention.window import parse_as_of

    started = time.monotonic()
    say("finding PostgreSQL (RETENTION_PG_URL, else 127.0.0.1:5432, else a throwaway cluster in var/pg)")
    admin_url = ensure_postgres(VAR / "pg")
    app_db, warehouse_db = demo_databases()
    say(f"creating databases {app_db} and {warehouse_db} (named after this checkout) with least-privilege roles")
    app_admin, warehouse_admin = prepare_databases(admin_url)
    say(f"generating synthetic data: {args.accounts:,} accounts, seed {args.seed}, as of {args.as_of}")
    counts = generate(app_admin, accounts=args.accounts, seed=args.seed, as_of=args.as_of,
                      documents_dir=VAR / "documents", progress=True)
    say("rows written: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))

    env = airflow_env(db_url(admin_url, app_db, PIPELINE_ROLE), db_url(admin_url, warehouse_db, PIPELINE_ROLE))
    log_file = VAR / "demo-run.log"
    instants = night_instants(args.as_of, args.nights)
    say(f"running {len(instants)} nightly run(s) through Airflow (airflow dags test --use-executor, LocalExecutor; "
        f"full log in {log_file.relative_to(REPO_ROOT)})")
    activity: dict[str, dict[str, int]] = {}

    def platform_day(previous: str, as_of: str) -> None:
        night = f"{parse_as_of(as_of).astimezone(timezone.utc):%Y-%m-%d}"
        activity[night] = advance(app_admin, previous, as_of, args.seed)
        say("  between nights, the platform lived a day: "
            + ", ".join(f"{k} {v:,}" for k, v in activity[night].items()))

    code = run_nights(env, instants, log_file, between=platform_day)
    print_report(app_admin, warehouse_admin, len(instants), activity)
    say(f"done in {time.monotonic() - started:.0f} s; open the Airflow UI on these runs with: make ui")
    return code


if __name__ == "__main__":
    sys.exit(main())
