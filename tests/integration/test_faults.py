"""Faults through the real DAG on real PostgreSQL: the worker SIGKILLed mid-batch, the warehouse
unreachable, a stored document that cannot be deleted, every task of a run executed twice, and a
bad policy file. Each time: nothing personal is left behind for what was eligible, the warehouse
counts every anonymised member exactly once, and nothing else changes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import yaml
from conftest import REPO_ROOT, DatabaseFactory
from dagrun import RunOutcome, load_dag, run_dag
from dagrun import _collect as collect_outcome
from platform_fixture import CHILD_TABLES, PERSONAL_COLUMNS, Platform, make_platform, rows_md5

pytestmark = pytest.mark.integration

AS_OF = "2026-06-15T00:00:00+00:00"
NEXT_NIGHT = "2026-06-16T00:00:00+00:00"
KILL_POINTS = ("accounts.before_warehouse_commit", "accounts.after_warehouse_commit",
               "accounts.after_files_deleted", "accounts.before_scrub_commit")
AIRFLOW = Path(sys.executable).with_name("airflow")
SUBPROCESS_TIMEOUT_S = 420


# --------------------------------------------------------------------------------------------------
# Seeding: members with every kind of child row and a real stored file each
# --------------------------------------------------------------------------------------------------


@dataclass
class Seeded:
    eligible: dict[int, str]  # account id -> reason
    kept: list[int]  # accounts that must not change at all
    files: dict[int, Path]  # account id -> its stored document
    kept_md5: str = ""
    counts_before: dict[str, int] = field(default_factory=dict)


ELIGIBLE_KINDS = (
    ("closed", {"closed_at": "2026-01-01T00:00:00+00:00", "last_login_at": "2025-12-01T00:00:00+00:00"}),
    ("inactive", {"last_login_at": "2019-01-01T00:00:00+00:00"}),
    ("deceased", {"deceased_reported_at": "2026-02-01T00:00:00+00:00", "last_login_at": "2026-01-01T00:00:00+00:00"}),
)
KEPT_KINDS = (
    {"last_login_at": "2026-05-01T00:00:00+00:00"},  # active
    {"closed_at": "2026-01-01T00:00:00+00:00", "legal_hold_until": "2027-01-01"},  # legal hold
    {"deceased_reported_at": "2026-02-01T00:00:00+00:00", "post_mortem_retain_until": "2027-01-01"},  # directive
    {"closed_at": "2026-07-01T00:00:00+00:00", "last_login_at": "2026-06-01T00:00:00+00:00"},  # closes after as_of
    {"last_login_at": "2019-01-01T00:00:00+00:00"},  # inactive but applied recently (below)
)


def _member(p: Platform, c: psycopg.Connection, label: str, project: int, peer: int | None, docs_dir: Path,
            **cols) -> tuple[int, Path]:
    a = p.add_account(c, email=f"{label}@secret-mail.example", first_name=f"Prenom{label}", last_name="Secretnom",
                      phone="+33 6 12 34 56 78", address_line="12 rue Secrète", postal_code="69003", city="Lyon",
                      country_code="FR", birth_date="1988-04-05", nationality="FR",
                      linkedin_url=f"https://linkedin.example/in/{label}", work_authorisation=True,
                      availability="immediate", **cols)
    p.add(c, "education", account_id=a, school="Lycée Secret", level="master", specialty="Linguistique")
    p.add(c, "experiences", account_id=a, title="Annotateur", company="SecretCorp", is_annotation=True)
    p.add(c, "languages", account_id=a, language="fr", level="native")
    p.add(c, "languages", account_id=a, language="en", level="B2")
    p.add(c, "applications", account_id=a, project_id=project, applied_at="2019-05-05T00:00:00+00:00",
          matching_score=70, status="rejected")
    p.add(c, "assessments", account_id=a, assessment_code="ANNOT-TXT", score=64, completed_at="2019-05-06T00:00:00+00:00")
    p.add(c, "activity_events", account_id=a, feature="login", occurred_at="2019-05-05T10:00:00+00:00")
    p.add(c, "activity_events", account_id=a, feature="apply", occurred_at="2019-05-05T10:05:00+00:00")
    if peer is not None:
        c.execute("insert into app.messages (sender_id, recipient_id, body, sent_at) "
                  "values (%s, %s, 'Secret body', '2019-01-01T00:00:00+00:00')", (a, peer))
    path = docs_dir / str(a) / "CV Prénom.pdf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"%PDF-1.4 secret curriculum")
    p.add(c, "documents", account_id=a, kind="cv", storage_uri=path.as_uri(), uploaded_at="2019-01-01T00:00:00+00:00")
    return a, path


def seed(p: Platform, docs_dir: Path, eligible_count: int = 12) -> Seeded:
    """``eligible_count`` members to anonymise (closed, inactive, deceased in turn), five that must not
    change, expired and recent connection logs and prospects. Documents live under a directory whose
    name needs percent-encoding in a file:// URI."""
    eligible: dict[int, str] = {}
    kept: list[int] = []
    files: dict[int, Path] = {}
    with p.app() as c:
        project = c.execute("insert into app.projects (client_name, title, published_at) "
                            "values ('Client SA', 'Annotation FR', '2015-01-01') returning id").fetchone()[0]
        peer, files_of_peer = _member(p, c, "peer", project, None, docs_dir, last_login_at="2026-06-01T00:00:00+00:00")
        kept.append(peer)
        files[peer] = files_of_peer
        for n in range(eligible_count):
            reason, cols = ELIGIBLE_KINDS[n % len(ELIGIBLE_KINDS)]
            a, files[a] = _member(p, c, f"gone{n}", project, peer, docs_dir, **cols)
            eligible[a] = reason
        for n, cols in enumerate(KEPT_KINDS):
            a, files[a] = _member(p, c, f"kept{n}", project, peer, docs_dir, **cols)
            kept.append(a)
        p.add(c, "applications", account_id=kept[-1], project_id=project, applied_at="2025-03-01T00:00:00+00:00")
        c.execute("insert into app.connection_logs (account_id, ip, occurred_at, path) "
                  "select 1, '10.9.8.7', t, '/old' from generate_series(timestamptz '2024-01-01 00:00:00+00', "
                  "timestamptz '2025-06-14 00:00:00+00', interval '1 day') as t")
        c.execute("insert into app.connection_logs (account_id, ip, occurred_at, path) "
                  "select 1, '10.9.8.6', t, '/recent' from generate_series(timestamptz '2025-06-15 00:00:00+00', "
                  "timestamptz '2026-06-14 00:00:00+00', interval '1 day') as t")
        c.execute("insert into app.prospects (email, collected_at) values ('old.prospect@example.org', '2020-01-01'),"
                  " ('new.prospect@example.org', '2026-01-01')")
    s = Seeded(eligible=eligible, kept=kept, files=files)
    s.kept_md5 = rows_md5(p, kept)
    s.counts_before = {t: p.scalar(f"select count(*) from app.{t}") for t in CHILD_TABLES}
    return s



