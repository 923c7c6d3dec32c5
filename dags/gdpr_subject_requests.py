"""
# gdpr_subject_requests

**What it does.** Answers the people who exercise their rights (privacy policy, "Your rights"),
within the legal deadline and with proof. Every 5 minutes it picks up the requests recorded in
`retention.subject_requests` (by the platform, or from this DAG's params) and processes them
set-based, as of the run's instant:

| request | what happens |
|---|---|
| any, identity not verified | nothing (`identity_pending`); the deadline still runs; still unverified after the due date: `refused` with the reason |
| `restriction` / `lift_restriction` (account) | recorded in `retention.restrictions`; the nightly anonymisation skips restricted accounts and its report counts them |
| `erasure` (account) | anonymised at once by the nightly code path (tombstone, statistics, files), counted once in the warehouse; under a legal hold or post-mortem directive: `partially_fulfilled`, kept until its date, then erased; connection logs kept one year (LCEN): `partially_fulfilled` |
| `erasure` / `objection` (prospect) | every prospect row with that e-mail deleted |
| `objection` (account) | `refused`: members' data is processed for the contract and legal obligations, not on legitimate interests (art. 21 does not apply); the reason says how to stop the processing and gives the CNIL route |
| a second open request of the same type and subject | `duplicate` |
| `access`, `portability` (account or prospect; a restriction or hold does not block them) | one encrypted package each (docs/requests.md): access = JSON + CSV per table + summary, portability = JSON without derived values, both with the person's files; deleted after `request_package_retention_days` |

Before acting, the gate `check_request_schema` compares the application schema with the data map
(what the erasure scrubs and the packages read). Each finished request gets a receipt in
`retention.request_receipts` (type, dates, state, reason, counts per table, code and policy
versions, gates passed; never a person). Deadlines (docs/requests.md): one calendar month after
receipt, three when the extension's reason was recorded within the first month;
`check_request_deadlines` alerts the data team (same notifier as the nightly run) once when a
request has 7 days left and every day it is overdue. `request_link_retention_years` after the
answer, the request is unlinked from its person.

**Params** (all optional; a scheduled run takes none). `as_of` (ISO-8601 with a time zone;
default: the run's data interval end). To record a request from the UI: `request_type`,
`account_id` (the member's account number; a prospect's request is inserted into the table by the
platform, so that the e-mail never lands in Airflow's metadata), `received_at` and, once the
identity is proven, `identity_verified_at`.

**Connections.** `app_db`, `stats_warehouse` (as `gdpr_retention`).

## Runbook
- *A task failed*: read its log (counts only). Clear it: every step resumes from the tables (an
  erasure batch is redone from the ledger; nothing is counted twice). A request whose processing
  failed 5 times is set to `failed` with the error's class: fix the cause, then set it back to
  `in_progress` with `attempts = 0`.
- *`build_requested_packages` failed, naming `RETENTION_PACKAGE_KEY`*: the deployment has no
  package key (`make env` or `.env` writes one). No package is ever written unencrypted; the steps
  after it (restrictions, objections, erasures) wait for it, so that an erasure never removes what a
  pending access request must return.
- *`check_request_schema` failed*: the application schema drifted from the data map; no request
  was acted on. Map the change (plugins/retention/datamap.yaml), then clear the task.
- *Deadline alert*: the DPO answers, or records `extension_reason` and `extended_at` (counts only
  within the first month). The Retention page lists the open requests with their days left.
- Owner: data team (#data-retention), with the DPO.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import (
    CronTriggerTimetable,
    ExceptionRetryPolicy,
    Param,
    RetryAction,
    RetryRule,
    TriggerRule,
    chain,
    dag,
    get_current_context,
    task,
)
from retention.alerts import DAG_FAILED, GATE_FAILED, RetentionAlertNotifier

TRANSIENT_ERRORS = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception=["sqlalchemy.exc.OperationalError", "psycopg.OperationalError"],
            action=RetryAction.RETRY,
            reason="database unreachable, lock timeout or serialization failure",
        ),
    ],
    default=RetryAction.FAIL,
)


@dag(
    dag_id="gdpr_subject_requests",
    schedule=CronTriggerTimetable("*/5 * * * *", timezone="Europe/Paris"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["gdpr", "retention"],
    on_failure_callback=RetentionAlertNotifier(event=DAG_FAILED),
    params={
        "as_of": Param(None, type=["null", "string"],
                       description="ISO-8601 instant with time zone; default: the run's data interval end"),
        "request_type": Param(None, type=["null", "string"],
                              enum=[None, "access", "portability", "erasure", "restriction", "lift_restriction",
                                    "objection"],
                              description="Record a new request about an account (leave empty for a normal run)"),
        "account_id": Param(None, type=["null", "integer"], description="The member's account number"),
        "received_at": Param(None, type=["null", "string"],
                             description="When the request was received (ISO-8601 with time zone): the deadline runs from it"),
        "identity_verified_at": Param(None, type=["null", "string"],
                                      description="When the identity was proven (empty: nothing is done until it is)"),
    },
    default_args={
        "owner": "data-team",
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "retry_policy": TRANSIENT_ERRORS,
        "pool": "retention_app_db",
    },
)
def gdpr_subject_requests():
    @task.short_circuit
    def pick_up_requests() -> bool:
        """Record the request given in the params, if any, then count the actionable requests (one cheap query; migrates the owned schema only when it is missing). Nothing to do: every other task is skipped."""
        from retention.policy import load_policy
        from retention.requests.process import count_actionable, ensure_app_schema, intake, triggered_by_hand
        from retention.runtime import engines, window_from_context

        context = get_current_context()
        policy = load_policy()
        with engines() as db:
            ensure_app_schema(db["app"])
            intake(db["app"], context["params"], context["run_id"],
                   triggered_by_hand=triggered_by_hand(context))
            return count_actionable(db["app"], window_from_context(context, policy), policy) > 0

    @task(on_failure_callback=RetentionAlertNotifier(event=GATE_FAILED))
    def check_request_schema() -> dict:
        """Gate: the application schema matches the data map (the erasure scrubs and the packages read what the map lists). Fails, naming what drifted (never a value), before any request is acted on; the deadline check still runs."""
        from retention.quality.gates import check_app_schema
        from retention.runtime import engines, window_from_context

        context = get_current_context()
        with engines() as db:
            return check_app_schema(db["app"], window_from_context(context), context["run_id"], gate="requests_before")

    @task
    def advance_request_states() -> dict:
        """Close duplicates; set requests whose identity is not verified to identity_pending (nothing is done, the clock runs) and verified ones to in_progress; refuse those still unverified after their due date; set requests that failed 5 times to failed; unlink answered requests from their person after the policy's period (request_link_retention_years)."""
        from retention.policy import load_policy
        from retention.requests.process import advance_states
        from retention.runtime import engines, window_from_context

        context = get_current_context()
        policy = load_policy()
        with engines() as db:
            return advance_states(db["app"], window_from_context(context, policy), policy, context["run_id"])

    @task
    def record_restrictions() -> dict:
        """Record restrictions (retention.restrictions, honoured by the nightly anonymisation) and lift them, under row locks on the accounts."""
        from retention.policy import load_policy
        from retention.requests.process import record_restrictions as record
        from retention.runtime import engines, window_from_context

        context = get_current_context()
        policy = load_policy()
        with engines() as db:
            return record(db["app"], window_from_context(context, policy), policy, context["run_id"])

    @task
    def answer_account_objections() -> dict:
        """Answer members' objections: refused with the legal reason (the account is processed for the contract and legal obligations, not on legitimate interests) and the CNIL complaint route; nothing changes."""
        from retention.policy import load_policy
        from retention.requests.process import refuse_account_objections
        from retention.runtime import engines, window_from_context

        context = get_current_context()
        policy = load_policy()
        with engines() as db:
            return refuse_account_objections(db["app"], window_from_context(context, policy), policy,
                                             context["run_id"])

    @task
    def erase_requested_prospects() -> dict:
        """Delete the prospects of erasure and objection requests (every row with the request's e-mail)."""
        from retention.policy import load_policy
        from retention.requests.process import erase_prospects
        from retention.runtime import engines, window_from_context

        context = get_current_context()
        policy = load_policy()
        with engines() as db:
            return erase_prospects(db["app"], window_from_context(context, policy), policy, context["run_id"])

    @task
    def erase_requested_accounts() -> dict:
        """Anonymise the accounts of erasure requests by the nightly code path (one ledger batch each: counted once in the warehouse), then settle each request: fulfilled, partially fulfilled (hold, directive, connection logs) or refused (restricted)."""
        from retention.policy import load_policy
        from retention.requests.process import erase_accounts
        from retention.runtime import engines, window_from_context

        context = get_current_context()
        policy = load_policy()
        with engines(app=True, warehouse=True) as db:
            return erase_accounts(db["app"], db["warehouse"], window_from_context(context, policy), policy,
                                  context["run_id"])

    @task
    def build_requested_packages() -> dict:
        """Write one encrypted package per access or portability request in progress (every row and file the data map attributes to the person; RETENTION_PACKAGE_KEY required), then set it fulfilled with its receipt; logs seconds per package."""
        from retention.policy import load_policy
        from retention.requests.package import build_packages
        from retention.runtime import engines, window_from_context

        context = get_current_context()
        policy = load_policy()
        with engines() as db:
            return build_packages(db["app"], window_from_context(context, policy), policy, context["run_id"])

    @task
    def delete_expired_packages() -> dict:
        """Delete the packages past request_package_retention_days (a file already gone is fine) and record when."""
        from retention.requests.package import delete_expired
        from retention.runtime import engines, window_from_context

        with engines() as db:
            return delete_expired(db["app"], window_from_context(get_current_context()))

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def check_request_deadlines() -> dict:
        """Count the unanswered requests due within 7 days and overdue (one month after receipt, three if extended in time) and alert them (once when 7 days are left, once a day while overdue). After the states moved on (unproven requests refused at their due date), beside the other steps, and even when the gate or a step failed: nothing silences a deadline."""
        from retention.requests.process import check_deadlines
        from retention.runtime import engines, window_from_context

        context = get_current_context()
        with engines() as db:
            return check_deadlines(db["app"], window_from_context(context), context["run_id"], context["dag"].dag_id)

    picked_up = pick_up_requests()
    advanced = advance_request_states()
    # Packages before the erasures: an access and an erasure request landing in the same run give
    # the person their data, then erase it.
    chain(picked_up, check_request_schema(), advanced, build_requested_packages(), record_restrictions(),
          answer_account_objections(), erase_requested_prospects(), erase_requested_accounts())
    # Beside the processing steps: a failing step never keeps a package past its period.
    chain(picked_up, delete_expired_packages())
    # A leaf beside the last step, so that a failed step still fails the run (Airflow judges a run by its leaves).
    chain(advanced, check_request_deadlines())


gdpr_subject_requests()
