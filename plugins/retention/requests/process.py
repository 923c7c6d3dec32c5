"""Data-subject requests, processed set-based as of the run's instant (issue 19).

A run of ``gdpr_subject_requests``: count what is actionable (one cheap query; a quiet run stops
there) -> move requests on (duplicates; identity not verified: ``identity_pending``, nothing done,
the clock runs; verified: ``in_progress``) -> record restrictions and their lifts -> delete the
prospects of erasure and objection requests -> anonymise the accounts of erasure requests through
the nightly ledger and :func:`retention.accounts.process_batch` (one batch per request, so the
warehouse counts each account once whichever of the night and the request commits first) and
settle each request (fulfilled, partially fulfilled with what is kept, why and until when, or
refused with the complaint route) -> check the deadlines.

Every step that finishes a request writes its receipt (``retention.request_receipts``) in the same
transaction. Logs, XCom and receipts carry counts and random request ids, never an account id or an
e-mail: the link between a request and its person stays in ``retention.subject_requests``.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from retention.db import run_sql
from retention.sqlfiles import load_sql

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from retention.policy import Policy
    from retention.window import RunWindow

log = logging.getLogger(__name__)

REQUEST_TYPES = ("access", "portability", "erasure", "restriction", "lift_restriction", "objection")
# A request whose processing failed this many times is set to failed (visible) instead of retried for ever.
MAX_ATTEMPTS = 5


def _receipts(conn: Connection, window: RunWindow, run_id: str) -> int:
    from retention.provenance import code_version, policy_version

    return run_sql(conn, "requests/insert_request_receipts", as_of=window.as_of, run_id=run_id,
                   code_version=code_version(), policy_version=policy_version()).rowcount


def ensure_app_schema(app: Engine) -> None:
    """Migrate the owned schema only when this DAG runs before any nightly run did (one catalogue probe)."""
    from sqlalchemy import text

    from retention.migrate import migrate_app

    with app.connect() as conn:
        # The newest column of the owned schema (packages): an older schema is migrated too.
        present = conn.execute(text("select exists (select from pg_attribute where attrelid = "
                                    "to_regclass('retention.request_receipts') and attname = 'package_bytes')")
                               ).scalar_one()
    if not present:
        migrate_app(app)


def count_actionable(app: Engine, window: RunWindow, policy: Policy) -> int:
    """Requests this run has something to do for, deadline alerts owed included (the quiet run's only query)."""
    from sqlalchemy import text

    from retention.requests.deadlines import ALERT_DAYS_BEFORE

    statement = load_sql("requests/count_actionable_requests").replace(
        "{alerts}", load_sql("requests/select_request_alerts"))
    with app.connect() as conn:
        return int(conn.execute(text(statement), {
            **window.params(), "link_retention_years": policy.request_link_retention_years,
            "alert_days_before": ALERT_DAYS_BEFORE}).scalar_one())


def triggered_by_hand(context: dict[str, Any]) -> bool:
    """The run was triggered by hand (UI, API, CLI), not by the schedule."""
    run_type = getattr(context.get("dag_run"), "run_type", None)
    return str(getattr(run_type, "value", run_type)).lower() == "manual"


def intake(app: Engine, params: dict[str, Any], run_id: str, triggered_by_hand: bool) -> bool:
    """Record the request the DPO started from the UI (an account only); idempotent per run.

    Only a run triggered by hand records one: a scheduled run never does, whatever its params say.
    """
    from retention.window import parse_as_of

    request_type = params.get("request_type")
    if not request_type:
        return False
    if not triggered_by_hand:
        log.warning("request params on a scheduled run are ignored: trigger the DAG by hand to record a request")
        return False
    if request_type not in REQUEST_TYPES:
        raise ValueError(f"request_type must be one of {', '.join(REQUEST_TYPES)}")
    account_id = params.get("account_id")
    if account_id is None or int(account_id) <= 0:
        raise ValueError("account_id is required: the UI takes requests about an account "
                         "(a prospect's request is inserted into retention.subject_requests by the platform)")
    if not params.get("received_at"):
        raise ValueError("received_at is required (ISO-8601 with a time zone): the deadline runs from it")
    received_at = parse_as_of(params["received_at"])
    verified = params.get("identity_verified_at")
    with app.begin() as conn:
        inserted = run_sql(conn, "requests/insert_dpo_request", request_type=request_type, account_id=int(account_id),
                           received_at=received_at, identity_verified_at=parse_as_of(verified) if verified else None,
                           run_id=run_id).rowcount
    log.info("intake from the UI: %s request recorded (%d new row)", request_type, inserted)
    return True


def advance_states(app: Engine, window: RunWindow, policy: Policy, run_id: str) -> dict[str, int]:
    """Duplicates closed, unverified requests set to identity_pending, verified ones to in_progress,
    still unverified past their due date refused; answered requests unlinked from their person once the
    policy's period has passed."""
    with app.begin() as conn:
        moved = {k: int(v) for k, v in run_sql(conn, "requests/update_request_states", window.params())
                 .mappings().one().items()}
        moved["failed"] = run_sql(conn, "requests/fail_exhausted_requests", as_of=window.as_of,
                                  max_attempts=MAX_ATTEMPTS).rowcount
        moved["unproven_refused"] = int(run_sql(conn, "requests/refuse_unproven_requests", as_of=window.as_of)
                                        .scalar_one())
        moved["receipts"] = _receipts(conn, window, run_id)
        moved["unlinked"] = int(run_sql(conn, "requests/unlink_answered_requests", as_of=window.as_of,
                                        link_retention_years=policy.request_link_retention_years).scalar_one())
    log.info("request states: %s", moved)
    return moved


def _locked_step(app: Engine, window: RunWindow, policy: Policy, run_id: str, statement: str,
                 what: str) -> dict[str, int]:
    """One set-based step under the policy's lock timeout, with the receipts of the requests it ended,
    in one transaction; the statement returns one row of counts."""
    from retention.db import lock_timeout

    with app.begin() as conn:
        with lock_timeout(conn, policy.lock_timeout_ms):
            result = {k: int(v) for k, v in run_sql(conn, statement, as_of=window.as_of).mappings().one().items()}
        result["receipts"] = _receipts(conn, window, run_id)
    log.info("%s: %s", what, result)
    return result


def record_restrictions(app: Engine, window: RunWindow, policy: Policy, run_id: str) -> dict[str, int]:
    """Restrictions recorded and lifted (the nightly anonymisation skips restricted accounts)."""
    return _locked_step(app, window, policy, run_id, "requests/record_restrictions", "restrictions")


def refuse_account_objections(app: Engine, window: RunWindow, policy: Policy, run_id: str) -> dict[str, int]:
    """Members' objections: refused with the legal reason and the complaint route (nothing changes)."""
    return _locked_step(app, window, policy, run_id, "requests/refuse_account_objections", "account objections")


def erase_prospects(app: Engine, window: RunWindow, policy: Policy, run_id: str) -> dict[str, int]:
    """Delete the prospects of erasure and objection requests (every row with the request's e-mail)."""
    return _locked_step(app, window, policy, run_id, "requests/delete_requested_prospects", "prospect requests")


def plan_erasures(app: Engine, wh: Engine, window: RunWindow, run_id: str) -> list[dict[str, Any]]:
    """One ledger batch per erasable account request; earlier request batches never completed are dropped first."""
    from sqlalchemy import text

    from retention.accounts import ALL_IDS, reconcile

    # Settles the warehouse cells of any batch a crashed run left (those of request batches included).
    reconcile(app, wh)
    plan_id = "request-" + uuid.uuid4().hex
    statement = load_sql("requests/plan_requested_erasures").replace("{erasable}", load_sql("accounts/select_erasable_accounts"))
    with app.begin() as conn:
        conn.execute(text("delete from retention.batch_accounts as m using retention.account_batches as b "
                          "where b.plan_id = m.plan_id and b.batch_no = m.batch_no "
                          "and b.source = 'request' and b.status = 'planned'"))
        conn.execute(text("delete from retention.account_batches where source = 'request' and status = 'planned'"))
        rows = conn.execute(text(statement), {**window.params(), **ALL_IDS, "plan_id": plan_id, "run_id": run_id}).all()
    batches = [{"plan_id": plan_id, "batch_no": int(b), "request_id": r} for b, r in rows]
    log.info("erasure requests planned: %d", len(batches))
    return batches


def erase_accounts(app: Engine, wh: Engine, window: RunWindow, policy: Policy, run_id: str) -> dict[str, Any]:
    """Anonymise the accounts of erasure requests by the nightly code path, then settle every open erasure request."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from retention.accounts import process_batch, reconcile
    from retention.migrate import migrate_warehouse

    started = time.monotonic()
    # The statistics must accept reason 'erasure' even before the next night migrates them.
    migrate_warehouse(wh, policy)
    batches = plan_erasures(app, wh, window, run_id)
    anonymised = 0
    for batch in batches:
        try:
            done = process_batch(app, wh, window, policy, batch["plan_id"], batch["batch_no"])
        except (SQLAlchemyError, OSError) as exc:
            # Recorded so that a request that keeps failing shows why once it is set to failed;
            # the task fails (and is retried): the batch is redone from the ledger.
            with app.begin() as conn:
                conn.execute(text("update retention.subject_requests set last_error_class = :c, "
                                  "updated_at = clock_timestamp() where request_id = :r"),
                             {"c": type(exc).__name__, "r": batch["request_id"]})
            raise
        anonymised += int(done.get("erased", 0))
        # The request's cells go to the statistics at once, not at the next night's finalize.
        with app.connect() as conn:
            key = conn.execute(text("select warehouse_key from retention.account_batches "
                                    "where plan_id = :p and batch_no = :b"),
                               {"p": batch["plan_id"], "b": batch["batch_no"]}).scalar_one()
        reconcile(app, wh, only_key=key)
    with app.begin() as conn:
        settled = {k: int(v) for k, v in run_sql(
            conn, "requests/settle_requested_erasures", window.params(),
            log_retention_years=policy.connection_log_retention_years).mappings().one().items()}
        # Request batches are audited by their receipts, never by the night's audit rows.
        conn.execute(text("update retention.account_batches set audited_run_id = :run_id "
                          "where source = 'request' and status = 'done' and audited_run_id is null"), {"run_id": run_id})
        settled["receipts"] = _receipts(conn, window, run_id)
    result = {"planned": len(batches), "anonymised": anonymised, **settled,
              "seconds": round(time.monotonic() - started, 3)}
    log.info("erasure requests: %s", result)
    return result


def check_deadlines(app: Engine, window: RunWindow, run_id: str, dag_id: str) -> dict[str, int]:
    """Open requests per deadline level (due within 7 days, overdue), counts only; then the alerts owed
    (once per request when it comes within 7 days, once a day while overdue) through the notifier.

    The alerts are recorded in the transaction that sends them: a channel that refuses leaves
    nothing recorded (the next run sends them again), never a recorded alert that was not sent.
    """
    from retention.requests.deadlines import ALERT_DAYS_BEFORE

    with app.connect() as conn:
        levels = {k: int(v) for k, v in run_sql(conn, "requests/count_request_deadlines", as_of=window.as_of,
                                                alert_days_before=ALERT_DAYS_BEFORE).mappings().one().items()}
    if levels["overdue"]:
        log.warning("%d data-subject request(s) overdue", levels["overdue"])
    with app.begin() as conn:
        owed = [dict(r) for r in run_sql(conn, "requests/select_request_alerts", as_of=window.as_of,
                                         alert_days_before=ALERT_DAYS_BEFORE).mappings()]
        if owed:
            from retention.alerts import REQUEST_DEADLINE, RetentionAlertNotifier

            RetentionAlertNotifier(event=REQUEST_DEADLINE).notify(
                {"dag_id": dag_id, "run_id": run_id, "as_of": window.as_of, "requests": owed})
        if owed:
            run_sql(conn, "requests/insert_request_alerts", as_of=window.as_of, run_id=run_id,
                    request_ids=[r["request_id"] for r in owed], levels=[r["level"] for r in owed])
    levels["alerted_due_soon"] = sum(r["level"] == "due_soon" for r in owed)
    levels["alerted_overdue"] = sum(r["level"] == "overdue" for r in owed)
    log.info("request deadlines: %s", levels)
    return levels


