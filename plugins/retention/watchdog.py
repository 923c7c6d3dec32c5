"""Was last night kept by 06:00 Europe/Paris? The check behind ``dags/gdpr_retention_watchdog.py``.

It reads only the pipeline's own record of its runs (``retention.runs``), at the watchdog run's
instant ``check_at`` (its data interval end: 06:00 Paris), never the wall clock:

* tonight's night is kept when a run (not a dry run) whose ``as_of`` lies between local midnight
  and ``check_at`` ended ``success`` at or before ``check_at``. No such run, or one still running or
  finished after ``check_at``, or failed, breaks the promise: a ``deadline_missed`` alert goes out
  (a failed run was already reported by its failure alert and is only counted here);
* any run still open (or finished late) more than ``MAX_RUN_HOURS`` after it started, a run
  triggered by hand included, is late too and alerted.

Airflow's own Deadline Alerts did this before; on Airflow 3.3.2 they crash ``airflow dags test``
after a successful run (apache/airflow#73428) and never watch a run triggered without a logical
date, and they cannot see a night that never started (a scheduler down). This check sees all three.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import Engine

from retention.sqlfiles import load_sql

log = logging.getLogger(__name__)

DEADLINE_TZ = ZoneInfo("Europe/Paris")
MAX_RUN_HOURS = 4


@dataclass(frozen=True)
class LateRun:
    run_id: str | None
    as_of: datetime | None
    state: str  # what the run was at the deadline: "running", "failed" or "missing"


def night_start(check_at: datetime) -> datetime:
    """Local midnight (Europe/Paris) of the day whose night ``check_at`` judges."""
    local = check_at.astimezone(DEADLINE_TZ)
    return datetime.combine(local.date(), time(0, 0), tzinfo=DEADLINE_TZ)


def judge(rows: list[dict[str, Any]], check_at: datetime) -> list[LateRun]:
    """The runs that broke the deadline (pure: the rows as the SQL returns them)."""
    def in_time(row: dict[str, Any]) -> bool:
        return row["finished_at"] is not None and row["finished_at"] <= check_at

    tonight = [row for row in rows if row["tonight"]]
    kept = any(row["status"] == "success" and in_time(row) for row in tonight)
    overdue_from = check_at - timedelta(hours=MAX_RUN_HOURS)
    late: list[LateRun] = []
    if not tonight:
        late.append(LateRun(None, None, "missing"))
    for row in rows:
        if in_time(row) and (row["status"] == "success" or kept or not row["tonight"]):
            continue
        if kept and row["started_at"] > overdue_from:
            continue  # another run tonight, still within its hours: not late yet
        late.append(LateRun(row["run_id"], row["as_of"], "failed" if in_time(row) else "running"))
    return late


def check_night(engine: Engine, check_at: datetime, *, notify: bool = True) -> dict[str, Any]:
    """Judge tonight at ``check_at``, alert each late run, and fail when the promise was broken."""
    from retention.alerts import DEADLINE_MISSED, RetentionAlertNotifier

    params = {"check_at": check_at, "night_start": night_start(check_at), "max_hours": MAX_RUN_HOURS}
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text(load_sql("retention/select_runs_due_by_deadline")), params)]
    late = judge(rows, check_at)
    result = {"check_at": check_at.isoformat(), "night_start": params["night_start"].isoformat(),
              "runs_seen": len(rows), "late": [{"run_id": r.run_id, "state": r.state} for r in late]}
    log.info("deadline check at %s: %d run(s) seen, %d late", check_at.isoformat(), len(rows), len(late))
    if not late:
        return result
    if notify:
        notifier = RetentionAlertNotifier(event=DEADLINE_MISSED)
        for run in late:
            notifier.notify(alert_context(run, check_at))
    # Only ids and counts: the watchdog's run turns red in the UI beside the alert that was sent.
    listed = ", ".join(f"{r.run_id or 'no run'}: {r.state}" for r in late)
    raise RuntimeError(f"deadline {check_at.isoformat()} missed: {len(late)} run(s) late ({listed})")


def alert_context(run: LateRun, check_at: datetime) -> dict[str, Any]:
    """What the notifier reads: the late run as the REST API would show it, and the deadline."""
    return {
        "dag_run": {"dag_id": "gdpr_retention", "run_id": run.run_id,
                    "state": "running" if run.state == "missing" else run.state,
                    "conf": {"as_of": run.as_of.isoformat() if run.as_of else None}},
        "deadline": {"deadline_time": check_at},
        "reason": "night_not_run" if run.state == "missing" else f"run_{run.state}_at_deadline",
    }
