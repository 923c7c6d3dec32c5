"""Pending deltas in the warehouse: one JSON array per table and batch, reversible, and carried over
from the row-by-row tables of earlier versions."""

from __future__ import annotations

import json

import pytest
from platform_fixture import make_platform
from retention import warehouse
from retention.db import make_engine
from retention.migrate import migrate_warehouse
from retention.policy import load_policy

pytestmark = pytest.mark.integration

CELLS = [{"month": "2024-03-01", "feature": "search_projects", "events": 7, "members": 2},
         {"month": None, "feature": "other", "events": 1, "members": 1}]


@pytest.fixture
def wh(databases):
    p = make_platform(databases)
    engine = make_engine(p.pipeline_warehouse_url)
    migrate_warehouse(engine, load_policy())
    try:
        yield engine
    finally:
        engine.dispose()


def _usage(engine) -> list[tuple]:
    from sqlalchemy import text

    with engine.connect() as c:
        return [tuple(r) for r in c.execute(text(
            "select month::text, feature, events, members from stats.feature_usage_monthly order by 1 nulls first"))]


def test_a_batch_is_applied_then_reversed_exactly(wh):
    from sqlalchemy import text

    with wh.begin() as c:
        warehouse.apply_batch(c, "plan-0", {"feature_usage_monthly": json.dumps(CELLS)})
    with wh.begin() as c:
        warehouse.apply_batch(c, "plan-1", {"feature_usage_monthly": json.dumps(CELLS[:1])})
    assert _usage(wh) == [(None, "other", 1, 1), ("2024-03-01", "search_projects", 14, 4)]
    with wh.begin() as c:
        assert warehouse.reverse(c, ["plan-0"]) == 1
    assert _usage(wh) == [("2024-03-01", "search_projects", 7, 2)], "the unknown-month cell is matched and pruned"
    with wh.begin() as c:
        assert warehouse.confirm(c, ["plan-1"]) == 1
    with wh.connect() as c:
        assert c.execute(text("select count(*) from stats.pending_cells")).scalar_one() == 0
        assert warehouse.pending_keys(c) == []


def test_pending_rows_of_an_earlier_version_are_carried_over_and_still_reversible(wh):
    """A warehouse upgraded while a crashed batch's deltas sat in the old <table>_pending tables: the
    migration moves them into pending_cells, so reconcile can still reverse that batch."""
    from sqlalchemy import text

    with wh.begin() as c:
        warehouse.apply_batch(c, "old-0", {"feature_usage_monthly": json.dumps(CELLS)})
        # As an earlier version left it: the deltas row by row in the table's own pending table.
        c.execute(text("delete from stats.pending_cells"))
        c.execute(text("create table stats.feature_usage_monthly_pending (warehouse_key text not null, month date, "
                       "feature text, events bigint not null, members bigint not null)"))
        c.execute(text("insert into stats.feature_usage_monthly_pending values "
                       "('old-0', '2024-03-01', 'search_projects', 7, 2), ('old-0', null, 'other', 1, 1)"))
    migrate_warehouse(wh, load_policy())
    with wh.connect() as c:
        assert c.execute(text("select to_regclass('stats.feature_usage_monthly_pending')")).scalar_one() is None
        assert warehouse.pending_keys(c) == ["old-0"]
    with wh.begin() as c:
        warehouse.reverse(c, ["old-0"])
    assert _usage(wh) == []


def test_pending_cells_of_the_jsonb_version_are_converted_and_still_reversible(wh):
    """A warehouse upgraded from the version that kept pending cells as jsonb, while a crashed
    batch's deltas sat there: the migration converts the column and reconcile can still reverse."""
    from sqlalchemy import text

    with wh.begin() as c:
        warehouse.apply_batch(c, "jsonb-0", {"feature_usage_monthly": json.dumps(CELLS)})
        c.execute(text("alter table stats.pending_cells drop constraint pending_cells_cells_check"))
        c.execute(text("alter table stats.pending_cells alter column cells type jsonb using cells::jsonb"))
        c.execute(text("alter table stats.pending_cells add check (jsonb_typeof(cells) = 'array')"))
    migrate_warehouse(wh, load_policy())
    with wh.connect() as c:
        assert c.execute(text("select atttypid::regtype::text from pg_attribute "
                              "where attrelid = 'stats.pending_cells'::regclass and attname = 'cells'")).scalar_one() == "json"
        assert warehouse.pending_keys(c) == ["jsonb-0"]
    with wh.begin() as c:
        warehouse.reverse(c, ["jsonb-0"])
    assert _usage(wh) == []
