"""Figures of the Retention page, read in one read-only snapshot of the application database.

Everything comes from the pipeline's audit tables, except the backlog: COUNT(*) of what is past
retention *right now*. The backlog is the one place of the project that uses the wall clock (it
answers "what is overdue now?"); its cutoffs come from :meth:`RunWindow.build` at that instant, so they
follow the same rules as a nightly run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from retention.policy import Policy, load_policy
from retention.sqlfiles import load_sql
from retention.window import RunWindow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

REASONS = ("deceased", "closed", "inactive")
HISTORY_RUNS = 90  # the chart
TABLE_RUNS = 10  # the table of last runs
# Gates a complete run records, in pipeline order (retention.quality.gates); a missing one did not run.
EXPECTED_GATES = ("accounts_before", "accounts_after", "warehouse_after", "connection_logs_after", "prospects_after")
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

    @property
    def anonymised_total(self) -> int:
        return sum(self.anonymised.values())

    @property
    def gates_passed(self) -> bool | None:
        """True if every expected gate passed, False if one failed or did not run, None if none ran."""
        if not self.gates or all(g.passed is None for g in self.gates):
            return None
        return all(g.passed for g in self.gates)


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
class PageData:
    runs: list[RunSummary]  # newest first, at most HISTORY_RUNS
    backlog: Backlog
    policy: Policy
    generated_at: datetime
    # The data map as the record of processing (retention.datamap.DataMap.rows()): from the file, no query.
    datamap_rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def recent_runs(self) -> list[RunSummary]:
        return self.runs[:TABLE_RUNS]


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
        outcomes.append(GateOutcome(
            gate=name, passed=bool(row["passed"]), checks=int(row["checks"]), failed=int(row["failed"]),
            failed_checks=row.get("failed_checks") or "", docs_href=docs_href(row.get("data_docs"), root),
        ))
    return tuple(outcomes)


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


def read_runs(conn: Connection, docs_root: Path, max_runs: int = HISTORY_RUNS) -> list[RunSummary]:
    history = _rows(conn, "select_run_history", {"max_runs": max_runs})
    shown = [row["run_id"] for row in history[:TABLE_RUNS]]
    gates: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(conn, "select_gate_results", {"run_ids": shown}) if shown else []:
        gates.setdefault(row["run_id"], []).append(row)
    runs = []
    for row in history:
        runs.append(RunSummary(
            run_id=row["run_id"], as_of=row["as_of"], status=row["status"], started_at=row["started_at"],
            finished_at=row["finished_at"],
            duration_s=None if row["duration_s"] is None else float(row["duration_s"]),
            cutoffs=run_cutoffs(row),
            anonymised={reason: int(row[f"anonymised_{reason}"]) for reason in REASONS},
            logs_purged=int(row["logs_purged"]), partitions_dropped=int(row["partitions_dropped"]),
            prospects_purged=int(row["prospects_purged"]), policy=dict(row["policy"] or {}),
            gates=gate_outcomes(gates.get(row["run_id"], []), docs_root) if row["run_id"] in shown else (),
        ))
    return runs


def read_page(eng: Engine, *, now: datetime | None = None, docs_root: Path | None = None) -> PageData:
    """All the page's figures in one REPEATABLE READ, READ ONLY snapshot (they agree with each other)."""
    from retention.quality.gates import docs_root as default_docs_root

    policy = load_policy()
    now = now or datetime.now(timezone.utc)
    root = docs_root or default_docs_root()
    with eng.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            runs = read_runs(conn, root)
            backlog = read_backlog(conn, now, policy)
    from retention.datamap import load_datamap

    return PageData(runs=runs, backlog=backlog, policy=policy, generated_at=now, datamap_rows=load_datamap().rows())
