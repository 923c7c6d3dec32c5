"""Figures of the Retention page, read in one read-only snapshot of the application database.

Everything comes from the pipeline's audit tables, except the backlog: COUNT(*) of what is past
retention *right now*. The backlog is the one place of the project that uses the wall clock (it
answers "what is overdue now?"); its cutoffs come from :meth:`RunWindow.build` at that instant, so they
follow the same rules as a nightly run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from retention.policy import Policy, load_policy
from retention.sqlfiles import load_sql
from retention.window import RunWindow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

REASONS = ("deceased", "closed", "inactive")
CHART_NIGHTS = 90  # the chart: one bar per night
TABLE_RUNS = 10  # the table of last runs
PROOF_MONTHS = 12  # the year of proof
# A nightly schedule leaves at most a day (plus the run itself) between now and the last as_of; beyond
# this the history is a demo, a backfill, or a schedule that stopped (which the watchdog alerts on).
STALE_AFTER = timedelta(hours=36)
# Gates a complete run records, in pipeline order (retention.quality.gates); a missing one did not run.
EXPECTED_GATES = ("accounts_before", "accounts_after", "warehouse_after", "connection_logs_after", "prospects_after")
# The Airflow task whose log tells a gate's story (two gates share the accounts' after-check task).
GATE_TASKS = {
    "accounts_before": "accounts.check_accounts_before",
    "accounts_after": "accounts.check_accounts_after",
    "warehouse_after": "accounts.check_accounts_after",
    "connection_logs_after": "connection_logs.check_connection_logs_after",
    "prospects_after": "prospects.check_prospects_after",
    "release_after": "accounts.check_release",
}
DAG_ID = "gdpr_retention"
ALL_IDS = {"id_from": -(2**63), "id_to": 2**63 - 1}
STATEMENT_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class GateOutcome:
    gate: str
    passed: bool | None  # None: no result recorded (the gate did not run)
    checks: int = 0
    failed: int = 0
    failed_checks: str = ""
    docs_href: str | None = None  # link (relative to the page) to the gate's Data Docs
    docs_missing: bool = False  # Data Docs were written, and are no longer on disk (retention, another host)


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    as_of: datetime
    status: str
    started_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    cutoffs: dict[str, str]
    anonymised: dict[str, int]
    logs_purged: int
    partitions_dropped: int
    prospects_purged: int
    policy: dict[str, Any] = field(default_factory=dict)
    gates: tuple[GateOutcome, ...] = ()
    gates_failed: int = 0  # gates with a failed check, counted in SQL for every run of the year
    gates_recorded: int = 0

    @property
    def anonymised_total(self) -> int:
        return sum(self.anonymised.values())

    @property
    def gates_passed(self) -> bool | None:
        """True if every expected gate passed, False if one failed or did not run, None if none ran."""
        if self.gates:
            if all(g.passed is None for g in self.gates):
                return None
            return all(g.passed for g in self.gates)
        if not self.gates_recorded:
            return None
        return self.gates_failed == 0 and self.gates_recorded >= len(EXPECTED_GATES)

    @property
    def deadline(self) -> datetime:
        return deadline_after(self.as_of)

    @property
    def replayed(self) -> bool:
        """Started after its own deadline: a backfill, a rerun or a demo, judged by its duration."""
        return self.started_at > self.deadline

    def deadline_kept(self, now: datetime) -> bool | None:
        """Finished by 06:00 Europe/Paris after its as_of (None: still running, deadline not reached).

        A run started after that deadline (a backfill or the demo replaying past nights) is judged by
        its duration against the time a scheduled night has, never by the wall clock."""
        if self.replayed:
            if self.duration_s is None:
                return None
            return self.duration_s <= (self.deadline - self.as_of).total_seconds()
        if self.finished_at is None:
            return None if now <= self.deadline else False
        return self.finished_at <= self.deadline


@dataclass(frozen=True)
class Backlog:
    as_of: datetime
    cutoffs: dict[str, str]
    accounts: dict[str, int]
    connection_logs: int
    prospects: int
    files_pending: int

    @property
    def items(self) -> list[tuple[str, str, int]]:
        """(key, label, count) of every backlog figure; each should be zero after a good night."""
        return [
            *[(f"accounts_{reason}", f"Accounts eligible now ({reason}), not yet anonymised", self.accounts[reason])
              for reason in REASONS],
            ("connection_logs", "Connection logs past retention", self.connection_logs),
            ("prospects", "Prospects past retention or objected", self.prospects),
            ("files_pending", "Stored documents of anonymised accounts awaiting deletion", self.files_pending),
        ]

    @property
    def clear(self) -> bool:
        return all(count == 0 for _, _, count in self.items)


@dataclass(frozen=True)
class Notices:
    """Pending inactivity notices (counts and dates, never an account)."""

    on: date
    due: int = 0
    next_7_days: int = 0
    next_30_days: int = 0
    listed: int = 0
    first_anonymisation_on: date | None = None
    listed_at: datetime | None = None


@dataclass(frozen=True)
class OpenRequest:
    """An unanswered data-subject request: random id, type, state and dates, never the person."""

    request_id: str
    request_type: str
    subject_kind: str | None  # account, prospect; None once unlinked
    state: str
    received_on: date
    identity_verified: bool
    due_on: date
    extended: bool
    days_left: int

    @property
    def level(self) -> str:
        """overdue, due_soon (within the alert window) or ok: what the row's colour says."""
        from retention.requests.deadlines import ALERT_DAYS_BEFORE

        if self.days_left < 0:
            return "overdue"
        return "due_soon" if self.days_left <= ALERT_DAYS_BEFORE else "ok"


