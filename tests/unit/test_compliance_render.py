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
    assert "<script" not in html.replace(f"<script>{render.NAV_SCRIPT}</script>", "")
    assert "&lt;script&gt;" in html


def test_chart_is_inline_svg_with_one_bar_group_per_night_dates_durations_and_gate_strip():
    gates_failed = (GateOutcome(gate="accounts_before", passed=True), GateOutcome(gate="accounts_after", passed=False))
    runs = [run(run_id=f"run{i:02d}", as_of=AS_OF - timedelta(days=i), status="failed" if i == 3 else "success",
                started_at=AS_OF - timedelta(days=i) + timedelta(hours=1),
                finished_at=AS_OF - timedelta(days=i) + timedelta(hours=1, seconds=40), duration_s=40.0,
                logs_purged=1000 * i, **({"gates": gates_failed} if i == 3 else {})) for i in range(90)]
    html = render.render_chart(runs, NOW)
    svg = html[html.index("<svg"):html.index("</svg>") + len("</svg>")]
    root = ET.fromstring(svg)  # well-formed XML
    ns = "{http://www.w3.org/2000/svg}"
    groups = [g for g in root.iter(f"{ns}g")]
    assert len(groups) == 4 * 90  # three count panels and the duration panel, one group per night
    assert root.get("data-runs") == "90"
    red = [r for r in root.iter(f"{ns}rect") if r.get("fill") == render.COLOURS["failed"] and r.get("height") == "4"]
    assert len(red) == 3  # the failed run, once per count panel
    titles = [t.text for t in root.iter(f"{ns}title")]
    assert any(t.startswith("2026-03-18 | run89 | success | logs 89,000") for t in titles)
    assert "last 90 nights" in html
    order = [g.get("data-run-id") for g in groups[:90]]
    assert order[0] == "run89" and order[-1] == "run00"  # oldest on the left
    assert "89,000" in svg  # the peak of the connection logs panel
    assert ">88,000</text>" not in svg  # 90 nights: too many to write each value
    # Dates on the axis: the first and last nights, and more between them, never overlapping.
    dates = [t for t in root.iter(f"{ns}text") if t.get("data-figure") == "chart.date"]
    assert dates[0].text == "2026-03-18" and dates[-1].text == "2026-06-15" and len(dates) >= 8
    xs = [float(t.get("x")) for t in dates]
    assert all(b - a >= 60 for a, b in zip(xs, xs[1:], strict=False))
    # Every night kept its deadline (40 s, started at 01:00 UTC, 03:00 Paris).
    assert {g.get("data-deadline") for g in groups if g.get("data-deadline")} == {"kept"}
    # The gate strip: a cell per gate and night; the failed gate of run03 is red.
    cells = [r for r in root.iter(f"{ns}rect") if r.get("data-gate-cell")]
    assert len(cells) == len(EXPECTED_GATES) * 90
    assert sum(1 for c in cells if c.get("data-state") == "failed") == 1
    assert sum(1 for c in cells if c.get("data-state") == "passed") == len(EXPECTED_GATES) * 89 + 1


def test_chart_marks_a_late_night_and_draws_the_deadline_when_in_scale():
    late = run(run_id="late", started_at=AS_OF + timedelta(minutes=5), finished_at=AS_OF + timedelta(hours=5),
               duration_s=5 * 3600 - 300)
    ok = run(run_id="ok", as_of=AS_OF - timedelta(days=1), started_at=AS_OF - timedelta(days=1, minutes=-5),
             finished_at=AS_OF - timedelta(days=1, minutes=-65), duration_s=3600)
    svg = render.render_chart([late, ok], NOW)
    root = ET.fromstring(svg[svg.index("<svg"):svg.index("</svg>") + 6])
    states = {g.get("data-run-id"): g.get("data-deadline") for g in root.iter("{http://www.w3.org/2000/svg}g")
              if g.get("data-deadline")}
    assert states == {"late": "missed", "ok": "kept"}  # 06:00 Paris on 2026-06-15 is 04:00 UTC
    assert 'stroke="#c62828" stroke-width="2"' in svg  # the deadline tick is drawn


def test_chart_with_one_run_and_with_none():
    one = render.render_chart([run()], NOW)
    assert "last 1 night<" in one and one.count("<g ") == 4
    # Few nights: each bar carries its value (a small night beside a big one stays readable).
    assert ">1,945</text>" in one and ">109,107</text>" in one and ">1 min 15 s</text>" in one
    none = render.render_chart([], NOW)
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


