"""Least-privilege roles for the reference setup (demo, tests, compose): applied by an administrator."""

from __future__ import annotations

import psycopg

from retention.sqlfiles import load_sql

PIPELINE_ROLE = "retention_pipeline"
ANALYST_ROLE = "analyst"


def _create_roles(conn: psycopg.Connection) -> None:
    conn.execute("select pg_advisory_lock(hashtext('gdpr_retention.roles'))")
    try:
        conn.execute(load_sql("roles/create_roles"))
    finally:
        conn.execute("select pg_advisory_unlock(hashtext('gdpr_retention.roles'))")


def apply_roles(app_admin_conninfo: str, warehouse_admin_conninfo: str) -> None:
    """Create the roles if needed and grant exactly what each needs on both databases.

    Roles belong to a server, not a database: they are created on both servers, which may be one
    (the demo, the tests) or two (compose's app-db and warehouse-db).
    """
    with psycopg.connect(app_admin_conninfo, autocommit=True) as conn:
        _create_roles(conn)
        conn.execute(load_sql("roles/grant_app_db"))
    with psycopg.connect(warehouse_admin_conninfo, autocommit=True) as conn:
        _create_roles(conn)
        conn.execute(load_sql("roles/grant_warehouse"))
