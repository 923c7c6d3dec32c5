"""Each gate, fed a seeded violation through the real DAG, fails its task, keeps every destructive
step after it from running, and stores counts, never personal values."""

from __future__ import annotations

import json

import pytest
from dagrun import run_dag
from platform_fixture import make_platform

pytestmark = pytest.mark.integration

AS_OF = "2026-06-15T00:00:00+00:00"
SECRET = "gate.secret.person@example.org"


def seed_small_platform(p, *, logs_layout_plain: bool = False):
    with p.app() as c:
        for n in range(6):
            p.add_account(c, email=f"kept{n}@example.org", last_login_at="2026-06-01T00:00:00+00:00")
        p.add_account(c, email=SECRET, first_name="Gatesecret", closed_at="2026-01-01T00:00:00+00:00",
                      postal_code="75001")
        c.execute("insert into app.connection_logs (account_id, ip, occurred_at, path) values "
                  "(1, '10.1.2.3', '2025-01-01T00:00:00+00:00', '/old'), (1, '10.1.2.4', '2026-06-01T00:00:00+00:00', '/new')")
        c.execute("insert into app.prospects (email, collected_at) values ('old.prospect@example.org', '2020-01-01'),"
                  " ('new.prospect@example.org', '2026-01-01')")


def assert_stopped_at(outcome, gate_task: str, not_run: list[str]):
    assert outcome.state == "failed"
    assert outcome.state_of(gate_task) == "failed", outcome.task_states
    for task_id in not_run:
        assert not outcome.ran(task_id), f"{task_id} ran after the failed gate: {outcome.task_states[task_id]}"


def assert_nothing_personal(p, outcome, captured: str):
    stored = json.dumps(p.rows("select * from retention.quality_results"), default=str)
    for haystack in (stored, json.dumps(outcome.xcoms, default=str), captured):
        assert SECRET not in haystack and "Gatesecret" not in haystack and "10.1.2." not in haystack


def failed_checks(p, gate: str) -> list[tuple]:
    return p.rows("select check_name, observed, expected from retention.quality_results "
                  "where gate = %s and not success order by check_name", (gate,))


def test_clean_path_passes_every_gate(databases):
    p = make_platform(databases)
    seed_small_platform(p)
    outcome = run_dag(p, as_of=AS_OF)
    assert outcome.state == "success", outcome.task_states
    gates = {g for (g,) in p.rows("select distinct gate from retention.quality_results")}
    assert gates == {"accounts_before", "accounts_after", "warehouse_after", "release_after", "connection_logs_after",
                     "prospects_after"}
    assert p.scalar("select count(*) from retention.quality_results where not success") == 0
    docs = p.scalar("select data_docs from retention.quality_results where gate = 'accounts_before' "
                    "and check_name <> 'app_schema_matches_data_map' limit 1")  # that check is ours, not GX's
    assert docs and docs.endswith("index.html")


def test_renamed_column_stops_before_anything_is_destroyed(databases, capfd):
    p = make_platform(databases)
    seed_small_platform(p)
    with p.app() as c:
        c.execute("alter table app.accounts rename column postal_code to zip_code")
    before = p.scalar("select md5(string_agg(a::text, '' order by id)) from app.accounts as a")
    outcome = run_dag(p, as_of=AS_OF)
    assert_stopped_at(outcome, "accounts.check_app_schema",
                      ["accounts.plan_account_batches", "accounts.anonymise_account_batch",
                       "connection_logs.purge_connection_logs", "prospects.purge_prospects"])
    assert failed_checks(p, "accounts_before") == [("app_schema_matches_data_map", 2, 0)]
    assert p.scalar("select md5(string_agg(a::text, '' order by id)) from app.accounts as a") == before
    assert p.scalar("select count(*) from app.connection_logs") == 2
    assert_nothing_personal(p, outcome, "".join(capfd.readouterr()))


def test_runaway_rule_stops_before_anything_is_destroyed(databases):
    p = make_platform(databases)
    with p.app() as c:  # 300 members whose only activity is 7 years old: 100 % of live accounts
        c.execute("insert into app.accounts (email, created_at, last_login_at) "
                  "select 'm' || g || '@example.org', '2018-01-01', '2019-01-01' from generate_series(1, 300) g")
    outcome = run_dag(p, as_of=AS_OF)
    assert_stopped_at(outcome, "accounts.check_accounts_before", ["accounts.anonymise_account_batch"])
    assert failed_checks(p, "accounts_before") == [("candidates_per_reason_within_ceiling", 300, 100)]
    assert p.scalar("select count(*) from app.accounts where anonymised_at is not null") == 0


def test_warehouse_that_does_not_reconcile_stops_the_purges(databases, capfd):
    p = make_platform(databases)
    seed_small_platform(p)
    assert run_dag(p, as_of="2026-01-01T00:00:00+00:00").state == "success"
    with p.warehouse() as w:  # a stray write into the statistics, outside the pipeline
        w.execute("update stats.anonymised_cohorts set members = members + 3")
    with p.app() as c:
        p.add_account(c, email="another@example.org", closed_at="2026-02-01T00:00:00+00:00")
    outcome = run_dag(p, as_of=AS_OF)
    assert_stopped_at(outcome, "accounts.check_accounts_after",
                      ["connection_logs.purge_connection_logs", "prospects.purge_prospects"])
    assert failed_checks(p, "warehouse_after") == [("warehouse_members_reconcile", 5, 2)]
    assert p.scalar("select count(*) from app.connection_logs") == 2, "the purge did not run"
    assert_nothing_personal(p, outcome, "".join(capfd.readouterr()))


def test_leftover_personal_value_on_a_tombstone_fails_the_gate(databases, capfd):
    p = make_platform(databases)
    seed_small_platform(p)
    with p.app() as c:  # a tombstone of this as_of that a broken scrub left an email on
        p.add_account(c, email=SECRET.replace("gate", "left"), anonymised_at=AS_OF)
    outcome = run_dag(p, as_of=AS_OF)
    assert_stopped_at(outcome, "accounts.check_accounts_after",
                      ["connection_logs.purge_connection_logs", "prospects.purge_prospects"])
    assert failed_checks(p, "accounts_after") == [("tombstones_hold_no_personal_data", 1, 0)]
    assert_nothing_personal(p, outcome, "".join(capfd.readouterr()))
    assert "left.secret" not in "".join(capfd.readouterr())


def test_surviving_old_log_fails_the_gate(databases, capfd):
    p = make_platform(databases, logs_layout="plain")
    seed_small_platform(p)
    with p.app() as c:  # a row the purge cannot remove (a rule of the application cancels its delete)
        c.execute("create function app.keep_row() returns trigger language plpgsql as "
                  "$$ begin if old.path = '/old' then return null; end if; return old; end $$")
        c.execute("create trigger keep_row before delete on app.connection_logs for each row execute function app.keep_row()")
    outcome = run_dag(p, as_of=AS_OF)
    assert_stopped_at(outcome, "connection_logs.check_connection_logs_after", ["prospects.purge_prospects"])
    assert failed_checks(p, "connection_logs_after") == [("no_expired_connection_log", 1, 0)]
    assert_nothing_personal(p, outcome, "".join(capfd.readouterr()))