def test_self_contained_no_external_resource_one_inline_script():
    html = render.render_page(page())
    tags = parse(html).tags
    assert not [t for t, _ in tags if t in ("link", "iframe", "img")]
    # One inline script, and only the Airflow links' navigation (see render.NAV_SCRIPT): no source,
    # no address of its own; without it every link is an ordinary link.
    scripts = [attrs for t, attrs in tags if t == "script"]
    assert scripts == [{}]
    assert html.count("<script>") == 1 and f"<script>{render.NAV_SCRIPT}</script>" in html
    assert "http" not in render.NAV_SCRIPT
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
    (tmp_path / "r" / "prospects_after").mkdir(parents=True)
    (tmp_path / "r" / "prospects_after" / "index.html").write_text("<html></html>")
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


# The verdict first, the overdue figures at their instant, notices, the year of proof.


def test_verdict_every_promise_kept():
    parsed = parse(render.render_page(page()))
    assert parsed.figures[(None, "verdict")] == "Every promise kept."
    assert parsed.figures[(None, "verdict.night")] == "2026-06-15"
    assert parsed.attrs_of[(None, "verdict.run")]["href"] == "../dags/gdpr_retention/runs/scheduled__2026-06-15T00%3A00%3A00%2B00%3A00"


def test_verdict_names_the_broken_promise_and_since_which_night():
    failed = (GateOutcome(gate="accounts_before", passed=False, checks=1, failed=1),)
    runs = [run(run_id=f"r{i}", as_of=AS_OF - timedelta(days=i), started_at=AS_OF - timedelta(days=i, hours=-2),
                finished_at=AS_OF - timedelta(days=i, hours=-2, seconds=-75), gates=failed if i < 3 else
                tuple(GateOutcome(gate=g, passed=True) for g in EXPECTED_GATES)) for i in range(5)]
    html = render.render_page(page(runs=runs))
    parsed = parse(html)
    assert parsed.figures[(None, "verdict")] == "Not kept: Every quality gate passed."
    assert re.search(r'data-promise="gates" data-state="broken" data-since="2026-06-13T00:00:00\+00:00">'
                     r"✘ Every quality gate passed: not kept since the night of 2026-06-13", html)
    assert 'data-promise="ran" data-state="kept"' in html
    assert 'data-promise="deadline" data-state="kept"' in html


def test_stale_history_is_said_plainly_not_raised_as_an_alarm():
    at_now = backlog(accounts={"deceased": 2, "closed": 40, "inactive": 7}, connection_logs=900)
    at_last = replace(backlog(), as_of=AS_OF)
    data = replace(page(), generated_at=AS_OF + timedelta(days=174), backlog=replace(at_now, as_of=AS_OF + timedelta(days=174)),
                   backlog_at_last_run=at_last)
    assert data.stale
    html = render.render_page(data)
    parsed = parse(html)
    assert "Problem" not in html
    assert parsed.figures[(None, "backlog.stale")].startswith(
        "The last run's as_of (2026-06-15 00:00:00 UTC) is 174.0 days before this instant")
    assert parsed.figures[(None, "backlog.verdict")].startswith("Nothing is overdue at the last run's as_of")
    assert parsed.attrs_of[(None, "backlog.accounts_closed")]["data-state"] == "pending"
    assert parsed.figures[(None, "verdict")] == "Every promise kept."
    assert '<section id="backlog" class="card info">' in html


def test_stale_history_with_something_left_at_the_last_as_of_is_a_problem():
    at_last = replace(backlog(prospects=3), as_of=AS_OF)
    data = replace(page(), generated_at=AS_OF + timedelta(days=10), backlog_at_last_run=at_last)
    parsed = parse(render.render_page(data))
    assert parsed.figures[(None, "backlog.verdict")].startswith(
        "Problem: 1 figure(s) overdue at 2026-06-15 00:00:00 UTC: Prospects past retention or objected (3)")
    assert parsed.figures[(None, "verdict")] == "Not kept: Nothing left overdue."


def test_fresh_history_is_not_stale():
    assert not page().stale  # 33.5 h after the last as_of: a nightly schedule's normal gap


def test_pending_inactivity_notices_are_counted():
    from retention.compliance.queries import Notices

    notices = Notices(on=AS_OF.date(), due=4, next_7_days=12, next_30_days=30, listed=120,
                      first_anonymisation_on=AS_OF.date() + timedelta(days=31), listed_at=AS_OF)
    parsed = parse(render.render_page(replace(page(), notices=notices)))
    assert parsed.figures[(None, "notices.due")].startswith("4Due by 2026-06-15")
    assert parsed.figures[(None, "notices.next_7_days")].startswith("12")
    assert parsed.figures[(None, "notices.listed")].startswith("120")


def test_runs_link_to_airflow_run_and_task_logs():
    html = render.render_page(page())
    rid = "scheduled__2026-06-15T00%3A00%3A00%2B00%3A00"
    assert f'<a data-airflow href="../dags/gdpr_retention/runs/{rid}" data-figure="run-link">' in html
    assert f'href="../dags/gdpr_retention/runs/{rid}/tasks/report">report log<' in html
    assert f'href="../dags/gdpr_retention/runs/{rid}/tasks/accounts.check_accounts_before">log<' in html


