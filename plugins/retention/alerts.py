"""Alerts to the data team: a failed run, a failed gate, a run not finished by 06:00 Europe/Paris.

One Airflow notifier (:class:`RetentionAlertNotifier`, a ``BaseNotifier``) builds one message and
sends it through the channel chosen by configuration, read when the alert fires (never at parse
time):

* ``RETENTION_ALERT_CHANNEL`` = ``email`` (default) or ``webhook``.
* e-mail: through the SMTP provider's hook and connection ``RETENTION_ALERT_SMTP_CONN_ID``
  (default ``smtp_default``), to ``RETENTION_ALERT_EMAILS`` (comma-separated; else the notifier's
  ``to``), from ``RETENTION_ALERT_FROM`` (else the connection's ``from_email``).
* webhook: a JSON ``POST`` to ``RETENTION_ALERT_WEBHOOK_URL``, or to the URL held by the Airflow
  connection ``RETENTION_ALERT_WEBHOOK_CONN_ID`` (its password, if any, is sent as a bearer token).

What a message carries: dag_id, run_id, as_of, the event, the failed task or gate, counts (per rule
from ``retention.rule_audit``, failed checks from ``retention.quality_results``, the run's status
from ``retention.runs``) and links to the run and task in the Airflow UI (``[api] base_url``).
Never personal data: only ids of runs, tasks, gates and checks, and numbers. An exception's message
is kept only when it is one of ours (``GateFailed``, or a ``RuntimeError`` raised by the
``retention`` package, whose texts are counts); anything else (a driver or SQL error may quote row
values) is reduced to its class name.

The same notifier runs for ``on_failure_callback`` (task callbacks in the worker, DAG callbacks in
the dag processor) and in the watchdog's task for the deadline (:mod:`retention.watchdog`).
"""

from __future__ import annotations

import html
import json
import logging
import os
from datetime import datetime
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)

DAG_FAILED = "run_failed"
GATE_FAILED = "gate_failed"
DEADLINE_MISSED = "deadline_missed"
REQUEST_DEADLINE = "request_deadline"
EVENTS = (DAG_FAILED, GATE_FAILED, DEADLINE_MISSED, REQUEST_DEADLINE)

_TITLES = {
    DAG_FAILED: "run failed",
    GATE_FAILED: "quality gate failed",
    DEADLINE_MISSED: "run not finished by its deadline (06:00 Europe/Paris)",
    REQUEST_DEADLINE: "data-subject requests near or past their legal deadline",
}
_FINISHED_STATES = ("success", "failed")
_OWN_ERROR_TYPES = {("retention.quality.gates", "GateFailed"), ("builtins", "RuntimeError")}
_WEBHOOK_TIMEOUT_S = 10
_DB_TIMEOUT_S = 5


