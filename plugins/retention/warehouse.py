"""Exactly-once writes of batch statistics into the warehouse (another database, maybe another server).

A batch's contribution is written as *pending deltas* and applied to the cumulative tables in one
warehouse transaction, under a ``warehouse_key`` that names the batch (never a person). The
application database then scrubs the batch and marks it done in its ledger, in one transaction.

* ledger done, warehouse pending  -> :func:`confirm` drops the deltas (the normal path);
* ledger not done, warehouse pending -> :func:`reverse` subtracts the deltas: the scrub never
  committed (crash, kill, warehouse reachable but application not), and the batch will be redone.

Either way every member is counted once in each cell it belongs to, whatever crashes in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Mapping

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class StatsTable:
    name: str
    keys: tuple[str, ...]
    sums: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.keys + self.sums

    @property
    def aggregate_sql(self) -> str:
        """The SQL file that computes this table's cells for a batch."""
        return f"accounts/aggregate_{self.name}"


STATS_TABLES: tuple[StatsTable, ...] = (
    StatsTable("anonymised_cohorts",
               ("anonymised_month", "reason", "age_band", "region", "education_level"), ("members",)),
    StatsTable("feature_usage_monthly", ("month", "feature"), ("events", "members")),
    StatsTable("project_applications_monthly", ("project_id", "month"),
               ("applications", "applicants", "matching_score_sum", "matching_score_count")),
    StatsTable("language_levels", ("anonymised_month", "language", "level"), ("members",)),
    StatsTable("assessment_results", ("month", "assessment_code", "score_band"),
               ("results", "members", "score_sum", "score_count")),
    StatsTable("experience_profiles",
               ("anonymised_month", "reason", "annotation_experience", "experience_band"), ("members",)),
)

# Cell columns may be NULL (an unknown month): matched with IS NOT DISTINCT FROM, like the
# UNIQUE NULLS NOT DISTINCT constraints of the tables.


def _ident(name: str) -> str:
    # Names come from STATS_TABLES above, never from input; still, refuse anything unexpected.
    if not name.replace("_", "").isalnum() or not name[0].isalpha():
        raise ValueError(f"unexpected identifier {name!r}")
    return f'"{name}"'


def _cells_sql(t: StatsTable) -> str:
    """The batch's pending cells of one table, as rows of the table's own type."""
    return (
        f"json_populate_recordset(null::stats.{_ident(t.name)}, "
        f"(select c.cells from stats.pending_cells as c where c.warehouse_key = :warehouse_key and c.table_name = :table))"
    )


def _apply_sql(t: StatsTable) -> str:
    keys = ", ".join(_ident(c) for c in t.keys)
    cols = ", ".join(_ident(c) for c in t.columns)
    sums = ", ".join(f"{_ident(c)} = t.{_ident(c)} + excluded.{_ident(c)}" for c in t.sums)
    return (
        f"insert into stats.{_ident(t.name)} as t ({cols}) "
        f"select {cols} from {_cells_sql(t)} "
        f"on conflict ({keys}) do update set {sums}"
    )


def _reverse_sql(t: StatsTable) -> str:
    sums = ", ".join(f"{_ident(c)} = t.{_ident(c)} - p.{_ident(c)}" for c in t.sums)
    match = " and ".join(f"t.{_ident(c)} is not distinct from p.{_ident(c)}" for c in t.keys)
    return f"update stats.{_ident(t.name)} as t set {sums} from {_cells_sql(t)} as p where {match}"


def _prune_empty_sql(t: StatsTable) -> str:
    empty = " and ".join(f"{_ident(c)} = 0" for c in t.sums)
    return f"delete from stats.{_ident(t.name)} where {empty}"


def apply_batch(conn: Connection, warehouse_key: str, cells: Mapping[str, str]) -> None:
    """Record and apply one batch's cells; the caller commits. Fails if the key was already applied.

    ``cells``: per statistics table, a JSON array of cell objects (as built by json_agg).
    """
    from sqlalchemy import text

    conn.execute(text("insert into stats.applied_batches (warehouse_key) values (:k)"), {"k": warehouse_key})
    for table in STATS_TABLES:
        rows = cells.get(table.name, "[]")
        if rows == "[]":
            continue
        conn.execute(text("insert into stats.pending_cells (warehouse_key, table_name, cells) "
                          "values (:warehouse_key, :table, cast(:cells as json))"),
                     {"warehouse_key": warehouse_key, "table": table.name, "cells": rows})
        conn.execute(text(_apply_sql(table)), {"warehouse_key": warehouse_key, "table": table.name})


def _drop_pending(conn: Connection, keys: list[str]) -> None:
    from sqlalchemy import text

    conn.execute(text("delete from stats.pending_cells where warehouse_key = any(:keys)"), {"keys": keys})


def reverse(conn: Connection, warehouse_keys: Iterable[str]) -> int:
    """Undo batches whose scrub never committed; the caller commits. Returns batches reversed."""
    from sqlalchemy import text

    keys = list(warehouse_keys)
    for key in keys:
        for table in STATS_TABLES:
            conn.execute(text(_reverse_sql(table)), {"warehouse_key": key, "table": table.name})
    if keys:
        _drop_pending(conn, keys)
        for table in STATS_TABLES:
            conn.execute(text(_prune_empty_sql(table)))
        conn.execute(text("delete from stats.applied_batches where warehouse_key = any(:keys)"), {"keys": keys})
    return len(keys)


def confirm(conn: Connection, warehouse_keys: Iterable[str]) -> int:
    """Forget the deltas of batches whose scrub committed; the caller commits."""
    from sqlalchemy import text

    keys = list(warehouse_keys)
    if keys:
        _drop_pending(conn, keys)
        conn.execute(
            text(
                "update stats.applied_batches set state = 'confirmed', confirmed_at = clock_timestamp() "
                "where warehouse_key = any(:keys) and state = 'pending'"
            ),
            {"keys": keys},
        )
    return len(keys)


def pending_keys(conn: Connection) -> list[str]:
    from sqlalchemy import text

    return list(conn.execute(text("select warehouse_key from stats.applied_batches where state = 'pending'")).scalars())
