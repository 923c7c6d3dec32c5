"""The analysts' example queries (sql/analysts/*.sql, shown in docs/analysts.md) run as a login user of
role `analyst` on a warehouse filled by the real DAG from synthetic data, and return rows; the same user
cannot read `stats`, write anything, or reach the application database (and its `retention` schema)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import psycopg
import pytest
from dagrun import run_dag
from platform_fixture import make_platform
from psycopg.conninfo import conninfo_to_dict, make_conninfo

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
QUERIES = sorted((REPO / "sql" / "analysts").glob("*.sql"))
AS_OF = "2026-06-15T00:00:00+00:00"


def test_the_ten_queries_are_named_and_documented():
    assert len(QUERIES) == 10
    doc = (REPO / "docs" / "analysts.md").read_text(encoding="utf-8")
    for path in QUERIES:
        assert re.fullmatch(r"[a-z]+_[a-z0-9_]+\.sql", path.name), path.name
        sql = path.read_text(encoding="utf-8")
        assert sql.lstrip().startswith("--"), f"{path.name} says what question it answers"
        assert "published." in sql and "stats." not in sql, path.name
        assert f"sql/analysts/{path.name}" in doc, f"{path.name} is not in docs/analysts.md"
        body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--")).strip()
        assert body in doc, f"docs/analysts.md shows another version of {path.name}"


def seed_cohort(p, size: int = 6):
    """Six members who joined together, took the same test the same month and closed their accounts.

    With 3,000 synthetic members (about 280 anonymised), every cell of the finest published views
    (cohorts: month x reason x age band x region x education; assessments: month x test x score band)
    holds fewer than 5 people and is hidden: this cohort makes one cell of each visible, so that every
    example query has something to show.
    """
    with p.app() as c:
        for n in range(size):
            account = p.add_account(c, email=f"cohort{n}@example.org", closed_at="2026-01-01T00:00:00+00:00",
                                    birth_date="1990-03-01", postal_code="69001", country_code="FR",
                                    last_login_at="2025-12-01T00:00:00+00:00")
            p.add(c, "education", account_id=account, school="Université", level="master", specialty="TAL")
            p.add(c, "assessments", account_id=account, assessment_code="ANNOT-TXT", score=72 + n,
                  completed_at="2025-03-10T00:00:00+00:00")


@pytest.fixture
def analyst(pg_admin_url):
    """A login user created from role `analyst`, as an administrator would (docs/analysts.md)."""
    user = f"rt_analyst_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute("do $$ begin if not exists (select from pg_roles where rolname = 'analyst') then "
                      "create role analyst nologin; end if; end $$")
        admin.execute(f'create role "{user}" login in role analyst')
    try:
        yield user
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(f'drop role if exists "{user}"')


def connect_as(url: str, user: str) -> psycopg.Connection:
    params = conninfo_to_dict(url)
    params["user"] = user
    params.pop("password", None)
    return psycopg.connect(make_conninfo(**params), autocommit=True)


def test_analyst_runs_every_example_query_and_reads_nothing_else(databases, analyst, tmp_path):
    from retention.synthetic import generate

    p = make_platform(databases)
    generate(p.app_url, accounts=3000, seed=1, as_of=AS_OF, documents_dir=tmp_path, progress=False)
    seed_cohort(p)
    outcome = run_dag(p, as_of=AS_OF)
    assert outcome.state == "success", outcome.task_states
    try:
        with connect_as(p.warehouse_url, analyst) as c:
            counts = {}
            for path in QUERIES:
                cur = c.execute(path.read_text(encoding="utf-8"))
                rows = cur.fetchall()
                counts[path.stem] = len(rows)
                assert rows, f"{path.name} returned no row"
                assert all(isinstance(col.name, str) and col.name != "?column?" for col in cur.description), path.name
            # The cohort seeded above is visible, and only as counts.
            assessments = c.execute((REPO / "sql/analysts/select_assessment_results.sql").read_text()).fetchall()
            assert any(r[0] == "ANNOT-TXT" and r[1] == "70-79" and r[2] >= 6 for r in assessments), assessments
            assert counts["select_feature_usage_trend"] > 100 and counts["select_applications_per_project_month"] > 10

            for forbidden in ("select * from stats.anonymised_cohorts", "select * from stats.settings",
                              "select * from stats.applied_batches"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    c.execute(forbidden)
            for write in ("create table published.mine (x int)", "create table public.mine (x int)",
                          "delete from published.anonymised_cohorts",
                          "create view published.totals as select 1 as x"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    c.execute(write)
            assert c.execute("select count(*) from pg_namespace where nspname = 'retention'").fetchone() == (0,), \
                "the retention schema lives in the application database only"
        # The application database, and its `retention` schema, are out of reach: no CONNECT.
        with pytest.raises(psycopg.OperationalError, match="CONNECT privilege"):
            connect_as(p.app_url, analyst)
    finally:
        databases.drop_all()  # before the fixture drops the role: no database may still depend on it
