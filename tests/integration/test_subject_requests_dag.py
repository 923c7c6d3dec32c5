"""Data-subject requests through the real gdpr_subject_requests DAG on real PostgreSQL: the identity
gate, erasure by the nightly code path (counted once whichever commits first), a legal hold giving a
partial fulfilment, a restriction the nightly run honours, a prospect's objection, receipts without
persons, idempotent reruns."""

from __future__ import annotations

import json

import pytest
from dagrun import run_dag
from platform_fixture import make_platform

pytestmark = pytest.mark.integration

AS_OF = "2026-06-15T00:00:00+00:00"
SECRETS = ("secret-mail", "Secretnom", "Prenom", "Lycée Secret", "+33 6 12", "prospect-secret")
REQUESTS_DAG = "gdpr_subject_requests"


def member(p, c, label, **cols):
    cols.setdefault("email", f"{label}@secret-mail.example")
    cols.setdefault("first_name", f"Prenom{label.title()}")
    cols.setdefault("last_name", "Secretnom")
    cols.setdefault("phone", "+33 6 12 34 56 78")
    cols.setdefault("last_login_at", "2026-05-01T00:00:00+00:00")
    account = p.add_account(c, **cols)
    p.add(c, "education", account_id=account, school="Lycée Secret", level="master", specialty="Linguistique")
    p.add(c, "activity_events", account_id=account, feature="login", occurred_at="2026-05-01T10:00:00+00:00")
    return account


def request(p, request_type, *, account_id=None, prospect_email=None, verified=True,
            received_at="2026-06-01T09:00:00+00:00"):
    return p.scalar(
        "insert into retention.subject_requests (request_type, account_id, prospect_email, received_at, "
        "identity_verified_at) values (%s, %s, %s, %s, %s) returning request_id",
        (request_type, account_id, prospect_email, received_at, "2026-06-02T09:00:00+00:00" if verified else None))


def state(p, request_id):
    return p.rows("select state, kept_reason, kept_until, state_reason, result_counts "
                  "from retention.subject_requests where request_id = %s", (request_id,))[0]


def warehouse_members(p, reason=None):
    return p.scalar("select coalesce(sum(members), 0) from stats.anonymised_cohorts "
                    "where %s::text is null or reason = %s", (reason, reason), db="wh")


def task_logs(capfd, caplog) -> str:
    """What the tasks logged, wherever this session's logging configuration sent it."""
    captured = capfd.readouterr()
    text = captured.out + captured.err + caplog.text
    caplog.clear()
    return text


def assert_no_personal_value(p, outcome, logs):
    receipts = json.dumps(p.rows("select * from retention.request_receipts"), default=str)
    xcoms = json.dumps(outcome.xcoms, default=str)
    assert "request states:" in logs and "erasure requests:" in logs  # the logs were seen
    for haystack in (receipts, xcoms, logs):
        for secret in SECRETS:
            assert secret not in haystack


def test_quiet_run_is_one_count_and_skips_every_step(databases):
    p = make_platform(databases)
    outcome = run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)
    assert outcome.state_of("pick_up_requests") == "success", outcome.task_states
    for task_id in ("advance_request_states", "record_restrictions", "erase_requested_prospects",
                    "erase_requested_accounts", "check_request_deadlines"):
        assert outcome.state_of(task_id) == "skipped", (task_id, outcome.task_states)
    # The first run created what the pipeline owns, so that the platform can insert requests.
    assert p.scalar("select to_regclass('retention.subject_requests') is not null")


