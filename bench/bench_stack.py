"""One night at the demo's size through the deployed topology (``make stack``: Celery, 1 and 2 task
processes per worker) against ``airflow dags test`` on a copy of the same data.

    python bench/bench_stack.py [--accounts 10000] [--workers 1,2]    (make bench-stack)

For each measurement: a fresh copy of one synthetic template; the stack started as ``make stack``
starts it (time until the UI answers), the night triggered through the REST API as the UI's Trigger
button does, its duration read from Airflow (start to end of the run), then the stack stopped and the
peak memory of each service read from its own report. Prints a table and writes var/bench/stack.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins"))
sys.path.insert(0, str(REPO / "bench"))

from bench_pipeline import AS_OF, Databases, build_template, clone, run_dag, say, url  # noqa: E402
from retention.airflow_api import AirflowApi, wait_for  # noqa: E402
from retention.proctree import free_port  # noqa: E402

OUT = REPO / "var" / "bench"
MEMORY = re.compile(r"peak memory (\S+)\s+(\d+) MB all its processes,\s+(\d+) MB its largest process")


def stack_night(dbs: Databases, template: str, workers: int) -> dict:
    from retention.deployenv import ensure_env_file

    app, wh = clone(dbs, template)
    work = Path(tempfile.mkdtemp(prefix="rt_bench_stack_"))
    values = ensure_env_file(work / ".env")
    metadata = f"rt_bench_meta_{os.urandom(3).hex()}"
    dbs.names.append(metadata)
    port = free_port()
    out_path = work / "stack.out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "RETENTION_"))}
    env["PYTHONPATH"] = str(REPO / "plugins")
    started = time.monotonic()
    with out_path.open("w") as out:
        stack = subprocess.Popen([sys.executable, "-m", "retention.stack", "--port", str(port), "--root", str(work / "s"),
                                  "--env-file", str(work / ".env"), "--metadata-db", metadata, "--app-db", app,
                                  "--warehouse-db", wh, "--workers", str(workers), "--queue", f"bench_{os.urandom(3).hex()}"],
                                 cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for("the stack", lambda: "Airflow answers" in out_path.read_text() or stack.poll() is not None, 300, 0.5)
        if stack.poll() is not None:
            raise SystemExit(f"the stack did not start; see {out_path}")
        answered = time.monotonic() - started
        api = AirflowApi(port, values["AIRFLOW_ADMIN_PASSWORD"])
        wait_for("the DAG", lambda: api.get("/api/v2/dags/gdpr_retention").get("dag_id"), 120)
        # Triggered while paused, so the schedule adds no run of its own; unpausing starts it.
        run_id = api.trigger("gdpr_retention", {"as_of": AS_OF})
        api.unpause("gdpr_retention")
        run = wait_for("the night", lambda: api.finished_run("gdpr_retention", run_id), 900, 1)
        if run["state"] != "success":
            raise SystemExit(f"the night failed through the stack; see {work}")
        tis = api.task_instances("gdpr_retention", run_id)
        inside = sum(t["duration"] or 0 for t in tis)
        duration = (datetime.fromisoformat(run["end_date"]) - datetime.fromisoformat(run["start_date"])).total_seconds()
    finally:
        stack.send_signal(signal.SIGTERM)
        stack.wait(timeout=120)
    memory = {name: {"all_mb": int(total), "largest_mb": int(largest)}
              for name, total, largest in MEMORY.findall(out_path.read_text())}
    return {"workers": workers, "answered_s": answered, "run_s": duration, "tasks_s": inside,
            "tasks": len(tis), "memory": memory}


def main(argv: list[str] | None = None) -> int:
    from retention.localpg import ensure_postgres

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args(argv)
    dbs = Databases(ensure_postgres(REPO / "var" / "pg"))
    results: dict = {"accounts": args.accounts}
    try:
        template = build_template(dbs, args.accounts, keep=False)
        say("airflow dags test on a copy")
        app, wh = clone(dbs, template)
        home = Path(tempfile.mkdtemp(prefix="rt_bench_dagstest_"))
        started = time.monotonic()
        dags_test = run_dag(home, url(dbs.admin, app, "retention_pipeline"), url(dbs.admin, wh, "retention_pipeline"), AS_OF)
        results["dags_test"] = {"wall_s": time.monotonic() - started, "peak_mb": dags_test["peak_rss_mb"]}
        results["stack"] = []
        for workers in (int(w) for w in args.workers.split(",")):
            say(f"make stack with {workers} task process(es) per Celery worker")
            results["stack"].append(stack_night(dbs, template, workers))
    finally:
        dbs.drop_all()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "stack.json").write_text(json.dumps(results, indent=2))
    print(f"one night, {args.accounts:,} accounts")
    print(f"  airflow dags test (one process)       {results['dags_test']['wall_s']:6.1f} s wall, "
          f"peak {results['dags_test']['peak_mb']:.0f} MB")
    for r in results["stack"]:
        print(f"  make stack, Celery {r['workers']} process(es)       {r['run_s']:6.1f} s run ({r['tasks']} task instances, "
              f"{r['tasks_s']:.1f} s inside them); stack answered after {r['answered_s']:.0f} s")
        for name, mem in r["memory"].items():
            print(f"      {name:<14} {mem['all_mb']:5d} MB all processes, {mem['largest_mb']:5d} MB largest")
    return 0


if __name__ == "__main__":
    sys.exit(main())
