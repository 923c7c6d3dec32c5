"""The 06:00 Europe/Paris deadline, judged from the pipeline's own run records (pure logic)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from retention.watchdog import LateRun, judge, night_start

UTC = timezone.utc
CHECK_WINTER = datetime(2031, 1, 15, 5, 0, tzinfo=UTC)  # 06:00 CET
TONIGHT = datetime(2031, 1, 15, 1, 0, tzinfo=UTC)       # 02:00 CET, the nightly run's as_of


def row(run_id, status, *, started, finished=None, tonight=True, as_of=TONIGHT):
    return {"run_id": run_id, "as_of": as_of, "status": status, "started_at": started,
            "finished_at": finished, "tonight": tonight}


def test_the_night_starts_at_local_midnight_winter_and_summer():
    assert night_start(CHECK_WINTER) == datetime(2031, 1, 14, 23, 0, tzinfo=UTC)
    assert night_start(datetime(2031, 7, 15, 4, 0, tzinfo=UTC)) == datetime(2031, 7, 14, 22, 0, tzinfo=UTC)


def test_a_night_finished_before_six_is_kept():
    rows = [row("r1", "success", started=TONIGHT, finished=TONIGHT + timedelta(minutes=30))]
    assert judge(rows, CHECK_WINTER) == []


def test_a_night_still_running_at_six_is_late():
    rows = [row("r1", "running", started=TONIGHT)]
    assert judge(rows, CHECK_WINTER) == [LateRun("r1", TONIGHT, "running")]


def test_a_night_finished_after_six_was_late_whenever_it_is_judged():
    rows = [row("r1", "success", started=TONIGHT, finished=CHECK_WINTER + timedelta(minutes=1))]
    assert judge(rows, CHECK_WINTER) == [LateRun("r1", TONIGHT, "running")]


def test_a_night_that_never_ran_is_reported_as_missing():
    assert judge([], CHECK_WINTER) == [LateRun(None, None, "missing")]


def test_a_failed_night_is_late_and_a_successful_rerun_keeps_it():
    failed = row("r1", "failed", started=TONIGHT, finished=TONIGHT + timedelta(minutes=5))
    assert judge([failed], CHECK_WINTER) == [LateRun("r1", TONIGHT, "failed")]
    rerun = row("r2", "success", started=TONIGHT + timedelta(hours=1), finished=TONIGHT + timedelta(hours=2))
    assert judge([failed, rerun], CHECK_WINTER) == []


def test_a_manual_run_open_more_than_four_hours_is_late_even_when_tonight_was_kept():
    kept = row("r1", "success", started=TONIGHT, finished=TONIGHT + timedelta(minutes=30))
    manual = row("manual", "running", started=CHECK_WINTER - timedelta(hours=5), tonight=False,
                 as_of=datetime(2031, 1, 1, tzinfo=UTC))
    assert judge([kept, manual], CHECK_WINTER) == [LateRun("manual", manual["as_of"], "running")]
    # A second run tonight, started an hour ago, is not late yet.
    recent = row("r3", "running", started=CHECK_WINTER - timedelta(hours=1))
    assert judge([kept, recent], CHECK_WINTER) == []