def test_requests_end_to_end_then_the_night_counts_nothing_twice(databases, capfd, caplog):
    p = make_platform(databases)
    run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)  # migrates the owned schema
    task_logs(capfd, caplog)
    with p.app() as c:
        erased = member(p, c, "erased")
        p.add(c, "connection_logs", account_id=erased, ip="192.0.2.1", occurred_at="2026-06-10T08:00:00+00:00")
        unverified = member(p, c, "unverified")
        held = member(p, c, "held", legal_hold_until="2026-12-31")
        # Inactive for more than five years: the night would anonymise it, but it is restricted.
        restricted = member(p, c, "restricted", last_login_at="2020-01-01T00:00:00+00:00")
        c.execute("delete from app.activity_events where account_id = %s", (restricted,))
        closed = member(p, c, "closed", closed_at="2025-01-01T00:00:00+00:00")
        p.add(c, "prospects", first_name="Prenom", last_name="Secretnom", email="Prospect-Secret@Example.com",
              collected_at="2026-01-01T00:00:00+00:00")
        p.add(c, "prospects", first_name="Other", email="other@example.com", collected_at="2026-01-01T00:00:00+00:00")
    r_erased = request(p, "erasure", account_id=erased)
    r_duplicate = request(p, "erasure", account_id=erased, received_at="2026-06-03T09:00:00+00:00")
    r_unverified = request(p, "erasure", account_id=unverified, verified=False)
    r_held = request(p, "erasure", account_id=held)
    r_restricted = request(p, "restriction", account_id=restricted)
    r_prospect = request(p, "objection", prospect_email="prospect-secret@example.com")

    outcome = run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)
    assert outcome.state == "success", outcome.task_states

    # Erasure by the nightly code path; the connection log stays its legal year: partial, and why.
    assert p.scalar("select anonymised_at is not null and email is null from app.accounts where id = %s", (erased,))
    assert p.scalar("select count(*) from app.education where account_id = %s", (erased,)) == 0
    s = state(p, r_erased)
    assert (s[0], s[1], str(s[2])) == ("partially_fulfilled", "lcen_connection_logs", "2027-06-10")
    assert s[4]["education"] == 1 and s[4]["activity_events"] == 1
    assert warehouse_members(p, "erasure") == 1
    assert state(p, r_duplicate)[0] == "duplicate" and r_erased in state(p, r_duplicate)[3]
    # Identity not verified: nothing done, the request waits.
    assert state(p, r_unverified)[0] == "identity_pending"
    assert p.scalar("select anonymised_at is null and email is not null from app.accounts where id = %s", (unverified,))
    # Legal hold: kept, with the reason and until when.
    s = state(p, r_held)
    assert (s[0], s[1], str(s[2])) == ("partially_fulfilled", "legal_hold", "2026-12-31")
    assert "legal hold" in s[3] and "2026-12-31" in s[3]
    assert p.scalar("select anonymised_at is null and email is not null from app.accounts where id = %s", (held,))
    # Restriction recorded; prospect objection: every row with that e-mail gone, the other kept.
    assert state(p, r_restricted)[0] == "fulfilled"
    assert p.scalar("select count(*) from retention.restrictions where account_id = %s", (restricted,)) == 1
    assert state(p, r_prospect)[0] == "fulfilled"
    assert p.scalar("select count(*) from app.prospects where email ilike 'prospect-secret%%'") == 0
    assert p.scalar("select count(*) from app.prospects") == 1
    # Receipts: one per finished request, no subject in them.
    receipts = dict(p.rows("select request_id, state from retention.request_receipts"))
    assert receipts == {r_erased: "partially_fulfilled", r_duplicate: "duplicate", r_held: "partially_fulfilled",
                        r_restricted: "fulfilled", r_prospect: "fulfilled"}
    assert str(p.scalar("select due_on from retention.request_receipts where request_id = %s", (r_erased,))) == "2026-07-01"
    assert_no_personal_value(p, outcome, task_logs(capfd, caplog))

    # A rerun does nothing more.
    fingerprint = p.fingerprint()
    rerun = run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)
    assert rerun.state == "success", rerun.task_states
    assert p.fingerprint() == fingerprint
    assert p.scalar("select count(*) from retention.request_receipts") == 5
    assert warehouse_members(p) == 1

    # A new erasure request after one answered (connection logs kept by the LCEN) is no duplicate.
    again = request(p, "erasure", account_id=erased, received_at="2026-06-14T09:00:00+00:00")
    assert run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG).state == "success"
    s = state(p, again)
    assert (s[0], s[1], s[4]) == ("partially_fulfilled", "lcen_connection_logs",
                                  {"accounts": 0, "already_anonymised": 1})
    assert warehouse_members(p) == 1

    # The night: the restricted account is skipped (and counted), the closed one goes, the erased one
    # is not counted again, and the after-gate reconciles the ledger (request batch included).
    night = run_dag(p, as_of=AS_OF)
    assert night.state_of("accounts.check_accounts_after") == "success", night.task_states
    assert p.scalar("select anonymised_at is null from app.accounts where id = %s", (restricted,))
    assert p.scalar("select anonymised_at is not null from app.accounts where id = %s", (closed,))
    assert warehouse_members(p) == 2 and warehouse_members(p, "erasure") == 1
    finalize = next(x for x in night.xcoms if isinstance(x, dict) and "restricted" in x)
    assert finalize["restricted"] == 1 and finalize["anonymised"]["closed"] == 1
    assert p.scalar("select report -> 'stages' -> 'accounts' ->> 'restricted' from retention.runs "
                    "where run_id = %s", (night.run_id,)) == "1"
    assert "restricted on request (kept as they are): 1" in task_logs(capfd, caplog)

    # Lifting the restriction hands the account back to the night.
    request(p, "lift_restriction", account_id=restricted)
    run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)
    assert p.scalar("select count(*) from retention.restrictions") == 0