def warehouse_totals(p: Platform) -> dict[str, int]:
    return {
        "members": p.scalar("select coalesce(sum(members), 0) from stats.anonymised_cohorts", db="wh"),
        "events": p.scalar("select coalesce(sum(events), 0) from stats.feature_usage_monthly", db="wh"),
        "applications": p.scalar("select coalesce(sum(applications), 0) from stats.project_applications_monthly",
                                 db="wh"),
        "languages": p.scalar("select coalesce(sum(members), 0) from stats.language_levels", db="wh"),
        "assessments": p.scalar("select coalesce(sum(results), 0) from stats.assessment_results", db="wh"),
        "experience_members": p.scalar("select coalesce(sum(members), 0) from stats.experience_profiles", db="wh"),
    }


def statistics_rows(p: Platform) -> int:
    """Rows in the warehouse's statistics tables (0 when the warehouse was never migrated)."""
    with p.warehouse() as c:
        tables = [t for (t,) in c.execute("select format('%I.%I', table_schema, table_name) from information_schema.tables "
                                          "where table_schema = 'stats'")]
        return sum(c.execute(f"select count(*) from {t}").fetchone()[0] for t in tables)


def anonymised_count(p: Platform, as_of: str = AS_OF) -> int:
    return p.scalar("select count(*) from app.accounts where anonymised_at = %s", (as_of,))


