"""The run's row in ``retention.runs`` and the readable report (counts and cutoffs only)."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from retention.policy import load_policy
from retention.window import RunWindow

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

STAGES = ("accounts", "connection_logs", "prospects", "inactivity_notices")


def open_run(app: Engine, window: RunWindow, run_id: str) -> dict[str, Any]:
    """Log the policy in force and the cutoffs; record the run (not for a dry run, which writes nothing)."""
    from sqlalchemy import text

    policy = load_policy()
    for key, value in policy.values().items():
        log.info("policy %s = %s (%s)", key, value, policy.bases[key])
    cutoffs = cutoffs_of(window)
    log.info("as_of %s, dry_run %s, cutoffs %s", window.as_of.isoformat(), window.dry_run, cutoffs)
    if not window.dry_run:
        with app.begin() as conn:
            conn.execute(
                text(
                    "insert into retention.runs (run_id, as_of, dry_run, policy) "
                    "values (:run_id, :as_of, false, cast(:policy as jsonb)) "
                    "on conflict (run_id) do update set status = 'running', finished_at = null"
                ),
                {"run_id": run_id, "as_of": window.as_of, "policy": json.dumps(policy.values())},
            )
    return {"as_of": window.as_of.isoformat(), "dry_run": window.dry_run, "cutoffs": cutoffs}


def cutoffs_of(window: RunWindow) -> dict[str, str]:
    return {
        "deceased_on_or_before": window.as_of.isoformat(),
        "closed_on_or_before": window.closed_on_or_before.isoformat(),
        "inactive_before": window.inactive_before.isoformat(),
        "connection_logs_before": window.logs_before.isoformat(),
        "prospects_before": window.prospects_before.isoformat(),
    }


def render(window: RunWindow, stages: dict[str, Any], status: str, gates: dict[str, Any] | None = None) -> str:
    """A short report a person can read in the task log or the terminal."""
    lines = [
        f"GDPR retention run as of {window.as_of.isoformat()}" + (" (DRY RUN: nothing changed)" if window.dry_run else ""),
        f"status: {status}",
    ]
    accounts = stages.get("accounts")
    if accounts is None:
        lines.append("accounts: FAILED or not run")
    elif window.dry_run:
        lines.append(f"accounts: would anonymise {_fmt(accounts.get('eligible', {}))}")
    else:
        lines.append(
            f"accounts: anonymised {_fmt(accounts.get('anonymised', {}))} in {accounts.get('batches', 0)} batch(es); "
            f"stored files pending deletion: {accounts.get('files_pending', 0)}; "
            f"restricted on request (kept as they are): {accounts.get('restricted', 0)}"
        )
    logs = stages.get("connection_logs")
    if logs is None:
        lines.append("connection logs: FAILED or not run")
    else:
        verb = "would delete" if window.dry_run else "deleted"
        count = logs.get("would_delete", 0) if window.dry_run else logs.get("rows_deleted", 0)
        dropped = len(logs.get("would_drop", [])) if window.dry_run else logs.get("partitions_dropped", 0)
        lines.append(f"connection logs before {window.logs_before.date()}: {verb} {count:,} rows, {dropped} partition(s)")
    prospects = stages.get("prospects")
    if prospects is None:
        lines.append("prospects: FAILED or not run")
    else:
        verb = "would delete" if window.dry_run else "deleted"
        count = prospects.get("would_delete", 0) if window.dry_run else prospects.get("rows_deleted", 0)
        lines.append(f"prospects: {verb} {count:,}")
    notices = stages.get("inactivity_notices")
    if notices is None:
        lines.append("inactivity notices: FAILED or not run")
    else:
        lines.append(f"inactivity notices pending for the mailer: {notices.get('pending', 0):,}")
    if "releases" in stages:
        releases = stages["releases"]
        if releases is None:
            lines.append("monthly statistics release: FAILED or not run")
        elif not window.dry_run:
            months = [r["month"] for r in releases.get("released", []) if "tables" in r]
            lines.append(f"monthly statistics released: {', '.join(m[:7] for m in months) or 'none (no month closed since the last)'}")
    for name, gate in (gates or {}).items():
        if gate is None:
            lines.append(f"quality gate {name}: FAILED or not run (see its task log and Data Docs)")
        elif gate.get("skipped"):
            lines.append(f"quality gate {name}: skipped ({gate['skipped']})")
        else:
            docs = [g.get("data_docs") for g in gate.get("gates", [gate]) if g.get("data_docs")]
            lines.append(f"quality gate {name}: passed" + (f"; Data Docs: {', '.join(docs)}" if docs else ""))
    return "\n".join(lines)


def _fmt(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    return f"{total:,} (" + ", ".join(f"{k} {v:,}" for k, v in counts.items()) + ")"


def close_run(app: Engine, window: RunWindow, run_id: str, stages: dict[str, Any],
              gates: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the run's outcome; raise if a stage or a gate did not complete, so the run shows red."""
    from sqlalchemy import text

    gates = gates or {}
    failed = [name for name in STAGES if stages.get(name) is None]
    failed += [f"gate {name}" for name, gate in gates.items() if gate is None]
    pending_files = int((stages.get("accounts") or {}).get("files_pending", 0))
    if pending_files:
        failed.append(
            f"{pending_files} stored document(s) of anonymised accounts could not be deleted; "
            "their rows are kept and retried every night until the store accepts the deletion"
        )
    status = "failed" if failed else "success"
    text_report = render(window, stages, status, gates)
    for line in text_report.splitlines():
        log.info("%s", line)
    summary = {"as_of": window.as_of.isoformat(), "dry_run": window.dry_run, "status": status,
               "cutoffs": cutoffs_of(window), "stages": stages, "gates": gates}
    if not window.dry_run:
        with app.begin() as conn:
            conn.execute(
                text(
                    "update retention.runs set status = :status, finished_at = clock_timestamp(), "
                    "report = cast(:report as jsonb) where run_id = :run_id"
                ),
                {"status": status, "report": json.dumps(summary, default=str), "run_id": run_id},
            )
    if failed:
        raise RuntimeError(f"stage(s) did not complete: {', '.join(failed)}; see their task logs")
    return summary
