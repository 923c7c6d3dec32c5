"""Create or migrate, idempotently, what the pipeline owns: ``retention`` (application DB),
``stats`` and ``published`` (warehouse)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from retention.db import run_script, run_sql
from retention.policy import Policy
from retention.release import create_views

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def migrate_app(app: Engine) -> None:
    with app.begin() as conn:
        # Serialise concurrent migrations (two runs started by hand) on one advisory lock.
        conn.exec_driver_sql("select pg_advisory_xact_lock(hashtext('gdpr_retention.migrate'))")
        run_script(conn, "retention/create_retention_schema")
        run_script(conn, "requests/create_request_tables")
        run_sql(conn, "retention/upsert_reference_data")


def migrate_warehouse(warehouse: Engine, policy: Policy) -> None:
    with warehouse.begin() as conn:
        conn.exec_driver_sql("select pg_advisory_xact_lock(hashtext('gdpr_retention.migrate'))")
        run_script(conn, "warehouse/create_stats_schema")
        run_script(conn, "warehouse/alter_cohort_reasons")
        create_views(conn)
        has_analyst = conn.exec_driver_sql("select 1 from pg_roles where rolname = 'analyst'").first()
        if has_analyst:
            run_script(conn, "warehouse/grant_published_to_analyst")
