"""Create the reference application schema (demo, tests, benchmark): never run in production."""

from __future__ import annotations

from datetime import date

import psycopg
from psycopg import sql

from retention.sqlfiles import load_sql


def month_starts(first: date, last: date) -> list[date]:
    """First days of every month from ``first``'s month to ``last``'s month inclusive."""
    months, current = [], date(first.year, first.month, 1)
    while current <= last:
        months.append(current)
        current = date(current.year + (current.month == 12), current.month % 12 + 1, 1)
    return months


def create_app_schema(
    conninfo: str,
    *,
    logs_layout: str = "partitioned",
    partitions_from: date = date(2022, 1, 1),
    partitions_to: date = date(2027, 12, 1),
) -> None:
    """Apply sql/app/schema.sql; monthly log partitions, or a plain (unpartitioned) log table."""
    if logs_layout not in ("partitioned", "plain"):
        raise ValueError("logs_layout must be 'partitioned' or 'plain'")
    with psycopg.connect(conninfo, autocommit=False) as conn:
        conn.execute(load_sql("app/schema"))
        if logs_layout == "plain":
            conn.execute(load_sql("app/convert_connection_logs_plain"))
        else:
            for start in month_starts(partitions_from, partitions_to):
                end = month_starts(start, date(start.year + 1, 1, 1))[1]
                conn.execute(
                    sql.SQL(
                        "create table app.{} partition of app.connection_logs for values from ({}) to ({})"
                    ).format(
                        sql.Identifier(f"connection_logs_{start:%Y_%m}"),
                        sql.Literal(f"{start.isoformat()} 00:00:00+00"),
                        sql.Literal(f"{end.isoformat()} 00:00:00+00"),
                    )
                )