def assert_recovered(p: Platform, s: Seeded, label: str = "") -> None:
    """Nothing personal left for the eligible members, counted once in the warehouse, nothing else changed."""
    gone = list(s.eligible)
    where = f"[{label}] " if label else ""
    assert anonymised_count(p) == len(gone), where + "every eligible member is anonymised"
    for column in PERSONAL_COLUMNS:
        assert p.scalar(f"select count(*) from app.accounts where id = any(%s) and {column} is not null",
                        (gone,)) == 0, where + column
    for table in CHILD_TABLES:
        assert p.scalar(f"select count(*) from app.{table} where account_id = any(%s)", (gone,)) == 0, where + table
    assert p.scalar("select count(*) from app.messages where sender_id = any(%s) and body is not null", (gone,)) == 0
    assert [a for a in gone if s.files[a].exists()] == [], where + "stored files of anonymised members are gone"
    assert p.scalar("select count(*) from retention.pending_file_deletions") == 0

    removed = {t: s.counts_before[t] - p.scalar(f"select count(*) from app.{t}") for t in CHILD_TABLES}
    totals = warehouse_totals(p)
    assert totals == {"members": len(gone), "events": removed["activity_events"],
                      "applications": removed["applications"], "languages": removed["languages"],
                      "assessments": removed["assessments"], "experience_members": len(gone)}, where + str(removed)
    reasons = dict(p.rows("select reason, sum(members)::int from stats.anonymised_cohorts group by reason", db="wh"))
    expected_reasons: dict[str, int] = {}
    for reason in s.eligible.values():
        expected_reasons[reason] = expected_reasons.get(reason, 0) + 1
    assert reasons == expected_reasons, where + "each member in the cell of its reason, once"
    assert p.scalar("select count(*) from stats.applied_batches where state <> 'confirmed'", db="wh") == 0
    assert p.scalar("select sum(rows_affected) from retention.rule_audit where rule like 'anonymise_%%'") == len(gone)

    assert rows_md5(p, s.kept) == s.kept_md5, where + "accounts that were not eligible are byte-identical"
    assert all(s.files[a].exists() for a in s.kept), where + "their stored files are still there"


# --------------------------------------------------------------------------------------------------
# `airflow dags test` in a subprocess, with its own metadata database
# --------------------------------------------------------------------------------------------------


def write_policy(path: Path, **values: int) -> Path:
    """A copy of the reviewed policy with some values changed."""
    document = yaml.safe_load((REPO_ROOT / "plugins" / "retention" / "policy.yaml").read_text(encoding="utf-8"))
    for key, value in values.items():
        document[key]["value"] = value
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


@dataclass
class AirflowHome:
    path: Path

    @classmethod
    def from_template(cls, template: Path, path: Path) -> AirflowHome:
        path.mkdir(parents=True)
        shutil.copy(template / "airflow.db", path / "airflow.db")
        return cls(path)

    def env(self, p: Platform, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.lstrip("_").startswith("AIRFLOW") and not k.startswith("RETENTION_")}
        env.update({
            "AIRFLOW_HOME": str(self.path),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.path / 'airflow.db'}",
            "GX_ANALYTICS_ENABLED": "false",
            "RETENTION_DATA_DOCS_DIR": str(self.path / "data_docs"),
            "AIRFLOW_CONN_APP_DB": p.pipeline_app_url,
            "AIRFLOW_CONN_STATS_WAREHOUSE": p.pipeline_warehouse_url,
            **extra,
        })
        return env

    def start_dag_test(self, p: Platform, logical_date: str, log_name: str, mark_success: str | None = None,
                       **extra: str) -> subprocess.Popen:
        """`airflow dags test` as an operator would type it, output to <home>/<log_name>.log."""
        command = [str(AIRFLOW), "dags", "test", "gdpr_retention", logical_date, "-c", json.dumps({"as_of": AS_OF})]
        if mark_success:
            command += ["--mark-success-pattern", mark_success]
        with open(self.path / f"{log_name}.log", "wb") as log:  # the child keeps its own descriptor
            return subprocess.Popen(command, env=self.env(p, **extra), stdout=log, stderr=subprocess.STDOUT,
                                    cwd=str(self.path))

    def log_tail(self, log_name: str, lines: int = 40) -> str:
        text = (self.path / f"{log_name}.log").read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def wait_all(procs: dict[str, subprocess.Popen]) -> dict[str, int]:
    """Exit codes; a subprocess still running at the deadline is stopped with SIGTERM (never -9,
    which only the armed fault point may cause)."""
    deadline = time.monotonic() + SUBPROCESS_TIMEOUT_S
    codes = {}
    for key, proc in procs.items():
        try:
            codes[key] = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(30)
            codes[key] = -15
    return codes


