"""Anonymisation through the real DAG on real PostgreSQL: eligibility boundaries, irreversibility,
exactly-once statistics, idempotent reruns, crash recovery, and no personal value leaking."""

from __future__ import annotations

import json

import pytest
from dagrun import run_dag
from platform_fixture import PERSONAL_COLUMNS, make_platform

pytestmark = pytest.mark.integration

AS_OF = "2026-06-15T00:00:00+00:00"


def seed_boundaries(p):
    """One account per boundary of the rules; returns {label: id} and the set expected to go."""
    ids: dict[str, int] = {}
    with p.app() as c:
        project = c.execute("insert into app.projects (client_name, title, published_at) "
                            "values ('Client SA', 'Annotation FR', '2015-01-01') returning id").fetchone()[0]

        def acc(label, **cols):
            cols.setdefault("email", f"{label}@secret-mail.example")
            cols.setdefault("first_name", f"Prenom{label.title().replace('_', '')}")
            cols.setdefault("last_name", "Secretnom")
            cols.setdefault("phone", "+33 6 12 34 56 78")
            cols.setdefault("postal_code", "75011")
            cols.setdefault("country_code", "FR")
            cols.setdefault("birth_date", "1985-03-02")
            ids[label] = p.add_account(c, **cols)
            return ids[label]

        acc("inactive_5y_plus_1d", last_login_at="2021-06-14T00:00:00+00:00")
        acc("inactive_exact_cutoff", last_login_at="2021-06-15T00:00:00+00:00")
        acc("active_5y_minus_1d", last_login_at="2021-06-16T00:00:00+00:00")
        acc("inactive_second_before", last_login_at="2021-06-14T23:59:59+00:00")
        acc("hold_ended_yesterday", closed_at="2026-01-01T00:00:00+00:00", legal_hold_until="2026-06-14")
        acc("hold_ends_today", closed_at="2026-01-01T00:00:00+00:00", legal_hold_until="2026-06-15")
        acc("hold_next_month", closed_at="2026-01-01T00:00:00+00:00", legal_hold_until="2026-07-15")
        acc("directive", deceased_reported_at="2026-01-01T00:00:00+00:00", post_mortem_retain_until="2027-01-01")
        acc("directive_expired", deceased_reported_at="2026-01-01T00:00:00+00:00",
            post_mortem_retain_until="2026-06-01")
        acc("closed_after_as_of", last_login_at="2026-06-01T00:00:00+00:00", closed_at="2026-06-15T00:00:01+00:00")
        acc("closed_at_as_of", last_login_at="2026-06-01T00:00:00+00:00", closed_at="2026-06-15T00:00:00+00:00")
        acc("deceased_and_closed", closed_at="2026-02-01T00:00:00+00:00",
            deceased_reported_at="2026-03-01T00:00:00+00:00")
        acc("deceased_after_as_of", last_login_at="2026-06-01T00:00:00+00:00",
            deceased_reported_at="2026-07-01T00:00:00+00:00")
        acc("login_after_as_of", last_login_at="2026-09-01T00:00:00+00:00")
        recent_message = acc("only_recent_message", last_login_at="2019-01-01T00:00:00+00:00")
        recent_assessment = acc("only_recent_assessment", last_login_at="2019-01-01T00:00:00+00:00")
        received_only = acc("only_received_message", last_login_at="2019-01-01T00:00:00+00:00")
        recent_event = acc("only_recent_event", last_login_at="2019-01-01T00:00:00+00:00")
        recent_application = acc("only_recent_application", last_login_at="2019-01-01T00:00:00+00:00")
        tomb = acc("tombstone", email=None, first_name=None, last_name=None, phone=None, postal_code=None,
                   country_code=None, birth_date=None, closed_at="2020-01-01T00:00:00+00:00",
                   anonymised_at="2020-02-01T00:00:00+00:00")

        c.execute("insert into app.messages (sender_id, recipient_id, body, sent_at) values "
                  "(%s, %s, 'Secret body one', '2023-01-01T00:00:00+00:00'),"
                  "(%s, %s, 'Secret body two', '2024-01-01T00:00:00+00:00')",
                  (recent_message, received_only, ids["login_after_as_of"], received_only))
        p.add(c, "assessments", account_id=recent_assessment, assessment_code="ANNOT-TXT", score=71.5,
              completed_at="2024-05-05T00:00:00+00:00")
        p.add(c, "activity_events", account_id=recent_event, feature="login", occurred_at="2022-01-01T00:00:00+00:00")
        p.add(c, "applications", account_id=recent_application, project_id=project,
              applied_at="2025-01-01T00:00:00+00:00", matching_score=50)
        # Child rows of accounts that go: they must vanish, and be counted once in the warehouse.
        for label in ("inactive_5y_plus_1d", "hold_ended_yesterday", "deceased_and_closed", "only_received_message"):
            a = ids[label]
            p.add(c, "education", account_id=a, school="Lycée Secret", level="master", specialty="Linguistique")
            p.add(c, "languages", account_id=a, language="fr", level="native")
            p.add(c, "languages", account_id=a, language="EN", level="c1")
            p.add(c, "experiences", account_id=a, title="Annotateur", company="SecretCorp", is_annotation=True)
            p.add(c, "activity_events", account_id=a, feature="login", occurred_at="2019-05-05T10:00:00+00:00")
            p.add(c, "activity_events", account_id=a, feature="secret.person@evil.example",
                  occurred_at="2019-06-05T10:00:00+00:00")
            p.add(c, "applications", account_id=a, project_id=project, applied_at="2019-05-05T00:00:00+00:00",
                  matching_score=80.25, status="rejected")
            p.add(c, "assessments", account_id=a, assessment_code="annot-img", score=64,
                  completed_at="2019-05-06T00:00:00+00:00")
            c.execute("insert into app.messages (sender_id, recipient_id, body, sent_at) values "
                      "(%s, %s, 'Secret body from leaver', '2019-01-01T00:00:00+00:00')", (a, ids["login_after_as_of"]))
        c.execute("update app.accounts set last_login_at = null where id = %s", (tomb,))
    expected = {"inactive_5y_plus_1d", "inactive_second_before", "hold_ended_yesterday", "directive_expired",
                "closed_at_as_of", "deceased_and_closed", "only_received_message"}
    return ids, expected


