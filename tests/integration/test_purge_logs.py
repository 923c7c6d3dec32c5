"""Connection-log purge on real PostgreSQL, both layouts: the one-year boundary to the second, leap
days, whole partitions dropped (bounds read from the catalog), dry run, rerun, crash and resume,
lock conflicts, and the application inserting logs while the purge runs."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import psycopg
import pytest
from retention import logs
from retention.appschema import create_app_schema
from retention.db import make_engine
from retention.faults import InjectedFault
from retention.logs import purge_connection_logs
from retention.migrate import migrate_app
from retention.policy import load_policy
from retention.window import RunWindow, subtract_years

pytestmark = pytest.mark.integration

UTC = timezone.utc
AS_OF = "2026-06-15T00:00:00+00:00"
CUTOFF = datetime(2025, 6, 15, tzinfo=UTC)
LAYOUTS = ("plain", "partitioned")


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


class LogsDb:
    """A throwaway application database with the reference schema and the pipeline's own schema."""

    def __init__(self, url: str, layout: str, *, migrate: bool = True) -> None:
        self.url = url
        self.layout = layout
        self.engine = make_engine(url)
        if migrate:
            migrate_app(self.engine)

    def connect(self) -> psycopg.Connection:
        conn = psycopg.connect(self.url, autocommit=True)
        conn.execute("set timezone = 'UTC'")
        return conn

    def insert(self, instants: list[datetime], path: str = "/seed") -> None:
        with self.connect() as c:
            c.execute(
                "insert into app.connection_logs (account_id, ip, occurred_at, path, user_agent) "
                "select 42, inet '192.0.2.7', t, %s, 'Mozilla/5.0 test' from unnest(%s::timestamptz[]) as t",
                (path, instants),
            )

    def insert_series(self, first: datetime, last: datetime, count: int, path: str = "/bulk") -> None:
        """``count`` rows evenly spread over [first, last], written in time order."""
        with self.connect() as c:
            c.execute(
                "insert into app.connection_logs (account_id, ip, occurred_at, path, user_agent) "
                "select i, inet '198.51.100.0' + (i %% 250), %(first)s + (%(last)s - %(first)s) * (i / %(n)s::float8), "
                "%(path)s, 'Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0' "
                "from generate_series(0, %(n)s - 1) as i",
                {"first": first, "last": last, "n": count, "path": path},
            )

    def instants(self) -> list[datetime]:
        with self.connect() as c:
            return [r[0] for r in c.execute("select occurred_at from app.connection_logs order by occurred_at")]

    def count(self, where: str = "true", params: tuple = ()) -> int:
        with self.connect() as c:
            return c.execute(f"select count(*) from app.connection_logs where {where}", params).fetchone()[0]

    def expired(self, cutoff: datetime = CUTOFF) -> int:
        return self.count("occurred_at < %s", (cutoff,))

    def tables(self) -> set[str]:
        with self.connect() as c:
            return {r[0] for r in c.execute(
                "select c.relname from pg_class as c join pg_namespace as n on n.oid = c.relnamespace "
                "where n.nspname = 'app' and c.relname like 'connection_logs%' and c.relkind in ('r', 'p')"
            )}

    def audit(self, run_id: str) -> dict | None:
        with self.connect() as c:
            c.row_factory = psycopg.rows.dict_row
            return c.execute(
                "select rows_affected, partitions_dropped, details, cutoff, dry_run from retention.rule_audit "
                "where run_id = %s and rule = 'purge_connection_logs'", (run_id,)
            ).fetchone()

    def audit_rows(self) -> int:
        with self.connect() as c:
            return c.execute("select count(*) from retention.rule_audit").fetchone()[0]


@pytest.fixture
def make_db(databases) -> Iterator:
    made: list[LogsDb] = []

    def make(layout: str, **schema) -> LogsDb:
        url = databases.create(f"logs_{layout}")
        create_app_schema(url, logs_layout=layout, **schema)
        db = LogsDb(url, layout)
        made.append(db)
        return db

    yield make
    for db in made:
        db.engine.dispose()


def purge(db: LogsDb, as_of: str = AS_OF, run_id: str = "run-1", dry_run: bool = False, **policy_changes):
    policy = dataclasses.replace(load_policy(), **policy_changes)
    return purge_connection_logs(db.engine, RunWindow.build(as_of, policy, dry_run), policy, run_id)


# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_one_year_boundary_to_the_second(make_db, layout):
    db = make_db(layout)
    goes = [ts("2019-03-01T08:00:00+00:00"),  # older than every partition: lands in DEFAULT
            ts("2023-02-11T10:00:00+00:00"),  # an expired monthly partition
            ts("2025-06-01T00:00:00+00:00"),  # the partition straddling the cutoff
            ts("2025-06-14T23:59:59+00:00"),  # one second before the cutoff
            ts("2025-06-14T23:59:59.999999+00:00")]
    stays = [ts("2025-06-15T00:00:00+00:00"),  # exactly at the cutoff
             ts("2025-06-15T00:00:01+00:00"),
             ts("2026-06-15T00:00:00+00:00"),  # at as_of
             ts("2026-07-01T00:00:00+00:00"),  # after as_of
             ts("2031-01-01T00:00:00+00:00")]  # after every partition: DEFAULT
    db.insert(goes + stays)

    result = purge(db)

    assert db.instants() == stays
    assert result["rows_deleted"] == len(goes)
    assert result["cutoff"] == CUTOFF.isoformat()
    assert result["layout"] == layout and result["dry_run"] is False
    audit = db.audit("run-1")
    assert audit["rows_affected"] == len(goes)
    assert audit["cutoff"] == CUTOFF and audit["dry_run"] is False
    assert audit["details"]["layout"] == layout
    if layout == "partitioned":
        # 2022-01 .. 2025-05 end at or before the cutoff: 41 monthly partitions dropped, not detached.
        expected_drops = {f"connection_logs_{d:%Y_%m}" for d in _months(date(2022, 1, 1), date(2025, 5, 1))}
        assert len(expected_drops) == 41
        assert result["partitions_dropped"] == audit["partitions_dropped"] == 41
        assert not expected_drops & db.tables()
        assert {"connection_logs", "connection_logs_default", "connection_logs_2025_06"} <= db.tables()
        assert result["rows_in_dropped_partitions"] == 1  # the 2023-02 row
        assert result["rows_batch_deleted"] == 4  # DEFAULT (1) and the boundary partition (3)
        assert audit["details"]["rows_in_dropped_partitions"] == 1
    else:
        assert result["partitions_dropped"] == 0
        assert result["longest_batch_s"] < 2


def _months(first: date, last: date) -> list[date]:
    from retention.appschema import month_starts

    return month_starts(first, last)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_leap_days(make_db, layout):
    db = make_db(layout, partitions_from=date(2023, 1, 1), partitions_to=date(2027, 12, 1))
    # as_of 2025-02-28 12:00: the cutoff is 2024-02-28 12:00, so the leap day of 2024 is within the year.
    db.insert([ts("2024-02-28T11:59:59+00:00"), ts("2024-02-28T12:00:00+00:00"), ts("2024-02-29T00:00:00+00:00")])
    result = purge(db, as_of="2025-02-28T12:00:00+00:00", run_id="leap-1")
    assert result["rows_deleted"] == 1
    assert db.instants() == [ts("2024-02-28T12:00:00+00:00"), ts("2024-02-29T00:00:00+00:00")]

    # as_of on a leap day: PostgreSQL's interval '1 year' lands on 28 February of the year before.
    db.insert([ts("2027-02-28T11:59:59+00:00"), ts("2027-02-28T12:00:00+00:00"), ts("2027-03-01T00:00:00+00:00"),
               ts("2028-02-29T12:00:00+00:00")])
    result = purge(db, as_of="2028-02-29T12:00:00+00:00", run_id="leap-2")
    assert result["cutoff"] == "2027-02-28T12:00:00+00:00"
    assert db.instants() == [ts("2027-02-28T12:00:00+00:00"), ts("2027-03-01T00:00:00+00:00"),
                             ts("2028-02-29T12:00:00+00:00")]
    if layout == "partitioned":
        assert "connection_logs_2027_01" not in db.tables() and "connection_logs_2027_02" in db.tables()


