"""The analysts' example queries (sql/analysts/*.sql, shown in docs/analysts.md) run as a login user of
role `analyst` on a month released by the real DAG from synthetic data, and return rows; the same user
cannot read `stats`, write anything, or reach the application database (and its `retention` schema)."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
from dagrun import run_dag
from platform_fixture import connect_as, make_platform

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
QUERIES = sorted((REPO / "sql" / "analysts").glob("*.sql"))
MAY = "2026-05-15T00:00:00+00:00"
JUNE = "2026-06-02T00:00:00+00:00"  # the first night after May closed: May is released


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


def test_analyst_runs_every_example_query_and_reads_nothing_else(databases, analyst, tmp_path):
    from retention.release import RELEASED_TABLES
    from retention.synthetic import generate

    p = make_platform(databases)
    generate(p.app_url, accounts=3000, seed=1, as_of=MAY, documents_dir=tmp_path, progress=False)
    for as_of in (MAY, JUNE):
        outcome = run_dag(p, as_of=as_of)
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
            assert counts["count_anonymisations_per_month"] == 1, "May, released once"
            features = c.execute("select count(distinct feature) from published.members_by_feature").fetchone()[0]
            assert counts["select_feature_usage_trend"] == features >= 14, "every feature, zero or not"
            projects = c.execute("select count(*) from published.applicants_by_project").fetchone()[0]
            assert counts["select_applications_per_project_month"] == projects > 10
            documented = {f"published.{t.name}" for t in RELEASED_TABLES} | {"published.privacy_accounting"}
            used = {m for path in QUERIES for m in re.findall(r"published\.[a-z0-9_]+", path.read_text())}
            assert used <= documented | {"published.releases"}, used - documented

            for forbidden in ("select * from stats.anonymised_cohorts", "select * from stats.release_languages",
                              "select * from stats.applied_batches"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    c.execute(forbidden)
            for write in ("create table published.mine (x int)", "create table public.mine (x int)",
                          "delete from published.released_cells",
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