def wait_for_pipeline_sessions_to_end(p: Platform, timeout_s: float = 15.0) -> int:
    """Backends of the pipeline role on this platform's databases; waits for them to go."""
    dbs = [p.app_url.rsplit("/", 1)[1], p.warehouse_url.rsplit("/", 1)[1]]
    deadline = time.monotonic() + timeout_s
    while True:
        left = p.scalar("select count(*) from pg_stat_activity where datname = any(%s) "
                        "and usename = 'retention_pipeline'", (dbs,))
        if left == 0 or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def assert_nothing_locked(p: Platform) -> None:
    """No lock of another session on the application DB, and every row can be locked at once."""
    dbname = p.app_url.rsplit("/", 1)[1]
    with p.app() as c:
        others = c.execute("select count(*) from pg_locks as l join pg_database as d on d.oid = l.database "
                           "where d.datname = %s and l.pid <> pg_backend_pid()", (dbname,)).fetchone()[0]
        assert others == 0
        with c.transaction():
            c.execute("set local lock_timeout = '100ms'")
            c.execute("select id from app.accounts for update nowait").fetchall()
            c.execute("select 1 from retention.account_batches for update nowait").fetchall()
            c.execute("set local lock_timeout = '100ms'")
            c.execute("lock table app.accounts, app.documents in access exclusive mode nowait")


@pytest.fixture(scope="module")
def airflow_template(tmp_path_factory) -> Path:
    """A migrated Airflow metadata database, copied into each subprocess's own AIRFLOW_HOME."""
    home = tmp_path_factory.mktemp("airflow_template")
    env = {k: v for k, v in os.environ.items() if not k.lstrip("_").startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}")
    subprocess.run([str(AIRFLOW), "db", "migrate"], check=True, capture_output=True, env=env, cwd=str(home),
                   timeout=300)
    return home


@dataclass
class KilledNight:
    point: str
    platform: Platform
    seeded: Seeded
    home: AirflowHome
    kill_code: int
    after_kill: dict
    rerun: RunOutcome
    policy_file: Path


def run_dag_at(platform: Platform, logical_date: datetime, *, as_of: str,
               extra_env: dict[str, str] | None = None) -> RunOutcome:
    """dagrun.run_dag at a chosen logical date, with run_after = logical date so that the run_id
    (``manual__<run_after>``) is the same each time: ``dag.test`` on a date it ran before clears
    that DagRun's task instances and executes every task again under the same run_id."""
    dag = load_dag()
    env = {"AIRFLOW_CONN_APP_DB": platform.pipeline_app_url,
           "AIRFLOW_CONN_STATS_WAREHOUSE": platform.pipeline_warehouse_url, **(extra_env or {})}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        dr = dag.test(logical_date=logical_date, run_after=logical_date, run_conf={"as_of": as_of, "dry_run": False})
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return collect_outcome(dr)


# Logical dates of the in-process reruns: apart from dagrun.run_dag's (from 2030-01-02, one day per run).
RERUN_DATES = {point: datetime(2031, 3, 1 + n, tzinfo=timezone.utc) for n, point in enumerate(KILL_POINTS)}


