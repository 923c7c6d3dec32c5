"""Stage 2: delete connection logs older than one year (``occurred_at < as_of - interval '1 year'``).

Whatever the account's state, every log row dated before ``window.logs_before`` goes; rows at or
after the cutoff (including rows dated after ``as_of``) stay. Two physical layouts are handled,
detected from the catalog on every run:

**Range-partitioned on occurred_at** (the reference schema: monthly partitions and a DEFAULT one).
Partition bounds come from the catalog (``pg_inherits`` + ``pg_get_expr(relpartbound)`` parsed in
SQL, MINVALUE/MAXVALUE understood), never from names. Every partition whose upper bound is at or
before the cutoff is *dropped* (DROP TABLE, so the disk is freed at once), one partition per
transaction: ``SHARE`` lock on that partition only (the application never writes a year back, and if
it did the count would still be exact), exact row count for the audit, DROP (ACCESS EXCLUSIVE on the
partition, the parent and the DEFAULT partition for a few milliseconds), audit increment, commit.
The transaction-local ``lock_timeout`` bounds how long the application's inserts can queue behind
the DROP's lock request, and is at most half the server's ``deadlock_timeout``: a late insert routed to
the partition (holding the parent, waiting for the partition) and the DROP (holding the partition,
waiting for the parent) deadlock, and the DROP then always gives up first, so the application's write
is never the victim. On a lock timeout (or a deadlock) the drop is retried a few times with
backoff, and if the lock never comes (or the pipeline's role does not own the partition) its rows
are batch-deleted instead (the promise is kept tonight; the empty partition is dropped on a later
night). DETACH ... CONCURRENTLY is not an
option: PostgreSQL refuses it while a DEFAULT partition exists, and it gains nothing measurable
(see /work/shared/docs/postgres-floor.md). The partition straddling the cutoff, the DEFAULT partition
and any partition without usable bounds are purged like a plain table (below); sub-partitioned
children are handled recursively.

**Plain heap** (primary key, index on occurred_at): batched deletes over *physical page ranges*.
Measured on this kind of machine (postgres-floor.md), batches walked along the occurred_at index
are 1.5-1.9x slower than one DELETE, ``id IN (SELECT ... LIMIT n)`` repeated is a quadratic trap
(4.8x), while batches over ctid ranges of ~500 pages (TID Range Scan, predicate on occurred_at) are
as fast as one DELETE with short transactions. The index is still what drives the job:

1. *Is there work?* ``min``/``max(occurred_at) where occurred_at < cutoff`` -- two probes at the
   ends of the index. A night with nothing to delete stops here, in milliseconds, on any size.
2. *Where is it?* Sampling through the index: the page of the first expired row at or after
   each of 513 instants spread from the oldest to the newest expired timestamp (513 index
   probes), plus an index-only count of the expired rows. Sorted pages are clustered (a new
   cluster where the gap is much larger than the typical one, e.g. rows of one period split
   between reused free space and the end of the heap), widened by a margin and cut into batches
   of ``policy.purge_batch_pages`` pages, clipped to ``pg_relation_size / block_size``. Logs are
   written in time order, so the expired rows sit in few contiguous regions and the walk reads
   little more than the pages that hold them.
3. *Walk*: one ``DELETE ... WHERE ctid >= '(a,0)' AND ctid < '(b,0)' AND occurred_at < cutoff``
   per batch, each in its own transaction with a ``lock_timeout``; the application keeps inserting
   (new rows are at or after the cutoff, so the predicate keeps them whichever page they land on).
4. *Sweep*, when the walk deleted fewer rows than the count: the rows the sample missed (stored
   outside every range) are deleted through the index in keyset batches (position on
   occurred_at, never rescanning) until none is left. Correctness never depends on the sampling,
   only speed. (A row the application would write *during* the purge with a timestamp already a
   year old, behind the walk, waits for the next night.)

**Crash-safety and idempotence.** Each batch (and each drop) commits its deletion together with its
increment of ``retention.rule_audit`` (rule ``purge_connection_logs``) in one transaction, so a crash
loses at most an uncommitted batch, a rerun of the same run finishes the job and the audit counts
every row exactly once. The cutoff derives from ``as_of`` only, so a rerun deletes nothing more.
Batches commit with ``synchronous_commit = off`` (no WAL flush wait per batch): a *server* crash may
lose the last few batches, each together with its audit increment, which the rerun redoes; the
run's closing transaction commits synchronously, so when the task reports its counts they are
durable. Every transaction, reads included, runs under ``policy.lock_timeout_ms`` and is retried
a few times with backoff on a lock timeout or deadlock, then fails with the database's error
(which the DAG retries as transient). Both settings are set once for the purge's session (and
reset before the connection returns to the pool), and the audit details are carried in memory
between batches (the purge is the only writer of its row): a batch costs four round trips
(BEGIN, DELETE, audit upsert, COMMIT), which matters on a busy server.

**Cost of the checks.** The index-only count before the walk tells whether the walk met every
expired row; only when it did not is the index swept (after a big walk the left end of the
index is dead entries until vacuum, and walking through them would cost more than the walk
saved). A manual rerun right after a big purge pays that once in its first probe; a no-op night
after autovacuum costs milliseconds (see bench/bench_log_purge.py).

**Dry run.** Counts what would go (through the index) and lists the partitions that would be
dropped; writes nothing, not even an audit row.

Logs carry counts, page numbers and partition names only: never an IP, a path or an account id.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from retention import faults
from retention.db import run_sql
from retention.sqlfiles import load_sql

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from retention.policy import Policy
    from retention.window import RunWindow

log = logging.getLogger(__name__)

RULE = "purge_connection_logs"
SAMPLES = 512  # index probes used to locate the expired rows physically (plus one)
PROGRESS_EVERY = 100  # batches between two progress lines
STRAGGLER_BATCH_ROWS = 10_000
LOCK_ATTEMPTS = 5  # per transaction, on lock timeout or deadlock
BACKOFF_S = 0.2  # first pause between attempts, doubled each time
LOCK_CONFLICT_STATES = ("55P03", "40P01")  # lock_not_available, deadlock_detected
INSUFFICIENT_PRIVILEGE = "42501"  # DROP of a partition the pipeline's role does not own


# --------------------------------------------------------------------------------------------------
# Pure logic (unit-tested): partition classification and page-range planning
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Partition:
    """A direct partition of a partitioned table, with bounds as read from the catalog."""

    name: str
    qualified_name: str
    is_partitioned: bool
    is_default: bool
    has_range: bool
    lower_unbounded: bool
    upper_unbounded: bool
    lower_bound: datetime | None
    upper_bound: datetime | None


def classify_partition(part: Partition, cutoff: datetime) -> str:
    """``"drop"`` (every row it may hold is expired), ``"skip"`` (none can be) or ``"purge"``.

    The upper bound of a range partition is exclusive: a partition ending exactly at the cutoff
    holds only rows strictly before it, so it is dropped. MAXVALUE is never dropped, MINVALUE never
    skipped; DEFAULT and partitions without usable bounds are always purged row by row.
    """
    if part.is_default or not part.has_range:
        return "purge"
    if not part.upper_unbounded and part.upper_bound is not None and part.upper_bound <= cutoff:
        return "drop"
    if not part.lower_unbounded and part.lower_bound is not None and part.lower_bound >= cutoff:
        return "skip"
    return "purge"


def plan_page_ranges(blocks: Sequence[int], relation_pages: int, batch_pages: int) -> list[tuple[int, int]]:
    """Half-open page ranges ``[start, end)`` worth walking, from the sampled pages of expired rows.

    Sorted pages are split where the gap exceeds ``max(2 batches, 8x the median gap)``; each
    cluster is widened by ``max(1 batch, 2x the median gap)`` on both sides (rows between two
    samples lie between their pages when written in time order) and clipped to the relation.
    """
    pages = sorted({int(b) for b in blocks if 0 <= int(b) < relation_pages})
    if not pages:
        return []
    gaps = [b - a for a, b in zip(pages, pages[1:], strict=False)]
    median_gap = statistics.median(gaps) if gaps else 0
    split_at = max(2 * batch_pages, 8 * median_gap)
    margin = int(max(batch_pages, 2 * median_gap))
    clusters: list[list[int]] = [[pages[0], pages[0]]]
    for page in pages[1:]:
        if page - clusters[-1][1] > split_at:
            clusters.append([page, page])
        else:
            clusters[-1][1] = page
    ranges: list[tuple[int, int]] = []
    for first, last in clusters:
        start, end = max(0, first - margin), min(relation_pages, last + 1 + margin)
        if ranges and start <= ranges[-1][1]:
            ranges[-1] = (ranges[-1][0], max(end, ranges[-1][1]))
        else:
            ranges.append((start, end))
    return ranges


def page_batches(ranges: Sequence[tuple[int, int]], batch_pages: int) -> Iterator[tuple[int, int]]:
    """Cut page ranges into batches of at most ``batch_pages`` pages."""
    for start, end in ranges:
        for first in range(start, end, batch_pages):
            yield first, min(first + batch_pages, end)


# --------------------------------------------------------------------------------------------------
# Shared with retention.prospects: audit increments and lock-conflict retries
# --------------------------------------------------------------------------------------------------


def add_audit_increment(
    conn: Connection,
    *,
    run_id: str,
    rule: str,
    as_of: datetime,
    cutoff: datetime,
    rows: int,
    partitions: int = 0,
    counters: dict[str, int] | None = None,
    labels: dict[str, str] | None = None,
    seconds: float = 0.0,
    known_details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Add one committed unit of work to the run's audit row, in the caller's transaction.

    ``retention/upsert_rule_audit`` accumulates rows, partitions and duration but replaces
    ``details``; the counters kept in details are therefore summed here, from the stored row
    (read under a row lock) or from ``known_details`` -- what the caller wrote last, when it is
    the row's only writer and saves the read -- so that they stay exact across crashes and
    reruns like ``rows_affected``. Returns the details written.
    """
    from sqlalchemy import text

    if known_details is None:
        known_details = conn.execute(
            text("select details from retention.rule_audit where run_id = :run_id and rule = :rule for update"),
            {"run_id": run_id, "rule": rule},
        ).scalar_one_or_none() or {}
    details: dict[str, Any] = dict(known_details)
    for key, value in (counters or {}).items():
        details[key] = int(details.get(key, 0)) + int(value)
    details.update(labels or {})
    run_sql(
        conn, "retention/upsert_rule_audit",
        run_id=run_id, rule=rule, as_of=as_of, cutoff=cutoff, dry_run=False,
        rows_affected=int(rows), partitions_dropped=int(partitions),
        details=json.dumps(details, sort_keys=True), duration_s=float(seconds),
    )
    return details