class RetentionAlertNotifier(BaseNotifier):
    """Notify the data team of a failed run, a failed gate or a missed deadline (counts and links only)."""

    template_fields = ()

    def __init__(self, event: str = DAG_FAILED, *, to: str | list[str] | None = None,
                 channel: str | None = None, context: dict[str, Any] | None = None) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown alert event {event!r}; expected one of {EVENTS}")
        super().__init__(context=context)
        self.event = event
        self.to = to
        self.channel = channel

    # -- Airflow entry points ---------------------------------------------------------------
    def render_template_fields(self, context, jinja_env=None) -> None:
        """Nothing is templated (``template_fields`` is empty): skip Jinja, whose environment is not
        always available (``dag.test()`` hands DAG callbacks the scheduler's serialized DAG)."""

    def notify(self, context: dict[str, Any]) -> None:
        message = build_message(self.event, context)
        if message is None:
            return
        self._send(message)

    # -- channels -----------------------------------------------------------------------------
    def _channel(self) -> str:
        channel = (os.environ.get("RETENTION_ALERT_CHANNEL") or self.channel or "email").strip().lower()
        if channel not in ("email", "webhook"):
            raise ValueError(f"RETENTION_ALERT_CHANNEL must be 'email' or 'webhook', not {channel!r}")
        return channel

    def _send(self, message: dict[str, Any]) -> None:
        channel = self._channel()
        if channel == "webhook":
            post_webhook(message)
        else:
            self._send_email(message)
        record_sent(message, channel)

    def _recipients(self) -> list[str]:
        configured = os.environ.get("RETENTION_ALERT_EMAILS") or self.to or ""
        if isinstance(configured, str):
            configured = configured.replace(";", ",").split(",")
        recipients = [r.strip() for r in configured if r and r.strip()]
        if not recipients:
            raise ValueError("no alert recipients: set RETENTION_ALERT_EMAILS (comma-separated)")
        return recipients

    def _smtp_hook(self):
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        return SmtpHook(smtp_conn_id=os.environ.get("RETENTION_ALERT_SMTP_CONN_ID") or "smtp_default")

    def _email_args(self, hook, message: dict[str, Any]) -> dict[str, Any]:
        sender = os.environ.get("RETENTION_ALERT_FROM") or hook.from_email or "gdpr-retention@localhost"
        return {"to": self._recipients(), "from_email": sender, "subject": message["subject"],
                "html_content": render_html(message), "mime_subtype": "alternative",
                "custom_headers": {"X-Retention-Event": message["event"]}}

    def _send_email(self, message: dict[str, Any]) -> None:
        self._recipients()  # refuse before connecting when nobody is configured
        with self._smtp_hook() as hook:
            hook.send_email_smtp(**self._email_args(hook, message))
        log.info("alert %s sent by e-mail for run %s", message["event"], message["run_id"])

# -- the message ------------------------------------------------------------------------------

def build_message(event: str, context: dict[str, Any]) -> dict[str, Any] | None:
    """The alert as plain data (ids, counts, links). None when there is nothing to say."""
    if event == REQUEST_DEADLINE:
        return build_request_message(context)
    run = _run_facts(context)
    if event == DEADLINE_MISSED and run.get("state") in _FINISHED_STATES:
        # A run that failed before its deadline was already reported by its failure alert, and a
        # successful run's deadline is pruned by Airflow; the deadline only speaks of unfinished runs.
        log.info("deadline passed for run %s, already %s: no deadline alert", run["run_id"], run["state"])
        return None
    ti = context.get("ti")
    task_id = getattr(ti, "task_id", None)
    failed_task = task_id if event == GATE_FAILED else None
    counts = read_counts(run["run_id"]) if run["run_id"] else {"unavailable": "no run id"}
    message: dict[str, Any] = {
        "event": event,
        "title": _TITLES[event],
        "dag_id": run["dag_id"],
        "run_id": run["run_id"],
        "as_of": run["as_of"],
        "logical_date": run["logical_date"],
        "failed_task": failed_task,
        "gate": _gate_name(failed_task),
        # A DAG callback is handed the task that failed last (usually `report`, which fails the run).
        "last_failed_task": task_id if event == DAG_FAILED else None,
        "reason": _safe_reason(context.get("reason")),
        "error": describe_error(context.get("exception")),
        "deadline": _iso((context.get("deadline") or {}).get("deadline_time")),
        "counts": counts,
        "links": _links(run["dag_id"], run["run_id"], failed_task or (task_id if event == DAG_FAILED else None)),
    }
    what = message["gate"] or failed_task
    subject = f"[{run['dag_id']}] {message['title']}"
    if what and event != DAG_FAILED:
        subject += f": {what}"
    message["subject"] = subject + (f" (run {run['run_id']})" if run["run_id"] else " (no run recorded for the night)")
    return message