@pytest.fixture(scope="module")
def killed_nights(pg_admin_url, airflow_template, tmp_path_factory) -> Iterator[dict[str, KilledNight]]:
    """For each kill point, on its own platform: `airflow dags test` in a subprocess, SIGKILLed at that
    point of the first batch (all points in parallel), the state right after, then a rerun of the
    DAG without the fault (a new run with the same as_of, in-process). In the killed runs the
    before-gate is marked successful instead of run: it is not under test there and its Great
    Expectations run is the slowest step before the batch; the reruns run every gate."""
    factory = DatabaseFactory(pg_admin_url)
    root = tmp_path_factory.mktemp("killed")
    policy = write_policy(root / "policy.yaml", account_batch_size=5)  # three batches of 12 members
    try:
        nights: dict[str, dict] = {}
        procs = {}
        for point in KILL_POINTS:
            p = make_platform(factory)
            s = seed(p, root / point / "Pièces jointes")
            home = AirflowHome.from_template(airflow_template, root / point / "airflow")
            nights[point] = {"platform": p, "seeded": s, "home": home}
            procs[point] = home.start_dag_test(p, "2030-03-01T00:00:00+00:00", "killed",
                                               mark_success=r"accounts\.check_accounts_before",
                                               RETENTION_FAULT_POINT=point, RETENTION_FAULT_ACTION="kill",
                                               RETENTION_POLICY_FILE=str(policy))
        kill_codes = wait_all(procs)
        for point, night in nights.items():
            p = night["platform"]
            night["after_kill"] = {
                "sessions_left": wait_for_pipeline_sessions_to_end(p),
                "anonymised": anonymised_count(p),
                "pending_batches": p.scalar("select count(*) from stats.applied_batches where state = 'pending'",
                                            db="wh"),
                "warehouse_members": warehouse_totals(p)["members"],
                "ledger": dict(p.rows("select status, count(*) from retention.account_batches group by status")),
                "files_missing": sorted(a for a, f in night["seeded"].files.items() if not f.exists()),
            }
            if kill_codes[point] == -9:
                assert_nothing_locked(p)
                night["rerun"] = run_dag_at(p, RERUN_DATES[point], as_of=AS_OF,
                                            extra_env={"RETENTION_POLICY_FILE": str(policy)})
            else:
                night["rerun"] = None
        yield {point: KilledNight(point=point, platform=n["platform"], seeded=n["seeded"], home=n["home"],
                                  kill_code=kill_codes[point], after_kill=n["after_kill"], rerun=n["rerun"],
                                  policy_file=policy)
               for point, n in nights.items()}
    finally:
        factory.drop_all()


# --------------------------------------------------------------------------------------------------
# 1. SIGKILL mid-batch, then a rerun
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("point", KILL_POINTS)
def test_sigkill_mid_batch_then_rerun_leaves_nothing_and_counts_once(killed_nights, point):
    """The worker process is SIGKILLed at a point of the first batch (no exception handler, no
    rollback from Python: PostgreSQL aborts the open transaction when the connection drops). The
    killed session leaves no lock behind; a rerun (a new run, same as_of) anonymises every eligible
    member, drops the dead batch's pending statistics if they were committed, counts everyone once,
    and changes nothing else."""
    night = killed_nights[point]
    p, s, after = night.platform, night.seeded, night.after_kill
    assert night.kill_code == -9, f"not killed at {point} (exit {night.kill_code}):\n{night.home.log_tail('killed')}"

    assert after["sessions_left"] == 0, "the killed worker's database sessions are gone"
    assert after["anonymised"] == 0, "the in-flight scrub rolled back with the connection"
    assert after["ledger"] == {"planned": 3}, "no batch marked done"
    committed = point != "accounts.before_warehouse_commit"
    assert after["pending_batches"] == (1 if committed else 0)
    assert after["warehouse_members"] == 0, "a batch's statistics reach the tables only once its scrub is confirmed"
    files_deleted = point in ("accounts.after_files_deleted", "accounts.before_scrub_commit")
    assert bool(after["files_missing"]) == files_deleted
    assert set(after["files_missing"]) <= set(s.eligible), "only files of eligible members were deleted"

    assert night.rerun.state == "success", night.rerun.task_states
    assert_recovered(p, s, point)
    if committed:
        assert p.scalar("select count(*) from stats.applied_batches", db="wh") == 3, "the dead batch's key was dropped, then recorded again"


