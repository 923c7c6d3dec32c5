"""One self-contained HTML page (inline CSS, SVG and one small navigation script; no CDN) from the page's figures.

Pure functions of :class:`retention.compliance.queries.PageData`; every value is escaped. Each figure
carries a ``data-figure`` attribute (and each run row a ``data-run-id``) so that tests and people
reading the source can find it; the text shown is the figure formatted with thousands separators.
"""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from typing import TYPE_CHECKING

from retention.compliance.queries import EXPECTED_GATES, GATE_TASKS, PROOF_COLUMNS, airflow_links, proof_rows

if TYPE_CHECKING:
    from retention.compliance.queries import Backlog, GateOutcome, MonthProof, Notices, PageData, RunSummary
    from retention.policy import Policy

COLOURS = {"deceased": "#6d4c9f", "closed": "#2f6fb0", "inactive": "#58a4b0",
           "logs": "#c77c1e", "prospects": "#4f8a3a", "failed": "#c62828", "duration": "#5f6b7a",
           "late": "#c62828", "passed": "#2e9d55", "notrun": "#c4ccd6", "deadline": "#c62828"}
CUTOFF_LABELS = (  # (key in the run's report, short label, what it means)
    ("deceased_on_or_before", "deceased ≤", "accounts whose death was reported on or before"),
    ("closed_on_or_before", "closed ≤", "accounts closed on or before"),
    ("inactive_before", "inactive <", "accounts with no activity since before"),
    ("connection_logs_before", "logs <", "connection logs older than"),
    ("prospects_before", "prospects <", "prospects collected or last contacted before"),
)
LABELLED_NIGHTS = 31  # up to a month of nights, each bar carries its value
MIN_CHART_SLOTS = 10
# The Airflow UI shows the page in a sandboxed iframe that may not navigate the window (no
# allow-top-navigation), so a link into Airflow would open the whole UI inside the frame. When framed
# by the UI (same origin), a click on an Airflow link moves the UI's own router instead (its history
# and a popstate, as the back button does); anywhere else the link is an ordinary link.
NAV_SCRIPT = (
    "(function(){var t;try{t=window.top;if(t===window||t.location.origin!==location.origin)return;}"
    "catch(e){return;}document.addEventListener('click',function(e){var a=e.target.closest('a[data-airflow]');"
    "if(!a||e.button!==0||e.metaKey||e.ctrlKey||e.shiftKey||e.altKey)return;e.preventDefault();"
    "t.history.pushState(null,'',a.href);t.dispatchEvent(new t.PopStateEvent('popstate',{state:null}));});})();"
)  # a few runs are drawn as bars of sensible width, newest on the right

CSS = """
:root { color-scheme: light; --ok: #1b7f3b; --bad: #c62828; --muted: #5f6b7a; --line: #dde3ea; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       margin: 0; padding: 20px 24px 40px; color: #1d2430; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 0 0 8px; }
.lead, .meta, .note { color: var(--muted); margin: 2px 0; }
section { margin-top: 22px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
.card.problem { border-color: var(--bad); background: #fff6f6; }
.card.ok { border-color: #b9dcc4; background: #f5fbf7; }
.tiles { display: flex; flex-wrap: wrap; gap: 10px; list-style: none; padding: 0; margin: 10px 0 0; }
.tile { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 190px; background: #fff; }
.tile .value { display: block; font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; }
.tile.ok .value { color: var(--ok); } .tile.problem .value { color: var(--bad); }
.tile.problem { border-color: var(--bad); }
.tile .label { color: var(--muted); font-size: 12px; }
.verdict { font-weight: 600; margin: 8px 0 0; } .verdict.ok { color: var(--ok); } .verdict.problem { color: var(--bad); }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left; vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; font-weight: 600; }
.badge.success, .badge.passed { background: #e3f4e8; color: var(--ok); }
.badge.failed { background: #fde7e7; color: var(--bad); }
.badge.running, .badge.notrun { background: #eef1f4; color: var(--muted); }
.small { font-size: 12px; } .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
ul.gates, dl.cutoffs { margin: 0; padding: 0; list-style: none; }
dl.cutoffs { display: grid; grid-template-columns: auto auto; column-gap: 8px; font-size: 12px; }
dl.cutoffs dt { color: var(--muted); } dl.cutoffs dd { margin: 0; font-variant-numeric: tabular-nums; white-space: nowrap; }
dl.cutoffs dt { white-space: nowrap; }
.gate-fail { color: var(--bad); } a { color: #1f5fa8; }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; color: var(--muted); }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 2px; }
svg text { font: 11px system-ui, "DejaVu Sans", sans-serif; fill: #5f6b7a; }
.card.info { border-color: #c9d3de; background: #f7f9fb; }
.tile.pending .value { color: #1d2430; }
.verdict.info { color: #1d2430; font-weight: 500; }
ul.promises { list-style: none; padding: 0; margin: 6px 0 0; }
ul.promises li { margin: 2px 0; }
.docs-missing { color: var(--bad); font-size: 12px; }
@media print {
  body { padding: 0; font-size: 11px; }
  .no-print, #chart, #runs, #policy, #backlog .tiles, #notices { display: none !important; }
  section { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  .card { border-color: #999; background: #fff !important; }
}
"""


