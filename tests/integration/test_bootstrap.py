"""``python -m retention.bootstrap`` (compose's airflow-init) on two real PostgreSQL servers, twice.

As in docker-compose.yaml, the application database and the warehouse live on two servers: the app
database on the suite's server, the warehouse on a throwaway cluster of its own, where the pipeline's
login is made to require its password (scram), as the postgres image does.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from retention.bootstrap import POOL_NAME, POOL_SLOTS, UI_USER
from retention.localpg import ensure_postgres, stop_postgres

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REPO_ROOT = Path(__file__).resolve().parents[2]
PIPELINE_PASSWORD = "pipeline-pw-Zq8"
UI_PASSWORD = "ui-pw-Kx3"


@pytest.fixture
def warehouse_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Admin URL of a second, throwaway cluster where retention_pipeline must give its password."""
    for name in ("RETENTION_PG_URL", "RETENTION_PG_PORT", "RETENTION_PG_BINDIR"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "warehouse-pg"
    try:
        admin_url = ensure_postgres(root, probe_default=False)
        hba = root / "data" / "pg_hba.conf"
        hba.write_text("host all retention_pipeline 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute("create database warehouse")
            conn.execute("select pg_reload_conf()")
        yield make_conninfo(admin_url, dbname="warehouse")
    finally:
        stop_postgres(root)


def run_bootstrap(app_admin: str, warehouse_admin: str, passwords_file: Path) -> str:
    import airflow_env

    airflow_env.migrate()  # the pool lives in the (session's) Airflow metadata database
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "plugins"),
           "RETENTION_DB_PASSWORD": PIPELINE_PASSWORD, "AIRFLOW_ADMIN_PASSWORD": UI_PASSWORD}
    env.pop("POSTGRES_ADMIN_PASSWORD", None)  # trust for postgres on both test servers
    proc = subprocess.run(
        [sys.executable, "-m", "retention.bootstrap", "--app-admin", app_admin, "--warehouse-admin",
         warehouse_admin, "--pool", "--passwords-file", str(passwords_file)],
        env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def one(conninfo: str, query: str, params=None):
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.execute(query, params).fetchone()


def state(app_admin: str, warehouse_admin: str) -> dict:
    """What the bootstrap decides, read back as the administrator."""
    result = {}
    for name, conninfo in (("app", app_admin), ("warehouse", warehouse_admin)):
        result[name] = {
            "roles": one(conninfo, "select array_agg(row(rolname, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin)"
                                   "::text order by rolname) from pg_roles "
                                   "where rolname in ('retention_pipeline', 'analyst')")[0],
            "schemas": one(conninfo, "select array_agg(row(nspname, nspowner::regrole)::text order by nspname) "
                                     "from pg_namespace where nspname in ('app', 'retention', 'stats', 'published')")[0],
        }
    result["app"]["tables"] = one(app_admin, "select count(*) from pg_tables where schemaname = 'app'")[0]
    return result


def test_bootstrap_gives_the_pipeline_least_privilege_and_runs_twice(databases, warehouse_server, tmp_path):
    app_admin = make_conninfo(databases.create("app"))
    passwords_file = tmp_path / "auth" / "passwords.json"

    first_output = run_bootstrap(app_admin, warehouse_server, passwords_file)
    assert "schema app created" in first_output
    first = state(app_admin, warehouse_server)

    for server in ("app", "warehouse"):
        roles = first[server]["roles"]
        assert roles == ["(analyst,f,f,f,f)", "(retention_pipeline,f,f,f,t)"], (server, roles)
    assert "(app,postgres)" in first["app"]["schemas"], "the pipeline must not own schema app"
    assert "(retention,retention_pipeline)" in first["app"]["schemas"]
    assert first["warehouse"]["schemas"] == ["(published,retention_pipeline)", "(stats,retention_pipeline)"]
    assert first["app"]["tables"] > 0

    # The pipeline logs in with RETENTION_DB_PASSWORD on the server that demands it, and only with it.
    pipeline = {**conninfo_to_dict(warehouse_server), "user": "retention_pipeline", "host": "127.0.0.1"}
    assert one(make_conninfo(**{**pipeline, "password": PIPELINE_PASSWORD}), "select current_user")[0] == (
        "retention_pipeline")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        one(make_conninfo(**{**pipeline, "password": "wrong"}), "select 1")
    # On the app database it reads app but cannot create anything there.
    app_pipeline = make_conninfo(app_admin, user="retention_pipeline")
    assert one(app_pipeline, "select count(*) from app.accounts")[0] == 0
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        one(app_pipeline, "create table app.intruder (id int)")

    assert json.loads(passwords_file.read_text()) == {UI_USER: UI_PASSWORD}
    assert stat.S_IMODE(passwords_file.stat().st_mode) == 0o600
    pool = subprocess.run([str(Path(sys.executable).with_name("airflow")), "pools", "get", POOL_NAME, "-o", "json"],
                          capture_output=True, text=True, check=True, env=os.environ.copy())
    assert int(json.loads(pool.stdout)[0]["slots"]) == POOL_SLOTS

    # Every start of the stack runs it again: nothing changes, nothing fails.
    second_output = run_bootstrap(app_admin, warehouse_server, passwords_file)
    assert "schema app exists" in second_output
    assert state(app_admin, warehouse_server) == first
    assert json.loads(passwords_file.read_text()) == {UI_USER: UI_PASSWORD}
