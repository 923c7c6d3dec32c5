"""Engines for the two databases, built from Airflow connection ids or plain URLs."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

APP_DB_CONN_ID = "app_db"
WAREHOUSE_CONN_ID = "stats_warehouse"


def sqlalchemy_url(url: str) -> str:
    """Normalise any postgres URI to the psycopg 3 SQLAlchemy dialect."""
    for prefix in ("postgresql+psycopg2://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    raise ValueError("only PostgreSQL connections are supported")


def url_from_connection(conn_id: str) -> str:
    """Resolve an Airflow connection id (env var, secrets backend or metadata DB) to a URL."""
    from airflow.sdk import Connection

    return sqlalchemy_url(Connection.get(conn_id).get_uri())


# The pipeline's statements are index-driven and repeated per batch: PostgreSQL's JIT, triggered
# by the planner's (over)estimates, spent up to 0.4 s compiling each of them at 1M accounts and
# won nothing back. Off for the pipeline's own sessions only.
SESSION_OPTIONS = "-c jit=off"


def session_options(url: str, extra: str = "") -> str:
    """libpq ``options`` for a pipeline session: the URL's own, then ours."""
    from sqlalchemy.engine import make_url

    own = make_url(sqlalchemy_url(url)).query.get("options") or ""
    own = own if isinstance(own, str) else " ".join(own)
    return " ".join(part for part in (own, SESSION_OPTIONS, extra) if part)


def make_engine(url: str, application_name: str = "gdpr_retention") -> Engine:
    from sqlalchemy import create_engine

    return create_engine(
        sqlalchemy_url(url),
        pool_pre_ping=True,
        # SQL errors must not echo bound values into task logs.
        hide_parameters=True,
        pool_size=2,
        max_overflow=2,
        connect_args={"application_name": application_name, "options": session_options(url)},
    )


def engine_for(conn_id: str) -> Engine:
    return make_engine(url_from_connection(conn_id), application_name=f"gdpr_retention:{conn_id}")


def run_sql(conn: Connection, name: str, params: dict[str, Any] | None = None, **extra: Any):
    """Execute ``sql/<name>.sql`` (with the data map's lists filled in) with bound parameters; returns the result."""
    from sqlalchemy import text

    from retention.mapsql import map_sql

    return conn.execute(text(map_sql(name)), {**(params or {}), **extra})


def run_script(conn: Connection, name: str) -> None:
    """Execute a multi-statement DDL file (no parameters) through the raw driver."""
    from retention.sqlfiles import load_sql

    conn.exec_driver_sql(load_sql(name))


@contextmanager
def lock_timeout(conn: Connection, milliseconds: int) -> Iterator[None]:
    """Transaction-local lock_timeout: the pipeline never queues the application behind it for long."""
    from sqlalchemy import text

    conn.execute(text("select set_config('lock_timeout', :ms, true)"), {"ms": f"{int(milliseconds)}ms"})
    yield


class SqlTimer:
    """Time spent in PostgreSQL statements on some engines (the task's own cost, without Airflow's)."""

    def __init__(self) -> None:
        self.statements = 0
        self.seconds = 0.0

    def watch(self, engine: Any) -> None:
        import time

        from sqlalchemy import event

        @event.listens_for(engine, "before_cursor_execute")
        def _started(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
            conn.info["retention_sql_started"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _ended(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
            started = conn.info.pop("retention_sql_started", None)
            if started is not None:
                self.statements += 1
                self.seconds += time.perf_counter() - started
