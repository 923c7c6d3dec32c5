"""Alerts through the real DAGs: a failed gate and the failed run reach a local SMTP sink (aiosmtpd) or a
local HTTP endpoint, name the gate, carry counts and links, and no personal value; the 06:00 Europe/Paris
deadline is judged by the watchdog DAG from the pipeline's run records (its scheduled run through the
real scheduler and a Celery worker is in tests/integration/test_stack.py)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest
from dagrun import run_dag
from mailsink import email_env
from platform_fixture import make_platform

pytestmark = pytest.mark.integration

AS_OF = "2026-06-15T00:00:00+00:00"
SECRETS = ("alert.secret.person@example.org", "Alertsecretname", "10.9.8.", "75011", "alert.prospect@example.org")
GATE = "accounts.check_app_schema"


def seed_with_broken_schema(p):
    """A small platform with personal values, and a renamed column the first gate must catch."""
    with p.app() as c:
        for n in range(6):
            p.add_account(c, email=f"kept{n}@example.org", last_login_at="2026-06-01T00:00:00+00:00")
        p.add_account(c, email=SECRETS[0], first_name=SECRETS[1], closed_at="2026-01-01T00:00:00+00:00",
                      postal_code=SECRETS[3])
        c.execute("insert into app.connection_logs (account_id, ip, occurred_at, path) values "
                  "(1, '10.9.8.7', '2025-01-01T00:00:00+00:00', '/old')")
        c.execute("insert into app.prospects (email, collected_at) values (%s, '2020-01-01')", (SECRETS[4],))
        c.execute("alter table app.accounts rename column postal_code to zip_code")


@pytest.fixture
def webhook_endpoint():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's hook name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "content_type": self.headers["Content-Type"],
                              "raw": body.decode("utf-8"), "json": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/data-team", received
    finally:
        server.shutdown()
        server.server_close()


def run_link(run_id: str) -> str:
    return f"http://localhost:8080/dags/gdpr_retention/runs/{quote(run_id, safe='')}"


def field(name: str, value: str) -> str:
    """A line of the message's header block."""
    return f"{name:<16} {value}"


def assert_no_personal_value(*haystacks: str) -> None:
    for haystack in haystacks:
        for secret in SECRETS:
            assert secret not in haystack, secret


def test_failed_gate_and_failed_run_are_emailed_with_counts_and_links(databases, smtp_sink, capfd):
    sink, port = smtp_sink
    p = make_platform(databases)
    seed_with_broken_schema(p)

    outcome = run_dag(p, as_of=AS_OF, extra_env=email_env(port))
    assert outcome.state == "failed"
    assert outcome.state_of(GATE) == "failed", outcome.task_states

    by_event = {m["event"]: m for m in sink.messages}
    assert sorted(by_event) == ["gate_failed", "run_failed"], [m["subject"] for m in sink.messages]
    assert len(sink.messages) == 2
    for m in sink.messages:
        assert m["to"] == ["data-team@example.org", "oncall@example.org"]
        assert m["from"] == "gdpr-retention@example.org"
        assert outcome.run_id in m["subject"]
        assert run_link(outcome.run_id) in m["body"]
        assert field("as_of", AS_OF) in m["body"]
        # The gate's failed check, with its observed and expected counts.
        assert "FAILED check accounts_before.app_schema_matches_data_map: observed 2, expected 0" in m["body"]
        assert_no_personal_value(m["raw"], m["body"])

    gate = by_event["gate_failed"]
    assert gate["subject"].startswith(f"[gdpr_retention] quality gate failed: {GATE}")
    assert field("gate", GATE) in gate["body"]
    assert f"{run_link(outcome.run_id)}/tasks/{GATE}" in gate["body"]
    # Our own message is kept (counts, and the names of what drifted); nothing destructive was recorded.
    assert ("GateFailed: gate accounts_before failed: app_schema_matches_data_map (observed 2, expected 0): "
            "app.accounts.zip_code: column not in the data map (text); "
            "app.accounts.postal_code: mapped column missing from the database.") in gate["body"]
    assert "rows per rule so far: none recorded" in gate["body"]

    run = by_event["run_failed"]
    assert run["subject"] == f"[gdpr_retention] run failed (run {outcome.run_id})"
    assert field("last_failed_task", "report") in run["body"] and field("reason", "task_failure") in run["body"]
    assert "run status recorded: failed" in run["body"], "the report task wrote the run's row before the alert"
    incomplete = next(line for line in run["body"].splitlines() if line.startswith("did not complete: "))
    assert {"accounts", "connection_logs", "prospects", "gate app_schema", "gate accounts_before"} \
        <= set(incomplete[18:].split(", "))
    assert_no_personal_value("".join(capfd.readouterr()))
    # Each alert, once the channel took it, is recorded for the year of proof (what, which run, how).
    assert p.rows("select event, run_id, channel from retention.alerts_sent order by event") == [
        ("gate_failed", outcome.run_id, "email"), ("run_failed", outcome.run_id, "email")]


