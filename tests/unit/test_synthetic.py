"""The synthetic data generator's pure parts: determinism, the planned spread, row consistency, encoding."""

from __future__ import annotations

import ipaddress
import re
import struct
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from retention import synthetic as s

AS_OF = s._parse_as_of(s.DEFAULT_AS_OF)
CUTOFF = s.to_us(s._subtract_years(AS_OF, 5))


@pytest.fixture(scope="module")
def pools() -> s.Pools:
    return s.build_pools(1)


@pytest.fixture(scope="module")
def plan() -> dict[str, np.ndarray]:
    """Three chunks of planned accounts (the last one partial), as generate() plans them."""
    sizes = [s.CHUNK_ACCOUNTS, s.CHUNK_ACCOUNTS, 7_000]
    return s._concat_plans([s.plan_chunk(1, AS_OF, k, n) for k, n in enumerate(sizes)])


def chunk_of(plan: dict[str, np.ndarray], n: int = 5_000) -> dict[str, np.ndarray]:
    return {key: value[:n] for key, value in plan.items()}


def decode_rows(data: bytes, ncols: int) -> list[list[bytes | None]]:
    """Minimal reader of binary COPY tuples (what PostgreSQL parses), for checking the encoder."""
    rows, pos = [], 0
    while pos < len(data):
        (count,) = struct.unpack_from(">h", data, pos)
        assert count == ncols
        pos += 2
        row: list[bytes | None] = []
        for _ in range(count):
            (length,) = struct.unpack_from(">i", data, pos)
            pos += 4
            if length < 0:
                row.append(None)
            else:
                row.append(data[pos : pos + length])
                pos += length
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------------ plan
def test_plan_is_deterministic_per_seed_and_chunk():
    a = s.plan_chunk(7, AS_OF, 3, 4_000)
    b = s.plan_chunk(7, AS_OF, 3, 4_000)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    other_seed = s.plan_chunk(8, AS_OF, 3, 4_000)
    other_chunk = s.plan_chunk(7, AS_OF, 4, 4_000)
    assert not np.array_equal(a["created"], other_seed["created"])
    assert not np.array_equal(a["created"], other_chunk["created"])


def test_plan_moves_with_as_of():
    later = AS_OF + timedelta(days=365)
    a = s.plan_chunk(1, AS_OF, 0, 2_000)
    b = s.plan_chunk(1, later, 0, 2_000)
    shift = s.to_us(later) - s.to_us(AS_OF)
    # Same draws relative to as_of: the categories are identical and closures move along.
    np.testing.assert_array_equal(a["category"], b["category"])
    assert (b["created"].max() > s.to_us(AS_OF)) and (a["created"].max() <= s.to_us(AS_OF))
    closed = a["closed"] != s.NULL_TS
    assert np.all(np.abs((b["closed"][closed] - a["closed"][closed]) - shift) <= 2 * s.DAY)


def test_eligible_shares(plan):
    n = len(plan["created"])
    eligible = s.eligible_mask(plan, AS_OF)
    assert 0.085 <= eligible.mean() <= 0.105
    a = s.to_us(AS_OF)
    closed = (plan["closed"] != s.NULL_TS) & (plan["closed"] <= a)
    deceased = (plan["deceased"] != s.NULL_TS) & (plan["deceased"] <= a)
    inactive = plan["last_active"] < CUTOFF
    # Each reason stays under the policy's 5% safety brake; shares are close to the intended ones.
    assert 0.045 <= closed.mean() < 0.05
    assert 0.040 <= inactive.mean() < 0.05
    assert 0.005 <= deceased.mean() <= 0.009
    # Reasons do not overlap: a closed or deceased account was active within five years.
    assert not np.any(inactive & (closed | deceased))
    assert not np.any(closed & deceased)
    # Complications.
    a_day = s.date_to_days(AS_OF.date())
    held = plan["legal_hold"] >= a_day
    assert 0.002 <= held.mean() <= 0.004
    assert np.any(held & (closed | inactive | deceased)) and np.any(held & ~(closed | inactive | deceased))
    post_mortem = plan["post_mortem"] >= a_day
    assert 0.0015 <= post_mortem.mean() <= 0.0025 and np.all(deceased[post_mortem])
    assert np.any(plan["closed"] > a)
    assert np.sum(plan["last_active"] == CUTOFF) >= 1  # exactly on the cutoff: not "before" it
    near = np.abs(plan["last_active"] - CUTOFF) <= 45 * s.DAY
    assert near.sum() >= 0.005 * n


