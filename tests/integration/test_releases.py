"""Monthly differentially private releases through the real DAG on real PostgreSQL, tried as an analyst.

Nights inside a month change nothing an analyst can read (no nightly differencing); the first night
after the month closed releases it, once: a rerun, a later night and a backfill return the stored
release, value for value; the role `analyst` reads `published` and nothing else of any schema.
"""

from __future__ import annotations

import psycopg
import pytest
from dagrun import run_dag
from platform_fixture import connect_as, make_platform

pytestmark = pytest.mark.integration

MAY_10 = "2026-05-10T00:00:00+00:00"
MAY_20 = "2026-05-20T00:00:00+00:00"
JUNE_2 = "2026-06-02T00:00:00+00:00"
JUNE_3 = "2026-06-03T00:00:00+00:00"


def readable(c: psycopg.Connection) -> dict[str, list[tuple]]:
    """Every row of every relation the analyst can read in the warehouse (outside the system catalogs)."""
    relations = c.execute(
        "select n.nspname, c.relname from pg_class as c join pg_namespace as n on n.oid = c.relnamespace "
        "where c.relkind in ('r', 'v', 'm', 'p') and n.nspname not in ('pg_catalog', 'information_schema') "
        "and n.nspname not like 'pg_toast%%' and has_table_privilege(c.oid, 'select') order by 1, 2").fetchall()
    return {f"{s}.{r}": sorted(c.execute(f'select * from "{s}"."{r}"').fetchall(), key=repr) for s, r in relations}


def close_accounts(p, count: int, closed_at: str) -> int:
    """Members closing their accounts between two nights (the next night anonymises them)."""
    with p.app() as c:
        return c.execute(
            "update app.accounts set closed_at = %s where id in (select id from app.accounts "
            "where anonymised_at is null and closed_at is null and deceased_reported_at is null "
            "and legal_hold_until is null order by id limit %s)", (closed_at, count)).rowcount


