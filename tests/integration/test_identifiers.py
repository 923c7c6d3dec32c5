"""Identifiers that reach SQL text are quoted safely.

Only two places build SQL from names rather than bound values: the connection-log purge splices a
partition's ``{relation}`` (read from the catalog, quoted there with ``format('%I.%I')``) into
its statements, and the warehouse builds its statements from the names of its statistics tables
(``retention.warehouse._ident``). Partitions are created by the platform, so their names are not
the pipeline's to choose: hostile ones must be purged (dropped, or emptied) like any other, and
never run as SQL.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import psycopg
import pytest
from platform_fixture import as_role
from psycopg import sql
from retention.appschema import create_app_schema
from retention.db import make_engine
from retention.logs import purge_connection_logs
from retention.migrate import migrate_app
from retention.policy import load_policy
from retention.roles import PIPELINE_ROLE, apply_roles
from retention.warehouse import STATS_TABLES, _ident
from retention.window import RunWindow

pytestmark = pytest.mark.integration

AS_OF = "2026-06-15T00:00:00+00:00"

HOSTILE_SCHEMA = 'app"; drop schema app cascade; --'
# (schema, name, lower bound, upper bound): every expired month of 2023, and the month straddling the
# one-year cutoff (2025-06-15), each under a name built to break naive quoting.
HOSTILE_PARTITIONS = [
    ("app", 'connection_logs_2023_01"; drop table app.accounts; --', "2023-01-01", "2023-02-01"),
    (HOSTILE_SCHEMA, "x y.z", "2023-02-01", "2023-03-01"),
    ("app", "$$; drop table app.accounts; $$", "2023-03-01", "2023-04-01"),
    ("app", "connection_logs_\u202e2023_04 \\' or 1=1 --", "2023-04-01", "2023-05-01"),
    ("app", "Connection_Logs_2023_05 😀", "2023-05-01", "2023-06-01"),
    ("app", "connection_logs_2025_06'); delete from app.accounts; --", "2025-06-01", "2025-07-01"),
]
EXPIRED_HOSTILE = [name for _, name, _, upper in HOSTILE_PARTITIONS if upper <= "2025-06-15"]


@pytest.fixture
def hostile_app(databases):
    """Application DB with monthly partitions from July 2025, plus the hostile ones, and rows in each."""
    app_url, wh_url = databases.create("ident_app"), databases.create("ident_wh")
    create_app_schema(app_url, logs_layout="partitioned", partitions_from=date(2025, 7, 1),
                      partitions_to=date(2026, 7, 1))
    apply_roles(app_url, wh_url)
    with psycopg.connect(app_url, autocommit=True) as c:
        c.execute(sql.SQL("create schema {}").format(sql.Identifier(HOSTILE_SCHEMA)))
        c.execute(sql.SQL("grant usage on schema {} to {}").format(sql.Identifier(HOSTILE_SCHEMA),
                                                                   sql.Identifier(PIPELINE_ROLE)))
        for schema, name, lower, upper in HOSTILE_PARTITIONS:
            c.execute(sql.SQL("create table {}.{} partition of app.connection_logs for values from ({}) to ({})").format(
                sql.Identifier(schema), sql.Identifier(name), sql.Literal(f"{lower} 00:00:00+00"),
                sql.Literal(f"{upper} 00:00:00+00")))
            # Handed over for row deletes, not owned: the pipeline cannot drop them, only empty them.
            c.execute(sql.SQL("grant select, delete on {}.{} to {}").format(
                sql.Identifier(schema), sql.Identifier(name), sql.Identifier(PIPELINE_ROLE)))
        for n in range(5):
            c.execute("insert into app.accounts (email, created_at, last_login_at) values (%s, now(), now())",
                      (f"canary{n}@example.org",))
        c.execute("insert into app.connection_logs (account_id, ip, occurred_at, path) "
                  "select 1, '10.0.0.1', t, '/expired' from generate_series(timestamptz '2023-01-01 00:00:00+00', "
                  "timestamptz '2025-06-14 23:00:00+00', interval '5 days') as t")
        c.execute("insert into app.connection_logs (account_id, ip, occurred_at, path) "
                  "select 1, '10.0.0.2', t, '/kept' from generate_series(timestamptz '2025-06-15 00:00:00+00', "
                  "timestamptz '2026-06-14 00:00:00+00', interval '3 days') as t")
    return app_url


def _app_tables(c: psycopg.Connection) -> set[tuple[str, str]]:
    return set(c.execute("select n.nspname, c.relname from pg_class as c join pg_namespace as n "
                         "on n.oid = c.relnamespace where c.relkind in ('r', 'p') "
                         "and n.nspname not in ('pg_catalog', 'information_schema')").fetchall())


def test_hostile_partition_names_are_purged_never_executed(hostile_app):
    """Dry run lists the hostile partitions by name; the pipeline (least privilege: it does not own
    them) empties them row by row through every statement that takes ``{relation}``; an owner then
    drops them. The canary accounts, every other table and every kept log survive, the audit counts
    each expired row once."""
    policy = load_policy()
    window = RunWindow.build(AS_OF, policy)
    pipeline = make_engine(as_role(hostile_app, PIPELINE_ROLE))
    admin = make_engine(hostile_app)
    try:
        migrate_app(pipeline)
        with psycopg.connect(hostile_app, autocommit=True) as c:
            tables_before = _app_tables(c)
            expired = c.execute("select count(*) from app.connection_logs "
                                "where occurred_at < '2025-06-15 00:00:00+00'").fetchone()[0]
            kept = c.execute("select count(*) from app.connection_logs where path = '/kept'").fetchone()[0]
        dry = purge_connection_logs(pipeline, RunWindow.build(AS_OF, policy, dry_run=True), policy, "dry")
        assert set(EXPIRED_HOSTILE) <= set(dry["would_drop"])
        assert dry["would_delete"] == expired

        first = purge_connection_logs(pipeline, window, policy, "night-1")
        assert first["rows_deleted"] == expired
        assert first["partitions_deferred"] == len(EXPIRED_HOSTILE), "not owned: emptied, not dropped"
        with psycopg.connect(hostile_app, autocommit=True) as c:
            assert _app_tables(c) == tables_before
            assert c.execute("select count(*) from app.connection_logs where occurred_at < '2025-06-15 00:00:00+00'"
                             ).fetchone()[0] == 0

        # The owner (here the administrator) drops them on a later night, through the same quoting.
        second = purge_connection_logs(admin, window, policy, "night-2")
        assert second["rows_deleted"] == 0
        assert second["partitions_dropped"] == len(EXPIRED_HOSTILE)
    finally:
        pipeline.dispose()
        admin.dispose()

    with psycopg.connect(hostile_app, autocommit=True) as c:
        tables_after = _app_tables(c)
        dropped = {(schema, name) for schema, name, _, upper in HOSTILE_PARTITIONS if upper <= "2025-06-15"}
        assert tables_after == tables_before - dropped
        assert ("app", "connection_logs_2025_06'); delete from app.accounts; --") in tables_after
        assert c.execute("select count(*) from app.accounts").fetchone()[0] == 5, "the canaries survive"
        assert c.execute("select count(*) from pg_namespace where nspname = %s", (HOSTILE_SCHEMA,)).fetchone()[0] == 1
        assert c.execute("select count(*) from app.connection_logs where path = '/kept'").fetchone()[0] == kept
        assert c.execute("select count(*) from app.connection_logs").fetchone()[0] == kept
        audit = dict(c.execute("select run_id, rows_affected from retention.rule_audit "
                               "where rule = 'purge_connection_logs'").fetchall())
    assert audit == {"night-1": expired, "night-2": 0}


@pytest.mark.parametrize("name", [
    'anonymised_cohorts"; drop table stats.applied_batches; --',
    "members; delete from stats.anonymised_cohorts",
    "a b",
    "a-b",
    "a.b",
    "",
    "_",
    "1members",
    "_members",
    "members'",
    "members\x00",
    "members\u202e",
    "members\\",
    "$1",
    ":warehouse_key",
])
def test_warehouse_identifier_refuses_garbage(name):
    with pytest.raises(ValueError, match="unexpected identifier"):
        _ident(name)


def test_warehouse_identifiers_in_use_are_plain_and_quoted():
    names = {t.name for t in STATS_TABLES}
    names |= {c for t in STATS_TABLES for c in t.columns}
    for name in names:
        assert _ident(name) == f'"{name}"'
        assert name.isascii() and name == name.lower()


def test_a_hostile_stats_table_definition_never_reaches_sql():
    """Even if a StatsTable were (wrongly) built from input, the SQL builders refuse it."""
    from retention import warehouse

    hostile = dataclasses.replace(STATS_TABLES[0], name='anonymised_cohorts" cascade; --')
    for build in (warehouse._cells_sql, warehouse._apply_sql, warehouse._reverse_sql, warehouse._prune_empty_sql):
        with pytest.raises(ValueError, match="unexpected identifier"):
            build(hostile)
    hostile_column = dataclasses.replace(STATS_TABLES[0], sums=("members = 0; --",))
    with pytest.raises(ValueError, match="unexpected identifier"):
        warehouse._apply_sql(hostile_column)
