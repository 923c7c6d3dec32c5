"""Schema drift: the live schema (pg_catalog) compared with the data map, by name and type only.

An unmapped table or column, a mapped one that disappeared, a changed type, a foreign key the map
does not know (or one it knows that is gone), and, for the application schema, a table the
pipeline could not scrub for lack of a privilege: each is one :class:`Drift` naming the table and
column. Never a value: the queries read the catalog, not the tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from retention.sqlfiles import load_sql

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from retention.datamap import DataMap


@dataclass(frozen=True, order=True)
class Drift:
    table: str  # schema.table
    column: str | None
    kind: str
    detail: str = ""

    def __str__(self) -> str:
        where = self.table + (f".{self.column}" if self.column else "")
        return f"{where}: {self.kind}" + (f" ({self.detail})" if self.detail else "")


def compare(datamap: DataMap, schema: str, columns: Iterable[tuple], foreign_keys: Iterable[tuple],
            *, privileges: bool = True) -> list[Drift]:
    """Drift between the map and a catalog listing.

    ``columns``: (table, column, type, is_table, can_update, can_delete) rows of
    select_schema_columns.sql; ``foreign_keys``: (table, column, ref_table, ref_column) rows.
    """
    live: dict[str, dict[str, str]] = {}
    rights: dict[str, tuple[bool, bool]] = {}
    for table, column, type_, _is_table, can_update, can_delete in columns:
        live.setdefault(table, {})[column] = type_
        rights[table] = (bool(can_update), bool(can_delete))
    mapped = {t.name: t for t in datamap.schema(schema)}
    keys = {(t, c): f"{rt}.{rc}" for t, c, rt, rc in foreign_keys}
    hanging = _hanging_off_accounts(keys) if schema == "app" else set()
    drift: list[Drift] = []
    for table in sorted(set(live) - set(mapped)):
        detail = f"{len(live[table])} column(s)"
        if table in hanging:
            detail += ", hangs off app.accounts by a foreign key"
        drift.append(Drift(f"{schema}.{table}", None, "table not in the data map", detail))
    for table in sorted(set(mapped) - set(live)):
        drift.append(Drift(f"{schema}.{table}", None, "mapped table missing from the database"))
    for name in sorted(set(mapped) & set(live)):
        table, actual = mapped[name], live[name]
        expected = {c.name: c for c in table.columns}
        for column in sorted(set(actual) - set(expected)):
            drift.append(Drift(table.qualified, column, "column not in the data map", actual[column]))
        for column in sorted(set(expected) - set(actual)):
            drift.append(Drift(table.qualified, column, "mapped column missing from the database"))
        for column in sorted(set(expected) & set(actual)):
            if expected[column].type != actual[column]:
                drift.append(Drift(table.qualified, column, "type changed",
                                   f"database {actual[column]}, data map {expected[column].type}"))
        for column in sorted(set(expected) & set(actual)):
            declared = set(expected[column].references)
            present = {keys[(name, column)]} if (name, column) in keys else set()
            for ref in sorted(present - declared):
                drift.append(Drift(table.qualified, column, "foreign key not in the data map", f"to {schema}.{ref}"))
            for ref in sorted(declared - present):
                drift.append(Drift(table.qualified, column, "mapped foreign key missing from the database",
                                   f"to {schema}.{ref}"))
        if privileges and name in rights:
            drift.extend(_missing_rights(table, *rights[name]))
    return drift


def _hanging_off_accounts(keys: dict[tuple[str, str], str]) -> set[str]:
    """Tables with a foreign key to app.accounts, or to a table that has one, and so on."""
    reached, grew = {"accounts"}, True
    while grew:
        grew = False
        for (table, _), ref in keys.items():
            if ref.split(".")[0] in reached and table not in reached:
                reached.add(table)
                grew = True
    return reached - {"accounts"}


def _missing_rights(table, can_update: bool, can_delete: bool) -> list[Drift]:
    needs = []
    if table.clock in ("account", "own") and table.rows_deleted and not can_delete:
        needs.append("DELETE")
    if table.clock == "account" and not table.rows_deleted and table.nulled and not can_update:
        needs.append("UPDATE")
    return [Drift(table.qualified, None, "the pipeline's role lacks a privilege the data map needs", need)
            for need in needs]


def find_drift(conn: Connection, datamap: DataMap, schema: str = "app", *, privileges: bool = True) -> list[Drift]:
    """Read the catalog of ``schema`` and compare it with the map."""
    from sqlalchemy import text

    columns = conn.execute(text(load_sql("quality/select_schema_columns")), {"schema": schema}).all()
    foreign_keys = conn.execute(text(load_sql("quality/select_schema_foreign_keys")), {"schema": schema}).all()
    return compare(datamap, schema, [tuple(r) for r in columns], [tuple(r) for r in foreign_keys],
                   privileges=privileges)