def warehouse_totals(p):
    return {
        "members": p.scalar("select coalesce(sum(members), 0) from stats.anonymised_cohorts", db="wh"),
        "events": p.scalar("select coalesce(sum(events), 0) from stats.feature_usage_monthly", db="wh"),
        "applications": p.scalar("select coalesce(sum(applications), 0) from stats.project_applications_monthly", db="wh"),
        "languages": p.scalar("select coalesce(sum(members), 0) from stats.language_levels", db="wh"),
        "assessments": p.scalar("select coalesce(sum(results), 0) from stats.assessment_results", db="wh"),
        "experience_members": p.scalar("select coalesce(sum(members), 0) from stats.experience_profiles", db="wh"),
    }


def test_boundaries_scrub_statistics_and_idempotent_rerun(databases, capfd):
    p = make_platform(databases)
    ids, expected = seed_boundaries(p)
    events_before = p.scalar("select count(*) from app.activity_events")
    applications_before = p.scalar("select count(*) from app.applications")

    outcome = run_dag(p, as_of=AS_OF)
    assert outcome.state_of("accounts.finalize_accounts") == "success", outcome.task_states

    anonymised = {label for label, i in ids.items()
                  if p.scalar("select anonymised_at is not null from app.accounts where id = %s", (i,))} - {"tombstone"}
    assert anonymised == expected

    gone = [ids[label] for label in expected]
    for column in PERSONAL_COLUMNS:
        assert p.scalar(f"select count(*) from app.accounts where id = any(%s) and {column} is not null", (gone,)) == 0, column
    assert p.scalar("select count(*) from app.accounts where id = any(%s) and anonymised_at = %s", (gone, AS_OF)) == len(gone)
    assert p.scalar("select count(*) from app.accounts where id = %s and closed_at is not null",
                    (ids["hold_ended_yesterday"],)) == 1, "the tombstone keeps closed_at"
    for table in ("education", "experiences", "languages", "documents", "applications", "assessments", "activity_events"):
        assert p.scalar(f"select count(*) from app.{table} where account_id = any(%s)", (gone,)) == 0, table
    assert p.scalar("select count(*) from app.messages where sender_id = any(%s) and body is not null", (gone,)) == 0
    assert p.scalar("select count(*) from app.messages where sender_id = any(%s)", (gone,)) == 4, "rows stay for the other member"
    assert p.scalar("select count(*) from app.messages where recipient_id = %s and body is not null",
                    (ids["only_received_message"],)) == 2, "received messages stay"
    kept = [i for label, i in ids.items() if label not in expected and label != "tombstone"]
    assert p.scalar("select count(*) from app.accounts where id = any(%s) and email is not null", (kept,)) == len(kept)

    # Statistics reconcile with what was removed, and the reason follows precedence.
    totals = warehouse_totals(p)
    assert totals["members"] == len(expected)
    assert totals["experience_members"] == len(expected)
    assert totals["events"] == events_before - p.scalar("select count(*) from app.activity_events")
    assert totals["applications"] == applications_before - p.scalar("select count(*) from app.applications")
    assert totals["languages"] == 8 and totals["assessments"] == 4
    reasons = dict(p.rows("select reason, sum(members)::int from stats.anonymised_cohorts group by reason", db="wh"))
    assert reasons == {"inactive": 3, "closed": 2, "deceased": 2}
    assert p.scalar("select count(*) from stats.feature_usage_monthly where feature = 'other'", db="wh") == 1
    assert p.scalar("select members from stats.language_levels where language = 'en' and level = 'C1'", db="wh") == 4

    # No seeded personal value anywhere outside the source: warehouse, XCom, task logs.
    dump = "\n".join(str(r) for t in ("anonymised_cohorts", "feature_usage_monthly", "project_applications_monthly",
                                       "language_levels", "assessment_results", "experience_profiles")
                     for r in p.rows(f"select * from stats.{t}", db="wh"))
    xcoms = json.dumps(outcome.xcoms, default=str)
    logs = capfd.readouterr()
    for haystack in (dump, xcoms, logs.out + logs.err):
        for secret in ("secret-mail", "Secretnom", "Secret body", "SecretCorp", "Lycée Secret", "+33 6 12",
                       "secret.person@evil", "Prenom"):
            assert secret not in haystack
    assert "[parameters" not in logs.out + logs.err

    # Audit: one row per reason with counts, no identities.
    audit = dict(p.rows("select rule, rows_affected from retention.rule_audit where run_id = %s and rule like 'anonymise_%%'",
                        (outcome.run_id,)))
    assert audit == {"anonymise_inactive": 3, "anonymise_closed": 2, "anonymise_deceased": 2}
    assert p.scalar("select count(*) from retention.account_batches where id_from is not null or id_to is not null") == 0

    # A rerun for the same as_of changes nothing, in either database.
    app_print, wh_print = p.fingerprint(), p.fingerprint(db="wh")
    again = run_dag(p, as_of=AS_OF)
    assert again.state_of("accounts.finalize_accounts") == "success"
    assert (p.fingerprint(), p.fingerprint(db="wh")) == (app_print, wh_print)