def test_erasure_of_an_account_the_night_anonymised_first_counts_once(databases):
    p = make_platform(databases)
    run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)
    with p.app() as c:
        closed = member(p, c, "closed", closed_at="2025-01-01T00:00:00+00:00")
    r = request(p, "erasure", account_id=closed)
    assert run_dag(p, as_of=AS_OF).state_of("accounts.finalize_accounts") == "success"
    outcome = run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)
    assert outcome.state == "success", outcome.task_states
    s = state(p, r)
    assert s[0] == "fulfilled" and s[4] == {"accounts": 0, "already_anonymised": 1}
    assert warehouse_members(p) == 1 and warehouse_members(p, "erasure") == 0


def test_deadline_in_sql_equals_the_python_rule(databases):
    from retention.requests.deadlines import deadline

    p = make_platform(databases)
    run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)
    cases = [("2026-01-31T10:00:00+00:00", None, None), ("2028-01-31T10:00:00+00:00", None, None),
             ("2026-01-31T23:30:00+00:00", None, None),
             ("2026-01-31T10:00:00+00:00", "2026-02-20T09:00:00+00:00", "complex"),
             ("2026-01-31T10:00:00+00:00", "2026-03-01T09:00:00+00:00", "complex")]
    with p.app() as c:
        for received, extended, reason in cases:
            c.execute("insert into retention.subject_requests (request_type, account_id, received_at, extended_at, "
                      "extension_reason, state, state_reason, completed_at) "
                      "values ('access', 1, %s, %s, %s, 'refused', 'test', %s)", (received, extended, reason, received))
    # The view every SQL file reads the due date from (receipts, counts, alerts, the Retention page).
    got = p.rows("select q.received_at, q.extended_at, q.extension_reason, d.due_on, d.extended "
                 "from retention.subject_requests as q join retention.request_due_dates as d using (request_id)")
    assert len(got) == len(cases)
    for received, extended, reason, due_on, was_extended in got:
        expected = deadline(received, extended, reason)
        assert (due_on, was_extended) == (expected.due_on, expected.extended), received




@pytest.mark.parametrize("point", ["accounts.after_warehouse_commit", "accounts.before_scrub_commit"])
def test_crash_mid_erasure_then_rerun_does_nothing_twice(databases, point):
    p = make_platform(databases)
    run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)
    with p.app() as c:
        account = member(p, c, "crashed")
    r = request(p, "erasure", account_id=account)
    crashed = run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG, extra_env={"RETENTION_FAULT_POINT": point})
    assert crashed.state_of("erase_requested_accounts") == "failed", crashed.task_states
    # Rolled back: the account is whole, the request still open, one attempt counted.
    assert p.scalar("select anonymised_at is null and email is not null from app.accounts where id = %s", (account,))
    assert p.rows("select state, attempts from retention.subject_requests where request_id = %s", (r,)) == [
        ("in_progress", 1)]
    assert p.scalar("select count(*) from retention.request_receipts") == 0

    outcome = run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)
    assert outcome.state == "success", outcome.task_states
    assert state(p, r)[0] == "fulfilled"
    assert p.scalar("select anonymised_at is not null and email is null from app.accounts where id = %s", (account,))
    assert warehouse_members(p) == 1
    assert p.scalar("select count(*) from stats.applied_batches where not cells_applied", db="wh") == 0
    assert p.scalar("select count(*) from retention.request_receipts") == 1


