"""The benchmark reads its SQL and check times from an `airflow dags test` log: lines as Airflow 3 writes them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import bench_pipeline  # noqa: E402 - bench/ is scripts, not a package

LOG = """\
2026-12-02T10:23:01.514498Z [info     ] [DAG TEST] starting task_id=accounts.check_accounts_before map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1501
2026-12-02T10:23:08.015652Z [info     ] gate sql time: statements=6 seconds=0.108 [retention.quality.gates] loc=gates.py:129
2026-12-02T10:23:08.015700Z [info     ] gate import time: seconds=2.250 [retention.quality.gates] loc=gates.py:130
2026-12-02T10:23:08.016000Z [info     ] task sql time: statements=3 seconds=0.020 [retention.runtime] loc=runtime.py:56
2026-12-02T10:23:09.000000Z [info     ] [DAG TEST] starting task_id=accounts.anonymise_account_batch map_index=0 [airflow.sdk.definitions.dag] loc=dag.py:1501
2026-12-02T10:22:05.794374Z [info     ] batch 0 anonymised: {'batch_no': 0, 'deceased': 522, 'rows_deleted': {'accounts': 10000}, 'leftovers': 0, 'verify_seconds': 0.291, 'seconds': 2.082} [retention.accounts] loc=accounts.py:255
2026-12-02T10:22:05.900000Z [info     ] task sql time: statements=40 seconds=1.500 [retention.runtime] loc=runtime.py:56
2026-12-02T10:23:09.000000Z [info     ] [DAG TEST] starting task_id=accounts.anonymise_account_batch map_index=1 [airflow.sdk.definitions.dag] loc=dag.py:1501
2026-12-02T10:22:07.794374Z [info     ] batch 1 anonymised: {'batch_no': 1, 'deceased': 0, 'rows_deleted': {'accounts': 500}, 'leftovers': 0, 'verify_seconds': 0.009, 'seconds': 0.174} [retention.accounts] loc=accounts.py:255
2026-12-02T10:22:07.900000Z [info     ] task sql time: statements=40 seconds=0.100 [retention.runtime] loc=runtime.py:56
2026-12-02T10:23:10.000000Z [info     ] [DAG TEST] starting task_id=accounts.check_accounts_after map_index=-1 [airflow.sdk.definitions.dag] loc=dag.py:1501
2026-12-02T10:23:10.267805Z [info     ] gate sql time: statements=1 seconds=0.142 [retention.quality.gates] loc=gates.py:129
2026-12-02T10:23:10.267900Z [info     ] gate import time: seconds=0.000 [retention.quality.gates] loc=gates.py:130
"""


def test_sql_and_check_seconds_are_summed_per_task_and_per_kind(tmp_path):
    log = tmp_path / "run.log"
    log.write_text(LOG)
    assert bench_pipeline.sql_seconds(log) == pytest.approx({
        "accounts.check_accounts_before": 0.128,
        "accounts.anonymise_account_batch": 1.6,
        "accounts.check_accounts_after": 0.142,
    })
    assert bench_pipeline.check_seconds(log) == {"gx_import_s": 2.25, "batch_verify_s": 0.3}