def test_every_task_of_a_finished_run_executed_again_changes_nothing(killed_nights):
    """`dag.test` on the same logical date (and run_after) clears and re-executes every task of the
    DagRun under the same run_id, like clearing a whole run: no row changes in either database, the audit rows
    of that run_id keep their counts (the upsert accumulates per batch on purpose; a full
    re-execution adds zero), and the warehouse still counts each member once."""
    point = "accounts.after_warehouse_commit"
    night = killed_nights[point]
    p, run_id = night.platform, night.rerun.run_id

    def state() -> tuple:
        return (p.fingerprint(), p.fingerprint(db="wh"),
                p.rows("select rule, rows_affected, partitions_dropped from retention.rule_audit "
                       "where run_id = %s order by rule", (run_id,)),
                p.scalar("select count(*) from retention.runs"),
                p.scalar("select count(*) from retention.account_batches"))

    before = state()
    assert len(before[2]) == 5 and all(rows for _, rows, _ in before[2][:3]), before[2]
    again = run_dag_at(p, RERUN_DATES[point], as_of=AS_OF, extra_env={"RETENTION_POLICY_FILE": str(night.policy_file)})
    assert again.run_id == run_id, "same run_id"
    assert again.state == "success", again.task_states
    assert set(again.task_states) == set(night.rerun.task_states), "every task executed again"
    assert state() == before
    assert_recovered(p, night.seeded, point)


# --------------------------------------------------------------------------------------------------
# 2. Warehouse unreachable
# --------------------------------------------------------------------------------------------------


@contextmanager
def short_retry_delay(task_id: str, seconds: float = 1.0) -> Iterator[None]:
    """The DAG waits 2 minutes between tries; dag.test() really waits. Shorten the delay of one task
    of the parsed DAG for the duration of a test (the retry policy itself is untouched)."""
    task = load_dag().get_task(task_id)
    saved = task.retry_delay
    task.retry_delay = timedelta(seconds=seconds)
    try:
        yield
    finally:
        task.retry_delay = saved


def task_tries(run_id: str, task_id: str) -> list[int]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        return [ti.try_number for ti in session.query(TaskInstance).filter_by(
            dag_id="gdpr_retention", run_id=run_id, task_id=task_id)]


