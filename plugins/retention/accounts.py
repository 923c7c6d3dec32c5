"""Stage 1: anonymise closed, inactive and deceased accounts, batch by batch, exactly once.

The plan freezes each batch's accounts in ``retention.batch_accounts`` (ids stay in this database).
Per batch, in one application-database transaction:
  lock the batch's planned accounts (skip rows the application holds) -> re-check eligibility
  under the locks -> scrub the rows and aggregate what the scrub removed, in one statement ->
  *commit the statistics in the warehouse, as pending cells* -> delete the stored files, then their
  rows -> mark the batch done in the ledger -> commit;
then the batch's tombstones are verified right after the commit and its frozen ids dropped.
finalize applies the pending cells of every done batch to the statistics tables at once.
A crash anywhere rolls the scrub back; the pending cells of a batch whose ledger row is not done
are dropped before the batch is redone (see :mod:`retention.warehouse`).

Erasure requests (:mod:`retention.requests.process`) use the same ledger and :func:`process_batch`:
a batch with ``source = 'request'`` holds one requested account and re-checks it with
``select_erasable_accounts.sql`` instead of the nightly eligibility; the night's plan and audit
leave such batches alone, and :func:`reconcile` leaves the pending cells of any batch in flight.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from retention import faults, warehouse
from retention.db import lock_timeout, run_sql
from retention.release import scrub_params
from retention.sqlfiles import load_sql
from retention.window import RunWindow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from retention.policy import Policy

log = logging.getLogger(__name__)

REASONS = ("deceased", "closed", "inactive")
# Every account: no id range, no batch of a plan.
ALL_IDS = {"id_from": -(2**63), "id_to": 2**63 - 1, "plan_id": None, "batch_no": None}


def _eligible_sql() -> str:
    return load_sql("accounts/select_eligible_accounts")


def _erasable_sql() -> str:
    """Accounts an open, verified erasure request asks to anonymise now (no hold, no directive, no restriction)."""
    return load_sql("accounts/select_erasable_accounts")


def count_eligible(app: Engine, window: RunWindow) -> dict[str, int]:
    """Accounts eligible now, per reason (what a dry run reports and the backlog shows)."""
    from sqlalchemy import text

    query = text(f"select reason, count(*) from ({_eligible_sql()}) as e group by reason")
    with app.connect() as conn:
        rows = dict(conn.execute(query, {**window.params(), **ALL_IDS}).all())
    return {reason: int(rows.get(reason, 0)) for reason in REASONS}


def reconcile(app: Engine, wh: Engine, only_key: str | None = None) -> dict[str, int]:
    """Settle the warehouse's pending batches: apply the cells of those whose scrub committed (tonight's
    batches, at finalize, or an earlier run's), drop the others (their scrub never committed)."""
    from sqlalchemy import text

    with wh.connect() as w:
        keys = warehouse.pending_keys(w)
    if only_key is not None:
        keys = [k for k in keys if k == only_key]
    if not keys:
        return {"confirmed": 0, "reversed": 0}
    with app.connect() as conn, conn.begin():
        done = set(
            conn.execute(
                text("select warehouse_key from retention.account_batches where warehouse_key = any(:k) and status = 'done'"),
                {"k": keys},
            ).scalars()
        )
        # A batch in flight (gdpr_subject_requests' erasures run beside the night) holds its ledger
        # row locked until its scrub commits: its pending cells are neither confirmed nor dropped.
        # The rows stay locked here until the warehouse is settled, so no batch starts meanwhile.
        planned = set(conn.execute(
            text("select warehouse_key from retention.account_batches where warehouse_key = any(:k) "
                 "and status = 'planned'"), {"k": keys}).scalars())
        free = set(conn.execute(
            text("select warehouse_key from retention.account_batches where warehouse_key = any(:k) "
                 "and status = 'planned' for update skip locked"), {"k": keys}).scalars())
        in_flight = planned - free
        with wh.begin() as w:
            confirmed = warehouse.confirm(w, [k for k in keys if k in done])
            reversed_ = warehouse.reverse(w, [k for k in keys if k not in done and k not in in_flight])
    if reversed_:
        log.warning("dropped the statistics of %d batch(es) whose scrub never committed", reversed_)
    return {"confirmed": confirmed, "reversed": reversed_}


