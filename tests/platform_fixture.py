"""A fresh platform per test: application DB with the reference schema, an empty warehouse, and seeding helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from retention.datamap import load_datamap

# From the data map (the only list of what is personal), never a copy: the columns of app.accounts
# that the scrub nulls, and the tables whose rows go with the account (documents included).
_MAP = load_datamap()
PERSONAL_COLUMNS = tuple(c.name for c in _MAP.accounts.nulled)
CHILD_TABLES = tuple(t.name for t in _MAP.account_tables() if t.rows_deleted)
APP_TABLES = tuple(t.qualified for t in _MAP.schema("app"))
AGGREGATE_TABLES = tuple(t.qualified for t in _MAP.schema("stats") if all(c.category == "aggregate" for c in t.columns))


@dataclass
class Platform:
    """Admin URLs (seeding, assertions) and the pipeline's least-privilege URLs (what the DAG uses)."""

    app_url: str
    warehouse_url: str
    pipeline_app_url: str = ""
    pipeline_warehouse_url: str = ""

    def app(self) -> psycopg.Connection:
        return psycopg.connect(self.app_url, autocommit=True)

    def warehouse(self) -> psycopg.Connection:
        return psycopg.connect(self.warehouse_url, autocommit=True)

    def scalar(self, sql: str, params: Any = None, *, db: str = "app") -> Any:
        with (self.app() if db == "app" else self.warehouse()) as conn:
            row = conn.execute(sql, params).fetchone()
            return None if row is None else row[0]

    def rows(self, sql: str, params: Any = None, *, db: str = "app") -> list[tuple]:
        with (self.app() if db == "app" else self.warehouse()) as conn:
            return conn.execute(sql, params).fetchall()

    def add_account(self, conn: psycopg.Connection, **columns: Any) -> int:
        columns.setdefault("created_at", "2015-01-01T00:00:00+00:00")
        names = ", ".join(columns)
        marks = ", ".join(["%s"] * len(columns))
        return conn.execute(f"insert into app.accounts ({names}) values ({marks}) returning id",
                            list(columns.values())).fetchone()[0]

    def add(self, conn: psycopg.Connection, table: str, **columns: Any) -> None:
        names = ", ".join(columns)
        marks = ", ".join(["%s"] * len(columns))
        conn.execute(f"insert into app.{table} ({names}) values ({marks})", list(columns.values()))

    def fingerprint(self, *, db: str = "app") -> str:
        """md5 of every row of every table the pipeline may touch: equal fingerprints = nothing changed."""
        tables = APP_TABLES if db == "app" else AGGREGATE_TABLES
        parts = []
        for table in tables:
            parts.append(self.scalar(
                f"select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from {table} as t", db=db))
        return "/".join(parts)


def connect_as(url: str, user: str) -> psycopg.Connection:
    """A connection as another login (the analyst's), same server and database."""
    params = conninfo_to_dict(url)
    params["user"] = user
    params.pop("password", None)
    return psycopg.connect(make_conninfo(**params), autocommit=True)


def as_role(url: str, role: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.netloc.split("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}@{host}"))


def make_platform(databases, *, logs_layout: str = "partitioned") -> Platform:
    from retention.appschema import create_app_schema
    from retention.roles import PIPELINE_ROLE, apply_roles

    app_url = databases.create("app")
    warehouse_url = databases.create("wh")
    create_app_schema(app_url, logs_layout=logs_layout)
    apply_roles(app_url, warehouse_url)
    return Platform(app_url=app_url, warehouse_url=warehouse_url,
                    pipeline_app_url=as_role(app_url, PIPELINE_ROLE),
                    pipeline_warehouse_url=as_role(warehouse_url, PIPELINE_ROLE))


def rows_md5(p: Platform, ids: list[int]) -> str:
    """md5 of every row of these accounts and of their child rows (and messages they sent)."""
    if not ids:
        return ""
    parts = [p.scalar("select md5(string_agg(t::text, '|' order by t::text)) from app.accounts as t "
                      "where id = any(%s)", (ids,))]
    for table in CHILD_TABLES:
        parts.append(p.scalar(f"select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) "
                              f"from app.{table} as t where account_id = any(%s)", (ids,)))
    parts.append(p.scalar("select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) "
                          "from app.messages as t where sender_id = any(%s)", (ids,)))
    return "/".join(parts)
