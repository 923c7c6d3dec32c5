"""Members are warned before anonymisation for inactivity: the list holds exactly those whose five
years end within the notice period, and a member active again leaves it."""

from __future__ import annotations

from datetime import date

import pytest
from dagrun import run_dag
from platform_fixture import make_platform

pytestmark = pytest.mark.integration

AS_OF = "2026-06-15T00:00:00+00:00"


def test_notice_list_follows_activity(databases):
    p = make_platform(databases)
    with p.app() as c:
        soon = p.add_account(c, email="soon@example.org", last_login_at="2021-06-25T10:00:00+00:00")
        at_horizon = p.add_account(c, email="horizon@example.org", last_login_at="2021-07-15T00:00:00+00:00")
        later = p.add_account(c, email="later@example.org", last_login_at="2021-08-01T00:00:00+00:00")
        event_only = p.add_account(c, email="event@example.org", last_login_at="2019-01-01T00:00:00+00:00")
        p.add(c, "activity_events", account_id=event_only, feature="login", occurred_at="2021-07-01T00:00:00+00:00")
        closed = p.add_account(c, email="closed@example.org", last_login_at="2021-06-25T00:00:00+00:00",
                               closed_at="2026-07-01T00:00:00+00:00")
        held = p.add_account(c, email="held@example.org", last_login_at="2021-06-25T00:00:00+00:00",
                             legal_hold_until="2027-01-01")
        already_due = p.add_account(c, email="due@example.org", last_login_at="2021-06-01T00:00:00+00:00")

    outcome = run_dag(p, as_of=AS_OF)
    assert outcome.state == "success", outcome.task_states
    notices = {row[0]: (row[1], row[2]) for row in
               p.rows("select account_id, notice_due_on, anonymise_on from retention.inactivity_notices")}
    assert set(notices) == {soon, at_horizon, event_only}
    assert notices[soon] == (date(2026, 6, 15), date(2026, 6, 25)), "a notice already overdue is due today"
    assert notices[event_only] == (date(2026, 6, 15), date(2026, 7, 1))
    assert notices[at_horizon] == (date(2026, 6, 15), date(2026, 7, 15))
    assert later not in notices and closed not in notices and held not in notices
    assert p.scalar("select anonymised_at is not null from app.accounts where id = %s", (already_due,))
    report = p.scalar("select report from retention.runs where run_id = %s", (outcome.run_id,))
    assert report["stages"]["inactivity_notices"]["pending"] == 3

    with p.app() as c:  # the member comes back: the warning must be withdrawn
        c.execute("update app.accounts set last_login_at = '2026-06-16T00:00:00+00:00' where id = %s", (soon,))
    run_dag(p, as_of="2026-06-16T00:00:00+00:00")
    remaining = {r[0] for r in p.rows("select account_id from retention.inactivity_notices")}
    assert soon not in remaining and at_horizon in remaining