def test_dry_run_writes_nothing(databases):
    p = make_platform(databases)
    seed_boundaries(p)
    before = p.fingerprint()
    outcome = run_dag(p, as_of=AS_OF, dry_run=True)
    assert outcome.state == "success", outcome.task_states
    assert p.fingerprint() == before
    assert p.scalar("select count(*) from retention.runs") == 0
    assert p.scalar("select count(*) from retention.account_batches") == 0
    assert p.scalar("select count(*) from retention.rule_audit") == 0
    assert p.scalar("select count(*) from stats.anonymised_cohorts", db="wh") == 0
    plan = next(x for x in outcome.xcoms if isinstance(x, dict) and "eligible" in x and "plan_id" in x)
    assert plan["eligible"] == {"deceased": 2, "closed": 2, "inactive": 3}


@pytest.mark.parametrize("fault_point", ["accounts.after_warehouse_commit", "accounts.after_files_deleted",
                                         "accounts.before_scrub_commit"])
def test_crash_mid_batch_then_rerun_counts_exactly_once(databases, fault_point):
    p = make_platform(databases)
    _, expected = seed_boundaries(p)
    crashed = run_dag(p, as_of=AS_OF, extra_env={"RETENTION_FAULT_POINT": fault_point})
    assert crashed.state == "failed"
    assert "failed" in crashed.task_states["accounts.anonymise_account_batch"]
    # The scrub rolled back: nothing anonymised, although the warehouse had committed the batch.
    assert p.scalar("select count(*) from app.accounts where anonymised_at = %s", (AS_OF,)) == 0
    assert p.scalar("select count(*) from stats.applied_batches where state = 'pending'", db="wh") == 1

    rerun = run_dag(p, as_of=AS_OF)
    assert rerun.state_of("accounts.finalize_accounts") == "success", rerun.task_states
    assert p.scalar("select count(*) from app.accounts where anonymised_at = %s", (AS_OF,)) == len(expected)
    totals = warehouse_totals(p)
    assert totals["members"] == len(expected)
    assert totals["experience_members"] == len(expected)
    assert totals["languages"] == 8
    assert p.scalar("select count(*) from stats.applied_batches where state = 'pending'", db="wh") == 0
    audited = p.scalar("select sum(rows_affected) from retention.rule_audit where rule like 'anonymise_%%'")
    assert audited == len(expected)


