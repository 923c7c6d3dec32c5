"""What every task needs from its Airflow context: the run window, the policy and the engines."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Iterator

from retention.db import APP_DB_CONN_ID, WAREHOUSE_CONN_ID, SqlTimer, engine_for
from retention.policy import Policy, load_policy
from retention.window import RunWindow

log = logging.getLogger(__name__)

ALLOWED_TAGS = frozenset({"gdpr", "retention", "nightly", "maintenance", "quality"})


def resolve_as_of(params: dict[str, Any], context: dict[str, Any]) -> datetime | str:
    """The ``as_of`` param if given, else the run's data interval end (never the wall clock)."""
    if params.get("as_of"):
        return params["as_of"]
    for key in ("data_interval_end", "logical_date"):
        if context.get(key) is not None:
            return context[key]
    dag_run = context.get("dag_run")
    if dag_run is not None and getattr(dag_run, "run_after", None) is not None:
        return dag_run.run_after
    raise ValueError("the run has no data interval and no as_of param: cannot place the cutoffs")


def instant_from_context(context: dict[str, Any]) -> datetime:
    """The run's as-of instant as an aware datetime (the ``as_of`` param, else the data interval end)."""
    from retention.window import parse_as_of

    return parse_as_of(resolve_as_of(context.get("params") or {}, context))


def window_from_context(context: dict[str, Any], policy: Policy | None = None) -> RunWindow:
    params = context.get("params") or {}
    return RunWindow.build(resolve_as_of(params, context), policy or load_policy(), bool(params.get("dry_run")))


@contextmanager
def engines(*, app: bool = True, warehouse: bool = False) -> Iterator[dict[str, Any]]:
    """The task's engines, disposed at the end; logs the time the task spent in SQL (a count)."""
    opened: dict[str, Any] = {}
    timer = SqlTimer()
    try:
        if app:
            opened["app"] = engine_for(APP_DB_CONN_ID)
        if warehouse:
            opened["warehouse"] = engine_for(WAREHOUSE_CONN_ID)
        for engine in opened.values():
            timer.watch(engine)
        yield opened
    finally:
        for engine in opened.values():
            engine.dispose()
        # Read by bench/bench_pipeline.py (a quiet night must cost under 1 s of SQL per stage).
        log.info("task sql time: statements=%d seconds=%.3f", timer.statements, timer.seconds)
