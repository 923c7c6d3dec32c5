"""
# gdpr_retention

**What it does.** Keeps the privacy policy's retention promises every night, and proves it:

| rule | promise | stage |
|---|---|---|
| deceased, closed, or inactive for 5 years | account anonymised irreversibly; only aggregate statistics survive in the warehouse | `accounts` |
| connection logs | kept 1 year (legal obligation), then deleted whatever the account's state | `connection_logs` |
| B2B prospects | kept 3 years after collection or last contact; deleted at once on objection | `prospects` |
| legal hold, post-mortem directive | the account is not touched while it lasts | `accounts` |
| statistics for analysts | each closed month of anonymisations released once, with differential privacy (budget in `policy.yaml`), append-only | `accounts.release_closed_months` |

The values and the sentences that justify them live in `plugins/retention/policy.yaml`.

**Params.** `as_of` (ISO-8601 instant with a time zone; default: the run's data interval end):
every cutoff derives from it, so a rerun or backfill is deterministic. `dry_run` (default false):
counts what would go, writes and deletes nothing.

**Connections.** `app_db` (application database; the pipeline owns schema `retention` there) and
`stats_warehouse` (statistics; the pipeline owns `stats` and `published`).

## Runbook
- *A task failed*: read its log (counts only, never personal values). Every destructive step is
  resumable: fix the cause and **clear the failed task** (or trigger a new run with the same
  `as_of`). Nothing is counted twice and nothing personal is left behind.
- *`anonymise_account_batch` failed mid-way*: safe to clear; the statistics of an uncommitted
  batch (pending in the warehouse) are dropped before the batch is redone.
- *`report` failed on stored documents*: the object store refused some deletions; the accounts are
  anonymised, the document rows are kept (`retention.pending_file_deletions`) and retried every
  night, and the other stages still ran. Fix the store's permissions; the next run completes.
- *`check_app_schema` failed*: the application schema drifted from the data map
  (`plugins/retention/datamap.yaml`); the task log and the alert name each table and column. Nothing
  ran after it. Map the change (docs/datamap.md), grant what a new table needs, and rerun.
- *`release_closed_months` or `check_release` failed*: a release is stored in one transaction, so
  a failed one left nothing; clear the task. A stored month is never recomputed nor changed.
- *Transient errors* (lost connection, lock timeout) are retried automatically; any other error
  fails at once.
- *Not finished by 06:00 Europe/Paris*: `gdpr_retention_watchdog` judges every night at 06:00 from
  `retention.runs` and alerts (a run still going, no run at all, or any run open more than 4 hours,
  runs triggered by hand included). Unpause it with this DAG.
- Owner: data team (#data-retention).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import (
    CronTriggerTimetable,
    ExceptionRetryPolicy,
    Param,
    RetryAction,
    RetryRule,
    chain,
    dag,
    get_current_context,
    task,
    task_group,
)
from retention.alerts import DAG_FAILED, GATE_FAILED, RetentionAlertNotifier

# Alerts (channel and recipients are read when an alert fires, never while parsing).
GATE_ALERT = RetentionAlertNotifier(event=GATE_FAILED)

# Transient failures only: anything else (a data error, a failed check, a bug) fails at once.
TRANSIENT_ERRORS = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception=[
                "sqlalchemy.exc.OperationalError",
                "psycopg.OperationalError",
            ],
            action=RetryAction.RETRY,
            reason="database unreachable, lock timeout or serialization failure",
        ),
    ],
    default=RetryAction.FAIL,
)


@dag(
    dag_id="gdpr_retention",
    schedule=CronTriggerTimetable("0 2 * * *", timezone="Europe/Paris"),
    start_date=datetime(2026, 1, 1, tzinfo=None),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["gdpr", "retention", "nightly"],
    on_failure_callback=RetentionAlertNotifier(event=DAG_FAILED),
    # "Not finished by 06:00 Europe/Paris" is watched by dags/gdpr_retention_watchdog.py, from the
    # pipeline's own records: it also sees a night that never started and runs triggered by hand.
    params={
        "as_of": Param(
            None,
            type=["null", "string"],
            description="ISO-8601 instant with time zone; default: the run's data interval end",
        ),
        "dry_run": Param(False, type="boolean", description="Count what would go; change nothing"),
    },
    default_args={
        "owner": "data-team",
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "retry_policy": TRANSIENT_ERRORS,
        # Caps the pipeline's concurrent sessions on the application database (create it with
        # `airflow pools set retention_app_db 2 ...`; the compose stack does).
        "pool": "retention_app_db",
    },
)
def gdpr_retention():
    @task_group
    def prepare():
        @task
        def migrate_owned_schemas() -> None:
            """Create or migrate, idempotently, schema `retention` (application DB) and `stats`/`published` (warehouse)."""
            from retention.migrate import migrate_app, migrate_warehouse
            from retention.policy import load_policy
            from retention.runtime import engines

            with engines(app=True, warehouse=True) as db:
                migrate_app(db["app"])
                migrate_warehouse(db["warehouse"], load_policy())

        @task
        def resolve_run_window() -> dict:
            """Resolve `as_of` (param, else the data interval end), compute every cutoff, log the policy in force and open the run's row."""
            from retention.report import open_run
            from retention.runtime import engines, window_from_context

            context = get_current_context()
            with engines() as db:
                return open_run(db["app"], window_from_context(context), context["run_id"])

        chain(migrate_owned_schemas(), resolve_run_window())

    @task_group
    def accounts():
        @task
        def reconcile_warehouse() -> dict:
            """Settle statistics left pending by a crashed earlier run: apply those of batches whose scrub committed, drop the others."""
            from retention.accounts import reconcile
            from retention.runtime import engines

            with engines(app=True, warehouse=True) as db:
                return reconcile(db["app"], db["warehouse"])

        @task(on_failure_callback=GATE_ALERT)
        def check_app_schema() -> dict:
            """Gate: the application schema matches the data map (plugins/retention/datamap.yaml): no unmapped or vanished table or column, no changed type or foreign key. Fails, naming what drifted (never a value), before anything is planned, anonymised or purged."""
            from retention.quality.gates import check_app_schema as check
            from retention.runtime import engines, window_from_context

            context = get_current_context()
            with engines() as db:
                return check(db["app"], window_from_context(context), context["run_id"])

        @task(on_failure_callback=GATE_ALERT)
        def check_accounts_before() -> dict:
            """Gate (Great Expectations, in PostgreSQL): the candidate set is sane and within the policy's ceiling (the schema was compared with the data map by check_app_schema). Fails before anything is destroyed."""
            from retention.policy import load_policy
            from retention.quality.gates import check_accounts_before as check
            from retention.runtime import engines, window_from_context

            context = get_current_context()
            policy = load_policy()
            with engines() as db:
                return check(db["app"], window_from_context(context, policy), policy, context["run_id"])

        @task
        def plan_account_batches() -> dict:
            """Cut tonight's eligible accounts into id ranges kept in the ledger, with their counts per reason (dry run: only count them). Destroys nothing: the before-gate runs next."""
            from retention.accounts import plan
            from retention.policy import load_policy
            from retention.runtime import engines, window_from_context

            context = get_current_context()
            policy = load_policy()
            with engines() as db:
                return plan(db["app"], window_from_context(context, policy), policy, context["run_id"])

        @task
        def batch_refs(planned: dict) -> list[dict]:
            """The batches to fan out (plan id and batch numbers only: no account id leaves the database)."""
            return planned["batches"]

        @task(max_active_tis_per_dagrun=2)
        def anonymise_account_batch(batch: dict) -> dict:
            """Anonymise one batch: re-check under row locks, record its statistics in the warehouse (pending), delete its files, scrub it and mark it done, in one transaction."""
            from retention.accounts import process_batch
            from retention.policy import load_policy
            from retention.runtime import engines, window_from_context

            policy = load_policy()
            with engines(app=True, warehouse=True) as db:
                return process_batch(
                    db["app"], db["warehouse"], window_from_context(get_current_context(), policy), policy,
                    batch["plan_id"], int(batch["batch_no"]),
                )

        @task(trigger_rule="none_failed")
        def finalize_accounts(planned: dict) -> dict:
            """Apply the night's statistics to the warehouse (every done batch at once), write the audit rows per reason, retry stored files that could not be deleted."""
            from retention.accounts import finalize
            from retention.runtime import engines, window_from_context

            context = get_current_context()
            with engines(app=True, warehouse=True) as db:
                return finalize(db["app"], db["warehouse"], window_from_context(context), context["run_id"], planned)

        @task(on_failure_callback=GATE_ALERT)
        def check_accounts_after() -> dict:
            """Gate: anonymised accounts hold nothing personal, the warehouse reconciles with what was removed, no published cell is under k, no warehouse text looks identifying."""
            from retention.quality.gates import check_accounts_after as check
            from retention.runtime import engines, window_from_context

            context = get_current_context()
            with engines(app=True, warehouse=True) as db:
                return check(db["app"], db["warehouse"], window_from_context(context), context["run_id"])

        @task
        def release_closed_months() -> dict:
            """Release, once, each closed month of anonymisations not released yet: fixed tables with OpenDP noise and 95 % error bounds, stored append-only in `published` (a rerun returns the stored release)."""
            from retention.policy import load_policy
            from retention.release import release_closed_months as release
            from retention.runtime import engines, window_from_context

            context = get_current_context()
            policy = load_policy()
            with engines(app=True, warehouse=True) as db:
                return release(db["app"], db["warehouse"], window_from_context(context, policy), policy,
                               context["run_id"])

        @task(on_failure_callback=GATE_ALERT)
        def check_release() -> dict:
            """Gate: no release spent more privacy budget than the policy allows, and no month was released twice or in part."""
            from retention.policy import load_policy
            from retention.quality.gates import check_releases
            from retention.runtime import engines, window_from_context

            context = get_current_context()
            policy = load_policy()
            with engines(app=True, warehouse=True) as db:
                return check_releases(db["app"], db["warehouse"], window_from_context(context, policy), policy,
                                      context["run_id"])

        @task
        def refresh_inactivity_notices() -> dict:
            """List members whose five years of inactivity end within the notice period (retention.inactivity_notices, for the platform's mailer); members active again leave the list."""
            from retention.accounts import refresh_inactivity_notices as refresh
            from retention.policy import load_policy
            from retention.runtime import engines, window_from_context

            policy = load_policy()
            with engines() as db:
                return refresh(db["app"], window_from_context(get_current_context(), policy), policy)

        # The plan only writes the ledger; the gate reads its per-reason counts for the ceiling,
        # and nothing is destroyed before the gate has passed.
        planned = plan_account_batches()
        refs = batch_refs(planned)
        # A mapped task does not take its docstring as doc_md (the UI's Task Documentation was empty).
        done = anonymise_account_batch.override(doc_md=anonymise_account_batch.function.__doc__).expand(batch=refs)
        chain(reconcile_warehouse(), planned, check_accounts_before(), refs)
        after = check_accounts_after()
        chain(done, finalize_accounts(planned), after, refresh_inactivity_notices())
        chain(after, release_closed_months(), check_release())
        # Nothing is planned on a schema that drifted from the data map; the purges, downstream of
        # this group, wait too (docs/datamap.md says why).
        chain(check_app_schema(), planned)

    @task_group
    def connection_logs():
        @task
        def measure_rows_to_keep() -> dict:
            """Count the connection logs and prospects that must survive the purges (the after-gates compare)."""
            from retention.quality.gates import measure_kept
            from retention.runtime import engines, window_from_context

            with engines() as db:
                return measure_kept(db["app"], window_from_context(get_current_context()))

        @task
        def purge_connection_logs() -> dict:
            """Delete connection logs older than one year: drop whole expired partitions, batch-delete the rest."""
            from retention.logs import purge_connection_logs as purge
            from retention.policy import load_policy
            from retention.runtime import engines, window_from_context

            context = get_current_context()
            policy = load_policy()
            with engines() as db:
                return purge(db["app"], window_from_context(context, policy), policy, context["run_id"])

        @task(on_failure_callback=GATE_ALERT)
        def check_connection_logs_after(kept: dict) -> dict:
            """Gate: no connection log before the cutoff remains, and every log at or after it is still there."""
            from retention.quality.gates import check_logs_after
            from retention.runtime import engines, window_from_context

            context = get_current_context()
            with engines() as db:
                return check_logs_after(db["app"], window_from_context(context), context["run_id"],
                                        int(kept["connection_logs"]))

        kept = measure_rows_to_keep()
        chain(kept, purge_connection_logs(), check_connection_logs_after(kept))

    @task_group
    def prospects():
        @task
        def purge_prospects() -> dict:
            """Delete prospects three years after collection or last contact, and objected ones at once."""
            from retention.policy import load_policy
            from retention.prospects import purge_prospects as purge
            from retention.runtime import engines, window_from_context

            context = get_current_context()
            policy = load_policy()
            with engines() as db:
                return purge(db["app"], window_from_context(context, policy), policy, context["run_id"])

        @task(on_failure_callback=GATE_ALERT)
        def check_prospects_after() -> dict:
            """Gate: no prospect past retention or objected remains, and every prospect within retention is still there."""
            from retention.quality.gates import check_prospects_after as check
            from retention.runtime import engines, window_from_context

            context = get_current_context()
            kept = context["ti"].xcom_pull(task_ids="connection_logs.measure_rows_to_keep")
            with engines() as db:
                return check(db["app"], window_from_context(context), context["run_id"], int(kept["prospects"]))

        chain(purge_prospects(), check_prospects_after())

    @task(trigger_rule="all_done")
    def report() -> dict:
        """Write the run's row in `retention.runs` and a readable report (counts only); fail the run if a stage failed."""
        from retention.report import close_run
        from retention.runtime import engines, window_from_context

        context = get_current_context()
        ti = context["ti"]
        stages = {
            "accounts": ti.xcom_pull(task_ids="accounts.finalize_accounts"),
            "connection_logs": ti.xcom_pull(task_ids="connection_logs.purge_connection_logs"),
            "prospects": ti.xcom_pull(task_ids="prospects.purge_prospects"),
            "inactivity_notices": ti.xcom_pull(task_ids="accounts.refresh_inactivity_notices"),
            "releases": ti.xcom_pull(task_ids="accounts.release_closed_months"),
        }
        gates = {
            name: ti.xcom_pull(task_ids=task_id)
            for name, task_id in (
                ("app_schema", "accounts.check_app_schema"),
                ("accounts_before", "accounts.check_accounts_before"),
                ("accounts_after", "accounts.check_accounts_after"),
                ("release_after", "accounts.check_release"),
                ("connection_logs_after", "connection_logs.check_connection_logs_after"),
                ("prospects_after", "prospects.check_prospects_after"),
            )
        }
        with engines() as db:
            return close_run(db["app"], window_from_context(context), context["run_id"], stages, gates)

    chain(prepare(), accounts(), connection_logs(), prospects(), report())


gdpr_retention()