def test_window_years_match_postgresql(make_db):
    """window.subtract_years gives what PostgreSQL computes for `as_of - interval 'N years'` (UTC sessions)."""
    db = make_db("plain")
    instants = ["2028-02-29T12:00:00+00:00", "2028-02-29T00:00:00+00:00", "2025-02-28T23:59:59+00:00",
                "2024-02-29T00:00:00+00:00", "2024-03-01T00:00:00+00:00", "2026-06-15T00:00:00+00:00",
                "2026-12-31T23:59:59.999999+00:00", "2027-01-01T00:00:00+00:00"]
    with db.connect() as c:
        for text in instants:
            as_of = ts(text)
            for years in (1, 3, 4, 5):
                expected = c.execute("select %s::timestamptz - make_interval(years => %s)", (as_of, years)).fetchone()[0]
                assert subtract_years(as_of, years) == expected, (text, years)
    window = RunWindow.build("2028-02-29T12:00:00+00:00", load_policy())
    assert window.logs_before == ts("2027-02-28T12:00:00+00:00")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_dry_run_changes_nothing_and_reports_counts(make_db, layout):
    db = make_db(layout, partitions_from=date(2025, 1, 1), partitions_to=date(2026, 12, 1))
    db.insert_series(ts("2024-11-01T00:00:00+00:00"), ts("2026-06-01T00:00:00+00:00"), 3000)
    before_rows, before_tables, expired = db.count(), db.tables(), db.expired()
    assert 0 < expired < before_rows

    result = purge(db, dry_run=True)

    assert result["dry_run"] is True
    assert result["would_delete"] == expired
    if layout == "partitioned":
        assert result["would_drop"] == [f"connection_logs_2025_{m:02d}" for m in range(1, 6)]
    else:
        assert result["would_drop"] == []
    assert "rows_deleted" not in result
    assert db.count() == before_rows and db.tables() == before_tables
    assert db.audit_rows() == 0


@pytest.mark.parametrize("layout", LAYOUTS)
def test_rerun_deletes_nothing_more_and_audit_stays_exact(make_db, layout):
    db = make_db(layout, partitions_from=date(2025, 1, 1), partitions_to=date(2026, 12, 1))
    db.insert_series(ts("2024-11-01T00:00:00+00:00"), ts("2026-06-01T00:00:00+00:00"), 5000)
    expired, total = db.expired(), db.count()

    first = purge(db, purge_batch_pages=3)
    again = purge(db, purge_batch_pages=3)
    other_run = purge(db, run_id="run-2")

    assert first["rows_deleted"] == expired and db.count() == total - expired and db.expired() == 0
    assert again["rows_deleted"] == 0 and again["partitions_dropped"] == 0
    assert other_run["rows_deleted"] == 0
    audit = db.audit("run-1")
    assert audit["rows_affected"] == expired
    assert audit["partitions_dropped"] == first["partitions_dropped"] == (5 if layout == "partitioned" else 0)
    assert audit["details"]["rows_batch_deleted"] + audit["details"].get("rows_in_dropped_partitions", 0) == expired
    assert db.audit("run-2")["rows_affected"] == 0  # the night is recorded, with nothing to delete
    for _ in range(3):  # the session settings of the purge do not leak into the engine's pool
        with db.engine.connect() as c:
            assert c.exec_driver_sql("show lock_timeout").scalar() == "0"
            assert c.exec_driver_sql("show synchronous_commit").scalar() == "on"


@pytest.mark.parametrize("layout", LAYOUTS)
def test_crash_mid_purge_then_rerun_finishes_with_exact_counts(make_db, layout, monkeypatch):
    db = make_db(layout, partitions_from=date(2025, 1, 1), partitions_to=date(2026, 12, 1))
    db.insert_series(ts("2024-11-01T00:00:00+00:00"), ts("2026-06-01T00:00:00+00:00"), 6000)
    expired, total = db.expired(), db.count()

    monkeypatch.setenv("RETENTION_FAULT_POINT", "logs.after_batch")
    with pytest.raises(InjectedFault):
        purge(db, purge_batch_pages=1)
    partial = total - db.count()
    assert 0 < partial < expired  # one unit committed, then the crash
    assert db.audit("run-1")["rows_affected"] == partial  # committed with its audit increment, nothing more

    monkeypatch.delenv("RETENTION_FAULT_POINT")
    resumed = purge(db, purge_batch_pages=1)

    assert db.expired() == 0 and db.count() == total - expired
    assert resumed["rows_deleted"] == expired - partial
    audit = db.audit("run-1")
    assert audit["rows_affected"] == expired
    if layout == "partitioned":
        assert audit["partitions_dropped"] == 5
        assert not {f"connection_logs_2025_{m:02d}" for m in range(1, 6)} & db.tables()


def test_plain_rows_outside_the_sampled_pages_are_swept(make_db):
    """Correctness never rests on the sampling: expired rows stored far from the others still go."""
    db = make_db("plain")
    db.insert_series(ts("2024-01-01T00:00:00+00:00"), ts("2025-01-01T00:00:00+00:00"), 20_000, path="/old")
    db.insert_series(ts("2025-07-01T00:00:00+00:00"), ts("2026-06-01T00:00:00+00:00"), 40_000, path="/new")
    # Written late (a backfill), so stored at the end of the heap; between two sampled instants.
    db.insert([ts("2024-01-01T00:00:00.000001+00:00"), ts("2024-06-01T00:00:00.5+00:00")], path="/backfill")
    expired = db.expired()

    result = purge(db, purge_batch_pages=20)

    assert db.expired() == 0 and result["rows_deleted"] == expired
    assert result["straggler_rows"] >= 1
    assert result["pages_walked"] < 0.5 * _pages(db)  # the walk did not read the whole heap
    assert db.audit("run-1")["rows_affected"] == expired


