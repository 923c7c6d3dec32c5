"""retention.localpg starts a throwaway PostgreSQL cluster when no server is found.

This is the proof that the suite runs on a machine without a running PostgreSQL: the tests below skip
127.0.0.1:5432 and RETENTION_PG_URL and make localpg initdb and start its own cluster under tmp_path
(as an unprivileged user when the tests run as root).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from retention import localpg
from retention.localpg import PostgresUnavailable, ensure_postgres, stop_postgres

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cluster_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("RETENTION_PG_URL", "RETENTION_PG_PORT", "RETENTION_PG_BINDIR", "RETENTION_PG_SKIP_DEFAULT"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "pg"
    try:
        yield root
    finally:
        stop_postgres(root)  # whatever the test did, leave nothing running


def _postmaster_pid(root: Path) -> int:
    return int((root / "data" / "postmaster.pid").read_text().splitlines()[0])


def _with_db(url: str, dbname: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + dbname


def test_throwaway_cluster_starts_is_reused_and_stops(cluster_root: Path) -> None:
    started = time.monotonic()
    url = ensure_postgres(cluster_root, probe_default=False)
    first_call = time.monotonic() - started

    port = int((cluster_root / "port").read_text())
    assert url == f"postgresql://postgres@127.0.0.1:{port}/postgres"
    assert port != 5432
    assert (cluster_root / "data" / "PG_VERSION").exists()
    if os.geteuid() == 0:
        assert (cluster_root / "data").stat().st_uid != 0, "the server must not run as root"

    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("select current_user").fetchone() == ("postgres",)
        assert conn.execute("show listen_addresses").fetchone() == ("127.0.0.1",)
        assert Path(conn.execute("show data_directory").fetchone()[0]) == (cluster_root / "data").resolve()
        conn.execute("create database rt_localpg_check")
    with psycopg.connect(_with_db(url, "rt_localpg_check")) as conn:
        conn.execute("create table t (id int primary key, name text)")
        conn.execute("insert into t values (1, 'a'), (2, 'b')")
        assert conn.execute("select count(*), max(name) from t").fetchone() == (2, "b")

    # A second call reuses the running cluster: same URL, same postmaster, and fast.
    pid = _postmaster_pid(cluster_root)
    started = time.monotonic()
    assert ensure_postgres(cluster_root, probe_default=False) == url
    assert time.monotonic() - started < 3
    assert _postmaster_pid(cluster_root) == pid

    assert stop_postgres(cluster_root) is True
    assert not (cluster_root / "data" / "postmaster.pid").exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2).close()
    assert stop_postgres(cluster_root) is False

    # A stopped cluster is started again on the next call, with its data kept.
    assert ensure_postgres(cluster_root, probe_default=False) == url
    with psycopg.connect(_with_db(url, "rt_localpg_check")) as conn:
        assert conn.execute("select count(*) from t").fetchone() == (2,)

    print(f"first call (initdb + start): {first_call:.2f} s")


def test_two_clusters_get_different_ports(cluster_root: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    try:
        first = ensure_postgres(cluster_root, probe_default=False)
        second = ensure_postgres(other, probe_default=False)
        assert first != second
        for url in (first, second):
            with psycopg.connect(url) as conn:
                assert conn.execute("select 1").fetchone() == (1,)
    finally:
        stop_postgres(other)


def test_cli_prints_url_and_stops(cluster_root: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "plugins")}
    cmd = [sys.executable, "-m", "retention.localpg", "--root", str(cluster_root)]
    out = subprocess.run([*cmd, "--no-default"], env=env, capture_output=True, text=True, timeout=90, check=True)
    url = out.stdout.strip()
    assert url.startswith("postgresql://postgres@127.0.0.1:")
    with psycopg.connect(url) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    out = subprocess.run([*cmd, "--stop"], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert "stopped" in out.stdout


def test_unreachable_env_url_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RETENTION_PG_URL", "postgresql://postgres:s3cret@127.0.0.1:1/postgres")
    with pytest.raises(PostgresUnavailable, match="RETENTION_PG_URL is set") as caught:
        ensure_postgres(tmp_path / "unused")
    assert "s3cret" not in str(caught.value)
    assert not (tmp_path / "unused").exists()


def test_bad_bindir_is_a_clear_error(cluster_root: Path, tmp_path: Path) -> None:
    with pytest.raises(PostgresUnavailable, match="does not hold runnable initdb"):
        ensure_postgres(cluster_root, probe_default=False, bindir=tmp_path)


@pytest.mark.skipif(localpg._embedded_bindir() is None, reason="pgserver is not installed in this interpreter")
def test_embedded_pgserver_binaries(cluster_root: Path) -> None:
    url = ensure_postgres(cluster_root, probe_default=False, bindir="embedded", allow_install=False)
    with psycopg.connect(url) as conn:
        assert conn.execute("select current_setting('server_version_num')::int").fetchone()[0] >= 160000