def is_lock_conflict(exc: BaseException) -> bool:
    """A lock timeout or a deadlock: the transaction rolled back and may simply be tried again."""
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return sqlstate in LOCK_CONFLICT_STATES


def transaction_settings(timeout_ms: int | None, synchronous: bool | None) -> dict[str, str]:
    settings = {}
    if timeout_ms is not None:
        settings["lock_timeout"] = f"{int(timeout_ms)}ms"
    if synchronous is not None:
        settings["synchronous_commit"] = "on" if synchronous else "off"
    return settings


def drop_lock_timeout_ms(lock_timeout_ms: int, deadlock_timeout_ms: int) -> int:
    """How long the DROP of an expired partition waits for the parent's lock: the policy's lock
    timeout, but at most half the server's deadlock_timeout, so that in a deadlock with a late insert
    the DROP gives up first (see ``drop_partition``)."""
    return max(1, min(int(lock_timeout_ms), int(deadlock_timeout_ms) // 2))


def apply_settings(conn: Connection, settings: dict[str, str], *, local: bool) -> None:
    """One round trip: ``set_config`` of each setting, for the transaction or for the session."""
    from sqlalchemy import text

    if not settings:
        return
    calls = ", ".join(f"set_config('{name}', :{name}, {'true' if local else 'false'})" for name in settings)
    conn.execute(text(f"select {calls}"), settings)


def in_transaction(
    conn: Connection, timeout_ms: int | None, work: Callable[[Connection], Any], *, synchronous: bool | None = True
) -> tuple[Any, float]:
    """Run ``work`` in its own transaction with a transaction-local lock_timeout; commit.

    ``synchronous=False`` commits without waiting for the WAL flush (transaction-local
    ``synchronous_commit = off``); ``None`` for either setting leaves the session's value (the
    log purge sets both once for its session, saving a round trip per batch). Retried with
    exponential backoff on lock timeout or deadlock (the transaction rolled back, so nothing was
    half done); after LOCK_ATTEMPTS the database error is raised as it came, which the DAG's retry
    policy treats as transient. Returns the work's result and the duration of the successful attempt.
    """
    from sqlalchemy.exc import OperationalError

    settings = transaction_settings(timeout_ms, synchronous)
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        started = time.monotonic()
        try:
            with conn.begin():
                apply_settings(conn, settings, local=True)
                result = work(conn)
            return result, time.monotonic() - started
        except OperationalError as exc:
            if not is_lock_conflict(exc) or attempt == LOCK_ATTEMPTS:
                raise
            pause = BACKOFF_S * 2 ** (attempt - 1)
            log.warning("lock conflict (attempt %d/%d); retrying in %.1f s", attempt, LOCK_ATTEMPTS, pause)
            time.sleep(pause)
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------------------------------
# The purge
# --------------------------------------------------------------------------------------------------


def _relation_sql(name: str, relation: str) -> Any:
    """``sql/logs/<name>.sql`` with ``{relation}`` replaced by a catalog-quoted, schema-qualified name."""
    from sqlalchemy import text

    return text(load_sql(f"logs/{name}").replace("{relation}", relation))


def _tid(page: int) -> str:
    return f"({int(page)},0)"


class _BackgroundCount:
    """``count(*) where occurred_at < cutoff`` of one relation, as of the moment it is created, run in
    a thread on its own connection while the caller deletes (hides an index-only scan that costs
    about 15% of the deletion on a big first purge)."""

    def __init__(self, app: Engine, relation: str, cutoff: datetime, timeout_ms: int) -> None:
        import threading

        from sqlalchemy import text

        self._value: int | None = None
        self._error: BaseException | None = None
        self._conn = app.connect().execution_options(isolation_level="REPEATABLE READ")
        try:
            self._tx = self._conn.begin()
            # The first statement of a REPEATABLE READ transaction fixes its snapshot. One process:
            # the count has the whole walk to finish, and must not take CPU from it.
            self._conn.execute(
                text("select set_config('lock_timeout', :ms, true), "
                     "set_config('max_parallel_workers_per_gather', '0', true)"),
                {"ms": f"{int(timeout_ms)}ms"},
            )
        except BaseException:
            self._conn.close()
            raise
        self._query = _relation_sql("count_expired_logs", relation)
        self._cutoff = cutoff
        self._thread = threading.Thread(target=self._run, name="log-purge-count", daemon=True)

    def _run(self) -> None:
        try:
            self._value = int(self._conn.execute(self._query, {"cutoff": self._cutoff}).scalar_one())
        except BaseException as exc:  # noqa: BLE001 - re-raised by result()
            self._error = exc
        finally:
            self._tx.rollback()
            self._conn.close()

    def __enter__(self) -> _BackgroundCount:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._thread.join()

    def result(self) -> int:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


def _reset_session(conn: Connection) -> None:
    """Put the session's settings back; a connection that cannot be reset is not reused."""
    from sqlalchemy import text

    try:
        if conn.in_transaction():
            conn.rollback()
        with conn.begin():
            conn.execute(text("reset lock_timeout"))
            conn.execute(text("reset synchronous_commit"))
    except Exception:  # noqa: BLE001 - the original error, if any, matters more
        log.warning("could not reset the session settings; discarding the connection")
        conn.invalidate()


class _LogPurge:
    """One run of the purge: counters, timings and progress across relations."""

    def __init__(self, app: Engine, window: RunWindow, policy: Policy, run_id: str) -> None:
        self.app = app
        self.window = window
        self.policy = policy
        self.run_id = run_id
        self.cutoff = window.logs_before
        self.layout = "plain"
        self.started = time.monotonic()
        self.rows_batch_deleted = 0
        self.rows_in_dropped = 0
        self.straggler_rows = 0
        self.partitions_dropped = 0
        self.partitions_deferred = 0
        self.batches = 0
        self.pages_walked = 0
        self.pages_planned = 0
        self.longest_batch_s = 0.0
        self.would_delete = 0
        self.would_drop: list[str] = []
        self.audit_details: dict[str, Any] = {}
        self.restricted = {"set_aside": 0, "released": 0}
        self._last_progress_batches = 0
        self._deadlock_timeout_ms: int | None = None

    # -- bookkeeping -----------------------------------------------------------------------------

    def _read(self, conn: Connection, query: Callable[[Connection], Any]) -> Any:
        """A read in its own short transaction (under the session's lock_timeout, like every write)."""
        return in_transaction(conn, None, query, synchronous=None)[0]

    def _audit(self, conn: Connection, *, rows: int = 0, partitions: int = 0,
               counters: dict[str, int] | None = None, seconds: float = 0.0, read: bool = False) -> dict[str, Any]:
        """The run's audit increment, in the caller's transaction; the details it would leave.

        This purge is the only writer of its (run, rule) row: after one read at the start, the
        details are carried in memory (updated only once a transaction commits), saving a round
        trip per batch."""
        return add_audit_increment(
            conn, run_id=self.run_id, rule=RULE, as_of=self.window.as_of, cutoff=self.cutoff,
            rows=rows, partitions=partitions, counters=counters, labels={"layout": self.layout},
            seconds=seconds, known_details=None if read else self.audit_details,
        )

    def _commit_unit(
        self, conn: Connection, work: Callable[[Connection], tuple[int, int, dict[str, int]]], pages: int = 0
    ) -> int:
        """Run one unit (a batch or a drop) and its audit increment in one transaction; count it."""

        def unit(c: Connection) -> tuple[int, int, dict[str, int], dict[str, Any]]:
            unit_started = time.monotonic()
            rows, partitions, counters = work(c)
            details = self._audit(c, rows=rows, partitions=partitions, counters=counters,
                                  seconds=time.monotonic() - unit_started)
            return rows, partitions, counters, details

        # Each unit is atomic with its audit increment, so a server crash that loses the last few
        # asynchronous commits (the session runs with synchronous_commit off) loses them together,
        # and the rerun redoes them; the closing transaction of the run commits synchronously,
        # which flushes every earlier one.
        (rows, partitions, counters, self.audit_details), elapsed = in_transaction(
            conn, None, unit, synchronous=None
        )
        self.batches += 1
        self.longest_batch_s = max(self.longest_batch_s, elapsed)
        self.rows_batch_deleted += counters.get("rows_batch_deleted", 0)
        self.rows_in_dropped += counters.get("rows_in_dropped_partitions", 0)
        self.straggler_rows += counters.get("straggler_rows", 0)
        self.partitions_dropped += partitions
        self.pages_walked += pages
        faults.checkpoint("logs.after_batch")
        if self.batches - self._last_progress_batches >= PROGRESS_EVERY:
            self._last_progress_batches = self.batches
            self._progress()
        return rows

    def _progress(self) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        removed = self.rows_batch_deleted + self.rows_in_dropped
        share = 100.0 * self.pages_walked / self.pages_planned if self.pages_planned else 100.0
        log.info(
            "connection logs purge: %d transactions, %d rows removed so far (%.0f rows/s), "
            "%d/%d planned pages walked (%.0f%%), longest transaction %.3f s",
            self.batches, removed, removed / elapsed, self.pages_walked, self.pages_planned, share,
            self.longest_batch_s,
        )

    # -- plain heaps (and partitions purged row by row) ------------------------------------------

    def purge_heap(self, conn: Connection, relation: str) -> None:
        """Delete the expired rows of one heap: index probe and count, sampled page-range walk, sweep."""
        params = {"cutoff": self.cutoff}
        span = self._read(conn, lambda c: c.execute(
            _relation_sql("select_expired_span", relation), params).mappings().one())
        if span["oldest"] is None:
            log.info("%s: nothing older than the cutoff", relation)
            return
        if self.window.dry_run:
            self.would_delete += int(self._read(conn, lambda c: c.execute(
                _relation_sql("count_expired_logs", relation), params).scalar_one()))
            return
        # What the walk must account for: an index-only count, on a second connection whose snapshot
        # is taken now, before the first batch commits, and which runs while the walk does.
        counting = _BackgroundCount(self.app, relation, self.cutoff, self.policy.lock_timeout_ms)
        with counting:
            blocks = self._read(conn, lambda c: c.execute(
                _relation_sql("sample_expired_blocks", relation),
                {**params, "oldest": span["oldest"], "newest": span["newest"], "samples": SAMPLES},
            ).scalars().all())
            relation_pages = int(self._read(conn, lambda c: run_sql(
                c, "logs/select_relation_pages", relation_name=relation).scalar_one()))
            ranges = plan_page_ranges(blocks, relation_pages, self.policy.purge_batch_pages)
            planned = sum(end - start for start, end in ranges)
            self.pages_planned += planned
            log.info(
                "%s: walking %d page range(s), %d of %d pages (%.0f%%), %d pages per batch",
                relation, len(ranges), planned, relation_pages, 100.0 * planned / max(relation_pages, 1),
                self.policy.purge_batch_pages,
            )
            delete_range = _relation_sql("delete_expired_page_range", relation)
            walked_rows = 0
            for first, end in page_batches(ranges, self.policy.purge_batch_pages):
                batch = {**params, "first_tid": _tid(first), "end_tid": _tid(end)}

                def work(c: Connection, batch: dict[str, Any] = batch) -> tuple[int, int, dict[str, int]]:
                    rows = int(c.execute(delete_range, batch).rowcount)
                    return rows, 0, {"rows_batch_deleted": rows}

                walked_rows += self._commit_unit(conn, work, pages=end - first)
        expected = counting.result()
        log.info("%s: %d of %d expired row(s) deleted by the walk", relation, walked_rows, expected)
        if walked_rows < expected:
            # Some expired rows live outside the sampled ranges (or moved): find them through the index.
            # Skipped when the walk met them all: right after a big walk, the left end of the index is
            # millions of dead entries, and probing through them would cost more than the walk saved.
            log.info("%s: %d expired row(s) outside the walked pages; sweeping", relation, expected - walked_rows)
            self._sweep_stragglers(conn, relation)

    def _sweep_stragglers(self, conn: Connection, relation: str) -> None:
        """Expired rows the walk did not meet, through the index, with a moving position."""
        sweep = _relation_sql("delete_expired_stragglers", relation)
        after: Any = "-infinity"
        while True:
            holder: dict[str, Any] = {}

            def work(c: Connection, after: Any = after, holder: dict[str, Any] = holder) -> tuple[int, int, dict[str, int]]:
                row = c.execute(
                    sweep, {"cutoff": self.cutoff, "after": after, "batch_rows": STRAGGLER_BATCH_ROWS}
                ).mappings().one()
                holder.update(row)
                rows = int(row["rows_deleted"])
                return rows, 0, {"rows_batch_deleted": rows, "straggler_rows": rows}

            self._commit_unit(conn, work)
            # No progress means the rows found cannot be deleted (an application rule cancels the
            # delete): stop here and let the after-gate report them instead of spinning forever.
            if not holder["found"] or not holder["rows_deleted"]:
                break
            after = holder["last_at"]
        log.info("%s: %d straggler row(s) deleted through the index", relation, self.straggler_rows)

    # -- partitioned tables ------------------------------------------------------------------------

    def purge_partitioned(self, conn: Connection, parent: str) -> None:
        rows = self._read(conn, lambda c: run_sql(c, "logs/select_log_partitions", parent=parent).mappings().all())
        parts = [Partition(**row) for row in rows]
        plan = [(part, classify_partition(part, self.cutoff)) for part in parts]
        log.info(
            "%s: %d partition(s): %d to drop, %d to purge row by row, %d entirely recent",
            parent, len(plan), sum(a == "drop" for _, a in plan), sum(a == "purge" for _, a in plan),
            sum(a == "skip" for _, a in plan),
        )
        for part, action in plan:
            if action == "drop":
                self.drop_partition(conn, part)
        for part, action in plan:
            if action == "purge":
                if part.is_partitioned:
                    self.purge_partitioned(conn, part.qualified_name)
                else:
                    self.purge_heap(conn, part.qualified_name)

    def _drop_lock_timeout_ms(self, conn: Connection) -> int:
        if self._deadlock_timeout_ms is None:
            self._deadlock_timeout_ms = int(run_sql(conn, "logs/select_deadlock_timeout").scalar_one())
        return drop_lock_timeout_ms(self.policy.lock_timeout_ms, self._deadlock_timeout_ms)

    def drop_partition(self, conn: Connection, part: Partition) -> None:
        from sqlalchemy.exc import DBAPIError

        if self.window.dry_run:
            self.would_drop.append(part.name)
            self.would_delete += int(self._read(conn, lambda c: c.execute(
                _relation_sql("count_partition_rows", part.qualified_name)).scalar_one()))
            return

        def work(c: Connection) -> tuple[int, int, dict[str, int]]:
            from sqlalchemy import text

            if c.execute(text("select to_regclass(:name)"), {"name": part.qualified_name}).scalar() is None:
                return 0, 0, {}  # dropped meanwhile (by a concurrent run): nothing left to count
            c.execute(_relation_sql("lock_log_partition", part.qualified_name))
            rows = int(c.execute(_relation_sql("count_partition_rows", part.qualified_name)).scalar_one())
            # Holding SHARE on the partition, the DROP now waits for the parent, which a late insert
            # routed to this partition holds while it waits for us: a deadlock. Whichever waits past
            # deadlock_timeout is its victim; giving up sooner makes that always the pipeline (its
            # transaction is retried), never the application's write.
            apply_settings(c, {"lock_timeout": f"{self._drop_lock_timeout_ms(c)}ms"}, local=True)
            c.execute(_relation_sql("drop_log_partition", part.qualified_name))
            return rows, 1, {"rows_in_dropped_partitions": rows}

        try:
            rows = self._commit_unit(conn, work)
        except DBAPIError as exc:
            if is_lock_conflict(exc):
                reason = f"no lock for the DROP after {LOCK_ATTEMPTS} attempts"
            elif getattr(exc.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE:
                reason = "the pipeline's role does not own it (the platform must hand partitions over)"
            else:
                raise
            # The promise is about rows: delete them now, drop the (then empty) partition another night.
            log.warning("%s: %s; deleting its rows in batches instead", part.name, reason)
            self.partitions_deferred += 1
            if part.is_partitioned:
                self.purge_partitioned(conn, part.qualified_name)
            else:
                self.purge_heap(conn, part.qualified_name)
            return
        log.info("dropped partition %s (%d rows)", part.name, rows)

    # -- entry point ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        with self.app.connect() as conn:
            # For every transaction of this session: lock_timeout, and no wait for the WAL flush at
            # each batch's commit (set once: one round trip saved per batch). Reset before the
            # connection goes back to the pool.
            with conn.begin():
                apply_settings(conn, transaction_settings(self.policy.lock_timeout_ms, False), local=False)
            try:
                self._run(conn)
            finally:
                _reset_session(conn)
        return self.summary()

    def _run(self, conn: Connection) -> None:
        layout = self._read(conn, lambda c: run_sql(c, "logs/select_log_layout").mappings().first())
        if layout is None:
            raise RuntimeError("app.connection_logs does not exist")
        self.layout = "partitioned" if layout["is_partitioned"] else "plain"
        log.info(
            "connection logs purge: layout %s, cutoff %s, dry run %s",
            self.layout, self.cutoff.isoformat(), self.window.dry_run,
        )
        if not self.window.dry_run:
            # The run's audit row exists even on a night with nothing to delete; read what an
            # interrupted earlier attempt of this run left in it.
            self.audit_details = in_transaction(conn, None, lambda c: self._audit(c, read=True), synchronous=None)[0]
            self.restricted = self._set_aside_restricted(conn)
        if self.layout == "partitioned":
            self.purge_partitioned(conn, layout["qualified_name"])
        else:
            self.purge_heap(conn, layout["qualified_name"])
        if not self.window.dry_run:
            # Synchronous commit: once it returns, every batch of the run is durable.
            self.audit_details = in_transaction(conn, None, lambda c: self._audit(c), synchronous=True)[0]

    def _set_aside_restricted(self, conn: Connection) -> dict[str, int]:
        """Restricted accounts' expired logs moved out of the purge's way (GDPR art. 18), lifted ones released."""
        def work(c: Connection) -> dict[str, int]:
            return {k: int(v) for k, v in run_sql(c, "logs/set_aside_restricted_logs", as_of=self.window.as_of,
                                                  cutoff=self.cutoff).mappings().one().items()}

        counts = in_transaction(conn, None, work, synchronous=True)[0]
        log.info("connection logs of restricted accounts: %d set aside, %d released after a lift",
                 counts["set_aside"], counts["released"])
        return counts

    def summary(self) -> dict[str, Any]:
        seconds = time.monotonic() - self.started
        result: dict[str, Any] = {
            "layout": self.layout,
            "cutoff": self.cutoff.isoformat(),
            "dry_run": self.window.dry_run,
            "seconds": round(seconds, 3),
        }
        if self.window.dry_run:
            result.update(would_delete=self.would_delete, would_drop=sorted(self.would_drop))
        else:
            removed = self.rows_batch_deleted + self.rows_in_dropped
            result.update(
                rows_deleted=removed,
                rows_batch_deleted=self.rows_batch_deleted,
                rows_in_dropped_partitions=self.rows_in_dropped,
                straggler_rows=self.straggler_rows,
                partitions_dropped=self.partitions_dropped,
                partitions_deferred=self.partitions_deferred,
                transactions=self.batches,
                pages_walked=self.pages_walked,
                longest_batch_s=round(self.longest_batch_s, 3),
                rows_per_s=round(removed / seconds) if seconds > 0 else None,
                restricted_set_aside=self.restricted["set_aside"],
                restricted_released=self.restricted["released"],
            )
        log.info("connection logs purge done: %s", result)
        return result


def purge_connection_logs(app: Engine, window: RunWindow, policy: Policy, run_id: str) -> dict[str, Any]:
    """Delete every connection log older than ``window.logs_before``; return counts only."""
    return _LogPurge(app, window, policy, run_id).run()