def plan(app: Engine, window: RunWindow, policy: Policy, run_id: str) -> dict[str, Any]:
    """Cut tonight's eligible accounts into id ranges stored in the ledger; return batch refs.

    The ranges stay in the application database: XCom carries only the plan id and batch numbers.
    Batches planned earlier and never completed are dropped (their pending statistics were dropped
    by :func:`reconcile`, which runs first) and their accounts planned again.
    """
    from sqlalchemy import text

    started = time.monotonic()
    if window.dry_run:
        counts = count_eligible(app, window)
        return {"plan_id": None, "batches": [], "eligible": counts, "seconds": round(time.monotonic() - started, 3)}
    plan_id = uuid.uuid4().hex
    query = text(load_sql("accounts/plan_batches").replace("{eligible}", _eligible_sql()))
    with app.begin() as conn:
        conn.execute(text("delete from retention.account_batches where status = 'planned' and source = 'nightly'"))
        # The frozen ids of an erasure request's batch still in flight stay (they are not the night's).
        conn.execute(text(
            "delete from retention.batch_accounts as m where not exists (select 1 from retention.account_batches as b "
            "where b.plan_id = m.plan_id and b.batch_no = m.batch_no and b.source = 'request' and b.status = 'planned')"))
        rows = conn.execute(
            query, {**window.params(), **ALL_IDS, "batch_size": policy.account_batch_size, "plan_id": plan_id}
        ).mappings().all()
        if rows:
            conn.execute(
                text(
                    "insert into retention.account_batches "
                    "(plan_id, batch_no, run_id, as_of, warehouse_key, id_from, id_to, planned_accounts, "
                    "deceased, closed, inactive) "
                    "values (:plan_id, :batch_no, :run_id, :as_of, :key, :id_from, :id_to, :accounts, "
                    ":deceased, :closed, :inactive)"
                ),
                [
                    {**row, "plan_id": plan_id, "run_id": run_id, "as_of": window.as_of,
                     "key": f"{plan_id}-{row['batch_no']}"}
                    for row in rows
                ],
            )
    counts = {reason: sum(int(r[reason]) for r in rows) for reason in REASONS}
    log.info("planned %d batch(es): %s", len(rows), counts)
    return {
        "plan_id": plan_id,
        "batches": [{"plan_id": plan_id, "batch_no": int(r["batch_no"])} for r in rows],
        "eligible": counts,
        "seconds": round(time.monotonic() - started, 3),
    }


def _create_batch_tables(conn: Connection) -> None:
    conn.exec_driver_sql(
        "create temp table batch_locked (id bigint primary key) on commit drop;"
        "create temp table batch_members (id bigint primary key, reason text not null) on commit drop;"
        "create temp table kept_documents (id bigint primary key) on commit drop;"
        # A batch is a few thousand accounts against tables of millions of rows: every join must
        # walk the account_id indexes. Hash and merge joins scan the whole child table per batch
        # (the 5x trap measured in postgres-floor.md), so they are off while the batch is selected
        # (the scrub, which cannot join its way into a scan, turns hash joins back on).
        "set local enable_hashjoin = off;"
        "set local enable_mergejoin = off;"
        # The planner overestimates child rows per account (~150 for ~20) and so JIT-compiles every
        # statement of every batch, with inlining and optimisation: up to 0.25 s per statement,
        # repaid by nothing on a few thousand accounts.
        "set local jit = off;"
        # The aggregates sort ~100k child rows per batch: in memory rather than in temp files.
        "set local work_mem = '64MB'"
    )