@dataclass(frozen=True)
class Requests:
    """Data-subject requests: the unanswered ones (most urgent first) and the year's answers per state."""

    open: tuple[OpenRequest, ...] = ()
    open_total: int = 0
    answered: dict[str, int] = field(default_factory=dict)
    answered_late: int = 0
    restricted: int = 0


@dataclass(frozen=True)
class MonthProof:
    month: date  # first day of the month (UTC) of the runs' as_of
    nights: int
    runs: int
    runs_failed: int
    anonymised: dict[str, int]
    logs_purged: int
    prospects_purged: int
    gates_failed: int
    late: int  # runs that did not finish by their 06:00 deadline
    alerts_sent: int = 0  # recorded by the notifier once the channel accepted them (retention.alerts_sent)

    @property
    def alerts(self) -> int:
        """Alerts the pipeline raises for these facts: one per failed run (its failure alert), failed
        gate (the gate's alert) and late run (the watchdog's). Derived from the audit tables: the
        alerts' delivery itself is in the notifier's task logs, not recorded here."""
        return self.runs_failed + self.gates_failed + self.late


@dataclass(frozen=True)
class Release:
    """One month released to analysts, as its run reported it (privacy spent, size; no value)."""

    month: date
    rho: float
    epsilon: float | None
    delta: float | None
    tables: int
    cells: int
    run_id: str


@dataclass(frozen=True)
class PageData:
    runs: list[RunSummary]  # newest started first: the year of proof and the last TABLE_RUNS started
    backlog: Backlog  # measured at generated_at
    policy: Policy
    generated_at: datetime
    notices: Notices | None = None
    backlog_at_last_run: Backlog | None = None  # measured at the last as_of, when that is stale
    alerts_by_month: dict[date, int] = field(default_factory=dict)
    # The data map as the record of processing (retention.datamap.DataMap.rows()): from the file, no query.
    datamap_rows: list[dict[str, Any]] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)  # the year's monthly releases, oldest first
    requests: Requests | None = None  # None before the requests' tables exist

    @property
    def recent_runs(self) -> list[RunSummary]:
        return self.runs[:TABLE_RUNS]

    @property
    def nights(self) -> list[RunSummary]:
        """One run per night (the last started for each as_of day, UTC), newest night first."""
        return nights_of(self.runs)

    @property
    def chart_nights(self) -> list[RunSummary]:
        return self.nights[:CHART_NIGHTS]

    @property
    def last_as_of(self) -> datetime | None:
        return max((r.as_of for r in self.runs), default=None)

    @property
    def stale(self) -> bool:
        last = self.last_as_of
        return last is not None and self.generated_at - last > STALE_AFTER

    @property
    def months(self) -> list[MonthProof]:
        return proof_by_month(self.runs, self.generated_at, self.alerts_by_month)


