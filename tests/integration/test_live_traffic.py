"""The platform keeps running while the pipeline does: members log in, apply, write, and connection
logs keep arriving. Real PostgreSQL, a second connection (or thread) for the application, and
sequencing by statement hooks on the pipeline's own engine (SQLAlchemy events: the hook runs
application SQL at an exact point of a batch; nothing in the pipeline is replaced).

Defined behaviour:
* activity committed before a batch locks an account keeps it (the eligibility re-check under the
  locks sees it), whatever kind of activity it is;
* an account the application holds when the batch locks its range is skipped (SKIP LOCKED), never
  waited for, and goes another night if still eligible;
* the application waits on an account of a batch in flight at most for that batch; after it,
  a login by e-mail finds nothing (the account is a tombstone);
* connection logs inserted during the purge, into the partition being purged and into the ones
  being dropped, are never lost, never deadlock, and never wait longer than the lock timeout.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

import psycopg
import pytest
from platform_fixture import Platform, make_platform
from retention import accounts
from retention.db import make_engine
from retention.logs import purge_connection_logs
from retention.migrate import migrate_app, migrate_warehouse
from retention.policy import Policy, load_policy
from retention.window import RunWindow
from sqlalchemy import event

pytestmark = pytest.mark.integration

AS_OF = "2026-06-15T00:00:00+00:00"
DURING_THE_RUN = "2026-06-15T00:10:00+00:00"  # activity while the nightly run is going on


@dataclass
class Stage:
    p: Platform
    app: object
    wh: object
    policy: Policy
    project: int

    def night(self, run_id: str, as_of: str = AS_OF) -> dict:
        """plan -> every batch -> finalize, as the DAG chains them."""
        window = RunWindow.build(as_of, self.policy)
        planned = accounts.plan(self.app, window, self.policy, run_id)
        batches = [accounts.process_batch(self.app, self.wh, window, self.policy, b["plan_id"], b["batch_no"])
                   for b in planned["batches"]]
        return {"planned": planned, "batches": batches,
                "final": accounts.finalize(self.app, self.wh, window, run_id, planned)}

    def member(self, label: str, **cols) -> int:
        cols.setdefault("last_login_at", "2019-01-01T00:00:00+00:00")
        with self.p.app() as c:
            a = self.p.add_account(c, email=f"{label}@live.example", first_name=label.title(), last_name="Live",
                                   phone="+33 6 00 00 00 00", postal_code="75011", birth_date="1980-01-01", **cols)
            self.p.add(c, "activity_events", account_id=a, feature="login", occurred_at="2019-01-01T00:00:00+00:00")
            self.p.add(c, "applications", account_id=a, project_id=self.project, applied_at="2019-01-01T00:00:00+00:00")
        return a

    def anonymised(self, account_id: int) -> bool:
        return self.p.scalar("select anonymised_at is not null from app.accounts where id = %s", (account_id,))

    def members_in_warehouse(self) -> int:
        return self.p.scalar("select coalesce(sum(members), 0) from stats.anonymised_cohorts", db="wh")

    @staticmethod
    def hook(engine, statement_marker: str, action: Callable[[], None]):
        """Run ``action`` once, just before the pipeline sends the statement containing the marker."""
        fired: list[bool] = []

        def before(conn, cursor, statement, parameters, context, executemany):
            if not fired and statement_marker in statement:
                fired.append(True)
                action()

        event.listen(engine, "before_cursor_execute", before)
        return fired, lambda: event.remove(engine, "before_cursor_execute", before)


@pytest.fixture
def stage(databases) -> Iterator[Stage]:
    p = make_platform(databases)
    app, wh = make_engine(p.pipeline_app_url), make_engine(p.pipeline_warehouse_url)
    policy = load_policy()
    migrate_app(app)
    migrate_warehouse(wh, policy)
    with p.app() as c:
        project = c.execute("insert into app.projects (client_name, title, published_at) "
                            "values ('Client', 'Project', '2015-01-01') returning id").fetchone()[0]
    try:
        yield Stage(p, app, wh, policy, project)
    finally:
        app.dispose()
        wh.dispose()


LOCK_STATEMENT = "insert into batch_locked"  # sql/accounts/lock_batch_accounts.sql
SCRUB_STATEMENT = "accounts_done as ("  # sql/accounts/scrub_batch.sql

ACTIVITIES = {
    "login": "update app.accounts set last_login_at = %(at)s where id = %(id)s",
    "apply": "insert into app.applications (account_id, project_id, applied_at) values (%(id)s, %(project)s, %(at)s)",
    "message": "insert into app.messages (sender_id, recipient_id, body, sent_at) values (%(id)s, %(other)s, 'hi', %(at)s)",
    "event": "insert into app.activity_events (account_id, feature, occurred_at) values (%(id)s, 'search_projects', %(at)s)",
    "assessment": "insert into app.assessments (account_id, assessment_code, score, completed_at) "
                  "values (%(id)s, 'ANNOT-TXT', 50, %(at)s)",
}


@pytest.mark.parametrize("activity", sorted(ACTIVITIES))
def test_activity_committed_before_the_lock_keeps_the_account(stage, activity):
    """The member was eligible when the night was planned; their activity commits after the plan,
    right before the batch's lock statement. The batch's re-check under the locks sees it: the
    member is kept (untouched), the other member of the batch is anonymised, and the warehouse,
    the ledger and the audit count one member."""
    member, other = stage.member("member"), stage.member("other")
    with stage.p.app() as c:
        before = c.execute("select email, first_name, phone, birth_date from app.accounts where id = %s",
                           (member,)).fetchone()

    def act() -> None:
        with stage.p.app() as c:
            c.execute(ACTIVITIES[activity], {"id": member, "other": other, "project": stage.project, "at": DURING_THE_RUN})

    fired, remove = Stage.hook(stage.app, LOCK_STATEMENT, act)
    try:
        night = stage.night("night-1")
    finally:
        remove()

    assert fired, "the activity ran right before the lock"
    assert night["planned"]["eligible"]["inactive"] == 2
    assert not stage.anonymised(member) and stage.anonymised(other)
    with stage.p.app() as c:
        assert c.execute("select email, first_name, phone, birth_date from app.accounts where id = %s",
                         (member,)).fetchone() == before
    assert stage.p.scalar("select count(*) from app.applications where account_id = %s", (member,)) >= 1
    assert stage.members_in_warehouse() == 1
    assert night["batches"][0]["inactive"] == 1
    assert night["final"]["anonymised"] == {"deceased": 0, "closed": 0, "inactive": 1}
    # And it stays: the next night the member is active, not eligible.
    assert stage.night("night-2", "2026-06-16T00:00:00+00:00")["planned"]["eligible"]["inactive"] == 0
    assert not stage.anonymised(member)


HOLDS = {
    # A profile edit: no-key update of the row, eligibility unchanged.
    "profile_edit": ("update app.accounts set availability = 'from September' where id = %(id)s", True),
    # An application being written: the foreign key holds a KEY SHARE lock on the account.
    "application_insert": ("insert into app.applications (account_id, project_id, applied_at) "
                           "values (%(id)s, %(project)s, %(at)s)", False),
}


@pytest.mark.parametrize("hold", sorted(HOLDS))
def test_account_held_by_an_open_application_transaction_is_skipped_not_waited_for(stage, hold):
    """The application has the account's row in an open transaction when the batch locks its range:
    the batch skips it at once (SKIP LOCKED; its duration stays far below the lock timeout), the
    rest of the batch goes, and the application commits without having waited. If still eligible
    afterwards, the member is anonymised another night, and counted once."""
    sql_text, still_eligible = HOLDS[hold]
    member, other = stage.member("member"), stage.member("other")
    with stage.p.app() as app_tx:
        with app_tx.transaction():
            app_tx.execute(sql_text, {"id": member, "project": stage.project, "at": DURING_THE_RUN})
            night = stage.night("night-1")
            batch_seconds = night["batches"][0]["seconds"]
            assert not stage.anonymised(member) and stage.anonymised(other)
            commit_started = time.monotonic()
        commit_seconds = time.monotonic() - commit_started

    assert batch_seconds < stage.policy.lock_timeout_ms / 1000, "the batch never waited for the held row"
    assert commit_seconds < 0.5, "the application was never blocked"
    assert night["batches"][0]["inactive"] == 1 and night["final"]["anonymised"]["inactive"] == 1
    assert stage.members_in_warehouse() == 1

    second = stage.night("night-2", "2026-06-16T00:00:00+00:00")
    assert stage.anonymised(member) == still_eligible
    assert second["final"]["anonymised"]["inactive"] == (1 if still_eligible else 0)
    assert stage.members_in_warehouse() == (2 if still_eligible else 1)
    assert stage.p.scalar("select sum(rows_affected) from retention.rule_audit where rule = 'anonymise_inactive'") == \
        stage.members_in_warehouse()


class _AppSession(threading.Thread):
    """One application statement on its own connection; records how long it waited and what it did."""

    def __init__(self, url: str, sql_text: str, params: dict) -> None:
        super().__init__(daemon=True)
        self.url, self.sql_text, self.params = url, sql_text, params
        self.pid: int | None = None
        self.ready = threading.Event()
        self.waited: float | None = None
        self.rowcount: int | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as c:
                self.pid = c.info.backend_pid
                self.ready.set()
                started = time.monotonic()
                cur = c.execute(self.sql_text, self.params)
                self.waited = time.monotonic() - started
                self.rowcount = cur.rowcount
        except BaseException as exc:  # noqa: BLE001 - asserted by the test
            self.error = exc
            self.ready.set()


def _wait_until_blocked(p: Platform, pid: int, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while p.scalar("select wait_event_type from pg_stat_activity where pid = %s", (pid,)) != "Lock":
        assert time.monotonic() < deadline, "the application session never blocked on the batch's lock"
        time.sleep(0.02)


def test_application_waits_on_a_batch_at_most_for_that_batch(stage):
    """A login by e-mail and an application arrive for two members of a batch in flight (their rows are
    locked, the batch lingers one second before its scrub): each waits, for no longer than the
    batch lasts. Afterwards the login finds no account with that e-mail (a tombstone has none) and
    sets nothing. The application, written on a tombstone after the scrub, is a row the pipeline
    cannot prevent (the platform must refuse writes for anonymised accounts); the after-gate's
    query reports that tombstone, so the run goes red instead of silently keeping it."""
    from retention.mapsql import map_sql
    from sqlalchemy import text

    member, other = stage.member("member"), stage.member("other")
    sessions: list[_AppSession] = []

    def arrive_while_the_batch_holds_the_rows() -> None:
        sessions.append(_AppSession(stage.p.app_url, "update app.accounts set last_login_at = %(at)s "
                                    "where email = %(email)s", {"at": DURING_THE_RUN, "email": "member@live.example"}))
        sessions.append(_AppSession(stage.p.app_url, "insert into app.applications (account_id, project_id, applied_at) "
                                    "values (%(id)s, %(project)s, %(at)s)",
                                    {"id": other, "project": stage.project, "at": DURING_THE_RUN}))
        for s in sessions:
            s.start()
            s.ready.wait(5)
            assert s.error is None, s.error
            _wait_until_blocked(stage.p, s.pid)
        time.sleep(1.0)  # a slow batch

    fired, remove = Stage.hook(stage.app, SCRUB_STATEMENT, arrive_while_the_batch_holds_the_rows)
    try:
        night = stage.night("night-1")
    finally:
        remove()
    for s in sessions:
        s.join(10)
        assert s.error is None, s.error

    assert fired and stage.anonymised(member) and stage.anonymised(other)
    batch_seconds = night["batches"][0]["seconds"]
    login, application = sessions
    assert 0.9 <= login.waited <= batch_seconds + 0.5, (login.waited, batch_seconds)
    assert 0.9 <= application.waited <= batch_seconds + 0.5, (application.waited, batch_seconds)
    assert login.rowcount == 0, "the login found no account: the e-mail is gone"
    assert stage.p.scalar("select last_login_at from app.accounts where id = %s", (member,)) is None
    assert stage.members_in_warehouse() == 2

    with stage.app.connect() as conn:
        offenders = conn.execute(text(map_sql("quality/find_unscrubbed_tombstones")),
                                 {**RunWindow.build(AS_OF, stage.policy).params(), **accounts.ALL_IDS}).scalars().all()
    assert offenders == [other], "the after-gate reports the row written on a tombstone"


def test_logs_keep_arriving_while_partitions_are_dropped_and_purged(databases):
    """Two application sessions insert logs throughout the purge (17 partitions dropped, the DEFAULT
    and the boundary partitions purged page by page), with the policy's own lock timeout: one writes
    current logs (the partition straddling the cutoff, later partitions, the DEFAULT partition); the
    other writes late logs dated more than a year back into the partitions being purged row by row
    (DEFAULT and the boundary one). No insert fails (no deadlock, no lost write), none waits longer
    than the lock timeout, every current log survives, and the audit counts each deleted row once
    (late rows the purge did not meet wait for the next night). Late logs into a partition being
    *dropped*: see the next test."""
    from retention.appschema import create_app_schema

    policy = dataclasses.replace(load_policy(), purge_batch_pages=2)
    url = databases.create("live_logs")
    create_app_schema(url, logs_layout="partitioned", partitions_from=date(2024, 1, 1), partitions_to=date(2026, 12, 1))
    engine = make_engine(url)
    migrate_app(engine)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("insert into app.connection_logs (account_id, ip, occurred_at, path) "
                  "select i, '192.0.2.1', timestamptz '2023-06-01 00:00:00+00' + (i * interval '7 minutes'), '/old' "
                  "from generate_series(1, 153000) as i")  # 2023-06 .. 2025-06-09: DEFAULT, 17 months to drop, boundary
        c.execute("insert into app.connection_logs (account_id, ip, occurred_at, path) "
                  "select i, '192.0.2.2', timestamptz '2025-06-15 00:00:00+00' + (i * interval '1 minute'), '/recent' "
                  "from generate_series(0, 4999) as i")
        expired_before = c.execute("select count(*) from app.connection_logs where occurred_at < '2025-06-15'").fetchone()[0]

    stop = threading.Event()
    results: dict[str, dict] = {}

    def writer(name: str, instant: Callable[[int], str]) -> None:
        out = results.setdefault(name, {"written": 0, "waits": [], "errors": []})
        try:
            with psycopg.connect(url, autocommit=True) as c:
                i = 0
                while not stop.is_set():
                    started = time.monotonic()
                    try:
                        c.execute("insert into app.connection_logs (account_id, ip, occurred_at, path) "
                                  "values (7, '203.0.113.9', %s, %s)", (instant(i), f"/live/{name}"))
                        out["written"] += 1
                    except psycopg.Error as exc:
                        out["errors"].append(f"{type(exc).__name__}: {exc}")
                    out["waits"].append(time.monotonic() - started)
                    i += 1
        except BaseException as exc:  # noqa: BLE001 - asserted below
            out["errors"].append(repr(exc))

    def current(i: int) -> str:
        # Boundary partition at/after the cutoff, a later partition, and beyond every partition (DEFAULT).
        return ("2025-06-15T00:00:00+00:00", "2026-03-01T12:00:00+00:00", "2031-01-01T00:00:00+00:00")[i % 3]

    def late(i: int) -> str:
        # A year back and more, into the partitions purged row by row: DEFAULT and the boundary one.
        months = ["2023-07", "2023-11", "2025-06"]
        return f"{months[i % len(months)]}-0{1 + i % 9}T00:00:00+00:00"

    threads = [threading.Thread(target=writer, args=("current", current), daemon=True),
               threading.Thread(target=writer, args=("late", late), daemon=True)]
    for t in threads:
        t.start()
    while min(results.get(n, {}).get("written", 0) for n in ("current", "late")) < 20:
        time.sleep(0.01)
    try:
        before = {n: r["written"] for n, r in results.items()}
        result = purge_connection_logs(engine, RunWindow.build(AS_OF, policy), policy, "live")
        during = {n: results[n]["written"] - before[n] for n in results}
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        engine.dispose()

    for name, out in results.items():
        assert out["errors"] == [], f"{name}: {out['errors'][:3]}"
        assert max(out["waits"]) < policy.lock_timeout_ms / 1000, f"{name}: waited {max(out['waits']):.3f} s"
        assert during[name] > 20, f"{name} kept writing during the purge"
    assert result["partitions_dropped"] >= 17 and result["transactions"] > 50

    with psycopg.connect(url, autocommit=True) as c:
        assert c.execute("select count(*) from app.connection_logs where path = '/live/current'").fetchone()[0] == \
            results["current"]["written"], "no current log lost"
        assert c.execute("select count(*) from app.connection_logs where path = '/recent'").fetchone()[0] == 5000
        late_left = c.execute("select count(*) from app.connection_logs where path = '/live/late'").fetchone()[0]
        old_left = c.execute("select count(*) from app.connection_logs where path = '/old'").fetchone()[0]
        audited = c.execute("select rows_affected from retention.rule_audit where run_id = 'live' "
                            "and rule = 'purge_connection_logs'").fetchone()[0]
    assert old_left == 0
    assert audited == result["rows_deleted"] == expired_before + results["late"]["written"] - late_left


def test_late_log_into_a_partition_being_dropped_is_not_the_deadlock_victim(databases):
    """Deterministic: the application inserts a log dated 14 months back into the first expired partition
    at the moment the purge has counted it and sends its DROP. The purge holds SHARE on the partition
    and waits for the parent; the insert holds the parent and waits for the partition: a deadlock.
    The insert must succeed (the pipeline retries its own transaction, the application's write is
    not lost), and the retried DROP counts and removes the late log with the rest."""
    from retention.appschema import create_app_schema

    policy = load_policy()
    url = databases.create("late_logs")
    create_app_schema(url, logs_layout="partitioned", partitions_from=date(2025, 4, 1), partitions_to=date(2026, 7, 1))
    engine = make_engine(url)
    migrate_app(engine)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("insert into app.connection_logs (account_id, ip, occurred_at, path) values "
                  "(1, '192.0.2.1', '2025-04-10T00:00:00+00:00', '/old'), (1, '192.0.2.1', '2026-01-10T00:00:00+00:00', '/new')")
    late = _AppSession(url, "insert into app.connection_logs (account_id, ip, occurred_at, path) "
                            "values (7, '203.0.113.9', '2025-04-20T00:00:00+00:00', '/late')", {})

    def insert_late_log() -> None:
        late.start()
        late.ready.wait(5)
        with psycopg.connect(url, autocommit=True) as c:
            deadline = time.monotonic() + 5
            while c.execute("select wait_event_type from pg_stat_activity where pid = %s",
                            (late.pid,)).fetchone()[0] != "Lock":
                assert time.monotonic() < deadline
                time.sleep(0.01)

    fired, remove = Stage.hook(engine, "drop table", insert_late_log)
    try:
        result = purge_connection_logs(engine, RunWindow.build(AS_OF, policy), policy, "late")
    finally:
        remove()
        engine.dispose()
    late.join(10)
    assert fired
    if late.error is not None:
        raise late.error
    assert late.rowcount == 1
    # Both expired logs (the late one included) went with a dropped partition, counted exactly once.
    assert result["rows_deleted"] == 2 and result["partitions_deferred"] == 0
    with psycopg.connect(url, autocommit=True) as c:
        assert [p for (p,) in c.execute("select path from app.connection_logs order by path")] == ["/new"]
        audited = c.execute("select rows_affected from retention.rule_audit where run_id = 'late' "
                            "and rule = 'purge_connection_logs'").fetchone()[0]
    assert audited == 2
