"""A small client of Airflow's REST API, as the UI uses it (the stack's test and benchmark drive runs with it)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any, Callable
from urllib.parse import quote

FINISHED = ("success", "failed")


class AirflowApi:
    def __init__(self, port: int, password: str, user: str = "admin", host: str = "127.0.0.1") -> None:
        self.base = f"http://{host}:{port}"
        self.token = None
        self.token = self._call("POST", "/auth/token", {"username": user, "password": password})["access_token"]

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        request.add_header("Accept", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read().decode())

    def get(self, path: str) -> Any:
        return self._call("GET", path)

    def post(self, path: str, payload: Any) -> Any:
        return self._call("POST", path, payload)

    def patch(self, path: str, payload: Any) -> Any:
        return self._call("PATCH", path, payload)

    # -- what the UI does ------------------------------------------------------------------------
    def unpause(self, dag_id: str) -> None:
        self.patch(f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        """The Trigger button: no logical date, a conf."""
        return self.post(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")

    def finished_run(self, dag_id: str, run_id: str) -> dict[str, Any] | None:
        run = self.run(dag_id, run_id)
        return run if run["state"] in FINISHED else None

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns?order_by=start_date")["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances?limit=1000")[
            "task_instances"]

    def task_log(self, dag_id: str, run_id: str, ti: dict[str, Any]) -> str:
        return json.dumps(self.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{quote(ti['task_id'], safe='')}"
            f"/logs/{ti['try_number']}?map_index={ti['map_index']}"))


def wait_for(what: str, probe: Callable[[], Any], timeout: float, interval: float = 2.0) -> Any:
    """``probe()`` until it returns something true (connection errors count as not yet)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except (urllib.error.URLError, ConnectionError, KeyError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
