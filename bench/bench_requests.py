"""Benchmark: data-subject requests on the benchmark data (1,000,000 accounts by default).

The synthetic generator builds the data once into a template database (the one ``make bench``
builds, reused with ``--keep-templates``); each measurement runs ``gdpr_subject_requests`` once with
``airflow dags test`` (every task in one process) on its own ``CREATE DATABASE ... TEMPLATE`` copy:

* ``one erasure``: one verified erasure request for a typical member (live, not eligible tonight):
  the ``erase_requested_accounts`` task, its time in PostgreSQL (the "task sql time" line that
  ``retention.runtime.engines`` logs) and its wall time;
* ``one access``: one verified access request for a typical member: ``build_requested_packages``;
* ``backlog``: 1,000 verified requests at once (``--backlog``): 400 erasures, 250 access, 100
  portability, 100 restrictions, 50 members' objections, 100 prospects' erasures: every task of
  the one run, and the run's wall time; then the quiet run after it (its one count).

Prints a table, writes ``var/bench/requests.json``, drops its databases.

    make bench-requests                                    # 1,000,000 accounts
    make bench-requests BENCH_ARGS="--accounts 100000 --keep-templates"
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins"))
sys.path.insert(0, str(REPO / "bench"))

from bench_pipeline import (  # noqa: E402
    AS_OF,
    OUT,
    Databases,
    airflow_env,
    build_template,
    clone,
    last_run_task_instances,
    say,
    sql_seconds,
    url,
)

DAG_ID = "gdpr_subject_requests"
RECEIVED = "2026-06-14T09:00:00+00:00"
QUIET_AS_OF = "2026-06-15T00:05:00+00:00"
BACKLOG_MIX = (("erasure", 0.40), ("access", 0.25), ("portability", 0.10), ("restriction", 0.10),
               ("objection", 0.05))  # the rest: prospects' erasures

# Live members with no reason to go tonight, in a stable pseudo-random order.
TYPICAL_MEMBERS = """
select a.id from app.accounts as a
where a.anonymised_at is null and a.closed_at is null and a.deceased_reported_at is null
  and a.legal_hold_until is null and a.last_login_at >= %(as_of)s::timestamptz - interval '1 year'