# --------------------------------------------------------------------------------------------------
# Pure helpers (unit-tested)
# --------------------------------------------------------------------------------------------------


def docs_href(data_docs: str | None, root: Path) -> str | None:
    """The page-relative link to a Data Docs index, or None if it is not a file under ``root``.

    Only files under the served root get a link: a path stored elsewhere (another host's home, an
    older layout) is shown as text by the page rather than served.
    """
    if not data_docs:
        return None
    try:
        relative = Path(data_docs).resolve().relative_to(root.resolve())
    except ValueError:
        return None
    return "data-docs/" + quote(relative.as_posix())


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    return str(value)


def run_cutoffs(row: dict[str, Any]) -> dict[str, str]:
    """The run's cutoffs: from its report (complete), else from its audit rows (a run still going)."""
    cutoffs = {k: _iso(v) for k, v in (row.get("report_cutoffs") or {}).items()}
    fallback = {
        "deceased_on_or_before": row.get("as_of"),
        "closed_on_or_before": row.get("closed_cutoff"),
        "inactive_before": row.get("inactive_cutoff"),
        "connection_logs_before": row.get("logs_cutoff"),
        "prospects_before": row.get("prospects_cutoff"),
    }
    for key, value in fallback.items():
        if key not in cutoffs and value is not None:
            cutoffs[key] = _iso(value)
    return cutoffs


def gate_outcomes(rows: list[dict[str, Any]], root: Path) -> tuple[GateOutcome, ...]:
    """Every expected gate (not run if it has no result), then any other gate recorded."""
    by_gate = {row["gate"]: row for row in rows}
    names = [*EXPECTED_GATES, *sorted(set(by_gate) - set(EXPECTED_GATES))]
    outcomes = []
    for name in names:
        row = by_gate.get(name)
        if row is None:
            outcomes.append(GateOutcome(gate=name, passed=None))
            continue
        href = docs_href(row.get("data_docs"), root)
        missing = bool(row.get("data_docs")) and (href is None or not Path(row["data_docs"]).is_file())
        outcomes.append(GateOutcome(
            gate=name, passed=bool(row["passed"]), checks=int(row["checks"]), failed=int(row["failed"]),
            failed_checks=row.get("failed_checks") or "", docs_href=None if missing else href, docs_missing=missing,
        ))
    return tuple(outcomes)


def deadline_after(as_of: datetime) -> datetime:
    """The 06:00 Europe/Paris deadline of the night whose as_of is given: the first 06:00 at or after it
    (the watchdog judges a night at 06:00 of the day its as_of falls in, :mod:`retention.watchdog`)."""
    from retention.watchdog import DEADLINE_TZ

    local = as_of.astimezone(DEADLINE_TZ)
    deadline = datetime.combine(local.date(), time(6, 0), tzinfo=DEADLINE_TZ)
    if local > deadline:
        deadline = datetime.combine(local.date() + timedelta(days=1), time(6, 0), tzinfo=DEADLINE_TZ)
    return deadline


def nights_of(runs: list[RunSummary]) -> list[RunSummary]:
    """One run per night: the last started run of each as_of day (UTC), newest night first."""
    by_night: dict[date, RunSummary] = {}
    for run in runs:
        night = run.as_of.astimezone(timezone.utc).date()
        kept = by_night.get(night)
        if kept is None or (run.started_at, run.run_id) > (kept.started_at, kept.run_id):
            by_night[night] = run
    return [by_night[night] for night in sorted(by_night, reverse=True)]


