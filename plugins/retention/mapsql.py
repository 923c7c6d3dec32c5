"""SQL generated from the data map: the lists of columns and tables a statement touches.

A SQL file marks with a placeholder in braces the part that the map decides:

* ``{accounts_nulled}``: the SET list that nulls every ``null`` column of app.accounts;
* ``{account_table_scrubs}``: one CTE per account table, deleting its rows (``<table>_gone``,
  returning the person column as ``account_id`` and the columns aggregated into the warehouse)
  or nulling its ``null`` columns (``<table>_scrubbed``), named by the table's ``key`` (its name unless
  the map says otherwise: a renamed table keeps its key, so the aggregates still find its rows);
* ``{account_table_counts}``: the scrub's counts per table;
* ``{tombstone_personal_columns}`` and ``{tombstone_leftovers}``: what a tombstone must not hold;
* ``{warehouse_texts}``: every text column of the warehouse's aggregates;
* ``{document_file_columns}``: the ``erase file`` columns of app.documents (alias ``d``).

Identifiers are quoted by psycopg (``sql.Identifier``); no value is ever spliced in. Adding a
column to the map with ``treatment: null`` is thus the whole change that anonymises it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from retention.sqlfiles import load_sql

if TYPE_CHECKING:
    from retention.datamap import DataMap, Table

PLACEHOLDERS = ("document_file_columns", "accounts_nulled", "account_table_scrubs", "account_table_counts",
                "tombstone_personal_columns", "tombstone_leftovers", "warehouse_texts")


def ident(*names: str) -> str:
    """A safely quoted, dot-joined identifier (``app.accounts``), as SQL text."""
    from psycopg import sql

    return sql.Identifier(*names).as_string(None)


def _cte_name(table: Table, suffix: str) -> str:
    # By the table's key, not its name: the aggregates read <key>_gone whatever the table is called.
    return ident(f"{table.key}_{suffix}")


def accounts_nulled(datamap: DataMap) -> str:
    return ",\n        ".join(f"{ident(c.name)} = null" for c in datamap.accounts.nulled)


def _nonnull_test(alias: str, table: Table) -> str:
    columns = [f"{alias}.{ident(c.name)}" for c in table.nulled]
    return f"num_nonnulls({', '.join(columns)}) > 0" if columns else "false"


def account_table_scrubs(datamap: DataMap) -> str:
    parts = []
    for t in datamap.scrubbed_tables():
        person = ident(t.person or "")
        returned = [f"x.{person} as account_id"] + [
            f"x.{ident(c.name)}" for c in t.columns if c.aggregate_into and c.name != t.person]
        parts.append(
            f"{_cte_name(t, 'gone')} as (\n"
            f"    delete from {ident(t.schema, t.name)} as x where x.{person} = any(array(select id from batch_members))\n"
            f"    returning {', '.join(returned)}\n),")
    for t in datamap.nulled_tables():
        person = ident(t.person or "")
        nulls = ", ".join(f"{ident(c.name)} = null" for c in t.nulled)
        parts.append(
            f"{_cte_name(t, 'scrubbed')} as (\n"
            f"    update {ident(t.schema, t.name)} as x set {nulls}\n"
            f"    where x.{person} = any(array(select id from batch_members)) and {_nonnull_test('x', t)}\n"
            f"    returning 1\n),")
    return "\n".join(parts)


def account_table_counts(datamap: DataMap) -> str:
    # Keyed like the CTEs: the ledger's rows_deleted (summed by the warehouse's reconciliation) too.
    counts = [f"    (select count(*) from {_cte_name(t, 'gone')}) as {ident(t.key)}," for t in datamap.scrubbed_tables()]
    counts += [f"    (select count(*) from {_cte_name(t, 'scrubbed')}) as {ident(t.key + '_scrubbed')},"
               for t in datamap.nulled_tables()]
    return "\n".join(counts)


def tombstone_personal_columns(datamap: DataMap) -> str:
    return _nonnull_test("a", datamap.accounts)


def tombstone_leftovers(datamap: DataMap) -> str:
    parts = []
    for t in datamap.scrubbed_tables():
        person = ident(t.person or "")
        parts.append(f"union\nselect x.{person} from {ident(t.schema, t.name)} as x "
                     f"where x.{person} = any(array(select id from tombstone))")
    for t in datamap.nulled_tables():
        person = ident(t.person or "")
        parts.append(f"union\nselect x.{person} from {ident(t.schema, t.name)} as x "
                     f"where x.{person} = any(array(select id from tombstone)) and {_nonnull_test('x', t)}")
    return "\n".join(parts)


def warehouse_texts(datamap: DataMap) -> str:
    selects = [f"select {ident(column)}::text from {ident('stats', table)}"
               for table, column in datamap.text_columns("stats")]
    return "\n    union all ".join(selects) if selects else "select null::text where false"


def document_file_columns(datamap: DataMap) -> str:
    columns = datamap.table("app", "documents").file_columns
    return ", ".join(f"d.{ident(c.name)}" for c in columns) if columns else "null::text"


_RENDERERS = {
    "document_file_columns": document_file_columns,
    "accounts_nulled": accounts_nulled,
    "account_table_scrubs": account_table_scrubs,
    "account_table_counts": account_table_counts,
    "tombstone_personal_columns": tombstone_personal_columns,
    "tombstone_leftovers": tombstone_leftovers,
    "warehouse_texts": warehouse_texts,
}


def render(statement: str, datamap: DataMap | None = None) -> str:
    """Fill the map's placeholders of a statement (the map of this run when none is given)."""
    from retention.datamap import load_datamap

    if not any("{%s}" % name in statement for name in PLACEHOLDERS):
        return statement
    datamap = datamap or load_datamap()
    for name, renderer in _RENDERERS.items():
        placeholder = "{%s}" % name
        if placeholder in statement:
            statement = statement.replace(placeholder, renderer(datamap))
    return statement


def map_sql(name: str, datamap: DataMap | None = None) -> str:
    """``sql/<name>.sql`` with the data map's lists filled in."""
    return render(load_sql(name), datamap)
