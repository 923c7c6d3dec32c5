"""Benchmark: the connection-log purge against one plain DELETE of the same rows, in both layouts.

Builds ``--rows`` connection logs over three years, written in time order by a server-side
``INSERT ... SELECT generate_series`` (once per layout, the two layouts in parallel), with
``as_of`` two years and two weeks after the first row, so that about a third of the rows is older than the
one-year cutoff (and the last third is dated after ``as_of``, which the purge must keep too).
Each measurement runs on a fresh ``CREATE DATABASE ... TEMPLATE`` copy, so every method sees
identical data:

* ``purge``: ``retention.logs.purge_connection_logs`` (partitioned: DROP of the expired
  partitions + page-range batches in the boundary and DEFAULT partitions; plain: page-range
  batches), then the same purge again on the purged copy, once at once (dead index entries still
  there: a manual rerun) and once after a VACUUM (the next night, after autovacuum: a no-op night);
* ``delete``: ``DELETE FROM app.connection_logs WHERE occurred_at < cutoff`` in one transaction.

Prints progress and a results table (medians over ``--repeats``), writes var/bench/log_purge.json,
and drops every database it created.

    .venv/bin/python bench/bench_log_purge.py --rows 2000000
    .venv/bin/python bench/bench_log_purge.py            # 20M rows, several minutes
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import statistics
import sys
import threading
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "plugins"))

from retention.appschema import create_app_schema  # noqa: E402
from retention.db import make_engine  # noqa: E402
from retention.logs import purge_connection_logs  # noqa: E402
from retention.migrate import migrate_app  # noqa: E402
from retention.policy import load_policy  # noqa: E402
from retention.window import RunWindow  # noqa: E402

START = datetime(2023, 1, 1, tzinfo=timezone.utc)
END = datetime(2026, 1, 1, tzinfo=timezone.utc)  # three years of logs
AS_OF = datetime(2025, 1, 16, tzinfo=timezone.utc)  # cutoff 2024-01-16: about the first third expired
CHUNK = 1_000_000
LAYOUTS = ("partitioned", "plain")

INSERT_CHUNK = """
insert into app.connection_logs (account_id, ip, occurred_at, path, user_agent)
select
    case when i %% 5 = 0 then null else (i * 7919) %% 1000000 end,
    inet '10.0.0.0' + (i * 2654435761) %% 16777216,
    %(start)s + (i * %(step)s) * interval '1 second',
    '/projects/' || (i %% 5000) || case i %% 3 when 0 then '/apply' when 1 then '/view' else '/messages' end,
    'Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/' || (100 + i %% 30)