def proof_months(last_as_of: datetime) -> list[date]:
    """The PROOF_MONTHS first days of month that end with the last as_of's month, newest first."""
    last = last_as_of.astimezone(timezone.utc)
    months = []
    year, month = last.year, last.month
    for _ in range(PROOF_MONTHS):
        months.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months


def proof_by_month(runs: list[RunSummary], now: datetime,
                   alerts_by_month: dict[date, int] | None = None) -> list[MonthProof]:
    """Per month of as_of (UTC), the PROOF_MONTHS months that end with the latest as_of's month, newest
    first; months without a run are listed with zeros (a month with no night is itself a finding)."""
    if not runs:
        return []
    months = proof_months(max(r.as_of for r in runs))
    per: dict[date, list[RunSummary]] = {m: [] for m in months}
    for run in runs:
        utc = run.as_of.astimezone(timezone.utc)
        key = date(utc.year, utc.month, 1)
        if key in per:
            per[key].append(run)
    proofs = []
    for key in months:
        chosen = per[key]
        proofs.append(MonthProof(
            month=key, nights=len({r.as_of.astimezone(timezone.utc).date() for r in chosen}), runs=len(chosen),
            runs_failed=sum(1 for r in chosen if r.status == "failed"),
            anonymised={reason: sum(r.anonymised[reason] for r in chosen) for reason in REASONS},
            logs_purged=sum(r.logs_purged for r in chosen), prospects_purged=sum(r.prospects_purged for r in chosen),
            gates_failed=sum(r.gates_failed for r in chosen),
            late=sum(1 for r in chosen if r.deadline_kept(now) is False),
            alerts_sent=(alerts_by_month or {}).get(key, 0),
        ))
    return proofs


PROOF_COLUMNS = ("month", "nights", "runs", "runs_failed", "anonymised_deceased", "anonymised_closed",
                 "anonymised_inactive", "connection_logs_purged", "prospects_purged", "gates_failed", "late_runs",
                 "alerts_raised", "alerts_sent")


def proof_rows(months: list[MonthProof]) -> list[tuple[Any, ...]]:
    """The year of proof as rows of PROOF_COLUMNS, oldest month first (the CSV and the printed table)."""
    return [(m.month.strftime("%Y-%m"), m.nights, m.runs, m.runs_failed, m.anonymised["deceased"],
             m.anonymised["closed"], m.anonymised["inactive"], m.logs_purged, m.prospects_purged, m.gates_failed,
             m.late, m.alerts, m.alerts_sent) for m in reversed(months)]


def proof_csv(months: list[MonthProof]) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(PROOF_COLUMNS)
    writer.writerows(proof_rows(months))
    return out.getvalue()


def airflow_links(run_id: str, task_id: str | None = None) -> str:
    """Link to a run (its grid and graph) or to one task's log in the Airflow UI, relative to the page
    (``/retention/``): it resolves under any ``[api] base_url`` prefix."""
    href = f"../dags/{quote(DAG_ID, safe='')}/runs/{quote(run_id, safe='')}"
    return f"{href}/tasks/{quote(task_id, safe='')}" if task_id else href


def backlog_window(now: datetime, policy: Policy) -> RunWindow:
    """The cutoffs that apply at ``now`` (the wall clock: the backlog is "what is overdue now")."""
    return RunWindow.build(now, policy)


# --------------------------------------------------------------------------------------------------
# Database
# --------------------------------------------------------------------------------------------------


def resolve_app_url() -> str:
    """The application database of the Airflow connection ``app_db`` (env var, secrets backend or
    metadata DB), resolved the way server components do: this runs in the api-server, not a task."""
    from airflow.models.connection import Connection

    from retention.db import APP_DB_CONN_ID, sqlalchemy_url

    return sqlalchemy_url(Connection.get_connection_from_secrets(APP_DB_CONN_ID).get_uri())


