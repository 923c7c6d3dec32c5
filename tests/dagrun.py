"""Run the real ``gdpr_retention`` DAG in-process with ``dag.test()`` against given databases."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import airflow_env

_bag = None
_clock = [datetime(2030, 1, 1, tzinfo=timezone.utc)]


def load_dag(dag_id: str = "gdpr_retention"):
    """The DAG as the dag processor sees it (parsed from dags/, no import errors), unchanged."""
    global _bag
    if _bag is None:
        airflow_env.migrate()
        from airflow.dag_processing.dagbag import DagBag

        _bag = DagBag(dag_folder=str(airflow_env.REPO_ROOT / "dags"))
        assert not _bag.import_errors, _bag.import_errors
    return _bag.get_dag(dag_id)


@dataclass
class RunOutcome:
    run_id: str
    state: str
    task_states: dict[str, list[str]]
    xcoms: list[Any] = field(default_factory=list)

    def state_of(self, task_id: str) -> str:
        states = self.task_states[task_id]
        return states[0] if len(states) == 1 else ",".join(states)

    def ran(self, task_id: str) -> bool:
        return any(s in ("success", "failed") for s in self.task_states.get(task_id, []))


def run_dag(platform, *, as_of: str | None, dry_run: bool | None = False,
            extra_env: dict[str, str] | None = None, dag_id: str = "gdpr_retention",
            params: dict[str, Any] | None = None) -> RunOutcome:
    """One DAG run as the least-privilege pipeline role; connections passed as AIRFLOW_CONN_* like the deployment."""
    dag = load_dag(dag_id)
    env = {"AIRFLOW_CONN_APP_DB": platform.pipeline_app_url,
           "AIRFLOW_CONN_STATS_WAREHOUSE": platform.pipeline_warehouse_url, **(extra_env or {})}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    # Distinct logical dates keep runs apart in the metadata DB; as_of comes from the conf.
    _clock[0] += timedelta(days=1)
    conf: dict[str, Any] = {} if dry_run is None else {"dry_run": dry_run}
    if as_of is not None:
        conf["as_of"] = as_of
    conf.update(params or {})
    try:
        dr = dag.test(logical_date=_clock[0], run_conf=conf)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return _collect(dr)


def _collect(dr) -> RunOutcome:
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=dr.dag_id, run_id=dr.run_id).all()
        states: dict[str, list[str]] = {}
        for ti in sorted(tis, key=lambda t: (t.task_id, t.map_index)):
            states.setdefault(ti.task_id, []).append(str(ti.state.value if hasattr(ti.state, "value") else ti.state))
        xcoms = [x.value for x in session.query(XComModel).filter_by(dag_id=dr.dag_id, run_id=dr.run_id).all()]
        state = session.query(type(dr)).filter_by(dag_id=dr.dag_id, run_id=dr.run_id).one().state
    return RunOutcome(run_id=dr.run_id, state=str(getattr(state, "value", state)), task_states=states, xcoms=xcoms)