def test_failed_gate_and_failed_run_are_posted_to_the_webhook(databases, webhook_endpoint, capfd):
    url, received = webhook_endpoint
    p = make_platform(databases)
    seed_with_broken_schema(p)

    outcome = run_dag(p, as_of=AS_OF, extra_env={"RETENTION_ALERT_CHANNEL": "webhook",
                                                 "RETENTION_ALERT_WEBHOOK_URL": url})
    assert outcome.state == "failed"

    assert sorted(r["json"]["event"] for r in received) == ["gate_failed", "run_failed"]
    for r in received:
        assert r["path"] == "/hooks/data-team" and r["content_type"] == "application/json"
        body = r["json"]
        assert body["dag_id"] == "gdpr_retention" and body["run_id"] == outcome.run_id and body["as_of"] == AS_OF
        assert body["links"]["run"] == run_link(outcome.run_id)
        assert body["counts"]["failed_checks"] == [{"gate": "accounts_before", "check": "app_schema_matches_data_map",
                                                    "observed": 2, "expected": 0}]
        # The schema is compared with the data map first: no other check runs on a drifted schema.
        assert body["counts"]["checks_passed"] == 0
        assert run_link(outcome.run_id) in body["text"]
        assert_no_personal_value(r["raw"])
    gate = next(r["json"] for r in received if r["json"]["event"] == "gate_failed")
    assert gate["failed_task"] == GATE and gate["gate"] == GATE
    assert gate["links"]["task"] == f"{run_link(outcome.run_id)}/tasks/{GATE}"
    assert_no_personal_value("".join(capfd.readouterr()))


def _record_night(p, run_id: str, as_of: str, status: str, started: str, finished: str | None) -> None:
    """A row of the pipeline's own run record, as the nightly run's first and last tasks write it."""
    with p.app() as c:
        c.execute("insert into retention.runs (run_id, as_of, dry_run, policy, started_at, finished_at, status) "
                  "values (%s, %s, false, '{}'::jsonb, %s, %s, %s)", (run_id, as_of, started, finished, status))


WINTER_CHECK = "2031-01-15T05:00:00+00:00"   # 06:00 CET, the watchdog's run
WINTER_NIGHT = "2031-01-15T01:00:00+00:00"   # 02:00 CET, the nightly run's as_of


def test_watchdog_alerts_a_night_unfinished_at_0600_paris_and_stays_silent_on_a_kept_one(databases, smtp_sink):
    sink, port = smtp_sink
    p = make_platform(databases)
    seed_with_broken_schema(p)
    # One real run creates the pipeline's schema (its gate fails on the broken schema: that night is old).
    assert run_dag(p, as_of=AS_OF).state == "failed"
    sink.messages.clear()

    # Kept: tonight's run succeeded at 02:40 Paris. The watchdog's run is green and sends nothing.
    _record_night(p, "scheduled__2031-01-15T01:00:00+00:00", WINTER_NIGHT, "success",
                  "2031-01-15T01:00:05+00:00", "2031-01-15T01:40:00+00:00")
    kept = run_dag(p, as_of=WINTER_CHECK, dry_run=None, dag_id="gdpr_retention_watchdog", extra_env=email_env(port))
    assert kept.state == "success", kept.task_states
    assert sink.messages == []

    # Late: the next night's run is still running at 06:00 (counts recorded so far: none).
    late_id = "scheduled__2031-01-16T01:00:00+00:00"
    _record_night(p, late_id, "2031-01-16T01:00:00+00:00", "running", "2031-01-16T01:00:05+00:00", None)
    late = run_dag(p, as_of="2031-01-16T05:00:00+00:00", dry_run=None, dag_id="gdpr_retention_watchdog",
                   extra_env=email_env(port))
    assert late.state == "failed"
    assert len(sink.messages) == 1, [m["subject"] for m in sink.messages]
    m = sink.messages[0]
    assert m["event"] == "deadline_missed"
    assert m["subject"] == f"[gdpr_retention] run not finished by its deadline (06:00 Europe/Paris) (run {late_id})"
    assert run_link(late_id) in m["body"]
    assert field("deadline", "2031-01-16T05:00:00+00:00") in m["body"]
    assert "run status recorded: running" in m["body"] and "rows per rule so far: none recorded" in m["body"]
    assert_no_personal_value(m["raw"])

    # Missing: nothing ran on the night of the 17th (scheduler down): said so, with no run id.
    sink.messages.clear()
    missing = run_dag(p, as_of="2031-01-17T05:00:00+00:00", dry_run=None, dag_id="gdpr_retention_watchdog",
                      extra_env=email_env(port))
    assert missing.state == "failed"
    subjects = [m["subject"] for m in sink.messages]
    # The run of the 16th is still open, now for more than 4 hours: alerted again, with the missing night.
    assert "[gdpr_retention] run not finished by its deadline (06:00 Europe/Paris) (no run recorded for the night)" \
        in subjects
    assert f"[gdpr_retention] run not finished by its deadline (06:00 Europe/Paris) (run {late_id})" in subjects
    assert len(subjects) == 2
    assert p.rows("select run_id, count(*) from retention.alerts_sent where event = 'deadline_missed' "
                  "group by run_id order by run_id nulls first") == [(None, 1), (late_id, 2)]


def test_error_messages_other_than_ours_are_withheld():
    from retention.alerts import describe_error
    from retention.quality.gates import GateFailed

    def raised(exc):
        try:
            raise exc
        except BaseException as caught:
            return caught

    # A driver error quoting a row value: only its class goes out.
    leaked = raised(ValueError("duplicate key value (email)=(alert.secret.person@example.org)"))
    assert describe_error(leaked) == "ValueError (message withheld: it may quote row values; see the task log)"
    # A RuntimeError raised outside the retention package is not trusted either.
    assert "secret" not in describe_error(raised(RuntimeError("alert.secret.person@example.org")))
    # A GateFailed object carries our text, but is trusted only when raised by our code.
    assert "withheld" in describe_error(raised(GateFailed("gate x failed: check (observed 3, expected 0)")))
    assert describe_error(None) is None
