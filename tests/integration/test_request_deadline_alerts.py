"""Deadlines of data-subject requests through the real gdpr_subject_requests DAG: alerts through the
notifier (once 7 days before, once a day while overdue, never for an answered or extended request),
the Retention page's list with days left, and the link to the person removed after the policy's
period."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from dagrun import run_dag
from mailsink import email_env
from platform_fixture import make_platform

pytestmark = pytest.mark.integration

REQUESTS_DAG = "gdpr_subject_requests"
START = "2026-06-02T00:00:00+00:00"


def insert_request(p, request_type, *, account_id=None, prospect_email=None, received_at, verified_at=None,
                   extended_at=None, extension_reason=None):
    return p.scalar(
        "insert into retention.subject_requests (request_type, account_id, prospect_email, received_at, "
        "identity_verified_at, extended_at, extension_reason) values (%s, %s, %s, %s, %s, %s, %s) returning request_id",
        (request_type, account_id, prospect_email, received_at, verified_at, extended_at, extension_reason))


def requests_run(p, as_of, port):
    return run_dag(p, as_of=as_of, dry_run=None, dag_id=REQUESTS_DAG, extra_env=email_env(port))


def test_alerts_seven_days_before_then_every_day_overdue_and_unproven_identity_refused_at_the_due_date(
        databases, smtp_sink):
    sink, port = smtp_sink
    p = make_platform(databases)
    requests_run(p, START, port)
    with p.app() as c:
        account = p.add_account(c, email="waiting@secret-mail.example", last_name="Secretnom")
    # Identity never proven: nothing is done, the clock runs (due 1 July, Paris days).
    waiting = insert_request(p, "access", account_id=account, received_at="2026-06-01T09:00:00+00:00")
    # Its processing failed 5 times (set as the pipeline sets it): still unanswered, due 1 July.
    stuck = insert_request(p, "erasure", account_id=account, received_at="2026-06-01T09:00:00+00:00",
                           verified_at="2026-06-01T10:00:00+00:00")
    with p.app() as c:
        c.execute("update retention.subject_requests set state = 'failed', attempts = 5, completed_at = %s, "
                  "state_reason = 'gave up after 5 attempts; last error: OperationalError' where request_id = %s",
                  ("2026-06-02T00:00:00+00:00", stuck))
    # Extended in time, with its reason: due 1 September.
    extended = insert_request(p, "access", prospect_email="prospect-secret@example.org",
                              received_at="2026-06-01T09:00:00+00:00", extended_at="2026-06-10T09:00:00+00:00",
                              extension_reason="several systems to search")

    assert requests_run(p, "2026-06-02T10:00:00+00:00", port).state == "success"  # seen: identity pending
    calm = requests_run(p, "2026-06-20T10:00:00+00:00", port)
    assert calm.state_of("check_request_deadlines") == "skipped", calm.task_states  # nothing owed: a quiet run
    assert sink.messages == []

    soon = requests_run(p, "2026-06-24T10:00:00+00:00", port)  # 7 days left
    assert soon.state == "success", soon.task_states
    assert len(sink.messages) == 1
    m = sink.messages[0]
    assert m["event"] == "request_deadline"
    assert m["subject"] == ("[gdpr_subject_requests] data-subject requests near or past their legal deadline: "
                            "0 overdue, 2 due within 7 days")
    assert f"request {waiting}" in m["body"] and f"request {stuck}" in m["body"]
    assert m["body"].count("due 2026-07-01: 7 day(s) left") == 2
    assert extended not in m["body"]
    for secret in ("secret-mail", "Secretnom", "prospect-secret"):
        assert secret not in m["raw"].replace(waiting, "").replace(extended, "").replace(stuck, "")

    # Once: the same day and the next days stay silent (the runs are quiet again).
    for as_of in ("2026-06-24T10:05:00+00:00", "2026-06-25T10:00:00+00:00", "2026-07-01T21:00:00+00:00"):
        assert requests_run(p, as_of, port).state == "success"
    assert len(sink.messages) == 1

    overdue = requests_run(p, "2026-07-01T22:30:00+00:00", port)  # 2 July in Paris: one day overdue
    assert overdue.state == "success"
    # Still unproven on its due date: refused (nothing was done), with the way to ask again.
    refused = p.rows("select state, state_reason from retention.subject_requests where request_id = %s", (waiting,))
    assert refused[0][0] == "refused" and "could not be verified" in refused[0][1]
    assert p.rows("select state from retention.request_receipts where request_id = %s", (waiting,)) == [("refused",)]
    # The failed one is overdue: alerted.
    assert len(sink.messages) == 2
    assert "1 overdue, 0 due within 7 days" in sink.messages[1]["subject"]
    assert f"request {stuck}" in sink.messages[1]["body"] and waiting not in sink.messages[1]["body"]
    assert "due 2026-07-01: 1 day(s) overdue" in sink.messages[1]["body"]
    requests_run(p, "2026-07-02T08:00:00+00:00", port)  # same Paris day: not again
    assert len(sink.messages) == 2
    requests_run(p, "2026-07-03T08:00:00+00:00", port)  # the next day: again
    assert len(sink.messages) == 3
    assert p.rows("select level, alerted_on::text from retention.request_alerts where request_id = %s "
                  "order by alerted_on", (stuck,)) == [("due_soon", "2026-06-24"), ("overdue", "2026-07-02"),
                                                       ("overdue", "2026-07-03")]
    assert p.scalar("select count(*) from retention.alerts_sent where event = 'request_deadline'") == 3

    # The Retention page lists both with their days left, the overdue one first.
    from retention.compliance.queries import make_readonly_engine, read_page
    from retention.compliance.render import render_page

    engine = make_readonly_engine(p.pipeline_app_url)
    try:
        data = read_page(engine, now=datetime.fromisoformat("2026-07-03T08:00:00+00:00"))
    finally:
        engine.dispose()
    assert [(r.request_id, r.days_left, r.level, r.extended) for r in data.requests.open] == [
        (stuck, -2, "overdue", False), (extended, 60, "ok", True)]
    html = render_page(data)
    assert f'data-request="{stuck}" data-level="overdue"' in html and "2 overdue" in html
    assert 'data-figure="requests.overdue"><span class="value">1<' in html
    assert 'data-figure="requests.restricted"><span class="value">0<' in html
    for secret in ("secret-mail", "Secretnom", "prospect-secret"):
        assert secret not in html


def test_an_answered_request_is_unlinked_from_its_person_after_the_policy_period(databases, smtp_sink):
    from retention.policy import load_policy

    sink, port = smtp_sink
    years = load_policy().request_link_retention_years
    p = make_platform(databases)
    requests_run(p, START, port)
    with p.app() as c:
        account = p.add_account(c, email="restrict@secret-mail.example")
        other = p.add_account(c, email="lifted@secret-mail.example")
    verified = "2026-06-01T10:00:00+00:00"
    erased = insert_request(p, "erasure", prospect_email="prospect-secret@example.org",
                            received_at="2026-06-01T09:00:00+00:00", verified_at=verified)
    restricted = insert_request(p, "restriction", account_id=account, received_at="2026-06-01T09:00:00+00:00",
                                verified_at=verified)
    lifted = insert_request(p, "restriction", account_id=other, received_at="2026-06-01T09:00:00+00:00",
                            verified_at=verified)
    assert requests_run(p, START, port).state == "success"
    lift = insert_request(p, "lift_restriction", account_id=other, received_at="2026-06-03T09:00:00+00:00",
                          verified_at="2026-06-03T09:00:00+00:00")
    assert requests_run(p, "2026-06-03T12:00:00+00:00", port).state == "success"
    receipts = json.dumps(p.rows("select * from retention.request_receipts order by request_id, state"), default=str)

    def linked():
        return dict(p.rows("select request_id, coalesce(account_id::text, prospect_email) is not null "
                           "from retention.subject_requests"))

    just_before = f"{2026 + years}-06-01T23:00:00+00:00"
    requests_run(p, just_before, port)
    assert set(linked().values()) == {True}

    after = requests_run(p, f"{2026 + years}-06-04T12:00:00+00:00", port)
    assert after.state == "success", after.task_states
    # The restriction in force keeps its link; everything answered before the period is unlinked.
    assert linked() == {erased: False, restricted: True, lifted: False, lift: False}
    assert p.scalar("select count(*) from retention.subject_requests where unlinked_at is not null") == 3
    assert p.scalar("select count(*) from retention.restrictions") == 1
    from retention.compliance.queries import make_readonly_engine, read_requests

    engine = make_readonly_engine(p.pipeline_app_url)
    try:
        with engine.connect() as conn:
            assert read_requests(conn, datetime.fromisoformat(f"{2026 + years}-06-04T12:00:00+00:00")).restricted == 1
    finally:
        engine.dispose()
    assert json.dumps(p.rows("select * from retention.request_receipts order by request_id, state"),
                      default=str) == receipts
    assert sink.messages == []
