"""Exactly-once writes of batch statistics into the warehouse (another database, maybe another server).

A batch's contribution is *recorded* as pending cells under a ``warehouse_key`` that names the
batch (never a person), in one warehouse transaction, before the application database scrubs the
batch and marks it done in its ledger (one transaction). Then:

* ledger done, warehouse pending  -> :func:`confirm` applies the cells to the cumulative tables
  and drops them, in one warehouse transaction: every batch confirmed together is summed first,
  so a night of ten batches updates each cell once (finalize_accounts), not once per batch;
* ledger not done, warehouse pending -> :func:`reverse` drops the cells: the scrub never
  committed (crash, kill, warehouse reachable but application not), and the batch will be redone.

Either way every member is counted once in each cell it belongs to, whatever crashes in between,
and the analysts' tables only ever hold whole, scrubbed batches. Batches recorded by earlier
versions, which applied the cells at once (``cells_applied``), are still confirmed (dropped) or
reversed (subtracted) as those versions did.
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
    # Inputs of the monthly differentially private release (retention.release): keyed by the month
    # of anonymisation, each person's contribution clipped where the rows are aggregated.
    StatsTable("release_feature_usage", ("anonymised_month", "feature"), ("members", "events")),
    StatsTable("release_languages", ("anonymised_month", "language", "level"), ("members",)),
    StatsTable("release_project_applicants", ("anonymised_month", "project_id"), ("members",)),
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
    """Add the cells of every batch in ``:keys`` to the table, summed per cell first."""
    keys = ", ".join(_ident(c) for c in t.keys)
    cols = ", ".join(_ident(c) for c in t.columns)
    summed = ", ".join(f"sum(p.{_ident(c)})" for c in t.sums)
    sums = ", ".join(f"{_ident(c)} = t.{_ident(c)} + excluded.{_ident(c)}" for c in t.sums)
    return (
        f"insert into stats.{_ident(t.name)} as t ({cols}) "
        f"select {', '.join(f'p.{_ident(c)}' for c in t.keys)}, {summed} "
        f"from stats.pending_cells as c "
        f"cross join lateral json_populate_recordset(null::stats.{_ident(t.name)}, c.cells) as p "
        f"where c.warehouse_key = any(:keys) and c.table_name = :table "
        # GROUP BY puts NULL keys together, as the tables' UNIQUE NULLS NOT DISTINCT does.
        f"group by {', '.join(f'p.{_ident(c)}' for c in t.keys)} "
        f"on conflict ({keys}) do update set {sums}"
    )


def _reverse_sql(t: StatsTable) -> str:
    sums = ", ".join(f"{_ident(c)} = t.{_ident(c)} - p.{_ident(c)}" for c in t.sums)
    match = " and ".join(f"t.{_ident(c)} is not distinct from p.{_ident(c)}" for c in t.keys)
    return f"update stats.{_ident(t.name)} as t set {sums} from {_cells_sql(t)} as p where {match}"


def _prune_empty_sql(t: StatsTable) -> str:
    empty = " and ".join(f"{_ident(c)} = 0" for c in t.sums)
    return f"delete from stats.{_ident(t.name)} where {empty}"


def record_batch(conn: Connection, warehouse_key: str, cells: Mapping[str, str]) -> None:
    """Record one batch's cells as pending; the caller commits. Fails if the key was already recorded.

    ``cells``: per statistics table, a JSON array of cell objects (as built by json_agg).
    Nothing reaches the statistics tables until :func:`confirm`.
    """
    from sqlalchemy import text

    conn.execute(text("insert into stats.applied_batches (warehouse_key, cells_applied) values (:k, false)"),
                 {"k": warehouse_key})
    for table in STATS_TABLES:
        rows = cells.get(table.name, "[]")
        if rows == "[]":
            continue
        conn.execute(text("insert into stats.pending_cells (warehouse_key, table_name, cells) "
                          "values (:warehouse_key, :table, cast(:cells as json))"),
                     {"warehouse_key": warehouse_key, "table": table.name, "cells": rows})


def _drop_pending(conn: Connection, keys: list[str]) -> None:
    from sqlalchemy import text

    conn.execute(text("delete from stats.pending_cells where warehouse_key = any(:keys)"), {"keys": keys})


def _split_by_applied(conn: Connection, keys: list[str]) -> tuple[list[str], list[str]]:
    """(recorded only, already applied by an earlier version) among the pending ``keys``."""
    from sqlalchemy import text

    rows = conn.execute(
        text("select warehouse_key, cells_applied from stats.applied_batches "
             "where warehouse_key = any(:keys) and state = 'pending' for update"),
        {"keys": keys},
    ).all()
    return [k for k, applied in rows if not applied], [k for k, applied in rows if applied]


def reverse(conn: Connection, warehouse_keys: Iterable[str]) -> int:
    """Forget batches whose scrub never committed; the caller commits. Returns batches reversed."""
    from sqlalchemy import text

    keys = list(warehouse_keys)
    if not keys:
        return 0
    _, applied = _split_by_applied(conn, keys)
    for key in applied:  # recorded by an earlier version, which applied the cells at once
        for table in STATS_TABLES:
            conn.execute(text(_reverse_sql(table)), {"warehouse_key": key, "table": table.name})
    _drop_pending(conn, keys)
    if applied:
        for table in STATS_TABLES:
            conn.execute(text(_prune_empty_sql(table)))
    conn.execute(text("delete from stats.applied_batches where warehouse_key = any(:keys)"), {"keys": keys})
    return len(keys)


def confirm(conn: Connection, warehouse_keys: Iterable[str]) -> int:
    """Apply the cells of batches whose scrub committed, all of them summed, then drop them; the caller commits."""
    from sqlalchemy import text

    keys = list(warehouse_keys)
    if not keys:
        return 0
    recorded, _ = _split_by_applied(conn, keys)
    if recorded:
        for table in STATS_TABLES:
            conn.execute(text(_apply_sql(table)), {"keys": recorded, "table": table.name})
    _drop_pending(conn, keys)
    conn.execute(
        text(
            "update stats.applied_batches set state = 'confirmed', cells_applied = true, "
            "confirmed_at = clock_timestamp() where warehouse_key = any(:keys) and state = 'pending'"
        ),
        {"keys": keys},
    )
    return len(keys)


def pending_keys(conn: Connection) -> list[str]:
    from sqlalchemy import text

    return list(conn.execute(text("select warehouse_key from stats.applied_batches where state = 'pending'")).scalars())
