"""Stage 3: delete B2B prospects three years after collection or last contact, and at once on objection.

A prospect is deleted (not anonymised) when ``objected_at <= as_of``, or when
``greatest(collected_at, last_contact_at) < as_of - interval '3 years'`` (``window.prospects_before``).
No timestamp dated after ``as_of`` makes a row go: an objection dated after ``as_of`` waits for a later
run, and a contact dated after ``as_of`` still counts as a contact, so it keeps an old prospect.

**How.** One planning query finds the deletable prospects through the two indexes of the reference
schema (``prospects_objected_idx``, ``prospects_last_touch_idx`` on the ``greatest()`` expression,
combined in a BitmapOr; on a first run where they are a large share of the table the planner
rightly prefers one sequential scan) and cuts them into primary-key ranges of
``policy.prospect_batch_size`` prospects. Each range is then deleted in its own transaction by a primary-key range scan that
re-checks the rule (a prospect contacted since the plan stays), with its audit increment (rule
``purge_prospects``; ``details`` counts ``objected`` and ``expired``) and a transaction-local
``lock_timeout``. The ranges are disjoint and ordered, so no batch rescans what an earlier one
visited (the ``id IN (SELECT ... LIMIT n)`` trap). The range bounds stay in memory and are never
logged or returned.

**Crash-safety and idempotence.** A crash loses at most the uncommitted batch; a rerun plans again
from what is left, so it finishes the job and counts nothing twice. A rerun for the same ``as_of``
deletes nothing more. **Dry run:** the plan's counts per reason; nothing is written.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from retention import faults
from retention.db import run_sql
from retention.logs import add_audit_increment, in_transaction

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from retention.policy import Policy
    from retention.window import RunWindow

log = logging.getLogger(__name__)

RULE = "purge_prospects"
REASONS = ("objected", "expired")


def purge_prospects(app: Engine, window: RunWindow, policy: Policy, run_id: str) -> dict[str, Any]:
    """Delete objected and expired prospects in primary-key batches; return counts only."""
    started = time.monotonic()
    params = {"as_of": window.as_of, "prospects_before": window.prospects_before}
    with app.connect() as conn:
        with conn.begin():
            batches = run_sql(
                conn, "prospects/plan_prospect_batches", params, batch_size=policy.prospect_batch_size
            ).mappings().all()
        planned = {reason: sum(int(b[reason]) for b in batches) for reason in REASONS}
        log.info(
            "prospects purge: cutoff %s, as of %s, dry run %s: %d objected, %d expired, %d batch(es)",
            window.prospects_before.isoformat(), window.as_of.isoformat(), window.dry_run,
            planned["objected"], planned["expired"], len(batches),
        )
        if window.dry_run:
            return {
                "dry_run": True,
                "cutoff": window.prospects_before.isoformat(),
                "would_delete": sum(planned.values()),
                "would_delete_by_reason": planned,
                "seconds": round(time.monotonic() - started, 3),
            }

        deleted = dict.fromkeys(REASONS, 0)
        longest = 0.0

        def audit(c: Connection, counts: dict[str, int], seconds: float) -> None:
            add_audit_increment(
                c, run_id=run_id, rule=RULE, as_of=window.as_of, cutoff=window.prospects_before,
                rows=sum(counts.values()), counters=counts, seconds=seconds,
            )

        # The run's audit row exists even on a night with nothing to delete.
        in_transaction(conn, policy.lock_timeout_ms, lambda c: audit(c, dict.fromkeys(REASONS, 0), 0.0))
        for batch in batches:
            bounds = {"id_from": batch["id_from"], "id_to": batch["id_to"]}

            def work(c: Connection, bounds: dict[str, Any] = bounds) -> dict[str, int]:
                batch_started = time.monotonic()
                row = run_sql(c, "prospects/delete_prospect_batch", params, **bounds).mappings().one()
                counts = {reason: int(row[reason]) for reason in REASONS}
                audit(c, counts, time.monotonic() - batch_started)
                return counts

            counts, elapsed = in_transaction(conn, policy.lock_timeout_ms, work)
            longest = max(longest, elapsed)
            for reason in REASONS:
                deleted[reason] += counts[reason]
            faults.checkpoint("prospects.after_batch")

    result = {
        "dry_run": False,
        "cutoff": window.prospects_before.isoformat(),
        "rows_deleted": sum(deleted.values()),
        "deleted_by_reason": deleted,
        "batches": len(batches),
        "longest_batch_s": round(longest, 3),
        "seconds": round(time.monotonic() - started, 3),
    }
    log.info("prospects purge done: %s", result)
    return result
