"""Pending cells in the warehouse: one JSON array per table and batch, applied (summed) once the
scrub is confirmed or dropped; what earlier versions left pending is carried over and still settled."""

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


def _pending(engine) -> int:
    from sqlalchemy import text

    with engine.connect() as c:
        return c.execute(text("select count(*) from stats.pending_cells")).scalar_one()


def test_recorded_batches_reach_the_tables_only_when_confirmed_summed(wh):
    with wh.begin() as c:
        warehouse.record_batch(c, "plan-0", {"feature_usage_monthly": json.dumps(CELLS)})
    with wh.begin() as c:
        warehouse.record_batch(c, "plan-1", {"feature_usage_monthly": json.dumps(CELLS[:1])})
    with wh.begin() as c:
        warehouse.record_batch(c, "plan-2", {"feature_usage_monthly": json.dumps(CELLS)})
    assert _usage(wh) == [], "analysts never see a batch whose scrub is not known to have committed"
    with wh.begin() as c:
        assert warehouse.reverse(c, ["plan-2"]) == 1
    with wh.begin() as c:
        assert warehouse.confirm(c, ["plan-0", "plan-1"]) == 2
    assert _usage(wh) == [(None, "other", 1, 1), ("2024-03-01", "search_projects", 14, 4)], \
        "both batches summed per cell, the unknown month matched as one cell"
    with wh.begin() as c:  # a later night adds to the same cells
        warehouse.record_batch(c, "plan-3", {"feature_usage_monthly": json.dumps(CELLS[1:])})
        assert warehouse.confirm(c, ["plan-3"]) == 1
    assert _usage(wh) == [(None, "other", 2, 2), ("2024-03-01", "search_projects", 14, 4)]
    assert _pending(wh) == 0
    with wh.connect() as c:
        assert warehouse.pending_keys(c) == []
        # Confirming again (a rerun of finalize) changes nothing: the keys are no longer pending.
        assert warehouse.confirm(c, ["plan-0", "plan-1"]) == 2
    assert _usage(wh) == [(None, "other", 2, 2), ("2024-03-01", "search_projects", 14, 4)]
    with wh.begin() as c:
        with pytest.raises(Exception, match="duplicate key"):
            warehouse.record_batch(c, "plan-0", {"feature_usage_monthly": json.dumps(CELLS)})


def _as_an_earlier_version_left_it(c, key: str) -> None:
    """A batch recorded *and applied* at once, as versions before cells_applied did (their schema
    had no such column; the migration gives their rows its default)."""
    from sqlalchemy import text

    warehouse.record_batch(c, key, {"feature_usage_monthly": json.dumps(CELLS)})
    c.execute(text("insert into stats.feature_usage_monthly (month, feature, events, members) "
                   "values ('2024-03-01', 'search_projects', 7, 2), (null, 'other', 1, 1)"))
    c.execute(text("alter table stats.applied_batches drop column cells_applied"))


def test_a_batch_applied_by_an_earlier_version_is_still_reversed_or_confirmed(wh):
    from sqlalchemy import text

    with wh.begin() as c:
        _as_an_earlier_version_left_it(c, "old-0")
        c.execute(text("insert into stats.applied_batches (warehouse_key) values ('old-1')"))
        c.execute(text("insert into stats.pending_cells (warehouse_key, table_name, cells) "
                        "values ('old-1', 'feature_usage_monthly', cast(:cells as json))"), {"cells": json.dumps(CELLS[:1])})
        c.execute(text("update stats.feature_usage_monthly set events = events + 7, members = members + 2 "
                        "where feature = 'search_projects'"))
    migrate_warehouse(wh, load_policy())
    with wh.begin() as c:
        assert warehouse.reverse(c, ["old-0"]) == 1
        assert warehouse.confirm(c, ["old-1"]) == 1
    assert _usage(wh) == [("2024-03-01", "search_projects", 7, 2)], "reversed by subtraction, confirmed as is"
    assert _pending(wh) == 0


def test_pending_rows_of_an_earlier_version_are_carried_over_and_still_reversible(wh):
    """A warehouse upgraded while a crashed batch's deltas sat in the old <table>_pending tables: the
    migration moves them into pending_cells, so reconcile can still reverse that batch."""
    from sqlalchemy import text

    with wh.begin() as c:
        _as_an_earlier_version_left_it(c, "old-0")
        # As an even earlier version left it: the deltas row by row in the table's own pending table.
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
        _as_an_earlier_version_left_it(c, "jsonb-0")
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