def scrub_statement() -> str:
    """The batch's scrub with its statistics, one statement (``scrub_batch.sql`` with the aggregates in it).

    The columns it nulls and the tables it deletes from come from the data map (:mod:`retention.mapsql`).

    Each aggregate reads the rows the scrub deletes (``DELETE ... RETURNING``), so every child row
    of the batch is read once. The result row holds the deleted counts and, per statistics table,
    ``cells_<table>``: the batch's cells as one JSON array, which only travels to the warehouse
    (one text value in Python, never rows).
    """
    from retention.mapsql import map_sql

    statement = map_sql("accounts/scrub_batch")
    for table in warehouse.STATS_TABLES:
        statement = statement.replace("{aggregate_%s}" % table.name, load_sql(table.aggregate_sql))
    if "{aggregate_" in statement:
        raise ValueError("scrub_batch.sql names an aggregate that is not a statistics table")
    return statement


def process_batch(app: Engine, wh: Engine, window: RunWindow, policy: Policy, plan_id: str, batch_no: int) -> dict[str, Any]:
    """Anonymise one planned batch; idempotent (a done batch is skipped) and crash-safe."""
    from sqlalchemy import text

    from retention.storage import delete_stored_files

    started = time.monotonic()
    with app.connect() as conn:
        ledger = conn.execute(
            text("select warehouse_key, status, id_from, id_to, source from retention.account_batches "
                 "where plan_id = :p and batch_no = :b"),
            {"p": plan_id, "b": batch_no},
        ).mappings().first()
    if ledger is None:
        raise LookupError(f"batch {batch_no} of plan {plan_id} is not in the ledger (superseded by a newer plan?)")
    if ledger["status"] == "done":
        return {"batch_no": batch_no, "skipped": "already done"}
    key = ledger["warehouse_key"]
    requested = ledger["source"] == "request"
    eligible_sql = _erasable_sql() if requested else _eligible_sql()
    # An earlier attempt of this very batch may have committed its statistics and died before the scrub.
    reconcile(app, wh, only_key=key)

    with app.connect() as conn, conn.begin():
        with lock_timeout(conn, policy.lock_timeout_ms):
            # Claim the ledger row: a second worker on the same batch fails here, harmlessly.
            conn.execute(
                text("select 1 from retention.account_batches where plan_id = :p and batch_no = :b for update nowait"),
                {"p": plan_id, "b": batch_no},
            )
            _create_batch_tables(conn)
            bounds = {"id_from": ledger["id_from"], "id_to": ledger["id_to"]}
            run_sql(conn, "accounts/lock_batch_accounts", window.params(), **bounds, plan_id=plan_id, batch_no=batch_no,
                    requested=requested)
            # New statement, new snapshot: sees every activity committed before the locks were taken.
            conn.execute(
                text(f"insert into batch_members (id, reason) select e.id, e.reason from ({eligible_sql}) as e "
                     "join batch_locked as l on l.id = e.id"),
                {**window.params(), **bounds},
            )
            conn.exec_driver_sql("analyze batch_members")
            per_reason = dict(conn.execute(text("select reason, count(*) from batch_members group by reason")).all())
            documents = [tuple(r) for r in run_sql(conn, "accounts/select_batch_documents").all()]
            # The scrub reaches every table through its account_id index (`= any(array)`) and then
            # aggregates the deleted rows, which are small in-memory sets best joined by hashing.
            conn.exec_driver_sql("set local enable_hashjoin = on")
            scrubbed = dict(conn.execute(text(scrub_statement()), {**window.params(), **scrub_params()})
                            .mappings().one())
            cells = {t.name: scrubbed.pop(f"cells_{t.name}") for t in warehouse.STATS_TABLES}
            faults.checkpoint("accounts.before_warehouse_commit")

            with wh.begin() as w:
                warehouse.record_batch(w, key, cells)
            del cells
            faults.checkpoint("accounts.after_warehouse_commit")

            files_deleted, failed_ids = delete_stored_files((doc_id, uri) for doc_id, _, uri in documents)
            del documents
            if failed_ids:
                # A document with several stored files (columns) may fail more than once: ids are distinct here.
                conn.execute(text("insert into kept_documents (id) select distinct unnest(cast(:ids as bigint[]))"),
                             {"ids": failed_ids})
            faults.checkpoint("accounts.after_files_deleted")

            scrubbed.update(run_sql(conn, "accounts/delete_batch_documents").mappings().one())
            if failed_ids:
                conn.execute(
                    text("insert into retention.pending_file_deletions (document_id, first_failed_at) "
                         "select unnest(cast(:ids as bigint[])), clock_timestamp() on conflict do nothing"),
                    {"ids": failed_ids},
                )
            counts = {reason: int(per_reason.get(reason, 0)) for reason in REASONS}
            erased = int(per_reason.get("erasure", 0))
            conn.execute(
                text(
                    "update retention.account_batches set status = 'done', id_from = null, id_to = null, "
                    "deceased = :deceased, closed = :closed, inactive = :inactive, erased = :erased, rows_deleted = cast(:rows as jsonb), "
                    "files_deleted = :files, file_errors = :errors, duration_s = :secs, completed_at = clock_timestamp() "
                    "where plan_id = :p and batch_no = :b and status = 'planned'"
                ),
                {**counts, "erased": erased, "rows": _json(scrubbed), "files": files_deleted, "errors": len(failed_ids),
                 "secs": time.monotonic() - started, "p": plan_id, "b": batch_no},
            )
            faults.checkpoint("accounts.before_scrub_commit")
    # Verified right after the commit, while the batch's pages are still in memory: the first read
    # of a page of deleted rows pays its cleanup (hint bits, pruning the page, a WAL record). The
    # after-gate re-checks every tombstone of the night, on pages already cleaned: at 1,000,000
    # accounts 0.8 s per batch here and 2.4 s at the gate, against 18 s for the gate alone.
    from retention.mapsql import map_sql

    verify_started = time.monotonic()
    with app.connect() as conn, conn.begin():
        leftovers = conn.execute(
            text(f"select count(*) from (\n{map_sql('quality/find_unscrubbed_tombstones')}\n) as t"),
            {**window.params(), **bounds, "plan_id": plan_id, "batch_no": batch_no},
        ).scalar_one()
        # The frozen ids go once verified: from now on the tombstones (anonymised_at) say who it was.
        conn.execute(text("delete from retention.batch_accounts where plan_id = :p and batch_no = :b"),
                     {"p": plan_id, "b": batch_no})
    if leftovers:
        log.warning("batch %d: %d anonymised account(s) still hold data; the after-gate will fail", batch_no, leftovers)
    result = {"batch_no": batch_no, **counts, "erased": erased, "rows_deleted": scrubbed, "files_deleted": files_deleted,
              "file_errors": len(failed_ids), "leftovers": int(leftovers),
              "verify_seconds": round(time.monotonic() - verify_started, 3),
              "seconds": round(time.monotonic() - started, 3)}
    log.info("batch %d anonymised: %s", batch_no, result)
    return result