def build_request_message(context: dict[str, Any]) -> dict[str, Any] | None:
    """Requests due within 7 days or overdue: request ids (random), types, states and dates, never a person."""
    requests = [{"request_id": str(r["request_id"]), "request_type": str(r["request_type"]), "state": str(r["state"]),
                 "due_on": _iso(r["due_on"]), "days_left": int(r["days_left"]), "extended": bool(r["extended"]),
                 "level": str(r["level"])} for r in context.get("requests") or []]
    if not requests:
        return None
    dag_id, run_id = str(context.get("dag_id") or "gdpr_subject_requests"), context.get("run_id")
    overdue = sum(r["level"] == "overdue" for r in requests)
    subject = f"[{dag_id}] {_TITLES[REQUEST_DEADLINE]}: {overdue} overdue, {len(requests) - overdue} due within 7 days"
    return {"event": REQUEST_DEADLINE, "title": _TITLES[REQUEST_DEADLINE], "subject": subject, "dag_id": dag_id,
            "run_id": str(run_id) if run_id else None, "as_of": _iso(context.get("as_of")), "requests": requests,
            "counts": {"overdue": overdue, "due_soon": len(requests) - overdue},
            "links": _links(dag_id, str(run_id) if run_id else None, None)}


def _run_facts(context: dict[str, Any]) -> dict[str, Any]:
    """dag_id, run_id, as_of, logical date and state from any of the three contexts Airflow passes."""
    dag_run = context.get("dag_run")
    if isinstance(dag_run, dict):  # the deadline's context: the run as the REST API shows it
        get = dag_run.get
    else:
        def get(key, default=None):
            return getattr(dag_run, key, default) if dag_run is not None else default
    dag = context.get("dag")
    dag_id = get("dag_id") or getattr(dag, "dag_id", None) or "gdpr_retention"
    run_id = context.get("run_id") or get("dag_run_id") or get("run_id")
    params = context.get("params") or {}
    conf = get("conf") or {}
    as_of = params.get("as_of") or (conf.get("as_of") if isinstance(conf, dict) else None)
    as_of = as_of or context.get("data_interval_end") or get("data_interval_end") or context.get("logical_date") \
        or get("logical_date")
    state = get("state")
    return {"dag_id": str(dag_id), "run_id": str(run_id) if run_id else None, "as_of": _iso(as_of),
            "logical_date": _iso(context.get("logical_date") or get("logical_date")),
            "state": str(getattr(state, "value", state)) if state is not None else None}


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _gate_name(task_id: str | None) -> str | None:
    """Gates are the tasks named check_* (``accounts.check_accounts_before`` -> that id)."""
    if task_id and task_id.rsplit(".", 1)[-1].startswith("check_"):
        return task_id
    return None


def _safe_reason(reason: Any) -> str | None:
    """Airflow's reason for a DAG callback is a short code (``task_failure``); keep only such codes."""
    if isinstance(reason, str) and reason.replace("_", "").isalnum() and len(reason) <= 64:
        return reason
    return None


def describe_error(exc: Any) -> str | None:
    """The exception's class, plus its message only when the message is ours (counts, ids)."""
    if exc is None:
        return None
    if not isinstance(exc, BaseException):
        return "error (details in the task log)"
    kind = (type(exc).__module__, type(exc).__qualname__)
    if kind in _OWN_ERROR_TYPES and _raised_by_retention(exc):
        return f"{type(exc).__name__}: {exc}"
    return f"{type(exc).__name__} (message withheld: it may quote row values; see the task log)"


def _raised_by_retention(exc: BaseException) -> bool:
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return str(tb.tb_frame.f_globals.get("__name__", "")).startswith("retention.")


def _links(dag_id: str, run_id: str | None, task_id: str | None) -> dict[str, str]:
    from airflow.sdk.configuration import conf

    base = (conf.get("api", "base_url", fallback=None) or "http://localhost:8080").rstrip("/")
    if not run_id:
        return {"dag": f"{base}/dags/{quote(dag_id, safe='')}"}
    run = f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
    links = {"run": run}
    if task_id:
        links["task"] = f"{run}/tasks/{quote(task_id, safe='')}"
    return links


