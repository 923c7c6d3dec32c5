"""The Retention page's HTML, from figures given by hand: what is shown, how problems stand out,
escaping, the inline SVG chart, Data Docs links, and no external resource."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
from retention.compliance import render
from retention.compliance.queries import (
    EXPECTED_GATES,
    Backlog,
    GateOutcome,
    PageData,
    RunSummary,
    backlog_window,
    docs_href,
    gate_outcomes,
    run_cutoffs,
)
from retention.policy import load_policy

NOW = datetime(2026, 6, 16, 9, 30, 5, 123456, tzinfo=timezone.utc)
AS_OF = datetime(2026, 6, 15, tzinfo=timezone.utc)


class Figures(HTMLParser):
    """Text of every element with a data-figure attribute, keyed by (run id or None, figure)."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[tuple[str | None, str], str] = {}
        self.attrs_of: dict[tuple[str | None, str], dict[str, str | None]] = {}
        self._run: str | None = None
        self._open: list[tuple[str, tuple[str | None, str] | None]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "tr" and "data-run-id" in attrs:
            self._run = attrs["data-run-id"]
        key = None
        if "data-figure" in attrs:
            key = (self._run if tag != "svg" else None, attrs["data-figure"])
            self.figures[key] = ""
            self.attrs_of[key] = attrs
        if tag not in ("br", "meta", "line", "rect", "path", "img", "input"):
            self._open.append((tag, key))

    def handle_endtag(self, tag):
        while self._open:
            open_tag, _ = self._open.pop()
            if open_tag == tag:
                break
        if tag == "tr":
            self._run = None

    def handle_data(self, data):
        for _, key in self._open:
            if key is not None:
                self.figures[key] += data


def parse(html: str) -> Figures:
    parser = Figures()
    parser.feed(html)
    return parser


def run(run_id: str = "scheduled__2026-06-15T00:00:00+00:00", **overrides) -> RunSummary:
    values = dict(
        run_id=run_id, as_of=AS_OF, status="success", started_at=AS_OF + timedelta(hours=2),
        finished_at=AS_OF + timedelta(hours=2, seconds=75.4), duration_s=75.4,
        cutoffs={"deceased_on_or_before": AS_OF.isoformat(), "closed_on_or_before": AS_OF.isoformat(),
                 "inactive_before": "2021-06-15T00:00:00+00:00", "connection_logs_before": "2025-06-15T00:00:00+00:00",
                 "prospects_before": "2023-06-15T00:00:00+00:00"},
        anonymised={"deceased": 50, "closed": 475, "inactive": 1420}, logs_purged=109_107, partitions_dropped=41,
        prospects_purged=735, policy=load_policy().values(),
        gates=tuple(GateOutcome(gate=g, passed=True, checks=2, docs_href=f"data-docs/run/{g}/index.html")
                    for g in EXPECTED_GATES),
    )
    values.update(overrides)
    return RunSummary(**values)


def backlog(**counts) -> Backlog:
    window = backlog_window(NOW, load_policy())
    values = {"accounts": {"deceased": 0, "closed": 0, "inactive": 0}, "connection_logs": 0, "prospects": 0,
              "files_pending": 0}
    values.update(counts)
    from retention.report import cutoffs_of

    return Backlog(as_of=window.as_of, cutoffs=cutoffs_of(window), **values)


def page(runs=None, **backlog_counts) -> PageData:
    return PageData(runs=[run()] if runs is None else runs, backlog=backlog(**backlog_counts), policy=load_policy(),
                    generated_at=NOW)


def test_formatting_helpers():
    assert render.fmt_int(109107) == "109,107"
    assert render.fmt_int(0) == "0"
    assert render.fmt_instant(AS_OF) == "2026-06-15 00:00:00 UTC"
    assert render.fmt_instant("2026-06-15T02:00:00+02:00") == "2026-06-15 00:00:00 UTC"
    assert render.fmt_instant(None) == "–"
    assert render.fmt_duration(None) == "–"
    assert render.fmt_duration(4.04) == "4.0 s"
    assert render.fmt_duration(75.4) == "1 min 15 s"
    assert render.fmt_duration(3 * 3600 + 125) == "3 h 02 min"


def test_run_figures_are_shown_per_run():
    html = render.render_page(page())
    figures = parse(html).figures
    rid = "scheduled__2026-06-15T00:00:00+00:00"
    assert figures[(rid, "anonymised_deceased")] == "50"
    assert figures[(rid, "anonymised_closed")] == "475"
    assert figures[(rid, "anonymised_inactive")] == "1,420"
    assert figures[(rid, "logs_purged")] == "109,107"
    assert figures[(rid, "partitions_dropped")] == "41"
    assert figures[(rid, "prospects_purged")] == "735"
    assert figures[(rid, "as_of")] == "2026-06-15 00:00:00 UTC"
    assert figures[(rid, "status")] == "success"
    assert figures[(rid, "duration")] == "1 min 15 s"
    assert 'data-cutoff="connection_logs_before">2025-06-15 00:00:00 UTC<' in html
    assert 'data-cutoff="inactive_before">2021-06-15 00:00:00 UTC<' in html


def test_clear_backlog_is_all_zero_and_says_so():
    parsed = parse(render.render_page(page()))
    keys = ["accounts_deceased", "accounts_closed", "accounts_inactive", "connection_logs", "prospects", "files_pending"]
    for key in keys:
        assert parsed.figures[(None, f"backlog.{key}")].startswith("0"), key
        assert parsed.attrs_of[(None, f"backlog.{key}")]["data-state"] == "ok"
    assert parsed.figures[(None, "backlog.verdict")] == "Nothing is overdue."
    assert parsed.attrs_of[(None, "backlog.as_of")]["datetime"] == NOW.isoformat()
    assert '<section id="backlog" class="card ok">' in render.render_page(page())


def test_non_zero_backlog_is_shown_as_a_problem():
    html = render.render_page(page(accounts={"deceased": 0, "closed": 3, "inactive": 0}, connection_logs=12_345))
    parsed = parse(html)
    assert parsed.figures[(None, "backlog.accounts_closed")].startswith("3")
    assert parsed.attrs_of[(None, "backlog.accounts_closed")]["data-state"] == "problem"
    assert parsed.figures[(None, "backlog.connection_logs")].startswith("12,345")
    assert parsed.attrs_of[(None, "backlog.connection_logs")]["data-state"] == "problem"
    assert parsed.attrs_of[(None, "backlog.prospects")]["data-state"] == "ok"
    verdict = parsed.figures[(None, "backlog.verdict")]
    assert verdict.startswith("Problem: 2 figure(s) overdue")
    assert "Connection logs past retention" in verdict
    assert '<section id="backlog" class="card problem">' in html


def test_gates_passed_failed_and_not_run_with_data_docs_links():
    gates = (
        GateOutcome(gate="accounts_before", passed=True, checks=5, docs_href="data-docs/r/accounts_before/index.html"),
        GateOutcome(gate="accounts_after", passed=False, checks=1, failed=1,
                    failed_checks="tombstones_hold_no_personal_data", docs_href="data-docs/r/accounts_after/index.html"),
        GateOutcome(gate="warehouse_after", passed=None),
    )
    html = render.render_page(page(runs=[run(status="failed", gates=gates)]))
    assert re.search(r'data-gate="accounts_before" data-state="passed">.*?passed.*?'
                     r'href="data-docs/r/accounts_before/index.html">Data Docs', html)
    assert re.search(r'data-gate="accounts_after" data-state="failed">.*?1/1 failed: tombstones_hold_no_personal_data'
                     r'.*?href="data-docs/r/accounts_after/index.html"', html)
    assert re.search(r'data-gate="warehouse_after"><span class="badge notrun">not run', html)
    assert '<span class="badge failed" data-figure="status">failed</span>' in html


def test_everything_is_escaped():
    evil = '<script>alert("x")</script>'
    gates = (GateOutcome(gate=evil, passed=False, checks=1, failed=1, failed_checks=evil,
                         docs_href='data-docs/"><script>x</script>'),)
    html = render.render_page(page(runs=[run(run_id=evil, gates=gates)]))
    assert "<script" not in html
    assert "&lt;script&gt;" in html


def test_chart_is_inline_svg_with_one_bar_group_per_run_and_failed_runs_marked():
    runs = [run(run_id=f"run{i:02d}", as_of=AS_OF - timedelta(days=i), status="failed" if i == 3 else "success",
                logs_purged=1000 * i) for i in range(90)]
    html = render.render_chart(runs)
    svg = html[html.index("<svg"):html.index("</svg>") + len("</svg>")]
    root = ET.fromstring(svg)  # well-formed XML
    ns = "{http://www.w3.org/2000/svg}"
    groups = [g for g in root.iter(f"{ns}g")]
    assert len(groups) == 3 * 90  # three panels, one group per run
    assert root.get("data-runs") == "90"
    red = [r for r in root.iter(f"{ns}rect") if r.get("fill") == render.COLOURS["failed"]]
    assert len(red) == 3  # the failed run, once per panel
    titles = [t.text for t in root.iter(f"{ns}title")]
    assert any(t.startswith("run89 | as_of 2026-03-18 00:00:00 UTC | success | logs 89,000") for t in titles)
    assert "Last 90 runs" in html
    # Oldest on the left: run89 (oldest as_of) is drawn before run00.
    order = [g.get("data-run-id") for g in groups[:90]]
    assert order[0] == "run89" and order[-1] == "run00"
    assert "89,000" in svg  # the peak of the connection logs panel


def test_chart_with_one_run_and_with_none():
    one = render.render_chart([run()])
    assert "Last 1 run<" in one and one.count("<g ") == 3
    none = render.render_chart([])
    ET.fromstring(none[none.index("<svg"):none.index("</svg>") + 6])
    assert "<rect" not in none


def test_no_runs_yet():
    html = render.render_page(page(runs=[]))
    assert "No run of the nightly pipeline is recorded yet." in html


def test_policy_in_force_with_its_legal_basis_and_changes_since_last_run():
    policy = load_policy()
    html = render.render_page(page())
    for key, value in policy.values().items():
        assert f'<tr data-policy="{key}"><td class="mono">{key}</td><td class="num">{value}</td>' in html
        assert render._e(policy.bases[key]) in html
    assert "Changed since the last run" not in html
    older = {**policy.values(), "connection_log_retention_years": 2}
    html = render.render_page(page(runs=[run(policy=older)]))
    assert "Changed since the last run (which applied the previous values): connection_log_retention_years" in html


def test_self_contained_no_script_no_external_resource():
    html = render.render_page(page())
    tags = parse(html).tags
    assert not [t for t, _ in tags if t in ("script", "link", "iframe", "img")]
    for _, attrs in tags:
        for name in ("src", "href"):
            value = attrs.get(name)
            assert not value or not re.match(r"^(https?:)?//", value), value
    assert "@import" not in html and "url(" not in html


def test_error_page_is_escaped():
    html = render.render_error("Retention: data unavailable", "could not read <db>")
    assert "could not read &lt;db&gt;" in html


# Pure helpers behind the figures.


def test_docs_href_only_under_the_served_root(tmp_path: Path):
    root = tmp_path / "data_docs"
    index = root / "manual__2026 run" / "accounts_before" / "index.html"
    assert docs_href(str(index), root) == "data-docs/manual__2026%20run/accounts_before/index.html"
    assert docs_href(str(tmp_path / "elsewhere" / "index.html"), root) is None
    assert docs_href(str(root / ".." / "airflow.cfg"), root) is None
    assert docs_href(None, root) is None
    assert docs_href("", root) is None


def test_cutoffs_from_report_else_from_audit_rows():
    report = {"inactive_before": "2021-06-15T00:00:00+00:00"}
    row = {"report_cutoffs": report, "as_of": AS_OF, "closed_cutoff": AS_OF, "inactive_cutoff": AS_OF,
           "logs_cutoff": datetime(2025, 6, 15, tzinfo=timezone.utc), "prospects_cutoff": None}
    cutoffs = run_cutoffs(row)
    assert cutoffs["inactive_before"] == "2021-06-15T00:00:00+00:00"  # the report wins
    assert cutoffs["connection_logs_before"] == "2025-06-15T00:00:00+00:00"
    assert cutoffs["deceased_on_or_before"] == AS_OF.isoformat()
    assert "prospects_before" not in cutoffs


def test_gate_outcomes_list_every_expected_gate_in_pipeline_order(tmp_path: Path):
    rows = [{"gate": "prospects_after", "passed": False, "checks": 2, "failed": 1, "failed_checks": "x",
             "data_docs": str(tmp_path / "r" / "prospects_after" / "index.html")},
            {"gate": "extra_gate", "passed": True, "checks": 1, "failed": 0, "failed_checks": "", "data_docs": None}]
    outcomes = gate_outcomes(rows, tmp_path)
    assert [o.gate for o in outcomes] == [*EXPECTED_GATES, "extra_gate"]
    by_gate = {o.gate: o for o in outcomes}
    assert by_gate["accounts_before"].passed is None
    assert by_gate["prospects_after"].passed is False
    assert by_gate["prospects_after"].docs_href == "data-docs/r/prospects_after/index.html"
    assert by_gate["extra_gate"].docs_href is None


def test_run_summary_gate_verdict():
    assert run().gates_passed is True
    assert replace(run(), gates=()).gates_passed is None
    failed = (GateOutcome(gate="accounts_before", passed=True), GateOutcome(gate="accounts_after", passed=None))
    assert replace(run(), gates=failed).gates_passed is False
    assert run().anonymised_total == 1945


@pytest.mark.parametrize("now, logs_before", [
    (datetime(2026, 11, 27, 6, 0, tzinfo=timezone.utc), "2025-11-27T06:00:00+00:00"),
    (datetime(2028, 2, 29, 12, 0, tzinfo=timezone.utc), "2027-02-28T12:00:00+00:00"),
])
def test_backlog_cutoffs_follow_the_run_window_rules(now, logs_before):
    window = backlog_window(now, load_policy())
    assert window.as_of == now
    assert window.logs_before.isoformat() == logs_before


def test_data_map_is_shown_as_the_record_of_processing():
    from dataclasses import replace

    from retention.datamap import load_datamap

    rows = load_datamap().rows()
    html = render.render_page(replace(page(), datamap_rows=rows))
    section = html[html.index('<section id="datamap">'):]
    assert section.count("<tr data-column=") == len(rows)
    assert ('<tr data-column="app.accounts.email"><td class="mono">app.accounts</td><td class="mono">email</td>'
            "<td>identity</td><td>yes</td>") in section
    assert "erase file" in section and "aggregate into stats.language_levels" in section
    assert '<section id="datamap">' not in render.render_page(page()), "no map rows, no section"