def test_plan_windows_are_consistent(plan):
    a = s.to_us(AS_OF)
    assert np.all(plan["created"] <= plan["last_active"])
    assert np.all(plan["last_active"] <= a)
    assert plan["created"].min() >= s.to_us(s._subtract_years(AS_OF, 9))
    closed = plan["closed"] != s.NULL_TS
    assert np.all(plan["closed"][closed] >= plan["last_active"][closed])
    dead = plan["deceased"] != s.NULL_TS
    assert np.all(plan["deceased"][dead] >= plan["last_active"][dead])
    age_days = s.date_to_days(AS_OF.date()) - plan["birth"]
    assert age_days.min() >= 18 * 365 and age_days.max() <= 70 * 366
    # Everyone else was active in the last five years.
    assert np.all(plan["last_active"][~s.eligible_mask(plan, AS_OF) & (plan["legal_hold"] == s.NULL_DATE)]
                  >= CUTOFF)


# ------------------------------------------------------------------------------------------------ rows
def test_account_rows_are_deterministic_and_french(pools, plan):
    small = chunk_of(plan, 3_000)
    first = s.encode_rows(s.account_rows(pools, 1, 0, 1, small))
    again = s.encode_rows(s.account_rows(s.build_pools(1), 1, 0, 1, small))
    assert first == again
    assert first != s.encode_rows(s.account_rows(s.build_pools(2), 2, 0, 1, small))
    rows = decode_rows(first, len(s.ACCOUNT_COLUMNS))
    col = {name: i for i, name in enumerate(s.ACCOUNT_COLUMNS)}
    emails = [r[col["email"]].decode() for r in rows]
    assert len(set(emails)) == len(emails)
    assert all(re.fullmatch(r"[a-z0-9-]+\.[a-z0-9-]+\.\d+@example\.fr", e) for e in emails)
    country = [r[col["country_code"]].decode() for r in rows]
    postal = [r[col["postal_code"]].decode() for r in rows]
    abroad = [p for c, p in zip(country, postal, strict=True) if c != "FR"]
    assert 0.03 <= len(abroad) / len(rows) <= 0.07
    assert all(re.fullmatch(r"\d{5}", p) for c, p in zip(country, postal, strict=True) if c == "FR")
    assert not any(re.fullmatch(r"\d{5}", p) for p in abroad)
    assert any(r[col["linkedin_url"]] is None for r in rows)
    assert all(r[col["anonymised_at"]] is None for r in rows)


def test_child_rows_stay_in_the_activity_window(pools, plan):
    small = chunk_of(plan, 4_000)
    ids = np.arange(1, 4_001)
    window_lo, window_hi = small["created"], small["last_active"]

    def check(account_ids, when):
        idx = account_ids - 1
        assert np.all(when >= window_lo[idx]) and np.all(when <= window_hi[idx])

    ev = s.event_rows(1, 0, small, ids)
    check(ev[0].values, ev[2].values)
    assert 15 <= len(ev[0].values) / len(ids) <= 25
    # Per account, events are in time order and the last one is the login at last_login_at.
    acc, when = ev[0].values, ev[2].values
    assert np.all((acc[1:] != acc[:-1]) | (when[1:] >= when[:-1]))
    last = np.flatnonzero(np.r_[acc[1:] != acc[:-1], True])
    np.testing.assert_array_equal(when[last], window_hi[acc[last] - 1])
    published = np.sort(np.array([s.to_us(AS_OF) - 4000 * s.DAY, s.to_us(AS_OF) - 100 * s.DAY]))
    ap = s.application_rows(1, 0, small, ids, AS_OF, published, np.array([1, 2]))
    check(ap[0].values, ap[2].values)
    assert 2 <= len(ap[0].values) / len(ids) <= 4
    assert ap[3].values.min() >= 0 and ap[3].values.max() <= 10_000
    asm = s.assessment_rows(1, 0, small, ids)
    check(asm[0].values, asm[3].values)
    msg = s.message_rows(pools, 1, 0, small, ids, 1, 4_000)
    check(msg[0].values, msg[3].values)
    assert np.all(msg[0].values != msg[1].values)
    # Nothing of an inactive account happened in the last five years.
    inactive_ids = ids[small["last_active"] < CUTOFF]
    for table_ids, when in ((ev[0].values, ev[2].values), (ap[0].values, ap[2].values),
                            (msg[0].values, msg[3].values), (asm[0].values, asm[3].values)):
        assert np.all(when[np.isin(table_ids, inactive_ids)] < CUTOFF)