def make_readonly_engine(url: str) -> Engine:
    """An engine whose every transaction is READ ONLY (the server refuses any write) and bounded in time."""
    from sqlalchemy import create_engine

    from retention.db import sqlalchemy_url

    return create_engine(
        sqlalchemy_url(url),
        pool_pre_ping=True,
        hide_parameters=True,
        pool_size=1,
        max_overflow=2,
        connect_args={
            "application_name": "gdpr_retention:compliance_page",
            "options": f"-c default_transaction_read_only=on -c statement_timeout={STATEMENT_TIMEOUT_MS}",
        },
    )


_engine: Engine | None = None
_engine_lock = threading.Lock()


def engine() -> Engine:
    """The page's engine, created on the first request (never when the plugin is imported)."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = make_readonly_engine(resolve_app_url())
    return _engine


def _rows(conn: Connection, name: str, params: dict[str, Any] | None = None,
          splice: dict[str, str] | None = None) -> list[dict[str, Any]]:
    from sqlalchemy import text

    sql = load_sql(f"compliance/{name}")
    for marker, replacement in (splice or {}).items():
        sql = sql.replace(marker, replacement)
    return [dict(row) for row in conn.execute(text(sql), params or {}).mappings()]


def read_backlog(conn: Connection, now: datetime, policy: Policy) -> Backlog:
    window = backlog_window(now, policy)
    params = window.params()
    eligible = load_sql("accounts/select_eligible_accounts")
    per_reason = {row["reason"]: int(row["accounts"]) for row in _rows(
        conn, "count_backlog_accounts", {**params, **ALL_IDS}, splice={"{eligible}": eligible})}
    logs = _rows(conn, "count_backlog_connection_logs", {"logs_before": window.logs_before})[0]["expired"]
    prospects = _rows(conn, "count_backlog_prospects",
                      {"as_of": window.as_of, "prospects_before": window.prospects_before})[0]["expired"]
    files = _rows(conn, "count_pending_file_deletions")[0]["pending"]
    from retention.report import cutoffs_of

    return Backlog(as_of=window.as_of, cutoffs=cutoffs_of(window),
                   accounts={reason: per_reason.get(reason, 0) for reason in REASONS},
                   connection_logs=int(logs), prospects=int(prospects), files_pending=int(files))


def read_runs(conn: Connection, docs_root: Path) -> list[RunSummary]:
    history = _rows(conn, "select_run_history", {"table_runs": TABLE_RUNS})
    runs = [RunSummary(
        run_id=row["run_id"], as_of=row["as_of"], status=row["status"], started_at=row["started_at"],
        finished_at=row["finished_at"],
        duration_s=None if row["duration_s"] is None else float(row["duration_s"]),
        cutoffs=run_cutoffs(row),
        anonymised={reason: int(row[f"anonymised_{reason}"]) for reason in REASONS},
        logs_purged=int(row["logs_purged"]), partitions_dropped=int(row["partitions_dropped"]),
        prospects_purged=int(row["prospects_purged"]), policy=dict(row["policy"] or {}),
        gates_failed=int(row["gates_failed"]), gates_recorded=int(row["gates_recorded"]),
    ) for row in history]
    # Each gate's detail (and its Data Docs) only for the runs drawn or listed.
    shown = sorted({r.run_id for r in runs[:TABLE_RUNS]} | {r.run_id for r in nights_of(runs)[:CHART_NIGHTS]})
    gates: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(conn, "select_gate_results", {"run_ids": shown}) if shown else []:
        gates.setdefault(row["run_id"], []).append(row)
    listed = set(shown)
    return [replace(r, gates=gate_outcomes(gates.get(r.run_id, []), docs_root)) if r.run_id in listed else r
            for r in runs]


def read_notices(conn: Connection, on: date) -> Notices:
    row = _rows(conn, "count_inactivity_notices", {"on": on})[0]
    return Notices(on=on, due=int(row["due"]), next_7_days=int(row["next_7_days"]),
                   next_30_days=int(row["next_30_days"]), listed=int(row["listed"]),
                   first_anonymisation_on=row["first_anonymisation_on"], listed_at=row["listed_at"])


def read_alerts_by_month(conn: Connection, last_as_of: datetime | None) -> dict[date, int]:
    """Alerts sent per month; none before the first run of a version that records them has migrated
    the schema (the page is deployed with the api-server, the table comes with the next run)."""
    from sqlalchemy import text

    if last_as_of is None:
        return {}
    if conn.execute(text("select to_regclass('retention.alerts_sent') is null")).scalar_one():
        return {}
    since = datetime.combine(proof_months(last_as_of)[-1], time(0), tzinfo=timezone.utc)
    return {row["month"].date(): int(row["alerts"]) for row in _rows(conn, "count_alerts_sent", {"since": since})}


def read_releases(conn: Connection, last_as_of: datetime | None) -> list[Release]:
    if last_as_of is None:
        return []
    since = datetime.combine(proof_months(last_as_of)[-1], time(0), tzinfo=timezone.utc)
    return [Release(month=row["month"], rho=float(row["rho"]),
                    epsilon=None if row["epsilon"] is None else float(row["epsilon"]),
                    delta=None if row["delta"] is None else float(row["delta"]),
                    tables=int(row["tables"] or 0), cells=int(row["cells"] or 0), run_id=row["run_id"])
            for row in _rows(conn, "select_releases", {"since": since})]


OPEN_REQUESTS_LISTED = 50


def read_requests(conn: Connection, now: datetime) -> Requests | None:
    """Unanswered requests with days left at ``now`` (the legal clock runs in real time), and the last
    twelve months' answers per state with how many were late. None before the tables exist."""
    from sqlalchemy import text

    if conn.execute(text("select to_regclass('retention.request_due_dates') is null")).scalar_one():
        return None
    rows = _rows(conn, "select_open_requests", {"now": now, "max_rows": OPEN_REQUESTS_LISTED})
    total = int(rows[0].pop("open_total")) if rows else 0
    for row in rows[1:]:
        row.pop("open_total")
    answered = _rows(conn, "count_answered_requests", {"since": now - timedelta(days=365)})
    return Requests(open=tuple(OpenRequest(**row) for row in rows), open_total=total,
                    answered={row["state"]: int(row["answered"]) for row in answered},
                    answered_late=sum(int(row["late"]) for row in answered),
                    restricted=int(_rows(conn, "count_restricted_accounts")[0]["restricted"]))