from generate_series(cast(%(lo)s as bigint), cast(%(hi)s as bigint)) as i
"""


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def with_db(admin_url: str, dbname: str) -> str:
    """The admin URL (postgresql://...) pointed at another database."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(admin_url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise SystemExit("--admin-url must be a postgresql:// URL")
    return urlunsplit(parts._replace(path=f"/{dbname}"))


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tag = uuid.uuid4().hex[:6]
        self.created: list[str] = []
        self.lock = threading.Lock()
        # Read once: the policy in force when the benchmark started, for every measurement.
        self.policy = load_policy()
        if args.batch_pages:
            self.policy = dataclasses.replace(self.policy, purge_batch_pages=args.batch_pages)

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.args.admin_url, autocommit=True)

    def create_db(self, name: str, template: str | None = None) -> str:
        with self.admin() as c:
            if template:
                c.execute(sql.SQL("create database {} template {} strategy file_copy").format(
                    sql.Identifier(name), sql.Identifier(template)))
            else:
                c.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        with self.lock:
            self.created.append(name)
        return with_db(self.args.admin_url, name)

    def drop_db(self, name: str) -> None:
        with self.admin() as c:
            c.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        with self.lock:
            if name in self.created:
                self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(reversed(self.created)):
            self.drop_db(name)

    # -- data ------------------------------------------------------------------------------------

    def build(self, layout: str) -> str:
        """Template database for one layout; returns its name."""
        name = f"rt_bench_logs_{layout}_{self.tag}"
        url = self.create_db(name)
        create_app_schema(url, logs_layout=layout, partitions_from=START.date(),
                          partitions_to=date(END.year, END.month, 1) - timedelta(days=1))
        engine = make_engine(url)
        migrate_app(engine)
        engine.dispose()
        rows = self.args.rows
        step = (END - START).total_seconds() / rows
        started = time.monotonic()
        with psycopg.connect(url, autocommit=True) as c:
            for lo in range(0, rows, CHUNK):
                hi = min(lo + CHUNK, rows) - 1
                c.execute(INSERT_CHUNK, {"start": START, "step": step, "lo": lo, "hi": hi})
                done = hi + 1
                elapsed = time.monotonic() - started
                say(f"build {layout}: {done:,}/{rows:,} rows ({done / elapsed:,.0f} rows/s)")
            say(f"build {layout}: vacuum analyze")
            c.execute("vacuum (analyze) app.connection_logs")
            size = c.execute("select pg_total_relation_size('app.connection_logs')").fetchone()[0]
            if layout == "partitioned":
                size = c.execute(
                    "select sum(pg_total_relation_size(relid)) from pg_partition_tree('app.connection_logs')"
                ).fetchone()[0]
        say(f"build {layout}: done in {time.monotonic() - started:.0f} s, {int(size) / 2**30:.2f} GiB with indexes")
        return name

    # -- measurements ----------------------------------------------------------------------------

    def copy(self, template: str, method: str) -> tuple[str, str]:
        name = f"rt_bench_logs_{method}_{uuid.uuid4().hex[:6]}"
        url = self.create_db(name, template)
        with self.admin() as c:
            c.execute("checkpoint")
        return name, url

    @staticmethod
    def wal_lsn(conn: psycopg.Connection):
        return conn.execute("select pg_current_wal_lsn()").fetchone()[0]

    def wal_bytes(self, before) -> int:
        with self.admin() as c:
            return int(c.execute("select pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (before,)).fetchone()[0])

    def run_purge(self, template: str, layout: str) -> dict:
        name, url = self.copy(template, "purge")
        policy = self.policy
        engine = make_engine(url)
        try:
            with self.admin() as c:
                lsn = self.wal_lsn(c)
            window = RunWindow.build(AS_OF, policy)
            started = time.monotonic()
            result = purge_connection_logs(engine, window, policy, f"bench-{uuid.uuid4().hex[:8]}")
            seconds = time.monotonic() - started
            wal = self.wal_bytes(lsn)
            noop_started = time.monotonic()
            noop = purge_connection_logs(engine, window, policy, f"bench-noop-{uuid.uuid4().hex[:8]}")
            noop_seconds = time.monotonic() - noop_started
            # The next night: autovacuum has removed the dead tuples (and their index entries) by then.
            with psycopg.connect(url, autocommit=True) as c:
                c.execute("vacuum app.connection_logs")
            noop_started = time.monotonic()
            purge_connection_logs(engine, window, policy, f"bench-noop-{uuid.uuid4().hex[:8]}")
            noop_vacuumed_seconds = time.monotonic() - noop_started
            with engine.connect() as c:
                left = c.exec_driver_sql(
                    "select count(*) from app.connection_logs where occurred_at < %(cutoff)s",
                    {"cutoff": window.logs_before},
                ).scalar_one()
        finally:
            engine.dispose()
            self.drop_db(name)
        assert left == 0 and noop["rows_deleted"] == 0, "the purge left expired rows behind"
        return {
            "layout": layout, "method": "purge", "seconds": seconds, "rows": result["rows_deleted"],
            "longest_tx_s": result["longest_batch_s"], "transactions": result["transactions"],
            "partitions_dropped": result["partitions_dropped"], "pages_walked": result["pages_walked"],
            "wal_bytes": wal, "noop_seconds": noop_seconds, "noop_vacuumed_seconds": noop_vacuumed_seconds,
        }

    def run_delete(self, template: str, layout: str) -> dict:
        name, url = self.copy(template, "delete")
        try:
            with psycopg.connect(url) as c:
                with self.admin() as a:
                    lsn = self.wal_lsn(a)
                cutoff = RunWindow.build(AS_OF, self.policy).logs_before
                started = time.monotonic()
                rows = c.execute("delete from app.connection_logs where occurred_at < %s", (cutoff,)).rowcount
                c.commit()
                seconds = time.monotonic() - started
                wal = self.wal_bytes(lsn)
        finally:
            self.drop_db(name)
        return {"layout": layout, "method": "delete", "seconds": seconds, "rows": rows, "longest_tx_s": seconds,
                "transactions": 1, "partitions_dropped": 0, "pages_walked": None, "wal_bytes": wal,
                "noop_seconds": None, "noop_vacuumed_seconds": None}


def summarise(runs: list[dict]) -> list[dict]:
    table = []
    for layout in LAYOUTS:
        for method in ("purge", "delete"):
            mine = [r for r in runs if r["layout"] == layout and r["method"] == method]
            if not mine:
                continue
            seconds = statistics.median(r["seconds"] for r in mine)
            row = {
                "layout": layout, "method": method, "runs": len(mine),
                "median_s": round(seconds, 3), "min_s": round(min(r["seconds"] for r in mine), 3),
                "max_s": round(max(r["seconds"] for r in mine), 3),
                "rows": mine[0]["rows"], "rows_per_s": round(mine[0]["rows"] / seconds),
                "longest_tx_s": round(max(r["longest_tx_s"] for r in mine), 3),
                "transactions": mine[0]["transactions"], "partitions_dropped": mine[0]["partitions_dropped"],
                "wal_mib": round(statistics.median(r["wal_bytes"] for r in mine) / 2**20, 1),
            }
            if method == "purge":
                row["noop_median_s"] = round(statistics.median(r["noop_seconds"] for r in mine), 3)
                row["noop_vacuumed_median_s"] = round(statistics.median(r["noop_vacuumed_seconds"] for r in mine), 3)
            table.append(row)
    return table


def paired_ratios(runs: list[dict]) -> dict[str, float]:
    """Median over repeats of purge / DELETE measured back to back (robust to a machine whose load
    changes during the benchmark)."""
    ratios = {}
    for layout in LAYOUTS:
        pairs = []
        for repeat in sorted({r["repeat"] for r in runs if r["layout"] == layout}):
            got = {r["method"]: r["seconds"] for r in runs if r["layout"] == layout and r["repeat"] == repeat}
            if {"purge", "delete"} <= set(got):
                pairs.append(got["purge"] / got["delete"])
        if pairs:
            ratios[layout] = round(statistics.median(pairs), 3)
    return ratios


def print_table(table: list[dict], ratios: dict[str, float]) -> None:
    header = f"{'layout':<12} {'method':<7} {'median s':>9} {'min-max s':>13} {'rows':>11} {'rows/s':>11} " \
             f"{'longest tx s':>12} {'tx':>5} {'dropped':>7} {'WAL MiB':>8} {'no-op s':>8} {'no-op vac s':>11}"
    print(header)
    print("-" * len(header))
    for r in table:
        noop = f"{r['noop_median_s']:.3f}" if "noop_median_s" in r else "-"
        noop_vac = f"{r['noop_vacuumed_median_s']:.3f}" if "noop_vacuumed_median_s" in r else "-"
        print(f"{r['layout']:<12} {r['method']:<7} {r['median_s']:>9.3f} {r['min_s']:>6.2f}-{r['max_s']:<6.2f} "
              f"{r['rows']:>11,} {r['rows_per_s']:>11,} {r['longest_tx_s']:>12.3f} {r['transactions']:>5} "
              f"{r['partitions_dropped']:>7} {r['wal_mib']:>8.1f} {noop:>8} {noop_vac:>11}")
    for layout in LAYOUTS:
        mine = {r["method"]: r for r in table if r["layout"] == layout}
        if {"purge", "delete"} <= set(mine):
            print(f"{layout}: purge / one DELETE = {mine['purge']['median_s'] / mine['delete']['median_s']:.2f}x "
                  f"(medians), {ratios[layout]:.2f}x (median of back-to-back pairs)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per layout and method (median)")
    parser.add_argument("--layouts", nargs="+", choices=LAYOUTS, default=list(LAYOUTS))
    parser.add_argument("--batch-pages", type=int, default=None, help="override policy.purge_batch_pages")
    parser.add_argument("--out", default=str(REPO / "var" / "bench" / "log_purge.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("retention.logs").setLevel(logging.INFO)

    bench = Bench(args)
    try:
        with bench.admin() as c:
            server = {
                "version": c.execute("show server_version").fetchone()[0],
                "shared_buffers": c.execute("show shared_buffers").fetchone()[0],
                "max_wal_size": c.execute("show max_wal_size").fetchone()[0],
                "cpus": os.cpu_count(),
            }
        say(f"building {args.rows:,} rows per layout ({', '.join(args.layouts)}), as_of {AS_OF.isoformat()}")
        templates: dict[str, str] = {}
        errors: list[BaseException] = []

        def build(layout: str) -> None:
            try:
                templates[layout] = bench.build(layout)
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)

        threads = [threading.Thread(target=build, args=(layout,)) for layout in args.layouts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

        runs: list[dict] = []
        for repeat in range(args.repeats):
            for layout in args.layouts:
                # Alternate the order between repeats so that neither method always runs first.
                methods = ("purge", "delete") if repeat % 2 == 0 else ("delete", "purge")
                for method in methods:
                    run = (bench.run_purge if method == "purge" else bench.run_delete)(templates[layout], layout)
                    run["repeat"] = repeat
                    runs.append(run)
                    say(f"run {repeat + 1}/{args.repeats} {layout} {method}: {run['seconds']:.2f} s, "
                        f"{run['rows']:,} rows, longest transaction {run['longest_tx_s']:.3f} s"
                        + (f", no-op rerun {run['noop_seconds']:.3f} s (after vacuum {run['noop_vacuumed_seconds']:.3f} s)"
                           if run["noop_seconds"] is not None else ""))
        table = summarise(runs)
        ratios = paired_ratios(runs)
        with bench.admin() as c:
            load = c.execute("select count(*) from pg_stat_activity where state = 'active'").fetchone()[0]
        print()
        print_table(table, ratios)
        print(f"host load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPU(s); "
              f"active server sessions: {load}")
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({
            "rows": args.rows, "as_of": AS_OF.isoformat(), "data": [START.isoformat(), END.isoformat()],
            "batch_pages": bench.policy.purge_batch_pages,
            "lock_timeout_ms": bench.policy.lock_timeout_ms, "server": server,
            "results": table, "paired_ratio_purge_over_delete": ratios,
            "load_average_at_end": os.getloadavg()[0], "runs": runs,
        }, indent=2))
        say(f"wrote {out}")
    finally:
        bench.drop_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