def test_a_members_objection_is_refused_with_the_reason_and_the_complaint_route(databases):
    p = make_platform(databases)
    run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)
    with p.app() as c:
        account = member(p, c, "objects")
    before = p.rows("select * from app.accounts where id = %s", (account,))
    r = request(p, "objection", account_id=account)
    outcome = run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)
    assert outcome.state == "success", outcome.task_states
    got, _, _, reason, counts = state(p, r)
    assert got == "refused" and counts == {"accounts_changed": 0}
    assert "art. 21" in reason and "www.cnil.fr/plaintes" in reason and "erasure" in reason
    assert p.rows("select * from app.accounts where id = %s", (account,)) == before
    assert p.rows("select state, request_type, subject_kind from retention.request_receipts") == [
        ("refused", "objection", "account")]
    # Answered: the next run has nothing to do for it.
    again = run_dag(p, as_of="2026-06-16T00:00:00+00:00", dry_run=None, dag_id=REQUESTS_DAG)
    assert again.state_of("check_request_schema") == "skipped", again.task_states


def test_a_request_withdrawn_by_the_platform_is_closed_with_a_receipt_and_never_acted_on(databases):
    p = make_platform(databases)
    run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)
    with p.app() as c:
        account = member(p, c, "changes_mind")
    r = request(p, "erasure", account_id=account, verified=False)
    assert run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG).state == "success"
    assert state(p, r)[0] == "identity_pending"
    with p.app() as c:  # the platform records the withdrawal
        c.execute("update retention.subject_requests set state = 'withdrawn', identity_verified_at = %s "
                  "where request_id = %s", ("2026-06-10T00:00:00+00:00", r))
    outcome = run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)
    assert outcome.state == "success", outcome.task_states
    assert p.rows("select state, completed_at::text from retention.subject_requests") == [
        ("withdrawn", "2026-06-15 00:00:00+00")]
    assert p.rows("select request_id, state from retention.request_receipts") == [(r, "withdrawn")]
    assert p.scalar("select anonymised_at is null from app.accounts where id = %s", (account,))
    quiet = run_dag(p, as_of="2026-06-16T00:00:00+00:00", dry_run=None, dag_id=REQUESTS_DAG)
    assert quiet.state_of("check_request_schema") == "skipped", quiet.task_states


def test_receipts_name_the_code_the_policy_and_the_gates_that_passed(databases):
    from retention.provenance import code_version, policy_version

    p = make_platform(databases)
    run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)
    with p.app() as c:
        account = member(p, c, "versions")
    request(p, "restriction", account_id=account)
    assert run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG).state == "success"
    (code, policy, gates), = p.rows("select code_version, policy_version, gates_passed from retention.request_receipts")
    assert code == code_version() and code.startswith("code sha256:") and len(code) == len("code sha256:") + 16
    assert policy == policy_version() and policy.startswith("policy v1 sha256:") and "data map v1 sha256:" in policy
    assert gates == ["requests_before.app_schema_matches_data_map"]


def test_a_drifted_schema_stops_every_request_but_not_the_deadline_check(databases):
    p = make_platform(databases)
    run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)
    with p.app() as c:
        account = member(p, c, "drift")
        c.execute("alter table app.accounts add column nickname text")
    r = request(p, "erasure", account_id=account)
    outcome = run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)
    assert outcome.state == "failed"
    assert outcome.state_of("check_request_schema") == "failed"
    assert outcome.state_of("erase_requested_accounts") == "upstream_failed"
    assert outcome.state_of("check_request_deadlines") == "success"
    assert state(p, r)[0] == "received"
    assert p.scalar("select anonymised_at is null from app.accounts where id = %s", (account,))