def test_missing_data_docs_are_shown_as_such(tmp_path: Path):
    rows = [{"gate": "accounts_before", "passed": True, "checks": 3, "failed": 0, "failed_checks": "",
             "data_docs": str(tmp_path / "gone" / "accounts_before" / "index.html")}]
    outcomes = gate_outcomes(rows, tmp_path)
    assert outcomes[0].docs_missing and outcomes[0].docs_href is None
    html = render.render_page(page(runs=[run(gates=outcomes)]))
    assert 'data-figure="docs-missing"' in html and "Data Docs missing" in html


def test_year_of_proof_per_month_and_as_csv():
    from retention.compliance.queries import PROOF_COLUMNS, proof_by_month, proof_csv

    runs = [run(run_id=f"r{i}", as_of=AS_OF - timedelta(days=i), started_at=AS_OF - timedelta(days=i, hours=-2),
                finished_at=AS_OF - timedelta(days=i, hours=-2, seconds=-75),
                status="failed" if i == 20 else "success", gates_failed=1 if i == 20 else 0, gates_recorded=5)
            for i in range(400)]
    months = proof_by_month(runs, NOW, {datetime(2026, 5, 1).date(): 3})
    assert [m.month.isoformat() for m in months][:3] == ["2026-06-01", "2026-05-01", "2026-04-01"]
    assert len(months) == 12 and months[-1].month.isoformat() == "2025-07-01"
    june, may = months[0], months[1]
    assert (june.nights, june.runs, june.runs_failed) == (15, 15, 0)
    assert (may.nights, may.runs_failed, may.gates_failed, may.alerts) == (31, 1, 1, 2)  # 2026-05-26 failed
    assert (may.alerts_sent, june.alerts_sent) == (3, 0)
    assert june.anonymised == {"deceased": 50 * 15, "closed": 475 * 15, "inactive": 1420 * 15}
    csv_text = proof_csv(months)
    lines = csv_text.split("\r\n")
    assert lines[0] == ",".join(PROOF_COLUMNS)
    assert lines[1].startswith("2025-07,31,31,0,1550,14725,44020,3382317,22785,0,0,0")
    assert lines[12].startswith("2026-06,15,15,0,")
    assert lines[11].endswith(",1,0,2,3")  # gates failed, late runs, alerts due, alerts sent
    html = render.render_page(replace(page(), runs=runs))
    assert 'href="proof.csv"' in html and "@media print" in html
    assert '<tr data-month="2026-05">' in html


def test_deadline_is_six_in_paris_after_the_as_of():
    from retention.compliance.queries import deadline_after

    assert deadline_after(datetime(2026, 6, 15, tzinfo=timezone.utc)) == datetime(2026, 6, 15, 4, tzinfo=timezone.utc)
    assert deadline_after(datetime(2026, 1, 15, tzinfo=timezone.utc)) == datetime(2026, 1, 15, 5, tzinfo=timezone.utc)
    # An as_of after 06:00 Paris (a run triggered by hand in the day) has the next morning's deadline.
    assert deadline_after(datetime(2026, 6, 15, 9, tzinfo=timezone.utc)) == datetime(2026, 6, 16, 4, tzinfo=timezone.utc)


def test_one_bar_per_night_the_last_started_run():
    from retention.compliance.queries import nights_of

    first = run(run_id="first", started_at=AS_OF + timedelta(hours=1))
    rerun = run(run_id="rerun", started_at=AS_OF + timedelta(hours=3))
    older = run(run_id="older", as_of=AS_OF - timedelta(days=1))
    assert [r.run_id for r in nights_of([first, older, rerun])] == ["rerun", "older"]


def test_privacy_budget_per_release_and_per_person():
    from dataclasses import replace
    from datetime import date

    from retention.compliance.queries import Release

    releases = [Release(date(2026, 5, 1), 0.5, 5.67, 1e-7, 16, 1160, "r1"),
                Release(date(2026, 6, 1), 0.5, 5.67, 1e-7, 16, 1160, "r2")]
    html = render.render_page(replace(page(), releases=releases))
    section = html[html.index('<section id="privacy">'):]
    assert section.count("<tr data-release=") == 2
    assert '<tr data-release="2026-06"><td class="mono">2026-06</td><td class="num">16</td>' in section
    # Parallel composition: a person is in one month's release, so the loss is the largest, not the sum.
    assert "Privacy loss per person over 2 release(s): rho 0.5." in section
    assert "the sum over months (rho 1)" in section
    assert "No month released yet" in render.render_page(page())