def record_sent(message: dict[str, Any], channel: str) -> None:
    """Write the sent alert to ``retention.alerts_sent`` (the Retention page's year of proof counts it).
    The alert is already out: a database that cannot take the row is logged, never raised."""
    from airflow.exceptions import AirflowNotFoundException
    from sqlalchemy.exc import SQLAlchemyError

    from retention.db import APP_DB_CONN_ID, make_engine, run_sql, url_from_connection

    try:
        url = url_from_connection(APP_DB_CONN_ID)
        url += ("&" if "?" in url else "?") + f"connect_timeout={_DB_TIMEOUT_S}"
        engine = make_engine(url, application_name="gdpr_retention:alerts")
        try:
            with engine.begin() as conn:
                run_sql(conn, "retention/insert_alert_sent", event=message["event"], run_id=message.get("run_id"),
                        channel=channel)
        finally:
            engine.dispose()
    except (SQLAlchemyError, AirflowNotFoundException) as exc:
        log.warning("alert %s sent but not recorded in retention.alerts_sent: %s", message["event"], type(exc).__name__)


def read_counts(run_id: str) -> dict[str, Any]:
    """What the run recorded so far: counts per rule, failed checks, the run's status. Never raises."""
    try:
        return _read_counts(run_id)
    except Exception as exc:  # an alert must go out even when the database is the problem
        log.warning("alert without counts: %s", type(exc).__name__)
        return {"unavailable": type(exc).__name__}


def _read_counts(run_id: str) -> dict[str, Any]:
    from sqlalchemy import text

    from retention.db import APP_DB_CONN_ID, make_engine, url_from_connection

    url = url_from_connection(APP_DB_CONN_ID)
    url += ("&" if "?" in url else "?") + f"connect_timeout={_DB_TIMEOUT_S}"
    engine = make_engine(url, application_name="gdpr_retention:alerts")
    try:
        with engine.connect() as conn:
            conn.execute(text("select set_config('statement_timeout', '10s', false)"))
            row = conn.execute(text("select status, report from retention.runs where run_id = :r"),
                               {"r": run_id}).one_or_none()
            rules = {
                rule: {"rows": int(rows), "partitions_dropped": int(parts)}
                for rule, rows, parts in conn.execute(
                    text("select rule, rows_affected, partitions_dropped from retention.rule_audit "
                         "where run_id = :r order by rule"), {"r": run_id})
            }
            failed_checks = [
                {"gate": gate, "check": check, "observed": _num(observed), "expected": _num(expected)}
                for gate, check, observed, expected in conn.execute(
                    text("select gate, check_name, observed, expected from retention.quality_results "
                         "where run_id = :r and not success order by gate, check_name"), {"r": run_id})
            ]
            passed = conn.execute(text("select count(*) from retention.quality_results "
                                       "where run_id = :r and success"), {"r": run_id}).scalar_one()
    finally:
        engine.dispose()
    status, report = row if row is not None else (None, None)
    return {"run_status": status, "incomplete": _incomplete(report), "rules": rules,
            "failed_checks": failed_checks, "checks_passed": int(passed)}


def _incomplete(report: Any) -> list[str]:
    """Stages and gates the run's report recorded as failed or not run (names only)."""
    if not isinstance(report, dict):
        return []
    names = sorted(str(k) for k, v in (report.get("stages") or {}).items() if v is None)
    return names + sorted(f"gate {k}" for k, v in (report.get("gates") or {}).items() if v is None)


def _num(value: Any) -> int | float | None:
    if value is None:
        return None
    number = float(value)
    return int(number) if number.is_integer() else number


# -- rendering and the webhook ----------------------------------------------------------------