def fmt_int(value: int) -> str:
    return f"{int(value):,}"


def fmt_instant(value: datetime | str | None) -> str:
    """An instant in UTC to the second (``2026-06-15 00:00:00 UTC``); text is shown as given."""
    if value is None:
        return "–"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_day(value: datetime) -> str:
    """The night's date (UTC) of an as_of, as the chart's axis shows it."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _e(value: object) -> str:
    return escape(str(value), quote=True)


# --------------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------------


def render_verdict(data: PageData) -> str:
    """Last night first: was every promise kept, or which one was not, and since which night."""
    nights = data.nights
    if not nights:
        return ('<section id="verdict" class="card info"><h2>Last night</h2><p class="verdict info" '
                'data-figure="verdict">No run of the nightly pipeline is recorded yet.</p></section>')
    last = nights[0]
    now = data.generated_at
    leftover = data.backlog_at_last_run if data.stale else data.backlog
    promises = [
        ("ran", "The run succeeded", lambda r: r.status == "success", None),
        ("gates", "Every quality gate passed", lambda r: r.gates_passed is True, None),
        ("deadline", "Finished by 06:00 Europe/Paris", lambda r: r.deadline_kept(now) is not False, None),
    ]
    items, broken = [], []
    for key, label, kept, _ in promises:
        if kept(last):
            detail = ""
            if key == "deadline" and last.replayed:
                detail = (f" (replayed after its deadline: judged by its duration, {fmt_duration(last.duration_s)}, "
                          f"against the {fmt_duration((last.deadline - last.as_of).total_seconds())} a night has)")
            if key == "deadline" and last.deadline_kept(now) is None:
                detail = " (still running; the deadline has not passed)"
            items.append(f'<li data-promise="{key}" data-state="kept">✔ {_e(label)}{_e(detail)}</li>')
            continue
        since = last
        for night in nights[1:]:
            if kept(night):
                break
            since = night
        text = (f"{label}: not kept since the night of {fmt_day(since.as_of)}" if since is not last
                else f"{label}: not kept")
        broken.append(label)
        items.append(f'<li data-promise="{key}" data-state="broken" data-since="{_e(since.as_of.isoformat())}">'
                     f'✘ {_e(text)} (<a data-airflow href="{_e(airflow_links(last.run_id))}">run</a>)</li>')
    if leftover is not None:
        if leftover.clear:
            items.append('<li data-promise="backlog" data-state="kept">✔ Nothing left overdue at its as_of</li>')
        else:
            broken.append("Nothing left overdue")
            items.append(f'<li data-promise="backlog" data-state="broken">✘ {_e(overdue_sentence(leftover))}</li>')
    if broken:
        verdict = f'<p class="verdict problem" data-figure="verdict">Not kept: {_e("; ".join(broken))}.</p>'
    else:
        verdict = '<p class="verdict ok" data-figure="verdict">Every promise kept.</p>'
    return (f'<section id="verdict" class="card {"problem" if broken else "ok"}"><h2>Last night: '
            f'<span data-figure="verdict.night">{_e(fmt_day(last.as_of))}</span></h2>'
            f'<p class="note">Run <a class="mono" data-airflow href="{_e(airflow_links(last.run_id))}" '
            f'data-figure="verdict.run">{_e(last.run_id)}</a>, as_of {_e(fmt_instant(last.as_of))}, '
            f"{_e(last.status)} in {_e(fmt_duration(last.duration_s))}.</p>"
            f'{verdict}<ul class="promises">{"".join(items)}</ul></section>')


def overdue_sentence(backlog: Backlog) -> str:
    overdue = [f"{label} ({fmt_int(count)})" for _, label, count in backlog.items if count]
    return f"{len(overdue)} figure(s) overdue at {fmt_instant(backlog.as_of)}: {'; '.join(overdue)}"


def _tiles(backlog: Backlog, problem_state: str) -> str:
    tiles = []
    for key, label, count in backlog.items:
        state = "ok" if count == 0 else problem_state
        tiles.append(
            f'<li class="tile {state}" data-figure="backlog.{_e(key)}" data-state="{state}">'
            f'<span class="value">{fmt_int(count)}</span><span class="label">{_e(label)}</span></li>'
        )
    return f'<ul class="tiles">{"".join(tiles)}</ul>'


def render_backlog(backlog: Backlog, *, last_as_of: datetime | None = None,
                   at_last_run: Backlog | None = None) -> str:
    """What is overdue now, at the instant it was counted. When the last run's as_of is far from now
    (``at_last_run`` given: a demo, a backfill, a schedule that stopped), what became due since no run
    was asked to do is not an alarm: the alarm is what is still overdue at that as_of."""
    cutoffs = "; ".join(f"{meaning} {fmt_instant(backlog.cutoffs.get(key))}" for key, _, meaning in CUTOFF_LABELS)
    measured = (f'<p class="note">Counted at <time data-figure="backlog.as_of" '
                f'datetime="{_e(backlog.as_of.isoformat())}">{_e(fmt_instant(backlog.as_of))}</time> '
                "(the wall clock) with the policy in force.</p>"
                f'<p class="note small">Cutoffs at that instant: {_e(cutoffs)}.</p>')
    if at_last_run is None:
        if backlog.clear:
            verdict = '<p class="verdict ok" data-figure="backlog.verdict">Nothing is overdue.</p>'
        else:
            verdict = (f'<p class="verdict problem" data-figure="backlog.verdict">Problem: '
                       f'{sum(1 for _, _, c in backlog.items if c)} figure(s) overdue '
                       f'({_e("; ".join(label for _, label, c in backlog.items if c))}). '
                       "Check the last run and its task logs.</p>")
        return (f'<section id="backlog" class="card {"ok" if backlog.clear else "problem"}">'
                f'<h2>Overdue now</h2>{measured}<p class="note">Every figure should be zero after a good night; '
                f'anything else is overdue.</p>{_tiles(backlog, "problem")}{verdict}</section>')
    gap = backlog.as_of - (last_as_of or at_last_run.as_of)
    days = gap.total_seconds() / 86_400
    stale = (f'<p class="verdict info" data-figure="backlog.stale">The last run\'s as_of '
             f'({_e(fmt_instant(at_last_run.as_of))}) is {days:,.1f} days before this instant: a demo, a backfill, '
             "or a schedule that is not running (the watchdog alerts on a night that did not run). The figures "
             "below count what became due since then, which no run has been asked to process yet: they are not "
             "a failure of the last run.</p>")
    if at_last_run.clear:
        check = (f'<p class="verdict ok" data-figure="backlog.verdict">Nothing is overdue at the last run\'s as_of '
                 f"({_e(fmt_instant(at_last_run.as_of))}): it left nothing behind.</p>")
    else:
        check = (f'<p class="verdict problem" data-figure="backlog.verdict">Problem: '
                 f"{_e(overdue_sentence(at_last_run))}. Check the last run and its task logs.</p>")
    return (f'<section id="backlog" class="card {"info" if at_last_run.clear else "problem"}">'
            f"<h2>Overdue now</h2>{measured}{stale}{_tiles(backlog, 'pending')}{check}</section>")


def render_notices(notices: Notices | None) -> str:
    if notices is None:
        return ""
    first = notices.first_anonymisation_on.isoformat() if notices.first_anonymisation_on else "–"
    listed = fmt_instant(notices.listed_at) if notices.listed_at else "never (no run has listed any)"
    figures = (("due", f"Due by {notices.on.isoformat()} (the platform's mailer should have sent them)", notices.due),
               ("next_7_days", "Due in the next 7 days", notices.next_7_days),
               ("next_30_days", "Due in 8 to 30 days", notices.next_30_days),
               ("listed", "Listed in all", notices.listed))
    tiles = "".join(f'<li class="tile" data-figure="notices.{key}"><span class="value">{fmt_int(value)}</span>'
                    f'<span class="label">{_e(label)}</span></li>' for key, label, value in figures)
    return ('<section id="notices" class="card"><h2>Pending inactivity notices</h2>'
            '<p class="note">Members warned before their anonymisation for inactivity, listed by every run in '
            '<span class="mono">retention.inactivity_notices</span> for the platform\'s mailer (counts only). '
            f"Last listed {_e(listed)}; first planned anonymisation {_e(first)}.</p>"
            f'<ul class="tiles">{tiles}</ul></section>')


def _gate_item(gate: GateOutcome, run_id: str) -> str:
    name = _e(gate.gate)
    if gate.passed is None:
        return f'<li data-gate="{name}"><span class="badge notrun">not run</span> {name}</li>'
    docs = f' · <a href="{_e(gate.docs_href)}">Data Docs</a>' if gate.docs_href else ""
    if gate.docs_missing:
        docs = (' · <span class="docs-missing" data-figure="docs-missing" title="Written by the run, since removed '
                '(Data Docs are kept as long as Airflow\'s metadata) or on another host">Data Docs missing</span>')
    task = GATE_TASKS.get(gate.gate)
    if task:
        docs += f' · <a data-airflow href="{_e(airflow_links(run_id, task))}">log</a>'

    if gate.passed:
        return (f'<li data-gate="{name}" data-state="passed"><span class="badge passed">passed</span> {name} '
                f'<span class="small">({gate.checks} check{"s" if gate.checks != 1 else ""})</span>{docs}</li>')
    return (f'<li data-gate="{name}" data-state="failed"><span class="badge failed">failed</span> {name} '
            f'<span class="small gate-fail">({gate.failed}/{gate.checks} failed: {_e(gate.failed_checks)})</span>'
            f"{docs}</li>")


def _cutoffs(run: RunSummary) -> str:
    items = "".join(
        f'<dt title="{_e(meaning)}">{_e(label)}</dt><dd data-cutoff="{_e(key)}">{_e(fmt_instant(run.cutoffs.get(key)))}</dd>'
        for key, label, meaning in CUTOFF_LABELS if key in run.cutoffs
    )
    return f'<dl class="cutoffs">{items}</dl>' if items else "–"


def render_runs(runs: list[RunSummary]) -> str:
    if not runs:
        return ('<section id="runs"><h2>Last runs</h2><p class="note" data-figure="runs.none">'
                "No run of the nightly pipeline is recorded yet.</p></section>")
    head = (
        "<tr><th>Run</th><th>as_of</th><th>Status</th><th class=\"num\">Duration</th><th>Cutoffs</th>"
        '<th class="num">Anonymised<br>deceased</th><th class="num">Anonymised<br>closed</th>'
        '<th class="num">Anonymised<br>inactive</th><th class="num">Logs<br>purged</th>'
        '<th class="num">Partitions<br>dropped</th><th class="num">Prospects<br>purged</th><th>Quality gates</th></tr>'
    )
    rows = []
    for run in runs:
        figures = [
            ("anonymised_deceased", run.anonymised["deceased"]), ("anonymised_closed", run.anonymised["closed"]),
            ("anonymised_inactive", run.anonymised["inactive"]), ("logs_purged", run.logs_purged),
            ("partitions_dropped", run.partitions_dropped), ("prospects_purged", run.prospects_purged),
        ]
        cells = "".join(f'<td class="num" data-figure="{key}">{fmt_int(value)}</td>' for key, value in figures)
        gates = (f'<ul class="gates">{"".join(_gate_item(g, run.run_id) for g in run.gates)}</ul>'
                 if run.gates else "–")
        status = _e(run.status)
        run_href = _e(airflow_links(run.run_id))
        rows.append(
            f'<tr data-run-id="{_e(run.run_id)}"><td class="mono"><a data-airflow href="{run_href}" '
            f'data-figure="run-link">{_e(run.run_id)}</a><br>'
            f'<span class="small">started {_e(fmt_instant(run.started_at))} · '
            f'<a data-airflow href="{_e(airflow_links(run.run_id, "report"))}">report log</a></span></td>'
            f'<td data-figure="as_of">{_e(fmt_instant(run.as_of))}</td>'
            f'<td><span class="badge {status}" data-figure="status">{status}</span></td>'
            f'<td class="num" data-figure="duration">{_e(fmt_duration(run.duration_s))}</td>'
            f"<td>{_cutoffs(run)}</td>{cells}<td>{gates}</td></tr>"
        )
    return ('<section id="runs"><h2>Last runs</h2><div style="overflow-x:auto"><table>'
            f'<thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div></section>')


def render_chart(nights: list[RunSummary], now: datetime | None = None, width: int = 960) -> str:
    """Trends, one bar per night (oldest left, dates on the axis): accounts anonymised (stacked by
    reason), connection logs purged, prospects purged, the run's duration against the time a night has
    before 06:00 Europe/Paris, and a strip of the gates (a cell per gate and night). Each panel has
    its own scale; failed runs are marked red under every panel."""
    chronological = list(reversed(nights))
    now = now or datetime.now(timezone.utc)
    panels = [
        ("Accounts anonymised", [[("deceased", r.anonymised["deceased"]), ("closed", r.anonymised["closed"]),
                                  ("inactive", r.anonymised["inactive"])] for r in chronological]),
        ("Connection logs purged", [[("logs", r.logs_purged)] for r in chronological]),
        ("Prospects purged", [[("prospects", r.prospects_purged)] for r in chronological]),
    ]
    left, right, panel_h, gap, top = 124, 12, 70, 32, 20
    gate_row = 9
    plot_w = width - left - right
    strip_top = top + (len(panels) + 1) * (panel_h + gap)
    height = strip_top + gate_row * len(EXPECTED_GATES) + 40
    slots = max(len(chronological), MIN_CHART_SLOTS)
    slot = plot_w / slots
    first = slots - len(chronological)  # empty slots on the left
    bar_w = max(min(slot * 0.7, 28), 1.5)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Last {len(nights)} nights" '
             f'viewBox="0 0 {width} {height}" width="100%" data-figure="chart" data-runs="{len(nights)}">']

    labelled = 0 < len(chronological) <= LABELLED_NIGHTS

    def x_of(i: int) -> float:
        return left + (first + i) * slot + (slot - bar_w) / 2

    def axis(y0: float, base: float, title: str, peak_label: str) -> None:
        parts.append(f'<text x="{left}" y="{y0 - 6}" font-weight="600">{_e(title)}</text>')
        parts.append(f'<text x="{left - 6}" y="{y0 + 8}" text-anchor="end">{_e(peak_label)}</text>')
        parts.append(f'<text x="{left - 6}" y="{base}" text-anchor="end">0</text>')
        parts.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#c4ccd6"/>')

    for index, (title, series) in enumerate(panels):
        y0 = top + index * (panel_h + gap)
        base = y0 + panel_h
        peak = max((sum(v for _, v in stack) for stack in series), default=0)
        axis(y0, base, title, fmt_int(peak))
        for i, (run, stack) in enumerate(zip(chronological, series, strict=True)):
            x = x_of(i)
            y = float(base)
            label = f"{fmt_day(run.as_of)} | {run.run_id} | {run.status} | " + ", ".join(
                f"{name} {fmt_int(value)}" for name, value in stack)
            parts.append(f'<g data-run-id="{_e(run.run_id)}"><title>{_e(label)}</title>')
            for name, value in stack:
                h = (value / peak * (panel_h - 4)) if peak else 0
                if h > 0:
                    y -= h
                    parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                                 f'fill="{COLOURS[name]}"/>')
            if run.status == "failed":
                parts.append(f'<rect x="{x:.1f}" y="{base + 2}" width="{bar_w:.1f}" height="4" '
                             f'fill="{COLOURS["failed"]}"/>')
            if labelled:  # few nights: each value written, a small night beside a big one stays readable
                parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                             f'style="font-size:9px">{fmt_int(sum(v for _, v in stack))}</text>')
            parts.append("</g>")

    # Duration against the deadline: the bar is the run's duration, the red tick the time the night
    # had (as_of to 06:00 Paris); the scale shows the deadline only when a run came near it.
    y0 = top + len(panels) * (panel_h + gap)
    base = y0 + panel_h
    budgets = [(r.deadline - r.as_of).total_seconds() for r in chronological]
    longest = max((r.duration_s or 0 for r in chronological), default=0)
    scale = max(longest, 1.0)
    if budgets and longest >= 0.5 * min(budgets):
        scale = max(scale, max(budgets))
    axis(y0, base, "Run duration (06:00 Europe/Paris deadline in red when in scale)", fmt_duration(scale))
    for i, run in enumerate(chronological):
        x = x_of(i)
        kept = run.deadline_kept(now)
        h = ((run.duration_s or 0) / scale) * (panel_h - 4)
        state = {True: "kept", False: "missed", None: "open"}[kept]
        label = (f"{fmt_day(run.as_of)} | {run.run_id} | {fmt_duration(run.duration_s)} | deadline "
                 f"{fmt_instant(run.deadline)} {state}" + (" (replayed: judged by duration)" if run.replayed else ""))
        parts.append(f'<g data-run-id="{_e(run.run_id)}" data-deadline="{state}"><title>{_e(label)}</title>')
        fill = COLOURS["late"] if kept is False else COLOURS["duration"]
        if h > 0:
            parts.append(f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{fill}"/>')
        if labelled and run.duration_s is not None:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{base - h - 3:.1f}" text-anchor="middle" '
                         f'style="font-size:9px">{_e(fmt_duration(run.duration_s))}</text>')
        budget = budgets[i]
        if budget <= scale:
            yb = base - budget / scale * (panel_h - 4)
            parts.append(f'<line x1="{x - 1:.1f}" y1="{yb:.1f}" x2="{x + bar_w + 1:.1f}" y2="{yb:.1f}" '
                         f'stroke="{COLOURS["deadline"]}" stroke-width="2"/>')
        parts.append("</g>")
    if budgets and max(budgets) > scale:
        parts.append(f'<text x="{left + plot_w}" y="{y0 - 6}" text-anchor="end">the deadline is '
                     f"{_e(fmt_duration(min(budgets)))} or more after as_of: far above every run</text>")

    # The gates: one row per gate, one cell per night.
    parts.append(f'<text x="{left}" y="{strip_top - 8}" font-weight="600">Quality gates</text>')
    for g, gate in enumerate(EXPECTED_GATES):
        y = strip_top + g * gate_row
        parts.append(f'<text x="{left - 6}" y="{y + 7}" text-anchor="end" style="font-size:9px">{_e(gate)}</text>')
        for i, run in enumerate(chronological):
            outcome = next((o for o in run.gates if o.gate == gate), None)
            passed = outcome.passed if outcome else None
            state = {True: "passed", False: "failed", None: "notrun"}[passed]
            parts.append(f'<rect data-gate-cell="{_e(gate)}" data-state="{state}" x="{x_of(i):.1f}" y="{y}" '
                         f'width="{bar_w:.1f}" height="{gate_row - 2}" fill="{COLOURS[state]}">'
                         f"<title>{_e(f'{fmt_day(run.as_of)} | {gate} {state}')}</title></rect>")

    # Dates on the axis: as many as fit, always the first and the last night.
    if chronological:
        y = strip_top + gate_row * len(EXPECTED_GATES) + 14
        step = max(1, int(-(-64 // slot)))
        ticks = sorted({*range(0, len(chronological), step), len(chronological) - 1})
        if len(ticks) > 1 and ticks[-1] - ticks[-2] < step:
            ticks.pop(-2)
        for i in ticks:
            cx = x_of(i) + bar_w / 2
            # A label near the right edge ends at its bar instead of running off the chart.
            anchor = "end" if cx + 32 > width else "middle"
            parts.append(f'<line x1="{cx:.1f}" y1="{y - 12}" x2="{cx:.1f}" y2="{y - 9}" stroke="#8893a0"/>')
            parts.append(f'<text data-figure="chart.date" x="{cx:.1f}" y="{y}" text-anchor="{anchor}">'
                         f"{_e(fmt_day(chronological[i].as_of))}</text>")
    parts.append("</svg>")
    legend = "".join(f'<span><i style="background:{COLOURS[k]}"></i>{_e(label)}</span>' for k, label in (
        ("deceased", "deceased"), ("closed", "closed"), ("inactive", "inactive"), ("logs", "connection logs"),
        ("prospects", "prospects"), ("duration", "duration"), ("deadline", "deadline / late / failed"),
        ("passed", "gate passed"), ("notrun", "gate not run")))
    count = f'{len(nights)} night{"s" if len(nights) != 1 else ""}'
    return (f'<section id="chart" class="card"><h2>Trends: last {count}</h2>'
            "<p class=\"note\">One bar per night (the last run of each as_of day), oldest left, dated by as_of; "
            "hover a bar for its figures. Each panel has its own scale.</p>"
            f'<div class="legend">{legend}</div>{"".join(parts)}</section>')


def render_proof(months: list[MonthProof]) -> str:
    """A year of proof for an auditor: per month, what was done and what went wrong. Exported as CSV
    (``proof.csv``) and printable (the print style keeps the verdict and this table)."""
    if not months:
        return ""
    labels = {"month": "Month", "nights": "Nights", "runs": "Runs", "runs_failed": "Runs failed",
              "anonymised_deceased": "Anonymised deceased", "anonymised_closed": "Anonymised closed",
              "anonymised_inactive": "Anonymised inactive", "connection_logs_purged": "Logs purged",
              "prospects_purged": "Prospects purged", "gates_failed": "Gates failed", "late_runs": "Late runs",
              "alerts_raised": "Alerts due", "alerts_sent": "Alerts sent"}
    head = "".join(f'<th class="{"" if c == "month" else "num"}">{_e(labels[c])}</th>' for c in PROOF_COLUMNS)
    rows = []
    for row in reversed(proof_rows(months)):  # newest month first on screen
        cells = "".join(
            f'<td data-figure="{c}">{_e(v)}</td>' if c == "month" else
            f'<td class="num{" gate-fail" if c in ("runs_failed", "gates_failed", "late_runs") and v else ""}" '
            f'data-figure="{c}">{fmt_int(v)}</td>' for c, v in zip(PROOF_COLUMNS, row, strict=True))
        rows.append(f'<tr data-month="{_e(row[0])}">{cells}</tr>')
    return ('<section id="proof"><h2>A year of proof</h2>'
            "<p class=\"note\">Per month of the runs' as_of (UTC), from the audit tables: accounts anonymised "
            "per reason, connection logs and prospects purged, gates failed, runs that failed or finished after "
            "06:00 Europe/Paris, the alerts those call for (one per failed run, failed gate and late run) and the "
            'alerts sent (recorded once their channel accepted them). <a href="proof.csv" download data-figure="proof.csv">Download as CSV</a>'
            " · print this page (Ctrl+P) for a PDF: the printout keeps the verdict and this table.</p>"
            f'<div style="overflow-x:auto"><table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div></section>')


def render_policy(policy: Policy, last_run: RunSummary | None) -> str:
    values = policy.values()
    changed = []
    if last_run is not None and last_run.policy:
        changed = sorted(k for k, v in values.items() if k in last_run.policy and last_run.policy[k] != v)
    rows = "".join(
        f'<tr data-policy="{_e(key)}"><td class="mono">{_e(key)}</td><td class="num">{_e(value)}</td>'
        f"<td>{_e(policy.bases[key])}</td></tr>"
        for key, value in values.items()
    )
    note = ""
    if changed:
        note = (f'<p class="verdict problem">Changed since the last run (which applied the previous values): '
                f"{_e(', '.join(changed))}.</p>")
    return ('<section id="policy"><h2>Policy in force</h2>'
            '<p class="note">From <span class="mono">plugins/retention/policy.yaml</span>, the reviewed file; '
            "each value with the sentence of the privacy policy that is its legal basis.</p>"
            f"{note}<table><thead><tr><th>Rule</th><th class=\"num\">Value</th><th>Legal basis</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></section>")


def render_privacy(releases: list, policy: Policy) -> str:
    """The analysts' monthly releases and what they cost in privacy, per release and per person."""
    if releases:
        rows = "".join(
            f'<tr data-release="{r.month:%Y-%m}"><td class="mono">{r.month:%Y-%m}</td><td class="num">{r.tables}</td>'
            f'<td class="num">{fmt_int(r.cells)}</td><td class="num">{r.rho:.3g}</td>'
            f'<td class="num">{"" if r.epsilon is None else f"{r.epsilon:.3g}"}</td>'
            f'<td class="num">{"" if r.delta is None else f"{r.delta:.0e}"}</td></tr>'
            for r in releases
        )
        per_person = max(r.rho for r in releases)
        summed = sum(r.rho for r in releases)
        table = ("<table><thead><tr><th>Month</th><th class=\"num\">Tables</th><th class=\"num\">Cells</th>"
                 "<th class=\"num\">rho spent</th><th class=\"num\">epsilon</th><th class=\"num\">at delta</th>"
                 f"</tr></thead><tbody>{rows}</tbody></table>")
        person = (f'<p data-figure="privacy.per_person">Privacy loss per person over {len(releases)} release(s): '
                  f"rho {per_person:.3g}. Each person is anonymised once and so is in one month's release only; "
                  f"the sum over months (rho {summed:.3g}) would apply only if the same people were in every month.</p>")
    else:
        table, person = "<p>No month released yet: a month is released by the first run after it has closed.</p>", ""
    return ('<section id="privacy"><h2>Analysts\' releases: privacy budget</h2>'
            '<p class="note">Monthly differentially private releases in <span class="mono">published</span> '
            f"(OpenDP, discrete Gaussian, zCDP): at most rho {policy.release_rho_per_month:g} per release "
            f"(<span class=\"mono\">release_rho_per_month</span>), delta {policy.release_delta:g}; "
            "see docs/analysts.md for what this means.</p>"
            f"{table}{person}</section>")