def test_erasure_kept_under_a_hold_is_done_once_the_hold_ends(databases):
    p = make_platform(databases)
    run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)
    with p.app() as c:
        held = member(p, c, "held", legal_hold_until="2026-06-20")
    r = request(p, "erasure", account_id=held)
    run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)
    assert state(p, r)[:3][:2] == ("partially_fulfilled", "legal_hold")
    # The day the hold ends it still holds (until means "up to and including").
    on_the_day = run_dag(p, as_of="2026-06-20T12:00:00+00:00", dry_run=None, dag_id=REQUESTS_DAG)
    assert on_the_day.state_of("erase_requested_accounts") == "skipped", on_the_day.task_states
    after = run_dag(p, as_of="2026-06-21T12:00:00+00:00", dry_run=None, dag_id=REQUESTS_DAG)
    assert after.state == "success", after.task_states
    assert state(p, r)[0] == "fulfilled"
    assert p.scalar("select anonymised_at is not null and email is null from app.accounts where id = %s", (held,))
    assert dict(p.rows("select state, kept_until::text from retention.request_receipts")) == {
        "partially_fulfilled": "2026-06-20", "fulfilled": None}
    assert warehouse_members(p, "erasure") == 1


def test_the_dpo_records_a_request_from_the_params(databases):
    p = make_platform(databases)
    with p.app() as c:
        account = member(p, c, "asks_from_ui")
    params = {"request_type": "restriction", "account_id": account, "received_at": "2026-06-10T09:00:00+02:00",
              "identity_verified_at": "2026-06-11T09:00:00+02:00"}
    outcome = run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG, params=params)
    assert outcome.state == "success", outcome.task_states
    assert p.rows("select request_type, state, received_at = '2026-06-10T07:00:00+00:00' "
                  "from retention.subject_requests") == [("restriction", "fulfilled", True)]
    assert p.scalar("select count(*) from retention.restrictions where account_id = %s", (account,)) == 1
    # Without a receipt date the request is refused before anything is recorded.
    bad = run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG,
                  params={"request_type": "erasure", "account_id": account, "received_at": None,
                          "identity_verified_at": None})
    assert bad.state_of("pick_up_requests") == "failed", bad.task_states
    assert p.scalar("select count(*) from retention.subject_requests") == 1
    # Seen with dag.test() in this process (not checked in a worker): a run's params stayed for the
    # next run of the same DAG object. Reset, so that later tests start clean.
    run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG,
            params={"request_type": None, "account_id": None, "received_at": None, "identity_verified_at": None})


def test_reconcile_leaves_the_pending_cells_of_a_batch_in_flight(databases):
    """The night's reconcile beside a request batch still in its transaction (its ledger row locked):
    its pending statistics are neither dropped nor applied; once the batch is gone, they are dropped."""
    from retention import warehouse
    from retention.accounts import reconcile
    from retention.db import make_engine
    from retention.migrate import migrate_app, migrate_warehouse
    from retention.policy import load_policy

    p = make_platform(databases)
    app, wh = make_engine(p.pipeline_app_url), make_engine(p.pipeline_warehouse_url)
    try:
        migrate_app(app)
        migrate_warehouse(wh, load_policy())
        with p.app() as c:
            c.execute("insert into retention.account_batches (plan_id, batch_no, run_id, as_of, warehouse_key, "
                      "id_from, id_to, planned_accounts, source) values ('request-x', 0, 'r', %s, 'request-x-0', "
                      "1, 1, 1, 'request')", (AS_OF,))
        with wh.begin() as w:
            warehouse.record_batch(w, "request-x-0", {})
        pending = "select count(*) from stats.applied_batches where state = 'pending'"
        with p.app() as in_flight:
            in_flight.execute("begin")
            in_flight.execute("select 1 from retention.account_batches where warehouse_key = 'request-x-0' for update")
            assert reconcile(app, wh) == {"confirmed": 0, "reversed": 0}
            assert p.scalar(pending, db="wh") == 1
            in_flight.execute("rollback")
        # The batch died without committing: its cells go.
        assert reconcile(app, wh) == {"confirmed": 0, "reversed": 1}
        assert p.scalar(pending, db="wh") == 0
    finally:
        app.dispose()
        wh.dispose()