def render_text(message: dict[str, Any]) -> str:
    lines = [f"GDPR retention: {message['title']}", ""]
    for key in ("dag_id", "run_id", "as_of", "logical_date", "failed_task", "gate", "last_failed_task", "reason",
                "error", "deadline"):
        if message.get(key):
            lines.append(f"{key:<16} {message[key]}")
    counts = message.get("counts") or {}
    lines.append("")
    if message.get("requests") is not None:
        lines.append("Answer them, or record an extension's reason within the first month (docs/requests.md).")
        for r in message["requests"]:
            when = f"{-r['days_left']} day(s) overdue" if r["days_left"] < 0 else f"{r['days_left']} day(s) left"
            lines.append(f"  request {r['request_id']}  {r['request_type']:<16} {r['state']:<16} due {r['due_on']}"
                         f"{' (extended)' if r['extended'] else ''}: {when}")
    elif counts.get("unavailable"):
        lines.append(f"counts: unavailable ({counts['unavailable']})")
    else:
        lines.append(f"run status recorded: {counts.get('run_status') or 'not recorded'}")
        if counts.get("incomplete"):
            lines.append(f"did not complete: {', '.join(counts['incomplete'])}")
        lines.append(f"quality checks passed: {counts.get('checks_passed', 0)}")
        for check in counts.get("failed_checks", []):
            lines.append(f"FAILED check {check['gate']}.{check['check']}: observed {check['observed']}, "
                         f"expected {check['expected']}")
        rules = counts.get("rules") or {}
        if rules:
            lines.append("rows per rule so far:")
            for rule, c in rules.items():
                lines.append(f"  {rule:<32} {c['rows']:>12,} rows, {c['partitions_dropped']} partition(s)")
        else:
            lines.append("rows per rule so far: none recorded")
    lines.append("")
    for name, url in (message.get("links") or {}).items():
        lines.append(f"{name} in Airflow: {url}")
    lines.append("")
    lines.append("Counts and ids only; details are in the task logs. Runbook: the DAG's documentation.")
    return "\n".join(lines)


def render_html(message: dict[str, Any]) -> str:
    links = "".join(f'<p><a href="{html.escape(url)}">{html.escape(name)} in Airflow</a></p>'
                    for name, url in (message.get("links") or {}).items())
    return f"<html><body><pre>{html.escape(render_text(message))}</pre>{links}</body></html>"


def webhook_target() -> tuple[str, dict[str, str]]:
    """The webhook URL and headers: RETENTION_ALERT_WEBHOOK_URL, else an Airflow connection."""
    url = os.environ.get("RETENTION_ALERT_WEBHOOK_URL")
    headers = {"Content-Type": "application/json"}
    if url:
        return url, headers
    conn_id = os.environ.get("RETENTION_ALERT_WEBHOOK_CONN_ID")
    if not conn_id:
        raise ValueError("webhook channel: set RETENTION_ALERT_WEBHOOK_URL or RETENTION_ALERT_WEBHOOK_CONN_ID")
    from airflow.sdk import Connection

    conn = Connection.get(conn_id)
    host = conn.host or ""
    if "://" in host:
        url = host
    else:
        scheme = conn.schema or ("http" if conn.conn_type == "http" else "https")
        url = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
    endpoint = (conn.extra_dejson or {}).get("endpoint")
    if endpoint:
        url = url.rstrip("/") + "/" + str(endpoint).lstrip("/")
    if conn.password:
        headers["Authorization"] = f"Bearer {conn.password}"
    return url, headers


def post_webhook(message: dict[str, Any]) -> None:
    import urllib.request

    url, headers = webhook_target()
    body = json.dumps({**message, "text": render_text(message)}, default=str).encode("utf-8")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=_WEBHOOK_TIMEOUT_S) as response:
        if response.status >= 300:
            raise RuntimeError(f"webhook answered HTTP {response.status}")
    log.info("alert %s posted to the webhook for run %s", message["event"], message["run_id"])
