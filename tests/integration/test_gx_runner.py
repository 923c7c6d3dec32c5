"""The Great Expectations gate runner against a real PostgreSQL: verdicts, counts, and no personal data."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest
from retention.quality.gx_runner import Check, GateResult, run_gate

pytestmark = pytest.mark.integration

SECRET = "secret.person@example.org"
CUTOFF = datetime(2026, 6, 15, tzinfo=timezone.utc)


@pytest.fixture
def db_url(databases) -> str:
    url = databases.create("gx")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """
            create table accounts (
                id bigint primary key,
                email text not null,
                last_seen timestamptz not null,
                legal_hold boolean not null default false
            );
            create sequence audit_seq;
            """
        )
        conn.execute(
            """
            insert into accounts values
                (1, %s, '2020-01-01', true),
                (2, 'kept.person@example.org', '2026-06-01', false),
                (3, 'gone.person@example.org', '2021-01-01', false)
            """,
            (SECRET,),
        )
    return url


def by_name(gate: GateResult) -> dict:
    return {r.name: r for r in gate.results}


def assert_secret_nowhere(gate: GateResult, docs_dir: Path, caplog, capsys) -> None:
    assert SECRET not in repr(gate)
    files = [p for p in docs_dir.rglob("*") if p.is_file()]
    assert files, "no Data Docs were written"
    leaking = [str(p) for p in files if SECRET.encode() in p.read_bytes()]
    assert leaking == []
    assert SECRET not in caplog.text
    assert all(SECRET not in record.getMessage() for record in caplog.records)
    out, err = capsys.readouterr()
    assert SECRET not in out and SECRET not in err


def test_no_rows_gate_counts_offenders_without_leaking_them(db_url, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    checks = [
        Check(
            "accounts.no_last_seen_in_future",
            "No account was seen after the cutoff plus a year",
            "no_rows",
            "select id, email from accounts where last_seen > :cutoff + interval '365 days'",
        ),
        Check(
            "accounts.no_candidate_under_legal_hold",
            "No deletion candidate is under legal hold",
            "no_rows",
            "select id, email, last_seen from accounts where last_seen < :cutoff and legal_hold;",
        ),
    ]
    docs_dir = tmp_path / "docs"

    gate = run_gate(db_url, "pre_delete", checks, {"cutoff": CUTOFF}, docs_dir=docs_dir)

    assert gate.gate_name == "pre_delete"
    assert gate.success is False
    results = by_name(gate)
    assert [r.name for r in gate.results] == [c.name for c in checks]
    ok, held = results["accounts.no_last_seen_in_future"], results["accounts.no_candidate_under_legal_hold"]
    assert (ok.success, ok.observed, ok.expected) == (True, 0, 0)
    assert (held.success, held.observed, held.expected) == (False, 1, 0)
    assert held.description == "No deletion candidate is under legal hold"
    assert [r.name for r in gate.failed] == ["accounts.no_candidate_under_legal_hold"]

    # Data Docs: one site per gate, an index and one validation page per check.
    index = Path(gate.data_docs_index)
    assert index == (docs_dir / "pre_delete" / "index.html").resolve()
    assert index.is_file()
    pages = sorted((docs_dir / "pre_delete" / "validations").rglob("*.html"))
    assert len(pages) == 2
    html = "\n".join(p.read_text() for p in pages)
    assert "No deletion candidate is under legal hold" in html
    assert "timestamptz &#39;2026-06-15T00:00:00+00:00&#39;" in html or "timestamptz '2026-06-15" in html

    # Offline and small: no request can leave the machine, no script, no vendor footer, no static/
    # copy per site; one shared stylesheet beside the runs, linked relatively from every page.
    site = docs_dir / "pre_delete"
    every_page = sorted(site.rglob("*.html"))
    assert not (site / "static").exists()
    sheets = list((tmp_path / "_assets").glob("data_docs-*.css"))
    assert len(sheets) == 1
    for page in every_page:
        text = page.read_text()
        assert not re.search(r"""(?:src|href)\s*=\s*["'](?:https?:)?//|url\(\s*["']?(?:https?:)?//""", text), page
        assert "<script" not in text and "newsletter" not in text and "static/" not in text
        linked = re.search(r'<link rel="stylesheet" href="([^"]+)">', text).group(1)
        assert (page.parent / linked).resolve() == sheets[0].resolve()
    front = index.read_text()
    assert front.count("<tr>") >= 1 + 2 + 1 + 2  # the two index tables drawn: a header and a row per check
    assert "no_candidate_under_legal_hold" in front
    assert sum(p.stat().st_size for p in site.rglob("*") if p.is_file()) < 200_000

    assert_secret_nowhere(gate, docs_dir, caplog, capsys)
    assert "gate pre_delete: FAILED, 1/2 checks passed" in caplog.text


def test_equal_and_at_most(db_url, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    checks = [
        Check(
            "equal.pass",
            "All three accounts are counted",
            "equal",
            "select count(*) as observed, 3 as expected from accounts",
        ),
        Check(
            "equal.fail",
            "Nobody is under legal hold",
            "equal",
            "select count(*) filter (where legal_hold) as observed, 0 as expected from accounts",
        ),
        Check(
            "at_most.pass",
            "At most :cap stale accounts",
            "at_most",
            "select count(*) as observed, :cap + 3 as expected from accounts where last_seen < :cutoff",
        ),
        Check(
            "at_most.boundary",
            "observed == expected passes at_most",
            "at_most",
            "select count(*) as observed, 3 as expected from accounts where email like '%@example.org'",
        ),
        Check(
            "at_most.fail",
            "At most :cap stale accounts",
            "at_most",
            "select count(*) as observed, :cap as expected from accounts where last_seen < :cutoff",
        ),
        Check(
            "at_most.ratio",
            "Held share is at most the ratio",
            "at_most",
            "select avg(legal_hold::int) as observed, :ratio as expected from accounts",
        ),
        Check(
            "equal.null",
            "A NULL observed never passes",
            "equal",
            "select max(id) filter (where false) as observed, 0 as expected from accounts",
        ),
        Check(
            "at_most.null",
            "A NULL observed never passes at_most either",
            "at_most",
            "select null::bigint as observed, 10 as expected",
        ),
        Check(
            "equal.no_row",
            "A query returning no row never passes",
            "equal",
            "select 1 as observed, 1 as expected where false",
        ),
        Check(
            "equal.two_rows",
            "A query returning two rows never passes",
            "equal",
            "select 1 as observed, 1 as expected from generate_series(1, 2)",
        ),
    ]
    params = {"cutoff": CUTOFF, "cap": 2, "ratio": 0.5}

    gate = run_gate(db_url, "post_delete", checks, params, docs_dir=tmp_path / "docs")

    got = {r.name: (r.success, r.observed, r.expected) for r in gate.results}
    assert got["equal.pass"] == (True, 3, 3)
    assert got["equal.fail"] == (False, 1, 0)
    assert got["at_most.pass"] == (True, 3, 5)
    assert got["at_most.boundary"] == (True, 3, 3)
    assert got["at_most.fail"] == (False, 3, 2)
    success, observed, expected = got["at_most.ratio"]
    assert success is True and observed == pytest.approx(1 / 3) and expected == 0.5
    assert got["equal.null"] == (False, None, 0)
    assert got["at_most.null"] == (False, None, 10)
    assert got["equal.no_row"][0] is False
    assert got["equal.two_rows"][0] is False
    assert gate.success is False
    assert gate.elapsed_s < 30
    # Every statement is timed, GX's own included: each pair check is measured once by the runner,
    # then its numbers are validated by GX (row count and column aggregates, at least 2 statements).
    pairs = sum(c.kind != "no_rows" for c in checks)
    assert gate.sql_statements >= 3 * pairs
    assert 0 < gate.sql_seconds < gate.elapsed_s
    assert 0 <= gate.import_seconds and gate.import_seconds + gate.sql_seconds < gate.elapsed_s
    assert_secret_nowhere(gate, tmp_path / "docs", caplog, capsys)


def test_database_errors_are_reported_without_their_message(db_url, tmp_path, caplog, capsys):
    """PostgreSQL quotes the offending value in the error; GX would copy it into Data Docs."""
    caplog.set_level(logging.DEBUG)
    checks = [
        Check(
            "bad.cast",
            "Casting an email fails",
            "equal",
            "select email::int as observed, 1 as expected from accounts where legal_hold",
        ),
        Check(
            "bad.cast_rows",
            "Casting an email fails",
            "no_rows",
            "select 1 from accounts where email::int > 0",
        ),
    ]

    gate = run_gate(db_url, "broken", checks, {}, docs_dir=tmp_path / "docs")

    assert gate.success is False
    assert [(r.success, r.observed) for r in gate.results] == [(False, None), (False, None)]
    pages = list((tmp_path / "docs" / "broken" / "validations").rglob("*.html"))
    assert len(pages) == 2
    assert "InvalidTextRepresentation" in "".join(p.read_text() for p in pages)
    assert_secret_nowhere(gate, tmp_path / "docs", caplog, capsys)


def test_gate_sessions_are_read_only(db_url):
    checks = [
        Check(
            "seq.untouched",
            "Checks cannot write",
            "equal",
            "select nextval('audit_seq') as observed, 1 as expected",
        )
    ]

    gate = run_gate(db_url, "read_only", checks, {}, docs_dir=None)

    assert gate.success is False
    assert gate.data_docs_index is None
    with psycopg.connect(db_url) as conn:
        assert conn.execute("select last_value, is_called from audit_seq").fetchone() == (1, False)
        # ...and leave no connection behind (GX keeps two engines: the data source's and its own).
        lingering = conn.execute(
            "select count(*) from pg_stat_activity"
            " where datname = current_database() and application_name = 'gdpr_retention_quality_gate'"
        ).fetchone()
        assert lingering == (0,)


def test_str_parameter_is_refused(db_url):
    checks = [Check("accounts.by_email", "d", "no_rows", "select 1 from accounts where email = :email")]
    with pytest.raises(TypeError, match=":email"):
        run_gate(db_url, "refuse", checks, {"email": SECRET}, docs_dir=None)
    # Refused even when the gate's queries do not use it: gate params are shared by many checks.
    with pytest.raises(TypeError, match=":who"):
        run_gate(
            db_url,
            "refuse",
            [Check("x.y", "d", "no_rows", "select 1 where false")],
            {"who": SECRET},
            docs_dir=None,
        )


def test_ten_check_gate_is_fast(db_url, tmp_path):
    # Warm up: the first gate in a process pays for importing great_expectations (seconds).
    warm = [Check("warm.up", "d", "no_rows", "select 1 where false")]
    run_gate(db_url, "warm", warm, {}, docs_dir=None)

    future = ("no_rows", "select id from accounts where last_seen > :cutoff + interval '1 year'")
    counted = ("equal", "select count(*) as observed, 3 as expected from accounts")
    capped = ("at_most", "select count(*) as observed, 5 as expected from accounts where last_seen < :cutoff")
    kinds_and_queries = [future] * 4 + [counted] * 3 + [capped] * 3
    checks = [
        Check(f"c.{i:02d}", f"check {i}", kind, query) for i, (kind, query) in enumerate(kinds_and_queries)
    ]
    gate = run_gate(db_url, "ten", checks, {"cutoff": CUTOFF}, docs_dir=tmp_path / "docs")

    assert gate.success is True and len(gate.results) == 10
    print(f"10-check gate with Data Docs: {gate.elapsed_s:.2f}s")
    assert gate.elapsed_s < 10