def test_profile_rows(pools, plan, tmp_path):
    small = chunk_of(plan, 2_000)
    ids = np.arange(101, 2_101)
    langs = decode_rows(s.encode_rows(s.language_rows(1, 0, ids)), 3)
    pairs = [(r[0], r[1]) for r in langs]
    assert len(pairs) == len(set(pairs))  # (account_id, language) is the primary key
    per_account = np.bincount([struct.unpack(">q", r[0])[0] - 101 for r in langs])
    assert per_account.min() >= 1 and per_account.max() <= 4
    assert {r[1].decode() for r in langs} <= set(s.LANGUAGES)
    assert {r[2].decode() for r in langs} <= set(s.LANGUAGE_LEVELS)
    edu = decode_rows(s.encode_rows(s.education_rows(pools, 1, 0, small, ids, AS_OF)), 6)
    assert {r[3].decode() for r in edu} <= set(s.LEVELS)
    assert max(struct.unpack(">i", r[5])[0] for r in edu if r[5] is not None) <= AS_OF.year
    exp = s.experience_rows(pools, 1, 0, small, ids, AS_OF)
    assert 0.15 <= exp[3].values.mean() <= 0.35  # is_annotation
    cols, files = s.document_rows(1, 0, small, ids, tmp_path / "docs")
    uris = [r[2].decode() for r in decode_rows(s.encode_rows(cols), 4)]
    base = (tmp_path / "docs").resolve().as_uri()
    assert all(re.fullmatch(re.escape(base) + r"/\d+/[0-9a-f]{32}\.pdf", u) for u in uris)
    assert len(set(uris)) == len(uris) == len(files)
    s._write_files(tmp_path / "docs", files[:3])
    assert all((tmp_path / "docs" / name).read_bytes().startswith(b"%PDF") for name, _ in files[:3])


def test_connection_log_day_is_sorted_and_in_windows(pools, plan):
    order = np.argsort(plan["created"], kind="stable")
    created_sorted, last_sorted = plan["created"][order], plan["last_active"][order]
    rates = s.log_rates(plan)[order]
    day_start = s.to_us(AS_OF) - 200 * s.DAY
    rows = s.log_rows_for_day(s.rng_for(1, "connection_logs", 5), day_start, 3_000, 400, order, created_sorted,
                              last_sorted, rates, 1, len(pools.user_agent), 1)
    when, account = rows["when"], rows["account"]
    assert np.all(np.diff(when) >= 0)
    assert np.all((when >= day_start) & (when < day_start + s.DAY))
    known = account >= 0
    assert known.sum() == 3_000 and (~known).sum() == 400
    idx = account[known] - 1
    assert np.all(when[known] >= plan["created"][idx]) and np.all(when[known] <= plan["last_active"][idx])
    cols = s.log_cols(pools, s.rng_for(1, "connection_logs", 99), rows, 1, 50)
    decoded = decode_rows(s.encode_rows(cols), 5)
    families = set()
    for row in decoded:
        family, bits, _, size = row[1][:4]
        raw = row[1][4:]
        assert len(raw) == size
        ip = ipaddress.ip_address(raw)
        families.add(ip.version)
        assert ip in ipaddress.ip_network("100.64.0.0/10" if family == 2 else "2001:db8::/32")
        assert bits == (32 if family == 2 else 128)
        assert row[3].startswith(b"/")
    assert families == {4, 6}


