"""The pipeline's data-quality gates: what must hold before anything is destroyed, and after.

Each gate is a list of SQL checks run by Great Expectations inside PostgreSQL
(:mod:`retention.quality.gx_runner`). A failing gate raises :class:`GateFailed`, which fails its
task, so every destructive task downstream is never run. Results (check, verdict, counts) are
stored per run in ``retention.quality_results``; Data Docs are written per run for the data team.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retention.accounts import ALL_IDS
from retention.quality.gx_runner import Check, GateResult, run_gate
from retention.sqlfiles import load_sql

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from retention.policy import Policy
    from retention.window import RunWindow

log = logging.getLogger(__name__)


class GateFailed(RuntimeError):
    """A data-quality gate failed: the destructive steps after it must not run."""


def _sql(name: str) -> str:
    from retention.mapsql import map_sql

    return map_sql(f"quality/{name}").replace("{eligible}", load_sql("accounts/select_eligible_accounts"))


def _ineligible_sql(planned: bool) -> str:
    candidates = load_sql("quality/select_planned_candidates" if planned else "accounts/select_eligible_accounts")
    return load_sql("quality/find_ineligible_candidates").replace("{candidates}", candidates)


def accounts_before_checks(*, planned: bool = True) -> list[Check]:
    """``planned``: the candidate checks read tonight's plan (frozen in the ledger by
    plan_account_batches, which destroys nothing); a dry run has no plan and evaluates the
    candidate query itself."""
    checks = [
        Check("candidates_are_all_eligible",
              "No candidate is a tombstone, under legal hold, under a post-mortem directive, or without a valid reason",
              "no_rows", _ineligible_sql(planned)),
    ]
    checks.append(Check("candidates_per_reason_within_ceiling",
                        "No reason would anonymise more accounts tonight than the policy's ceiling (a share of live accounts)",
                        "at_most", _sql("measure_planned_share" if planned else "measure_candidate_share")))
    return checks


def accounts_after_checks() -> list[Check]:
    return [
        Check("tombstones_hold_no_personal_data",
              "Every account anonymised by this run has all personal columns NULL and no child row",
              "no_rows", _sql("find_unscrubbed_tombstones")),
    ]


def warehouse_after_checks() -> list[Check]:
    return [
        Check("warehouse_members_reconcile", "Members in the warehouse = accounts anonymised (ledger, all runs)",
              "equal", _sql("measure_warehouse_members")),
        Check("warehouse_events_reconcile", "Events in the warehouse = activity events deleted (ledger, all runs)",
              "equal", _sql("measure_warehouse_events")),
        Check("warehouse_applications_reconcile",
              "Applications in the warehouse = applications deleted (ledger, all runs)",
              "equal", _sql("measure_warehouse_applications")),
        Check("warehouse_text_is_not_identifying",
              "No text in the warehouse looks like an email, a phone number, an IP address or a URL",
              "no_rows", _sql("find_identifying_text_in_warehouse")),
    ]


def release_checks() -> list[Check]:
    return [
        Check("releases_within_budget",
              "No release spent more privacy budget (rho) than the policy allowed when it was made, and every "
              "release made at this as-of instant used the policy in force",
              "no_rows", _sql("find_releases_over_budget")),
        Check("no_month_released_twice",
              "Every released month holds each table once, with exactly the cells its ledger row counted "
              "(nothing released twice, nothing missing)",
              "no_rows", _sql("find_releases_duplicated_or_incomplete")),
    ]


def logs_after_checks() -> list[Check]:
    return [
        Check("no_expired_connection_log", "No connection log older than the one-year cutoff remains",
              "no_rows", _sql("find_expired_connection_logs")),
        Check("recent_connection_logs_kept", "Every connection log at or after the cutoff is still there",
              "at_most", _sql("measure_kept_connection_logs")),
    ]


def prospects_after_checks() -> list[Check]:
    return [
        Check("no_expired_or_objected_prospect", "No prospect past retention or objected remains",
              "no_rows", _sql("find_expired_prospects")),
        Check("prospects_within_retention_kept", "Every prospect within retention is still there",
              "at_most", _sql("measure_kept_prospects")),
    ]


def docs_root() -> Path:
    """Where Data Docs go: RETENTION_DATA_DOCS_DIR, else <AIRFLOW_HOME>/data_docs."""
    configured = os.environ.get("RETENTION_DATA_DOCS_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("AIRFLOW_HOME", "var/airflow")) / "data_docs"


def _engine_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def evaluate(gate: str, engine: Engine, checks: list[Check], params: dict[str, Any], *,
             results_to: Engine, window: RunWindow, run_id: str) -> dict[str, Any]:
    """Run one gate, store its results (not in a dry run), log them, raise if any check failed."""
    from sqlalchemy import text

    docs_dir = docs_root() / re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id)
    result: GateResult = run_gate(_engine_url(engine), gate, checks, params, docs_dir=docs_dir)
    for r in result.results:
        log.info("gate %s | %s | %s | observed=%s expected=%s", gate, "PASS" if r.success else "FAIL",
                 r.name, r.observed, r.expected)
    if result.data_docs_index:
        log.info("gate %s Data Docs: %s", gate, result.data_docs_index)
    # Read by bench/bench_pipeline.py beside "task sql time": the gate's own engines are GX's.
    log.info("gate sql time: statements=%d seconds=%.3f", result.sql_statements, result.sql_seconds)
    log.info("gate import time: seconds=%.3f", result.import_seconds)
    if not window.dry_run:
        with results_to.begin() as conn:
            conn.execute(
                text(load_sql("quality/upsert_quality_result")),
                [{"run_id": run_id, "gate": gate, "name": r.name, "success": r.success, "observed": r.observed,
                  "expected": r.expected, "description": r.description, "docs": result.data_docs_index}
                 for r in result.results],
            )
    summary = {"gate": gate, "success": result.success, "checks": len(result.results),
               "failed": [{"check": r.name, "observed": r.observed, "expected": r.expected} for r in result.failed],
               "data_docs": result.data_docs_index}
    if not result.success:
        failed = ", ".join(f"{r.name} (observed {r.observed}, expected {r.expected})" for r in result.failed)
        raise GateFailed(f"gate {gate} failed: {failed}. Destructive steps after it will not run.")
    return summary


SCHEMA_CHECK = "app_schema_matches_data_map"
SCHEMA_CHECK_DESCRIPTION = ("The application schema matches the data map: every table and column mapped, "
                            "none missing, same types and foreign keys, the privileges the map needs")


def check_app_schema(app: Engine, window: RunWindow, run_id: str, gate: str = "accounts_before") -> dict[str, Any]:
    """First part of the accounts' before-gate (and the requests' gate): the live schema ``app`` against the data map.

    Runs before anything is planned or destroyed. Drift (named by table and column, never a
    value) is logged, stored in ``retention.quality_results`` with the check and raised as
    :class:`GateFailed`, whose message the alert carries.
    """
    from sqlalchemy import text

    from retention.datamap import load_datamap
    from retention.drift import find_drift

    datamap = load_datamap()
    with app.connect() as conn:
        drift = find_drift(conn, datamap, "app")
    for d in drift:
        log.error("gate %s | schema drift | %s", gate, d)
    log.info("gate %s | %s | %s | observed=%d expected=0 | data map %s", gate,
             "FAIL" if drift else "PASS", SCHEMA_CHECK, len(drift), datamap.source)
    listed = "; ".join(str(d) for d in drift[:50]) + ("; ..." if len(drift) > 50 else "")
    description = SCHEMA_CHECK_DESCRIPTION + (f". Drift: {listed}" if drift else "")
    if not window.dry_run:
        with app.begin() as conn:
            conn.execute(
                text(load_sql("quality/upsert_quality_result")),
                {"run_id": run_id, "gate": gate, "name": SCHEMA_CHECK, "success": not drift,
                 "observed": len(drift), "expected": 0, "description": description, "docs": None},
            )
    if drift:
        raise GateFailed(
            f"gate {gate} failed: {SCHEMA_CHECK} (observed {len(drift)}, expected 0): {listed}. "
            "Nothing was anonymised or purged. Map the change in plugins/retention/datamap.yaml "
            "(or undo it in the schema), then rerun."
        )
    app_tables = datamap.schema("app")
    return {"gate": gate, "check": SCHEMA_CHECK, "success": True, "tables": len(app_tables),
            "columns": sum(len(t.columns) for t in app_tables)}


def check_accounts_before(app: Engine, window: RunWindow, policy: Policy, run_id: str) -> dict[str, Any]:
    params = {**window.params(), **ALL_IDS, "max_share": policy.max_eligible_share,
              "ceiling_floor": policy.eligible_ceiling_floor}
    return evaluate("accounts_before", app, accounts_before_checks(planned=not window.dry_run), params,
                    results_to=app, window=window, run_id=run_id)


def check_accounts_after(app: Engine, wh: Engine, window: RunWindow, run_id: str) -> dict[str, Any]:
    from sqlalchemy import text

    if window.dry_run:
        return {"gate": "accounts_after", "skipped": "dry run: nothing was destroyed"}
    summary = evaluate("accounts_after", app, accounts_after_checks(), {**window.params(), **ALL_IDS},
                       results_to=app, window=window, run_id=run_id)
    with app.connect() as conn:
        removed = dict(conn.execute(text(load_sql("quality/sum_ledger_removals"))).mappings().one())
    summary_wh = evaluate("warehouse_after", wh, warehouse_after_checks(), {k: int(v) for k, v in removed.items()},
                          results_to=app, window=window, run_id=run_id)
    return {"gate": "accounts_after", "success": True, "gates": [summary, summary_wh]}


def check_releases(app: Engine, wh: Engine, window: RunWindow, policy: Policy, run_id: str) -> dict[str, Any]:
    """Gate after the monthly release: budget kept, nothing released twice."""
    if window.dry_run:
        return {"gate": "release_after", "skipped": "dry run: nothing was released"}
    params = {"rho_per_month": policy.release_rho_per_month, "as_of": window.as_of}
    return evaluate("release_after", wh, release_checks(), params, results_to=app, window=window, run_id=run_id)


def measure_kept(app: Engine, window: RunWindow) -> dict[str, int]:
    """Rows that must survive the purges, counted before them (counts only)."""
    from sqlalchemy import text

    with app.connect() as conn:
        logs = conn.execute(text(load_sql("quality/count_kept_connection_logs")), window.params()).scalar_one()
        prospects = conn.execute(text(load_sql("quality/count_kept_prospects")), window.params()).scalar_one()
    return {"connection_logs": int(logs), "prospects": int(prospects)}


def check_logs_after(app: Engine, window: RunWindow, run_id: str, kept_before: int) -> dict[str, Any]:
    if window.dry_run:
        return {"gate": "connection_logs_after", "skipped": "dry run: nothing was destroyed"}
    return evaluate("connection_logs_after", app, logs_after_checks(), {**window.params(), "kept_before": kept_before},
                    results_to=app, window=window, run_id=run_id)


def check_prospects_after(app: Engine, window: RunWindow, run_id: str, kept_before: int) -> dict[str, Any]:
    if window.dry_run:
        return {"gate": "prospects_after", "skipped": "dry run: nothing was destroyed"}
    return evaluate("prospects_after", app, prospects_after_checks(), {**window.params(), "kept_before": kept_before},
                    results_to=app, window=window, run_id=run_id)