def test_analyst_reads_published_only(databases, pg_admin_url):
    import uuid

    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    p = make_platform(databases)
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute("do $$ begin if not exists (select from pg_roles where rolname = 'analyst') then "
                      "create role analyst nologin; end if; end $$")
        user = f"rt_analyst_{uuid.uuid4().hex[:8]}"
        admin.execute(f'create role "{user}" login in role analyst')
    try:
        with p.app() as c:  # five closed accounts in one cohort cell, one more alone in another
            for n in range(5):
                p.add_account(c, email=f"a{n}@x.example", closed_at="2026-01-01T00:00:00+00:00",
                              postal_code="75001", birth_date="1990-01-01")
            p.add_account(c, email="alone@x.example", closed_at="2026-01-01T00:00:00+00:00",
                          postal_code="13001", birth_date="1950-01-01")
        assert run_dag(p, as_of=AS_OF).state_of("accounts.finalize_accounts") == "success"
        # The first night after June closed releases June: what analysts read.
        assert run_dag(p, as_of="2026-07-01T00:00:00+00:00").state_of("accounts.check_release") == "success"

        def as_analyst(url):
            params = conninfo_to_dict(url)
            params["user"] = user
            return psycopg.connect(make_conninfo(**params), autocommit=True)

        with as_analyst(p.warehouse_url) as c:
            rows = c.execute("select age_band, members, members_error95 from published.members_by_reason_age_band "
                             "where reason = 'closed'").fetchall()
            assert len(rows) == 18, "every age band is released, the lone member's and the empty ones alike"
            assert all(err > 0 for _, _, err in rows), "each value with its error bound"
            for forbidden in ("select * from stats.anonymised_cohorts", "select * from stats.applied_batches"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    c.execute(forbidden)
        with pytest.raises(psycopg.OperationalError, match="CONNECT privilege"):
            as_analyst(p.app_url)
    finally:
        databases.drop_all()
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(f'drop role if exists "{user}"')
