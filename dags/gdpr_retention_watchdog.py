"""
# gdpr_retention_watchdog

**What it does.** At 06:00 Europe/Paris, checks that last night's `gdpr_retention` run kept the
promise of being finished by then, from the pipeline's own record of its runs (`retention.runs`),
and alerts the data team (same channel as the run's alerts: `RETENTION_ALERT_*`) when it did not:

| finding | alert | this run |
|---|---|---|
| tonight's run succeeded before 06:00 | none | green |
| tonight's run still running (or finished after 06:00) | `deadline_missed`, with the run's counts so far | red |
| no run at all tonight (scheduler down, DAG paused) | `deadline_missed`, "no run recorded for the night" | red |
| tonight's run failed before 06:00 | none here (its failure alert went out) | red |
| any run, triggered by hand included, open more than 4 hours | `deadline_missed` | red |

Unpause it together with `gdpr_retention`. **Params**: `as_of` (the instant to judge at; default
the run's data interval end, 06:00 Paris): a rerun of a past day judges that day again, the same way.

## Runbook
- *Red at 06:00*: open `gdpr_retention`'s runs; a run still going needs its slow task looked at
  (task log: counts and timings); a missing run means the scheduler or the DAG was down: trigger
  `gdpr_retention` (every destructive step is resumable).
- Owner: data team (#data-retention).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task


@dag(
    dag_id="gdpr_retention_watchdog",
    schedule=CronTriggerTimetable("0 6 * * *", timezone="Europe/Paris"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["gdpr", "retention", "quality"],
    params={
        "as_of": Param(None, type=["null", "string"],
                       description="ISO-8601 instant to judge at; default: the run's data interval end"),
    },
    default_args={"owner": "data-team", "retries": 0, "retry_delay": timedelta(minutes=1)},
)
def gdpr_retention_watchdog():
    @task
    def check_night_finished_by_deadline() -> dict:
        """Judge tonight's `gdpr_retention` run at the deadline (06:00 Paris) from `retention.runs`; alert each late or missing run and fail if the promise was broken."""
        from retention.runtime import engines, instant_from_context
        from retention.watchdog import check_night

        with engines() as db:
            return check_night(db["app"], instant_from_context(get_current_context()))

    check_night_finished_by_deadline()


gdpr_retention_watchdog()