def test_unreachable_warehouse_fails_retries_and_destroys_nothing_then_next_run_counts_once(
        databases, tmp_path, capfd):
    """(a) The warehouse connection points to a closed port: the first task that needs it fails with
    sqlalchemy's OperationalError, which the DAG's retry policy classifies as transient (the task is
    tried 1 + retries times), and nothing is anonymised (no statistics, no scrub).
    (b) The warehouse goes away in the middle of a batch, after the accounts are locked and before
    the statistics commit: the batch raises the same transient error and rolls back, releasing every
    lock. (c) The next run, with the warehouse back, anonymises everyone and counts them once."""
    import sqlalchemy.exc
    from airflow.sdk import RetryAction
    from retention import accounts
    from retention.db import make_engine
    from retention.migrate import migrate_app, migrate_warehouse
    from retention.policy import load_policy
    from retention.window import RunWindow
    from sqlalchemy import event

    p = make_platform(databases)
    s = seed(p, tmp_path / "docs")
    app_print = p.fingerprint()
    policy_retry = load_dag().default_args["retry_policy"]

    # (a) through the DAG, closed port
    unreachable = dataclasses.replace(p, pipeline_warehouse_url="postgresql://retention_pipeline@127.0.0.1:1/stats")
    with short_retry_delay("prepare.migrate_owned_schemas"):
        outcome = run_dag(unreachable, as_of=AS_OF)
    out = capfd.readouterr()
    assert outcome.state == "failed"
    assert outcome.state_of("prepare.migrate_owned_schemas") == "failed", outcome.task_states
    retries = load_dag().get_task("prepare.migrate_owned_schemas").retries
    assert task_tries(outcome.run_id, "prepare.migrate_owned_schemas") == [retries + 1], "retried as transient"
    for task_id in ("accounts.plan_account_batches", "accounts.anonymise_account_batch", "accounts.finalize_accounts",
                    "connection_logs.purge_connection_logs", "prospects.purge_prospects"):
        assert not outcome.ran(task_id), task_id
    assert "OperationalError" in out.out + out.err
    assert anonymised_count(p) == 0
    assert p.fingerprint() == app_print and statistics_rows(p) == 0

    # (b) the warehouse disappears mid-batch (it refuses the pipeline and drops its sessions)
    policy = load_policy()
    window = RunWindow.build(AS_OF, policy)
    app, wh = make_engine(p.pipeline_app_url), make_engine(p.pipeline_warehouse_url)
    wh_name = p.warehouse_url.rsplit("/", 1)[1]
    cut = []

    def pull_the_plug(conn, cursor, statement, parameters, context, executemany):
        if cut or not statement.lstrip().startswith("insert into batch_members"):
            return
        cut.append(True)
        with p.warehouse() as admin:
            admin.execute(f'alter database "{wh_name}" connection limit 0')
            admin.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                          "where datname = %s and usename = 'retention_pipeline'", (wh_name,))
            deadline = time.monotonic() + 5
            while admin.execute("select count(*) from pg_stat_activity where datname = %s "
                                "and usename = 'retention_pipeline'", (wh_name,)).fetchone()[0]:
                assert time.monotonic() < deadline
                time.sleep(0.05)

    try:
        migrate_app(app)
        migrate_warehouse(wh, policy)
        planned = accounts.plan(app, window, policy, "manual-mid-batch")
        event.listen(app, "before_cursor_execute", pull_the_plug)
        with pytest.raises(sqlalchemy.exc.OperationalError) as failure:
            accounts.process_batch(app, wh, window, policy, planned["plan_id"], planned["batches"][0]["batch_no"])
        event.remove(app, "before_cursor_execute", pull_the_plug)
        assert cut, "the warehouse was cut after the accounts were locked"
        assert policy_retry.evaluate(failure.value, 1, 3).action == RetryAction.RETRY
        assert anonymised_count(p) == 0
        assert p.scalar("select count(*) from retention.account_batches where status = 'done'") == 0
        assert p.scalar("select count(*) from stats.applied_batches", db="wh") == 0
        assert_nothing_locked(p)
    finally:
        with p.warehouse() as admin:
            admin.execute(f'alter database "{wh_name}" connection limit -1')
        app.dispose()
        wh.dispose()

    # (c) the next run, warehouse back
    outcome = run_dag(p, as_of=AS_OF)
    assert outcome.state == "success", outcome.task_states
    assert_recovered(p, s)


# --------------------------------------------------------------------------------------------------
# 3. A stored document that cannot be deleted
# --------------------------------------------------------------------------------------------------