def read_page(eng: Engine, *, now: datetime | None = None, docs_root: Path | None = None) -> PageData:
    """All the page's figures in one REPEATABLE READ, READ ONLY snapshot (they agree with each other).

    The backlog is counted at ``now``. When the last run's as_of is more than STALE_AFTER before
    ``now`` (a demo, a backfill), what became due since was never asked of any run: it is counted
    again at that as_of, where anything left is what the last run failed to do."""
    from retention.quality.gates import docs_root as default_docs_root

    policy = load_policy()
    now = now or datetime.now(timezone.utc)
    root = docs_root or default_docs_root()
    with eng.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            runs = read_runs(conn, root)
            backlog = read_backlog(conn, now, policy)
            data = PageData(runs=runs, backlog=backlog, policy=policy, generated_at=now)
            at_last = read_backlog(conn, data.last_as_of, policy) if data.stale else None
            notices_on = (data.last_as_of if data.stale else now).astimezone(timezone.utc).date()
            notices = read_notices(conn, notices_on)
            alerts = read_alerts_by_month(conn, data.last_as_of)
            releases = read_releases(conn, data.last_as_of)
            requests = read_requests(conn, now)
    from retention.datamap import load_datamap

    return replace(data, notices=notices, backlog_at_last_run=at_last, alerts_by_month=alerts,
                   datamap_rows=load_datamap().rows(), releases=releases, requests=requests)