def _json(value: dict[str, Any]) -> str:
    import json

    return json.dumps({k: int(v) for k, v in value.items()}, sort_keys=True)


def retry_pending_file_deletions(app: Engine) -> dict[str, int]:
    """Retry stored files that an earlier night could not delete (their rows were kept)."""
    from sqlalchemy import text

    from retention.storage import delete_stored_files

    with app.connect() as conn, conn.begin():
        documents = [tuple(r) for r in run_sql(conn, "accounts/select_pending_file_deletions").all()]
        if not documents:
            return {"retried": 0, "still_failing": 0}
        _, failed = delete_stored_files(documents)
        done = [doc_id for doc_id, _ in documents if doc_id not in set(failed)]
        conn.execute(text("delete from app.documents where id = any(:ids)"), {"ids": done})
        conn.execute(text("delete from retention.pending_file_deletions where document_id = any(:ids)"), {"ids": done})
    return {"retried": len(documents), "still_failing": len(failed)}


def finalize(app: Engine, wh: Engine, window: RunWindow, run_id: str, planned: dict[str, Any]) -> dict[str, Any]:
    """Apply the statistics of every done batch to the warehouse, write the audit rows per reason, retry leftover files.

    Batches completed by crashed earlier runs and never audited are audited here, so that each
    anonymised account is counted once in the audit too. Files still undeletable are counted in
    ``files_pending``; the run's report fails the run for them.
    """
    from sqlalchemy import text

    if window.dry_run:
        return {"dry_run": True, "eligible": planned["eligible"]}
    settled = reconcile(app, wh)
    files = retry_pending_file_deletions(app)
    cutoffs = {"deceased": window.as_of, "closed": window.closed_on_or_before, "inactive": window.inactive_before}
    with app.begin() as conn:
        totals = conn.execute(
            text(
                "update retention.account_batches set audited_run_id = :run_id "
                "where status = 'done' and audited_run_id is null and source = 'nightly' "
                "returning deceased, closed, inactive, coalesce(duration_s, 0), file_errors"
            ),
            {"run_id": run_id},
        ).all()
        counts = {reason: sum(int(r[i]) for r in totals) for i, reason in enumerate(REASONS)}
        duration = sum(float(r[3]) for r in totals) + float(planned.get("seconds", 0))
        for reason in REASONS:
            run_sql(
                conn, "retention/upsert_rule_audit",
                run_id=run_id, rule=f"anonymise_{reason}", as_of=window.as_of, cutoff=cutoffs[reason],
                dry_run=False, rows_affected=counts[reason], partitions_dropped=0,
                details=_json({"batches": len(totals)}), duration_s=duration,
            )
        pending_files = conn.execute(text("select count(*) from retention.pending_file_deletions")).scalar_one()
        restricted = conn.execute(text("select count(*) from retention.restrictions")).scalar_one()
    summary = {"anonymised": counts, "batches": len(totals), "warehouse": settled, "restricted": int(restricted),
               "files_retried": files["retried"], "files_pending": int(pending_files)}
    log.info("accounts stage: %s", summary)
    if pending_files:
        # Not raised here: a broken object store must not hold back the other stages (connection
        # logs still expire tonight). The report fails the run for it, after every stage ran.
        log.warning("%d stored document(s) of anonymised accounts could not be deleted yet", pending_files)
    return summary


def refresh_inactivity_notices(app: Engine, window: RunWindow, policy: Policy) -> dict[str, int]:
    """List members whose five years of inactivity end within the notice period (for the mailer)."""
    from sqlalchemy import text

    params = {**window.params(), "inactivity_years": policy.account_inactivity_years,
              "notice_days": policy.inactivity_notice_days}
    upcoming_sql = load_sql("accounts/select_upcoming_inactivity")
    if window.dry_run:
        with app.connect() as conn:
            pending = conn.execute(text(f"select count(*) from ({upcoming_sql}) as u"), params).scalar_one()
        return {"pending": int(pending), "dry_run": True}
    with app.begin() as conn:
        conn.exec_driver_sql(
            "create temp table upcoming_notices (account_id bigint primary key, notice_due_on date not null,"
            " anonymise_on date not null) on commit drop"
        )
        conn.execute(text(f"insert into upcoming_notices {upcoming_sql}"), params)
        changes = dict(run_sql(conn, "accounts/refresh_inactivity_notices").mappings().one())
        pending = conn.execute(text("select count(*) from retention.inactivity_notices")).scalar_one()
    result = {"pending": int(pending), **{k: int(v) for k, v in changes.items()}}
    log.info("inactivity notices: %s", result)
    return result