@contextmanager
def undeletable(path: Path) -> Iterator[None]:
    """Make ``path`` impossible to delete for this process, truly: as root, permissions do not stop
    an unlink (chattr +i does); otherwise a read-only directory does."""
    if os.geteuid() != 0:
        path.parent.chmod(0o500)
        try:
            yield
        finally:
            path.parent.chmod(0o700)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.fail("cannot make a file undeletable as root here (no chattr +i on this filesystem)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_undeletable_document_keeps_its_row_fails_the_run_then_completes_the_next_night(databases, tmp_path, capfd):
    """One eligible member's stored file cannot be deleted (the store refuses): the member is
    anonymised and counted once like the others, that document's row is kept and listed in
    retention.pending_file_deletions, the member's other document goes, the other stages still
    run and the run fails at its report with a count (no path, no URI). A member whose file is already gone completes normally. The
    next night, the cause fixed, the file and the row go and finalize succeeds; nothing is counted
    twice."""
    p = make_platform(databases)
    docs = tmp_path / "Pièces jointes"
    s = seed(p, docs, eligible_count=3)
    stuck, missing = list(s.eligible)[:2]
    locked_file = docs / str(stuck) / "locked" / "Diplôme #1.pdf"
    locked_file.parent.mkdir(parents=True)
    locked_file.write_bytes(b"%PDF-1.4 secret diploma")
    with p.app() as c:
        p.add(c, "documents", account_id=stuck, kind="diploma", storage_uri=locked_file.as_uri())
    s.counts_before["documents"] += 1
    s.files[missing].unlink()  # deleted by an earlier attempt, say

    with undeletable(locked_file):
        night1 = run_dag(p, as_of=AS_OF)
    out = capfd.readouterr()
    log_text = out.out + out.err

    assert night1.state == "failed", night1.task_states
    assert night1.state_of("report") == "failed", night1.task_states
    assert "1 stored document(s) of anonymised accounts could not be deleted" in log_text
    # A broken object store does not hold back the other promises: the logs still expire tonight.
    assert night1.state_of("connection_logs.purge_connection_logs") == "success", night1.task_states
    assert night1.state_of("prospects.purge_prospects") == "success", night1.task_states
    assert "Diplôme" not in log_text and "Dipl%C3%B4me" not in log_text and str(docs) not in log_text
    assert locked_file.exists()
    kept_rows = p.rows("select d.id, d.account_id from app.documents as d "
                       "join retention.pending_file_deletions as f on f.document_id = d.id")
    assert [a for _, a in kept_rows] == [stuck]
    assert p.scalar("select count(*) from app.documents where account_id = any(%s)", (list(s.eligible),)) == 1
    assert anonymised_count(p) == len(s.eligible), "the stuck member is anonymised all the same"
    for column in PERSONAL_COLUMNS:
        assert p.scalar(f"select count(*) from app.accounts where id = %s and {column} is not null", (stuck,)) == 0
    assert not s.files[stuck].exists(), "its other document is gone"
    assert warehouse_totals(p)["members"] == len(s.eligible)
    assert rows_md5(p, s.kept) == s.kept_md5

    night2 = run_dag(p, as_of=NEXT_NIGHT)
    assert night2.state == "success", night2.task_states
    assert not locked_file.exists()
    assert p.scalar("select count(*) from app.documents where account_id = any(%s)", (list(s.eligible),)) == 0
    assert p.scalar("select count(*) from retention.pending_file_deletions") == 0
    assert warehouse_totals(p)["members"] == len(s.eligible), "counted once over both nights"
    assert p.scalar("select sum(rows_affected) from retention.rule_audit where rule like 'anonymise_%%'") == len(s.eligible)
    assert p.scalar("select count(*) from retention.rule_audit where run_id = %s and rule like 'anonymise_%%' "
                    "and rows_affected > 0", (night2.run_id,)) == 0
    assert rows_md5(p, s.kept) == s.kept_md5


# --------------------------------------------------------------------------------------------------
# 4. A bad policy file
# --------------------------------------------------------------------------------------------------


def test_bad_policy_file_stops_the_run_before_anything_is_destroyed(databases, tmp_path, capfd):
    """RETENTION_POLICY_FILE names a file with a value out of bounds: the first task fails at once
    (a PolicyError is not transient: no retry) with a message naming the key, and no destructive
    task runs."""
    p = make_platform(databases)
    s = seed(p, tmp_path / "docs", eligible_count=3)
    app_print = p.fingerprint()
    bad = write_policy(tmp_path / "policy.yaml", lock_timeout_ms=5)

    outcome = run_dag(p, as_of=AS_OF, extra_env={"RETENTION_POLICY_FILE": str(bad)})
    out = capfd.readouterr()

    assert outcome.state == "failed"
    assert outcome.state_of("prepare.migrate_owned_schemas") == "failed", outcome.task_states
    assert task_tries(outcome.run_id, "prepare.migrate_owned_schemas") == [1], "not retried"
    assert "lock_timeout_ms=5 is outside [10, 600000]" in out.out + out.err
    for task_id in ("accounts.plan_account_batches", "accounts.anonymise_account_batch", "accounts.finalize_accounts",
                    "connection_logs.purge_connection_logs", "prospects.purge_prospects"):
        assert not outcome.ran(task_id), task_id
    assert p.fingerprint() == app_print and statistics_rows(p) == 0
    assert all(f.exists() for f in s.files.values())
