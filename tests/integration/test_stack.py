"""The deployed topology, started as a user starts it (``python -m retention.stack``, what ``make stack``
runs): PostgreSQL metadata, Redis, api-server, scheduler, dag processor, triggerer and a Celery worker.
Runs are triggered through the REST API exactly as the UI's Trigger button does, task logs are read
back through the REST API (what the UI shows), the watchdog's and a failed gate's alerts reach a local
SMTP sink from the services that send them, and the stack stops with nothing left behind."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from platform_fixture import make_platform
from retention.airflow_api import AirflowApi, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
AS_OF = "2026-06-15T00:00:00+00:00"
NEXT_NIGHT = "2026-06-16T00:00:00+00:00"
SECRETS = ("stack.secret.person@example.org", "Stacksecretname", "10.77.66.", "stack.prospect@example.org")
START_TIMEOUT_S = 240
RUN_TIMEOUT_S = 420


def seed(p) -> None:
    with p.app() as c:
        for n in range(5):
            p.add_account(c, email=f"kept{n}@example.org", last_login_at="2026-06-01T00:00:00+00:00")
        p.add_account(c, email=SECRETS[0], first_name=SECRETS[1], closed_at="2026-01-01T00:00:00+00:00")
        c.execute("insert into app.connection_logs (account_id, ip, occurred_at, path) values "
                  "(1, '10.77.66.5', '2025-01-01T00:00:00+00:00', '/old')")
        c.execute("insert into app.prospects (email, collected_at) values (%s, '2020-01-01')", (SECRETS[3],))


def write_env_file(path: Path, smtp_port: int) -> dict[str, str]:
    from retention.deployenv import ensure_env_file

    ensure_env_file(path)
    text = path.read_text()
    for key, value in {"RETENTION_ALERT_EMAILS": "data-team@example.org",
                       "RETENTION_ALERT_FROM": "gdpr-retention@example.org",
                       "AIRFLOW_CONN_SMTP_DEFAULT": f"smtp://127.0.0.1:{smtp_port}?disable_ssl=true&disable_tls=true"
                                                    "&timeout=10&retry_limit=0",
                       "RETENTION_STACK_WORKERS": "2"}.items():
        text = re.sub(rf"^{key}=.*$", f"{key}={value}", text, flags=re.M)
    # Packages go where the deployment's .env says (here: beside the test's stack, not in the checkout).
    text += f"RETENTION_PACKAGE_ROOT={(path.parent / 'packages').as_uri()}\n"
    path.write_text(text)
    return ensure_env_file(path)


def test_make_stack_runs_triggered_and_scheduled_nights_through_celery(databases, smtp_sink, tmp_path):
    from retention.proctree import descendants, free_port

    sink, smtp_port = smtp_sink
    p = make_platform(databases)
    seed(p)
    values = write_env_file(tmp_path / ".env", smtp_port)
    metadata_db = f"rt_meta_{uuid.uuid4().hex[:10]}"
    databases.created.append(metadata_db)  # created by the stack, dropped with the test's databases
    port = free_port()
    root = tmp_path / "stack"
    out = (tmp_path / "stack.out").open("w")
    argv = [sys.executable, "-m", "retention.stack", "--mode", "stack", "--port", str(port), "--root", str(root),
            "--env-file", str(tmp_path / ".env"), "--metadata-db", metadata_db,
            "--app-db", urlsplit(p.app_url).path.lstrip("/"), "--warehouse-db", urlsplit(p.warehouse_url).path.lstrip("/"),
            "--queue", f"rt_{uuid.uuid4().hex[:8]}"]
    # A plain shell's environment: nothing of this test's Airflow configuration leaks into the stack.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "RETENTION_", "PYTEST"))}
    env["PYTHONPATH"] = str(REPO / "plugins")
    stack = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    processes: set[int] = set()
    try:
        started = time.monotonic()
        wait_for("the stack to answer", lambda: "Airflow answers" in (tmp_path / "stack.out").read_text()
                 or (stack.poll() is not None and pytest.fail((tmp_path / "stack.out").read_text())),
                 START_TIMEOUT_S)
        answered_s = time.monotonic() - started
        api = AirflowApi(port, values["AIRFLOW_ADMIN_PASSWORD"])
        wait_for("the DAGs to be parsed", lambda: all(api.get(f"/api/v2/dags/{d}").get("dag_id")
                                                       for d in ("gdpr_retention", "gdpr_retention_watchdog")), 120)

        # As the UI: unpause, then Trigger with an as_of (no logical date), twice.
        api.unpause("gdpr_retention")
        triggered = [api.trigger("gdpr_retention", {"as_of": as_of}) for as_of in (AS_OF, NEXT_NIGHT)]
        processes.update(descendants(stack.pid))
        for run_id in triggered:
            run = wait_for(f"run {run_id}", lambda r=run_id: api.finished_run("gdpr_retention", r), RUN_TIMEOUT_S, 3)
            processes.update(descendants(stack.pid))
            assert run["state"] == "success", run
        # Every run of the DAG, the one the schedule created on unpause included, ends in success, one
        # after the other (max_active_runs=1 holds the next back, never forever).
        runs = wait_for("every run to finish", lambda: (lambda rs: rs if all(r["state"] in ("success", "failed")
                                                                              for r in rs) else None)(
            api.runs("gdpr_retention")), RUN_TIMEOUT_S, 3)
        assert {r["state"] for r in runs} == {"success"}, [(r["dag_run_id"], r["state"]) for r in runs]
        ordered = sorted(runs, key=lambda r: r["start_date"])
        for before, after in zip(ordered, ordered[1:], strict=False):
            assert after["start_date"] >= before["end_date"], (before, after)

        # Every task ran in a Celery worker process, and its log reads back through the REST API.
        worker_log = (root / "logs" / "celery-worker.log").read_text()
        logs = []
        for run_id in triggered:
            for ti in api.task_instances("gdpr_retention", run_id):
                if ti["state"] == "skipped":
                    continue
                assert ti["state"] == "success", ti
                assert ti["pid"] and ti["pid"] != os.getpid()
                assert f"id=UUID('{ti['id']}')" in worker_log, f"{ti['task_id']} did not run in the Celery worker"
                logs.append(api.task_log("gdpr_retention", run_id, ti))
        assert any("task sql time" in text for text in logs)
        for text in logs:
            for secret in SECRETS:
                assert secret not in text
        with p.app() as c:
            assert c.execute("select count(*) from app.accounts where email = %s", (SECRETS[0],)).fetchone()[0] == 0
            assert c.execute("select status from retention.runs where run_id = %s", (triggered[0],)).fetchone()[0] \
                == "success"

        # The watchdog through the scheduler and a worker: a night with no run at all is alerted.
        api.unpause("gdpr_retention_watchdog")
        check = api.trigger("gdpr_retention_watchdog", {"as_of": "2031-01-15T05:00:00+00:00"})
        watched = wait_for("the watchdog", lambda: api.finished_run("gdpr_retention_watchdog", check), RUN_TIMEOUT_S, 3)
        assert watched["state"] == "failed"
        missed = [m for m in sink.messages if m["event"] == "deadline_missed" and "2031-01-15T05:00:00+00:00" in m["body"]]
        assert len(missed) == 1, [m["subject"] for m in sink.messages]
        assert missed[0]["subject"].endswith("(no run recorded for the night)")

        # A data-subject request recorded from the UI's params, answered by a Celery worker.
        with p.app() as c:
            asker = c.execute("insert into app.accounts (email, created_at) values (%s, '2020-01-01') returning id",
                              ("stack.asker@example.org",)).fetchone()[0]
        # And an access request the platform recorded: its package is written by the Celery worker.
        with p.app() as c:
            access = c.execute("insert into retention.subject_requests (request_type, account_id, received_at, "
                               "identity_verified_at) values ('access', %s, '2026-06-01T09:00:00+02:00', "
                               "'2026-06-02T09:00:00+02:00') returning request_id", (asker,)).fetchone()[0]
        api.unpause("gdpr_subject_requests")
        asked = api.trigger("gdpr_subject_requests", {
            "as_of": "2026-06-15T00:00:00+00:00", "request_type": "erasure", "account_id": asker,
            "received_at": "2026-06-01T09:00:00+02:00", "identity_verified_at": "2026-06-02T09:00:00+02:00"})
        answered = wait_for("the request", lambda: api.finished_run("gdpr_subject_requests", asked), RUN_TIMEOUT_S, 3)
        assert answered["state"] == "success", answered
        worker_log = (root / "logs" / "celery-worker.log").read_text()
        for ti in api.task_instances("gdpr_subject_requests", asked):
            assert ti["state"] == "success", ti
            assert f"id=UUID('{ti['id']}')" in worker_log, f"{ti['task_id']} did not run in the Celery worker"
        with p.app() as c:
            assert c.execute("select request_type, state from retention.subject_requests order by request_type"
                             ).fetchall() == [("access", "fulfilled"), ("erasure", "fulfilled")]
            assert c.execute("select email is null from app.accounts where id = %s", (asker,)).fetchone()[0]
            size, sha = c.execute("select package_bytes, package_sha256 from retention.subject_requests "
                                  "where request_id = %s", (access,)).fetchone()
        package = tmp_path / "packages" / f"{access}.zip.fernet"
        assert package.stat().st_size == size and hashlib.sha256(package.read_bytes()).hexdigest() == sha
        assert b"stack.asker@example.org" not in package.read_bytes()  # encrypted at rest

        # A failed gate: its alert (from the worker) and the run's (from the dag processor).
        with p.app() as c:
            c.execute("alter table app.accounts rename column postal_code to zip_code")
        broken = api.trigger("gdpr_retention", {"as_of": "2026-06-17T00:00:00+00:00"})
        assert wait_for("the broken night", lambda: api.finished_run("gdpr_retention", broken), RUN_TIMEOUT_S, 3)[
            "state"] == "failed"
        wait_for("both alerts", lambda: {"gate_failed", "run_failed"} <= {m["event"] for m in sink.messages
                                                                          if broken in m["subject"]}, 120)
        for m in sink.messages:
            for secret in SECRETS:
                assert secret not in m["raw"]
        print(f"stack answered after {answered_s:.0f} s")
    finally:
        processes.update(descendants(stack.pid))
        stack.send_signal(signal.SIGTERM)
        code = stack.wait(timeout=120)
        out.close()
        print((tmp_path / "stack.out").read_text())
    assert code == 0
    # Nothing left running: every process the stack started has exited.
    time.sleep(1)
    alive = [pid for pid in processes - {stack.pid} if Path(f"/proc/{pid}").exists()
             and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()]
    assert alive == [], alive