def render_requests(requests) -> str:
    """Unanswered data-subject requests with their days left (most urgent first), and the year's answers."""
    if requests is None:
        return ""
    overdue = sum(r.level == "overdue" for r in requests.open)
    soon = sum(r.level == "due_soon" for r in requests.open)
    tiles = (("open", "Unanswered", requests.open_total, "problem" if overdue else "ok"),
             ("overdue", "Overdue", overdue, "problem" if overdue else "ok"),
             ("due_soon", "Due within 7 days", soon, "pending"),
             ("answered_late", "Answered late, last 12 months", requests.answered_late,
              "problem" if requests.answered_late else "ok"),
             ("restricted", "Accounts restricted (kept as they are)", requests.restricted, "pending"))
    tile_html = "".join(f'<li class="tile {state}" data-figure="requests.{key}"><span class="value">{fmt_int(value)}'
                        f'</span><span class="label">{_e(label)}</span></li>' for key, label, value, state in tiles)
    if requests.open:
        def days(r) -> str:
            return f"{-r.days_left} overdue" if r.days_left < 0 else str(r.days_left)

        rows = "".join(
            f'<tr data-request="{_e(r.request_id)}" data-level="{r.level}"'
            f'{" class=" + chr(34) + "bad" + chr(34) if r.level == "overdue" else ""}>'
            f'<td class="mono">{_e(r.request_id)}</td><td>{_e(r.request_type)}</td><td>{_e(r.subject_kind or "-")}</td>'
            f'<td>{_e(r.state)}{"" if r.identity_verified else " (identity not verified)"}</td>'
            f'<td class="mono">{r.received_on.isoformat()}</td>'
            f'<td class="mono">{r.due_on.isoformat()}{" (extended)" if r.extended else ""}</td>'
            f'<td class="num">{_e(days(r))}</td></tr>' for r in requests.open)
        more = (f'<p class="note">The {len(requests.open)} most urgent of {fmt_int(requests.open_total)} are listed.</p>'
                if requests.open_total > len(requests.open) else "")
        table = ('<table><thead><tr><th>Request</th><th>Type</th><th>Subject</th><th>State</th><th>Received</th>'
                 f'<th>Due</th><th class="num">Days left</th></tr></thead><tbody>{rows}</tbody></table>{more}')
    else:
        table = '<p data-figure="requests.none">No unanswered request.</p>'
    answered = ", ".join(f"{_e(state)} {fmt_int(n)}" for state, n in sorted(requests.answered.items())) or "none"
    return ('<section id="requests" class="card"><h2>Data-subject requests</h2>'
            '<p class="note">Access, portability, erasure, restriction and objection requests answered by '
            '<span class="mono">gdpr_subject_requests</span>: due one calendar month after receipt (three when '
            "extended in time); days left are counted now, in Paris calendar days. Request ids only, never the "
            f"person (docs/requests.md). Answered in the last 12 months: {answered}.</p>"
            f'<ul class="tiles">{tile_html}</ul>{table}</section>')


