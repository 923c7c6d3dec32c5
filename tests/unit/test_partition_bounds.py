"""Pure logic of the connection-log purge: what to do with a partition given its catalog bounds,
and which heap pages to walk given the sampled pages of expired rows."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from retention.logs import Partition, classify_partition, drop_lock_timeout_ms, page_batches, plan_page_ranges

UTC = timezone.utc
CUTOFF = datetime(2025, 6, 15, tzinfo=UTC)


def part(lower=None, upper=None, *, minvalue=False, maxvalue=False, default=False, has_range=True) -> Partition:
    return Partition(
        name="p", qualified_name="app.p", is_partitioned=False, is_default=default,
        has_range=has_range and not default, lower_unbounded=minvalue, upper_unbounded=maxvalue,
        lower_bound=lower, upper_bound=upper,
    )


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("partition", "action"),
    [
        (part(at(2025, 5, 1), at(2025, 6, 1)), "drop"),
        (part(at(2025, 6, 1), at(2025, 6, 15)), "drop"),  # upper bound exclusive: ends exactly at the cutoff
        (part(at(2025, 6, 1), at(2025, 6, 15, 0, 0, 1)), "purge"),  # one second past: straddles
        (part(at(2025, 6, 1), at(2025, 7, 1)), "purge"),
        (part(at(2025, 6, 15), at(2025, 7, 1)), "skip"),  # starts at the cutoff: nothing expired
        (part(at(2026, 1, 1), at(2026, 2, 1)), "skip"),
        (part(None, at(2020, 1, 1), minvalue=True), "drop"),
        (part(None, at(2025, 7, 1), minvalue=True), "purge"),
        (part(at(2025, 1, 1), None, maxvalue=True), "purge"),
        (part(at(2025, 7, 1), None, maxvalue=True), "skip"),
        (part(None, None, minvalue=True, maxvalue=True), "purge"),
        (part(default=True), "purge"),
        (part(has_range=False), "purge"),  # not range-partitioned on occurred_at: never dropped
    ],
)
def test_classify_partition(partition, action):
    assert classify_partition(partition, CUTOFF) == action


def test_no_sampled_page_means_no_walk():
    assert plan_page_ranges([], 1000, 100) == []


def test_contiguous_samples_make_one_range_with_a_margin():
    blocks = list(range(0, 3000, 7))
    assert plan_page_ranges(blocks, 10_000, 500) == [(0, 2996 + 1 + 500)]


def test_a_large_gap_splits_the_walk():
    blocks = list(range(1000, 2000, 5)) + list(range(9000, 9400, 5))
    ranges = plan_page_ranges(blocks, 9500, 100)
    assert ranges == [(900, 1995 + 1 + 100), (8900, 9395 + 1 + 100)]
    assert plan_page_ranges(blocks, 9450, 100)[-1] == (8900, 9450)  # clipped to the relation


def test_sparse_samples_widen_the_margin():
    # Few samples far apart: rows between two of them may lie anywhere between, and around, them.
    assert plan_page_ranges([100, 450], 1000, 100) == [(0, 1000)]
    assert plan_page_ranges([5000], 10_000, 100) == [(4900, 5101)]


def test_pages_beyond_the_relation_are_ignored():
    assert plan_page_ranges([5, 10_000], 100, 10) == [(0, 16)]


def test_page_batches_cover_each_range_exactly():
    batches = list(page_batches([(0, 1050), (2000, 2001)], 500))
    assert batches == [(0, 500), (500, 1000), (1000, 1050), (2000, 2001)]


@pytest.mark.parametrize(("lock_ms", "deadlock_ms", "expected"), [
    (2000, 1000, 500),   # the defaults: half of deadlock_timeout, so the DROP gives up first
    (300, 1000, 300),    # a stricter policy stands
    (2000, 60000, 2000),  # a long deadlock_timeout: the policy's bound
    (2000, 1, 1),        # never 0, which would mean "wait forever"
])
def test_drop_waits_for_the_parent_less_than_the_deadlock_timeout(lock_ms, deadlock_ms, expected):
    assert drop_lock_timeout_ms(lock_ms, deadlock_ms) == expected