order by hashtext(a.id::text || ':bench') limit %(n)s
"""
PROSPECT_EMAILS = """
select p.email from app.prospects as p where p.email is not null and p.objected_at is null
order by hashtext(p.id::text || ':bench') limit %(n)s
"""
INSERT_REQUEST = """
insert into retention.subject_requests (request_type, account_id, prospect_email, received_at, identity_verified_at)
values (%s, %s, %s, %s, %s)
"""


def requests_env(home: Path, app_url: str, wh_url: str) -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {**airflow_env(home, app_url, wh_url), "RETENTION_PACKAGE_KEY": Fernet.generate_key().decode(),
            "RETENTION_PACKAGE_ROOT": str(home / "packages")}


def run_requests_dag(home: Path, env: dict[str, str], as_of: str) -> dict:
    """One `airflow dags test gdpr_subject_requests` run: wall time, seconds and SQL seconds per task."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    if not (home / "airflow.db").exists():
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    log = home / f"run-{uuid.uuid4().hex[:6]}.log"
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen([airflow, "dags", "test", DAG_ID, "-c", json.dumps({"as_of": as_of})],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            time.sleep(2)
            say(f"    ... {DAG_ID} run {time.monotonic() - started:.0f} s")
    wall = time.monotonic() - started
    tis = last_run_task_instances(home, log)
    return {"wall_s": round(wall, 2), "tasks": {t: round(s or 0.0, 3) for t, _, s in tis},
            "sql": {t: round(s, 3) for t, s in sql_seconds(log).items()}, "log": str(log)}


def fresh(dbs: Databases, template: str) -> tuple[str, str, Path, dict[str, str]]:
    """A copy of the template, its warehouse, an Airflow home, and the schema migrated by a quiet run."""
    app, wh = clone(dbs, template)
    home = Path(tempfile.mkdtemp(prefix="rt_bench_requests_"))
    env = requests_env(home, url(dbs.admin, app, "retention_pipeline"), url(dbs.admin, wh, "retention_pipeline"))
    run_requests_dag(home, env, AS_OF)  # migrates what the pipeline owns (not timed)
    return app, wh, home, env


def insert(dbs: Databases, app: str, rows: list[tuple]) -> None:
    with psycopg.connect(make_conninfo(dbs.admin, dbname=app)) as c:
        c.cursor().executemany(INSERT_REQUEST, rows)


def sample(dbs: Databases, app: str, query: str, n: int) -> list:
    with psycopg.connect(make_conninfo(dbs.admin, dbname=app)) as c:
        return [r[0] for r in c.execute(query, {"as_of": AS_OF, "n": n}).fetchall()]


def one_request(dbs: Databases, template: str, request_type: str, task_id: str) -> dict:
    app, _, home, env = fresh(dbs, template)
    (member,) = sample(dbs, app, TYPICAL_MEMBERS, 1)
    insert(dbs, app, [(request_type, member, None, RECEIVED, RECEIVED)])
    run = run_requests_dag(home, env, AS_OF)
    with psycopg.connect(make_conninfo(dbs.admin, dbname=app)) as c:
        state = c.execute("select state from retention.subject_requests").fetchone()[0]
    return {"task": task_id, "task_s": run["tasks"].get(task_id), "sql_s": run["sql"].get(task_id),
            "wall_s": run["wall_s"], "state": state}


def backlog(dbs: Databases, template: str, size: int) -> dict:
    app, _, home, env = fresh(dbs, template)
    counts = {kind: int(size * share) for kind, share in BACKLOG_MIX}
    prospects = size - sum(counts.values())
    members = iter(sample(dbs, app, TYPICAL_MEMBERS, sum(counts.values())))
    rows = [(kind, next(members), None, RECEIVED, RECEIVED) for kind, n in counts.items() for _ in range(n)]
    rows += [("erasure", None, email, RECEIVED, RECEIVED) for email in sample(dbs, app, PROSPECT_EMAILS, prospects)]
    insert(dbs, app, rows)
    say(f"  backlog: {len(rows):,} requests inserted; running {DAG_ID}")
    run = run_requests_dag(home, env, AS_OF)
    with psycopg.connect(make_conninfo(dbs.admin, dbname=app)) as c:
        states = dict(c.execute("select state, count(*) from retention.subject_requests group by state").fetchall())
        receipts = c.execute("select count(*) from retention.request_receipts").fetchone()[0]
    # Five minutes later, with the backlog answered: what a quiet run costs.
    quiet = run_requests_dag(home, env, QUIET_AS_OF)
    return {"requests": len(rows), "mix": {**counts, "prospect erasure": prospects}, "states": states,
            "receipts": receipts, **run,
            "quiet": {"wall_s": quiet["wall_s"], "pick_up_s": quiet["tasks"].get("pick_up_requests"),
                      "pick_up_sql_s": quiet["sql"].get("pick_up_requests"),
                      "skipped": sum(1 for t, s in quiet["tasks"].items() if t != "pick_up_requests")}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--backlog", type=int, default=1000, help="requests processed in one run")
    parser.add_argument("--keep-templates", action="store_true", help="keep the generated data for the next run")
    parser.add_argument("--measure", default="erasure,access,backlog", help="which measurements, comma-separated")
    args = parser.parse_args(argv)
    from retention.localpg import ensure_postgres

    dbs = Databases(ensure_postgres(REPO / "var" / "pg"))
    try:
        template = build_template(dbs, args.accounts, args.keep_templates)
        wanted = set(args.measure.split(","))
        singles = {}
        if "erasure" in wanted:
            say("one erasure")
            singles["one erasure"] = one_request(dbs, template, "erasure", "erase_requested_accounts")
        if "access" in wanted:
            say("one access package")
            singles["one access package"] = one_request(dbs, template, "access", "build_requested_packages")
        bulk = None
        if "backlog" in wanted:
            say(f"a backlog of {args.backlog:,} requests")
            bulk = backlog(dbs, template, args.backlog)
    finally:
        dbs.drop_all()
    result = {"accounts": args.accounts, **singles, "backlog": bulk}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "requests.json").write_text(json.dumps(result, indent=2, default=str))
    print(f"\n{args.accounts:,} accounts")
    print(f"{'measurement':<28}{'task s':>10}{'sql s':>10}{'run wall s':>12}  state")
    for name, r in singles.items():
        print(f"{name:<28}{r['task_s'] or 0:>10.3f}{r['sql_s'] or 0:>10.3f}{r['wall_s']:>12.1f}  {r['state']}")
    if bulk is None:
        return 0
    print(f"\nbacklog: {bulk['requests']:,} requests {bulk['mix']} in one run: {bulk['wall_s']:.1f} s wall; "
          f"states {bulk['states']}; {bulk['receipts']:,} receipts")
    for task_id, seconds in sorted(bulk["tasks"].items(), key=lambda kv: -kv[1]):
        print(f"  {task_id:<32}{seconds:>10.2f} s   sql {bulk['sql'].get(task_id, 0):.2f} s")
    q = bulk["quiet"]
    print(f"the quiet run after it: pick_up_requests {q['pick_up_s'] or 0:.3f} s (sql {q['pick_up_sql_s'] or 0:.3f} s), "
          f"run {q['wall_s']:.1f} s wall")
    say(f"wrote {OUT / 'requests.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