def render_datamap(rows: list[dict]) -> str:
    """The data map as the DPO's record of processing: one row per column, personal ones marked."""
    if not rows:
        return ""
    body = "".join(
        f'<tr data-column="{_e(r["table"])}.{_e(r["column"])}"><td class="mono">{_e(r["table"])}</td>'
        f'<td class="mono">{_e(r["column"])}</td><td>{_e(r["category"])}</td>'
        f'<td>{"yes" if r["personal"] else "no"}</td><td class="mono">{_e(r["retention"])}</td>'
        f"<td>{_e(r['treatment'])}</td></tr>"
        for r in rows
    )
    personal = sum(1 for r in rows if r["personal"])
    return ('<section id="datamap"><h2>Data map</h2>'
            '<p class="note">From <span class="mono">plugins/retention/datamap.yaml</span>, the reviewed file '
            f"(a fideslang dataset): {fmt_int(len(rows))} columns, {fmt_int(personal)} personal. A night whose "
            "schema differs from it stops before anything is destroyed.</p>"
            "<table><thead><tr><th>Table</th><th>Column</th><th>Category</th><th>Personal</th>"
            f"<th>Retention (policy key)</th><th>Treatment</th></tr></thead><tbody>{body}</tbody></table></section>")


def render_page(data: PageData) -> str:
    """The sections in the order a morning reader asks: did last night keep every promise, is anything
    overdue now, is anything getting worse, then the detail and the year of proof. Sections of later
    features (the data map, open data-subject requests, the privacy budget) go after the proof."""
    last = data.runs[0] if data.runs else None
    sections = [
        render_verdict(data),
        render_backlog(data.backlog, last_as_of=data.last_as_of, at_last_run=data.backlog_at_last_run),
        render_notices(data.notices),
        render_requests(data.requests),
        render_chart(data.chart_nights, data.generated_at),
        render_runs(data.recent_runs),
        render_proof(data.months),
        render_policy(data.policy, last),
        render_privacy(data.releases, data.policy),
        render_datamap(data.datamap_rows),
    ]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Retention · GDPR compliance</title><style>{CSS}</style></head><body>"
        "<header><h1>Retention</h1>"
        '<p class="lead">What the nightly <span class="mono">gdpr_retention</span> runs did and what is overdue now. '
        "Read from the pipeline's audit tables and counts of what is past retention: never personal data.</p>"
        f'<p class="meta">Page generated {_e(fmt_instant(data.generated_at))}.</p></header>'
        f'{"".join(sections)}<script>{NAV_SCRIPT}</script></body></html>'
    )


def render_error(title: str, message: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{_e(title)}</h1>"
            f'<section class="card problem"><p>{_e(message)}</p></section></body></html>')