def test_month_released_once_never_moves_and_analyst_reads_published_only(databases, analyst, tmp_path):
    from retention.release import RELEASED_TABLES
    from retention.synthetic import generate

    p = make_platform(databases)
    generate(p.app_url, accounts=2000, seed=3, as_of=MAY_10, documents_dir=tmp_path, progress=False)
    try:
        assert run_dag(p, as_of=MAY_10).state == "success"
        with connect_as(p.warehouse_url, analyst) as c:
            night1 = readable(c)
        assert p.scalar("select sum(members) from stats.anonymised_cohorts", db="wh") > 0

        # (1) Nightly differencing: members close their accounts, the next night of the same month
        # anonymises them; the exact statistics move, nothing an analyst can read does.
        assert close_accounts(p, 25, "2026-05-15T00:00:00+00:00") == 25
        before = p.scalar("select sum(members) from stats.anonymised_cohorts", db="wh")
        assert run_dag(p, as_of=MAY_20).state == "success"
        assert p.scalar("select sum(members) from stats.anonymised_cohorts", db="wh") >= before + 25
        with connect_as(p.warehouse_url, analyst) as c:
            assert readable(c) == night1, "a night inside the month changed a value the analyst can read"
        assert p.scalar("select count(*) from published.releases", db="wh") == 0

        # The first night after the month closed releases May: every table, every cell of its key set.
        june2 = run_dag(p, as_of=JUNE_2)
        assert june2.state == "success", june2.task_states
        assert p.rows("select release_month::text from published.releases", db="wh") == [("2026-05-01",)]
        ledger = dict(p.rows("select table_name, cells from published.privacy_ledger", db="wh"))
        assert set(ledger) == {t.name for t in RELEASED_TABLES}
        # Four reasons: the nightly three and an erasure on request (gdpr_subject_requests).
        assert ledger["members_by_reason"] == 4 and ledger["members_by_reason_age_band"] == 4 * 18
        assert ledger["members_by_region"] >= 20  # every region of the reference data, zero or not
        exact = p.scalar("select sum(members) from stats.anonymised_cohorts "
                         "where anonymised_month = '2026-05-01'", db="wh")
        noisy, err = p.rows("select sum(members), max(members_error95) from published.members_by_reason", db="wh")[0]
        assert abs(noisy - exact) <= 3 * err, "three cells, each within its bound at 95 %: far outside is a bug"
        spent, budget = p.rows("select rho_spent, rho_budget from published.releases", db="wh")[0]
        assert 0 < spent <= budget * (1 + 1e-9)
        gate = p.rows("select check_name, success from retention.quality_results where gate = 'release_after'")
        assert gate and all(ok for _, ok in gate), gate

        from retention.release import release_summary

        summary = release_summary(p.warehouse_url)  # what the demo prints, from the admin URL it holds
        assert summary[0].startswith("Released 2026-05: 16 tables"), summary
        assert any("rho 0.5" in line for line in summary), summary

        # The Retention page shows the accounting from the runs' reports (the app database it reads).
        from retention.compliance.queries import read_page
        from retention.db import make_engine

        page_engine = make_engine(p.app_url)
        try:
            shown = read_page(page_engine, docs_root=tmp_path).releases
        finally:
            page_engine.dispose()
        assert [(r.month.isoformat(), r.tables, round(r.rho, 6)) for r in shown] == [("2026-05-01", 16, round(spent, 6))]
        assert shown[0].epsilon and shown[0].delta

        with connect_as(p.warehouse_url, analyst) as c:
            released = readable(c)
        assert released["published.releases"] and released["published.members_by_language_level"]

        # (2) Rerun of the same night, a later night, a backfill into May: the stored release, value for value.
        close_accounts(p, 10, "2026-06-02T12:00:00+00:00")
        for as_of in (JUNE_2, JUNE_3, MAY_20):
            assert run_dag(p, as_of=as_of).state == "success"
            with connect_as(p.warehouse_url, analyst) as c:
                again = readable(c)
            assert {k: v for k, v in again.items()} == released, f"the release moved after the run as of {as_of}"
        assert p.scalar("select count(*) from published.releases", db="wh") == 1

        # Append-only, even for the pipeline that owns it.
        with psycopg.connect(p.pipeline_warehouse_url, autocommit=True) as c:
            for change in ("update published.released_cells set value = value + 1",
                           "delete from published.releases", "truncate published.privacy_ledger cascade"):
                with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                    c.execute(change)

        # (3) The role analyst against every schema: published only.
        with connect_as(p.warehouse_url, analyst) as c:
            assert {name.split(".")[0] for name in released} == {"published"}, sorted(released)
            tables = c.execute("select n.nspname, c.relname from pg_class as c join pg_namespace as n "
                               "on n.oid = c.relnamespace where c.relkind in ('r', 'v', 'p') and n.nspname "
                               "not in ('pg_catalog', 'information_schema', 'published')").fetchall()
            assert any(s == "stats" for s, _ in tables)
            for schema, table in tables:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    c.execute(f'select 1 from "{schema}"."{table}" limit 1')
            for write in ("insert into published.releases (release_month) values ('2026-07-01')",
                          "create table published.mine (x int)", "create table public.mine (x int)"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    c.execute(write)
        with pytest.raises(psycopg.OperationalError, match="CONNECT privilege"):
            connect_as(p.app_url, analyst)

        # The gate after the release fails when a month's ledger overspends or its cells were added to.
        with p.warehouse() as c:
            c.execute("insert into published.privacy_ledger (release_month, table_name, mechanism, sensitivity_l2, "
                      "noise_scale, rho, error95, cells) values ('2026-05-01', 'forged', 'none', 1, 1, 0.5, 1, 1)")
        outcome = run_dag(p, as_of=JUNE_3)
        assert outcome.state == "failed" and outcome.state_of("accounts.check_release") == "failed"
        failed = {name for (name,) in p.rows("select check_name from retention.quality_results "
                                              "where gate = 'release_after' and not success")}
        assert failed == {"releases_within_budget", "no_month_released_twice"}, failed
    finally:
        databases.drop_all()  # before the fixture drops the role: no database may still depend on it


def test_a_release_that_crashed_leaves_nothing_and_the_rerun_releases_once(databases, tmp_path):
    from retention.synthetic import generate

    p = make_platform(databases)
    generate(p.app_url, accounts=300, seed=4, as_of=MAY_10, documents_dir=tmp_path, progress=False)
    try:
        assert run_dag(p, as_of=MAY_10).state == "success"
        crashed = run_dag(p, as_of=JUNE_2, extra_env={"RETENTION_FAULT_POINT": "release.before_commit"})
        assert crashed.state == "failed" and crashed.state_of("accounts.release_closed_months") == "failed"
        for table in ("releases", "privacy_ledger", "released_cells"):
            assert p.scalar(f"select count(*) from published.{table}", db="wh") == 0, table
        assert run_dag(p, as_of=JUNE_2).state == "success"
        assert p.rows("select release_month::text from published.releases", db="wh") == [("2026-05-01",)]
        assert p.scalar("select count(distinct table_name) from published.released_cells", db="wh") == 16
    finally:
        databases.drop_all()
