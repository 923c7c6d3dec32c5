"""Shared fixtures: a PostgreSQL server (found or started) and throwaway databases with unique names."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from mailsink import smtp_sink  # noqa: F401 (a fixture for every test that receives alerts)

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """Admin URL of a PostgreSQL server: RETENTION_PG_URL, 127.0.0.1:5432, or a throwaway cluster."""
    from retention.localpg import ensure_postgres

    return ensure_postgres(REPO_ROOT / "var" / "pg")


def _with_db(admin_url: str, dbname: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(admin_url)
    params["dbname"] = dbname
    return make_conninfo(**params)


def to_url(conninfo: str) -> str:
    """A postgresql:// URL for a libpq conninfo (Airflow connection env vars need URLs)."""
    from urllib.parse import quote

    from psycopg.conninfo import conninfo_to_dict

    p = conninfo_to_dict(conninfo)
    auth = quote(p.get("user", "postgres"), safe="")
    if p.get("password"):
        auth += ":" + quote(p["password"], safe="")
    host = p.get("host", "127.0.0.1")
    if host.startswith("/"):
        return f"postgresql://{auth}@/{p['dbname']}?host={quote(host, safe='')}&port={p.get('port', 5432)}"
    return f"postgresql://{auth}@{host}:{p.get('port', 5432)}/{p['dbname']}"


class DatabaseFactory:
    """Creates databases named ``rt_<purpose>_<random>`` and drops every one of them at teardown."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.created: list[str] = []

    def create(self, purpose: str = "db", template: str | None = None) -> str:
        name = f"rt_{purpose}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            if template:
                conn.execute(f'create database "{name}" template "{template}"')
            else:
                conn.execute(f'create database "{name}"')
        self.created.append(name)
        return to_url(_with_db(self.admin_url, name))

    def drop_all(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            for name in reversed(self.created):
                conn.execute(f'drop database if exists "{name}" with (force)')
        self.created.clear()


@pytest.fixture
def databases(pg_admin_url: str) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(pg_admin_url)
    try:
        yield factory
    finally:
        factory.drop_all()


def pytest_collection_modifyitems(config, items):
    # Integration tests must say so: a test under tests/integration without the marker is a mistake.
    for item in items:
        in_integration = "tests/integration" in str(item.fspath).replace(os.sep, "/")
        if in_integration and item.get_closest_marker("integration") is None:
            raise pytest.UsageError(f"{item.nodeid} lives in tests/integration but is not marked integration")


def pytest_configure(config):
    # Before any test module imports Airflow: its configuration is read once, at import.
    import airflow_env

    airflow_env.configure()


@pytest.fixture
def analyst(pg_admin_url):
    """A login user created from role `analyst`, as an administrator would (docs/analysts.md)."""
    user = f"rt_analyst_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as admin:
        admin.execute("do $$ begin if not exists (select from pg_roles where rolname = 'analyst') then "
                      "create role analyst nologin; end if; end $$")
        admin.execute(f'create role "{user}" login in role analyst')
    try:
        yield user
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(f'drop role if exists "{user}"')
