"""make stack's broker: the machine's Redis when one answers, else one it starts from redis-server and stops."""

from __future__ import annotations

import shutil
import socket

import pytest
from retention.proctree import free_port, port_answers
from retention.stack import Supervisor, ensure_redis

pytestmark = pytest.mark.integration


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server binary on this machine")
def test_without_a_redis_on_the_usual_port_one_is_started_and_stopped(tmp_path, capsys):
    closed = free_port()  # nothing listens there: stands for a machine without Redis on 6379
    supervisor = Supervisor(env={}, log_dir=tmp_path / "logs")
    try:
        url = ensure_redis(supervisor, tmp_path / "redis", usual_port=closed)
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert port != closed and url == f"redis://127.0.0.1:{port}/0"
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(b"PING\r\n")
            assert conn.recv(16) == b"+PONG\r\n"
        assert f"none on 127.0.0.1:{closed}; starting" in capsys.readouterr().out
    finally:
        supervisor.stop()
    assert not port_answers("127.0.0.1", port)


def test_a_redis_answering_on_the_usual_port_is_used(tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        supervisor = Supervisor(env={}, log_dir=tmp_path / "logs")
        assert ensure_redis(supervisor, tmp_path / "redis", usual_port=port) == f"redis://127.0.0.1:{port}/0"
        assert supervisor.services == []