def _pages(db: LogsDb) -> int:
    with db.connect() as c:
        return c.execute("select pg_relation_size('app.connection_logs') / 8192").fetchone()[0]


def test_partition_bounds_come_from_the_catalog(make_db):
    """MINVALUE/MAXVALUE bounds, a misleading name, a sub-partitioned boundary partition."""
    db = make_db("partitioned", partitions_from=date(2025, 7, 1), partitions_to=date(2025, 11, 1))
    with db.connect() as c:
        c.execute("create table app.connection_logs_ancient partition of app.connection_logs "
                  "for values from (minvalue) to ('2025-01-01 00:00:00+00')")
        c.execute("create table app.connection_logs_2099_12 partition of app.connection_logs "
                  "for values from ('2025-01-01 00:00:00+00') to ('2025-06-01 00:00:00+00')")
        c.execute("create table app.connection_logs_june partition of app.connection_logs "
                  "for values from ('2025-06-01 00:00:00+00') to ('2025-07-01 00:00:00+00') "
                  "partition by range (occurred_at)")
        c.execute("create table app.connection_logs_june_a partition of app.connection_logs_june "
                  "for values from ('2025-06-01 00:00:00+00') to ('2025-06-10 00:00:00+00')")
        c.execute("create table app.connection_logs_june_b partition of app.connection_logs_june "
                  "for values from ('2025-06-10 00:00:00+00') to ('2025-07-01 00:00:00+00')")
        c.execute("create table app.connection_logs_tail partition of app.connection_logs "
                  "for values from ('2025-12-01 00:00:00+00') to (maxvalue)")
    goes = [ts("1999-01-01T00:00:00+00:00"), ts("2025-03-03T00:00:00+00:00"), ts("2025-06-05T00:00:00+00:00"),
            ts("2025-06-14T23:59:59+00:00")]
    stays = [ts("2025-06-15T00:00:00+00:00"), ts("2025-08-01T00:00:00+00:00"), ts("2099-12-31T00:00:00+00:00")]
    db.insert(goes + stays)

    dry = purge(db, dry_run=True)
    assert dry["would_drop"] == ["connection_logs_2099_12", "connection_logs_ancient", "connection_logs_june_a"]
    assert dry["would_delete"] == len(goes)

    result = purge(db)

    assert db.instants() == stays
    assert result["partitions_dropped"] == 3 and result["rows_deleted"] == len(goes)
    tables = db.tables()
    assert not {"connection_logs_ancient", "connection_logs_2099_12", "connection_logs_june_a"} & tables
    assert {"connection_logs_june", "connection_logs_june_b", "connection_logs_tail",
            "connection_logs_default", "connection_logs_2025_07"} <= tables