def test_a_restricted_accounts_expired_logs_are_set_aside_by_the_purge_until_the_lift(databases):
    p = make_platform(databases)
    run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)
    with p.app() as c:
        restricted = member(p, c, "keeps_logs")
        other = member(p, c, "loses_logs")
        for account, ip in ((restricted, "198.51.100.7"), (other, "198.51.100.8")):
            p.add(c, "connection_logs", account_id=account, ip=ip, occurred_at="2025-01-10T08:00:00+00:00",
                  path="/old")
            p.add(c, "connection_logs", account_id=account, ip=ip, occurred_at="2026-06-01T08:00:00+00:00",
                  path="/recent")
    request(p, "restriction", account_id=restricted)
    assert run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG).state == "success"

    night = run_dag(p, as_of=AS_OF)
    assert night.state_of("connection_logs.check_connection_logs_after") == "success", night.task_states
    # The platform's table keeps no expired log (the LCEN year is over); the restricted account's
    # one is set aside as it was, the other account's is gone.
    assert p.rows("select account_id, path from app.connection_logs order by account_id") == [
        (restricted, "/recent"), (other, "/recent")]
    (row,) = p.rows("select account_id, log_row from retention.restricted_connection_logs")
    assert row[0] == restricted and row[1]["ip"] == "198.51.100.7" and row[1]["path"] == "/old"
    purge = next(x for x in night.xcoms if isinstance(x, dict) and "restricted_set_aside" in x)
    assert (purge["restricted_set_aside"], purge["restricted_released"]) == (1, 0)
    # A second night sets nothing aside twice.
    again = run_dag(p, as_of="2026-06-16T00:00:00+00:00")
    assert again.state == "success", again.task_states
    assert p.scalar("select count(*) from retention.restricted_connection_logs") == 1

    # Lifted: the next purge deletes what was set aside (past its year).
    request(p, "lift_restriction", account_id=restricted, received_at="2026-06-16T09:00:00+00:00")
    assert run_dag(p, as_of="2026-06-16T12:00:00+00:00", dry_run=None, dag_id=REQUESTS_DAG).state == "success"
    lifted = run_dag(p, as_of="2026-06-17T00:00:00+00:00")
    assert lifted.state == "success", lifted.task_states
    assert p.scalar("select count(*) from retention.restricted_connection_logs") == 0


def test_the_night_waits_for_an_open_access_request_before_anonymising(databases, tmp_path):
    from cryptography.fernet import Fernet

    p = make_platform(databases)
    run_dag(p, as_of=AS_OF, dry_run=None, dag_id=REQUESTS_DAG)
    with p.app() as c:
        # Closed: tonight's run would anonymise it, but the person asked for a copy first.
        asker = member(p, c, "wants_copy", closed_at="2026-06-01T00:00:00+00:00")
        other = member(p, c, "just_closed", closed_at="2026-06-01T00:00:00+00:00")
    r = request(p, "access", account_id=asker, verified=False)
    night = run_dag(p, as_of=AS_OF)
    assert night.state == "success", night.task_states
    assert p.scalar("select anonymised_at is null and email is not null from app.accounts where id = %s", (asker,))
    assert p.scalar("select anonymised_at is not null from app.accounts where id = %s", (other,))

    # Identity proven, package built: the next night anonymises it.
    with p.app() as c:
        c.execute("update retention.subject_requests set identity_verified_at = %s where request_id = %s",
                  ("2026-06-15T08:00:00+00:00", r))
    answered = run_dag(p, as_of="2026-06-15T09:00:00+00:00", dry_run=None, dag_id=REQUESTS_DAG,
                       extra_env={"RETENTION_PACKAGE_ROOT": tmp_path.as_uri(),
                                  "RETENTION_PACKAGE_KEY": Fernet.generate_key().decode()})
    assert answered.state == "success", answered.task_states
    assert state(p, r)[0] == "fulfilled"
    assert run_dag(p, as_of="2026-06-16T00:00:00+00:00").state == "success"
    assert p.scalar("select anonymised_at is not null from app.accounts where id = %s", (asker,))