def test_log_day_counts_add_up(plan):
    per_day, visitors = s.log_day_counts(1, AS_OF, plan["created"], plan["last_active"], s.log_rates(plan),
                                         500_000, 1095)
    assert per_day.sum() + visitors.sum() == 500_000
    assert 0.1 <= visitors.sum() / 500_000 <= 0.14
    assert per_day[-30:].mean() > per_day[:30].mean()  # the platform grows


def test_prospects(pools):
    collected = s.prospect_collection_times(1, AS_OF, 3_000)
    assert np.all(np.diff(collected) >= 0)
    assert collected.min() >= s.to_us(s._subtract_years(AS_OF, 6)) and collected.max() <= s.to_us(AS_OF)
    cols = s.prospect_rows(pools, 1, AS_OF, collected)
    contacted = cols[10].values != s.NULL_TS
    objected = cols[11].values != s.NULL_TS
    assert 0.4 <= contacted.mean() <= 0.6 and 0.015 <= objected.mean() <= 0.045
    assert np.all(cols[10].values[contacted] >= collected[contacted])


# -------------------------------------------------------------------------------------------- encoder
def test_encoder_formats():
    cols = [
        s.Col("int8", np.array([1, -2, 3]), np.array([False, False, True])),
        s.Col("int4", np.array([7, 8, 9])),
        s.Col("bool", np.array([True, False, True])),
        s.ts_col(np.array([0, s.DAY + 1, s.NULL_TS])),
        s.date_col(np.array([0, -1, s.NULL_DATE])),
        s.Col("num52", np.array([0, 4512, 10000])),
        s.text_col(np.array(["é".encode(), b"", b"abc"]), np.array([False, False, False])),
    ]
    rows = decode_rows(s.encode_rows(cols), len(cols))
    assert rows[0][0] == struct.pack(">q", 1) and rows[1][0] == struct.pack(">q", -2) and rows[2][0] is None
    assert [r[1] for r in rows] == [struct.pack(">i", v) for v in (7, 8, 9)]
    assert [r[2] for r in rows] == [b"\x01", b"\x00", b"\x01"]
    assert rows[1][3] == struct.pack(">q", s.DAY + 1) and rows[2][3] is None
    assert rows[1][4] == struct.pack(">i", -1) and rows[2][4] is None
    assert [r[6] for r in rows] == ["é".encode(), b"", b"abc"]

    def numeric(raw: bytes) -> Decimal:
        ndigits, weight, sign, dscale, *digits = struct.unpack(f">hhhh{(len(raw) - 8) // 2}h", raw)
        value = sum(Decimal(d) * Decimal(10000) ** (weight - i) for i, d in enumerate(digits[:ndigits]))
        return (-value if sign else value).quantize(Decimal(1).scaleb(-dscale))

    assert [numeric(r[5]) for r in rows] == [Decimal("0.00"), Decimal("45.12"), Decimal("100.00")]
    assert s.encode_rows([s.Col("int8", np.array([], dtype=np.int64))]) == b""


def test_time_helpers_round_trip():
    assert s.from_us(s.to_us(AS_OF)) == AS_OF
    assert s.days_to_date(s.date_to_days(AS_OF.date())) == AS_OF.date()
    assert s._subtract_years(s._parse_as_of("2024-02-29T00:00:00+00:00"), 1).day == 28


def test_cli_refuses_bad_arguments(capsys):
    assert s.main(["--db-url", "postgresql://nobody@127.0.0.1:1/x", "--accounts", "0", "--seed", "1"]) == 2
    assert "accounts must be at least 1" in capsys.readouterr().err
    with pytest.raises(s.SyntheticDataError, match="time zone"):
        s.generate("postgresql://nobody@127.0.0.1:1/x", accounts=1, seed=1, as_of="2026-06-15T00:00:00")


def test_module_never_reads_the_clock():
    source = Path(s.__file__).read_text(encoding="utf-8")
    assert "datetime.now" not in source and "date.today" not in source and "time.time()" not in source