def test_drop_that_never_gets_its_lock_falls_back_to_deleting_rows(make_db, monkeypatch):
    """A long reader on the parent: the DROP gives up after its retries, the rows go all the same."""
    monkeypatch.setattr(logs, "BACKOFF_S", 0.01)
    db = make_db("partitioned", partitions_from=date(2025, 4, 1), partitions_to=date(2025, 8, 1))
    db.insert([ts("2025-04-10T00:00:00+00:00"), ts("2025-05-10T00:00:00+00:00"), ts("2025-06-20T00:00:00+00:00")])
    with db.connect() as reader:
        with reader.transaction():
            reader.execute("select count(*) from app.connection_logs").fetchone()  # holds ACCESS SHARE
            started = time.monotonic()
            result = purge(db, lock_timeout_ms=100)
            elapsed = time.monotonic() - started
    assert result["partitions_dropped"] == 0 and result["partitions_deferred"] == 2
    assert result["rows_deleted"] == 2 and db.instants() == [ts("2025-06-20T00:00:00+00:00")]
    assert {"connection_logs_2025_04", "connection_logs_2025_05"} <= db.tables()  # dropped another night
    assert elapsed < 2 * logs.LOCK_ATTEMPTS * (0.1 + 0.2) + 5
    # The next night, without the reader, drops the now empty partitions.
    again = purge(db, run_id="run-2")
    assert again["partitions_dropped"] == 2 and again["rows_deleted"] == 0
    assert not {"connection_logs_2025_04", "connection_logs_2025_05"} & db.tables()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_application_keeps_inserting_while_the_purge_runs(make_db, layout):
    """A second connection writes logs into the partition being purged (and DEFAULT) throughout the
    purge: none of its rows is lost, and none of its inserts waits longer than lock_timeout."""
    lock_timeout_ms = 500
    db = make_db(layout, partitions_from=date(2025, 1, 1), partitions_to=date(2026, 12, 1))
    db.insert_series(ts("2025-01-01T00:00:00+00:00"), ts("2025-05-31T00:00:00+00:00"), 3_000, path="/old")
    # Most expired rows in the partition straddling the cutoff: purged page by page, not dropped.
    db.insert_series(ts("2025-06-01T00:00:00+00:00"), ts("2025-06-14T23:59:59+00:00"), 30_000, path="/old")
    db.insert_series(ts("2025-06-15T00:00:00+00:00"), ts("2025-06-30T00:00:00+00:00"), 2_000, path="/recent")
    expired = db.expired()

    stop = threading.Event()
    written: list[int] = []
    waits: list[float] = []
    errors: list[BaseException] = []

    def application() -> None:
        try:
            with db.connect() as c:
                i = 0
                while not stop.is_set():
                    # At/after the cutoff, in the boundary partition; every fifth one beyond all partitions.
                    at = CUTOFF + timedelta(seconds=i) if i % 5 else ts("2031-01-01T00:00:00+00:00") + timedelta(seconds=i)
                    started = time.monotonic()
                    c.execute("insert into app.connection_logs (account_id, ip, occurred_at, path) "
                              "values (7, inet '203.0.113.9', %s, '/live')", (at,))
                    waits.append(time.monotonic() - started)
                    written.append(i)
                    i += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    writer = threading.Thread(target=application, daemon=True)
    writer.start()
    while len(written) < 20 and writer.is_alive():
        time.sleep(0.01)
    try:
        before = len(written)
        result = purge(db, purge_batch_pages=1, lock_timeout_ms=lock_timeout_ms)
        during = len(written) - before
    finally:
        stop.set()
        writer.join(timeout=30)

    assert not errors and not writer.is_alive()
    assert during > 20  # the application kept writing while the purge ran
    assert result["rows_deleted"] == expired and db.expired() == 0
    assert result["transactions"] > 100  # many short transactions, interleaved with the writer
    assert db.count("path = '/live'") == len(written)
    assert db.count("path = '/recent'") == 2_000
    assert max(waits) < lock_timeout_ms / 1000 + 0.5
    assert result["longest_batch_s"] < 2


def test_least_privilege_role_drops_what_it_owns_and_deletes_the_rest(databases):
    """As `retention_pipeline`: owned expired partitions are dropped; one the platform did not hand
    over is emptied row by row instead (the promise holds), and left for the platform to drop."""
    from platform_fixture import as_role
    from retention.roles import PIPELINE_ROLE, apply_roles

    app_url, warehouse_url = databases.create("logs_roles"), databases.create("wh_roles")
    create_app_schema(app_url, logs_layout="partitioned", partitions_from=date(2025, 3, 1),
                      partitions_to=date(2025, 8, 1))
    apply_roles(app_url, warehouse_url)
    with psycopg.connect(app_url, autocommit=True) as c:  # created later by the platform, not handed over
        c.execute("create table app.connection_logs_2025_02 partition of app.connection_logs "
                  "for values from ('2025-02-01 00:00:00+00') to ('2025-03-01 00:00:00+00')")
        c.execute(f"grant select, delete on app.connection_logs_2025_02 to {PIPELINE_ROLE}")
    admin = LogsDb(app_url, "partitioned", migrate=False)  # the platform's view, as superuser
    admin.insert([ts("2019-01-01T00:00:00+00:00"), ts("2025-02-10T00:00:00+00:00"), ts("2025-04-10T00:00:00+00:00"),
                  ts("2025-06-01T00:00:00+00:00"), ts("2025-06-20T00:00:00+00:00")])

    pipeline = make_engine(as_role(app_url, PIPELINE_ROLE))
    try:
        migrate_app(pipeline)
        policy = load_policy()
        result = purge_connection_logs(pipeline, RunWindow.build(AS_OF, policy), policy, "run-role")
    finally:
        pipeline.dispose()
        admin.engine.dispose()

    assert admin.instants() == [ts("2025-06-20T00:00:00+00:00")]
    assert result["rows_deleted"] == 4
    assert result["partitions_dropped"] == 3 and result["partitions_deferred"] == 1
    tables = admin.tables()
    assert "connection_logs_2025_02" in tables
    assert not {"connection_logs_2025_03", "connection_logs_2025_04", "connection_logs_2025_05"} & tables
