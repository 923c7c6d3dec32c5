"""The DPO's intake from the DAG params: only runs triggered by hand record a request; bad params are refused before the database."""

from __future__ import annotations

from enum import Enum
from types import SimpleNamespace

import pytest
from retention.requests.process import intake, triggered_by_hand


class RunType(str, Enum):
    MANUAL = "manual"
    SCHEDULED = "scheduled"


def test_triggered_by_hand_reads_the_run_type():
    assert triggered_by_hand({"dag_run": SimpleNamespace(run_type=RunType.MANUAL)})
    assert triggered_by_hand({"dag_run": SimpleNamespace(run_type="manual")})
    assert not triggered_by_hand({"dag_run": SimpleNamespace(run_type=RunType.SCHEDULED)})
    assert not triggered_by_hand({})


def test_a_scheduled_run_records_nothing_whatever_its_params():
    # No engine: the database is never reached.
    assert intake(None, {"request_type": "erasure", "account_id": 1, "received_at": "2026-06-01T00:00:00+00:00"},
                  "run", triggered_by_hand=False) is False
    assert intake(None, {}, "run", triggered_by_hand=True) is False


@pytest.mark.parametrize("params, message", [
    ({"request_type": "rectification", "account_id": 1, "received_at": "2026-06-01T00:00:00+00:00"}, "request_type"),
    ({"request_type": "erasure", "received_at": "2026-06-01T00:00:00+00:00"}, "account_id"),
    ({"request_type": "erasure", "account_id": 1}, "received_at"),
    ({"request_type": "erasure", "account_id": 1, "received_at": "2026-06-01T00:00:00"}, "time zone"),
])
def test_bad_params_are_refused_before_the_database(params, message):
    with pytest.raises(ValueError, match=message):
        intake(None, params, "run", triggered_by_hand=True)
