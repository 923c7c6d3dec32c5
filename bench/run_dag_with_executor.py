"""Run ``gdpr_retention`` once through the configured executor, as a deployment runs it.

``python bench/run_dag_with_executor.py '<conf as JSON>'`` with ``AIRFLOW__CORE__EXECUTOR`` and an
execution API server set in the environment (``bench_pipeline.executor_run`` does both). Unlike
``airflow dags test``, which runs every task in one process, each task runs in a process of its
own, started by the executor, ``[core] parallelism`` of them at a time. Exits 1 unless the run
succeeded.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timezone


def main(argv: list[str]) -> int:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise SystemExit(f"the DAG folder has import errors: {sorted(bag.import_errors)}")
    dag = bag.get_dag("gdpr_retention")
    run = dag.test(logical_date=datetime.now(timezone.utc), run_conf=json.loads(argv[0]), use_executor=True)
    state = str(getattr(run.state, "value", run.state))
    print(f"dag run {run.run_id}: {state}", flush=True)
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
