"""One self-contained HTML page (inline CSS and SVG: no script, no CDN) from the page's figures.

Pure functions of :class:`retention.compliance.queries.PageData`; every value is escaped. Each figure
carries a ``data-figure`` attribute (and each run row a ``data-run-id``) so that tests and people
reading the source can find it; the text shown is the figure formatted with thousands separators.
"""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retention.compliance.queries import Backlog, GateOutcome, PageData, RunSummary
    from retention.policy import Policy

COLOURS = {"deceased": "#6d4c9f", "closed": "#2f6fb0", "inactive": "#58a4b0",
           "logs": "#c77c1e", "prospects": "#4f8a3a", "failed": "#c62828"}
CUTOFF_LABELS = (  # (key in the run's report, short label, what it means)
    ("deceased_on_or_before", "deceased ≤", "accounts whose death was reported on or before"),
    ("closed_on_or_before", "closed ≤", "accounts closed on or before"),
    ("inactive_before", "inactive <", "accounts with no activity since before"),
    ("connection_logs_before", "logs <", "connection logs older than"),
    ("prospects_before", "prospects <", "prospects collected or last contacted before"),
)
MIN_CHART_SLOTS = 10  # a few runs are drawn as bars of sensible width, newest on the right

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


def render_backlog(backlog: Backlog) -> str:
    tiles = []
    for key, label, count in backlog.items:
        state = "ok" if count == 0 else "problem"
        tiles.append(
            f'<li class="tile {state}" data-figure="backlog.{_e(key)}" data-state="{state}">'
            f'<span class="value">{fmt_int(count)}</span><span class="label">{_e(label)}</span></li>'
        )
    overdue = [label for _, label, count in backlog.items if count]
    if backlog.clear:
        verdict = '<p class="verdict ok" data-figure="backlog.verdict">Nothing is overdue.</p>'
    else:
        verdict = (f'<p class="verdict problem" data-figure="backlog.verdict">Problem: {len(overdue)} '
                   f'figure(s) overdue ({_e("; ".join(overdue))}). Check the last run and its task logs.</p>')
    cutoffs = "; ".join(f"{meaning} {fmt_instant(backlog.cutoffs.get(key))}" for key, _, meaning in CUTOFF_LABELS)
    return (
        f'<section id="backlog" class="card {"ok" if backlog.clear else "problem"}">'
        "<h2>Backlog right now</h2>"
        f'<p class="note">Counted at <time data-figure="backlog.as_of" datetime="{_e(backlog.as_of.isoformat())}">'
        f"{_e(fmt_instant(backlog.as_of))}</time> (the wall clock) with the policy in force. Every figure should "
        "be zero after a good night; anything else is overdue.</p>"
        f'<p class="note small">Cutoffs now: {_e(cutoffs)}.</p>'
        f'<ul class="tiles">{"".join(tiles)}</ul>{verdict}</section>'
    )


def _gate_item(gate: GateOutcome) -> str:
    name = _e(gate.gate)
    if gate.passed is None:
        return f'<li data-gate="{name}"><span class="badge notrun">not run</span> {name}</li>'
    docs = f' · <a href="{_e(gate.docs_href)}">Data Docs</a>' if gate.docs_href else ""
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
        gates = f'<ul class="gates">{"".join(_gate_item(g) for g in run.gates)}</ul>' if run.gates else "–"
        status = _e(run.status)
        rows.append(
            f'<tr data-run-id="{_e(run.run_id)}"><td class="mono">{_e(run.run_id)}<br>'
            f'<span class="small">started {_e(fmt_instant(run.started_at))}</span></td>'
            f'<td data-figure="as_of">{_e(fmt_instant(run.as_of))}</td>'
            f'<td><span class="badge {status}" data-figure="status">{status}</span></td>'
            f'<td class="num" data-figure="duration">{_e(fmt_duration(run.duration_s))}</td>'
            f"<td>{_cutoffs(run)}</td>{cells}<td>{gates}</td></tr>"
        )
    return ('<section id="runs"><h2>Last runs</h2><div style="overflow-x:auto"><table>'
            f'<thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div></section>')


def render_chart(runs: list[RunSummary], width: int = 960) -> str:
    """Three small multiples over the runs (oldest left): accounts anonymised (stacked by reason),
    connection logs purged, prospects purged; each with its own scale. Failed runs are marked red."""
    chronological = list(reversed(runs))
    panels = [
        ("Accounts anonymised", [[("deceased", r.anonymised["deceased"]), ("closed", r.anonymised["closed"]),
                                  ("inactive", r.anonymised["inactive"])] for r in chronological]),
        ("Connection logs purged", [[("logs", r.logs_purged)] for r in chronological]),
        ("Prospects purged", [[("prospects", r.prospects_purged)] for r in chronological]),
    ]
    left, right, panel_h, gap, top = 64, 12, 78, 34, 20
    plot_w = width - left - right
    height = top + len(panels) * (panel_h + gap) + 10
    slots = max(len(chronological), MIN_CHART_SLOTS)
    slot = plot_w / slots
    first = slots - len(chronological)  # empty slots on the left
    bar_w = max(min(slot * 0.7, 28), 1.5)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Last {len(runs)} runs" '
             f'viewBox="0 0 {width} {height}" width="100%" data-figure="chart" data-runs="{len(runs)}">']
    for index, (title, series) in enumerate(panels):
        y0 = top + index * (panel_h + gap)
        base = y0 + panel_h
        peak = max((sum(v for _, v in stack) for stack in series), default=0)
        parts.append(f'<text x="{left}" y="{y0 - 6}" font-weight="600">{_e(title)}</text>')
        parts.append(f'<text x="{left - 6}" y="{y0 + 8}" text-anchor="end">{fmt_int(peak)}</text>')
        parts.append(f'<text x="{left - 6}" y="{base}" text-anchor="end">0</text>')
        parts.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#c4ccd6"/>')
        for i, (run, stack) in enumerate(zip(chronological, series, strict=True)):
            x = left + (first + i) * slot + (slot - bar_w) / 2
            y = float(base)
            label = f"{run.run_id} | as_of {fmt_instant(run.as_of)} | {run.status} | " + ", ".join(
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
            parts.append("</g>")
    if chronological:
        last_y = top + len(panels) * (panel_h + gap) - gap + 16
        if len(chronological) > 1:
            first_x = left + first * slot
            parts.append(f'<text x="{first_x:.1f}" y="{last_y}">{_e(fmt_instant(chronological[0].as_of))}</text>')
        parts.append(f'<text x="{left + plot_w}" y="{last_y}" text-anchor="end">'
                     f"{_e(fmt_instant(chronological[-1].as_of))}</text>")
    parts.append("</svg>")
    legend = "".join(f'<span><i style="background:{COLOURS[k]}"></i>{_e(label)}</span>' for k, label in (
        ("deceased", "deceased"), ("closed", "closed"), ("inactive", "inactive"), ("logs", "connection logs"),
        ("prospects", "prospects"), ("failed", "failed run")))
    return (f'<section id="chart" class="card"><h2>Last {len(runs)} run{"s" if len(runs) != 1 else ""}</h2>'
            f'<p class="note">One bar per run, oldest left (dates are the runs\' as_of); hover a bar for its '
            "figures. Each panel has its own scale.</p>"
            f'<div class="legend">{legend}</div>{"".join(parts)}</section>')


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
    last = data.runs[0] if data.runs else None
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Retention · GDPR compliance</title><style>{CSS}</style></head><body>"
        "<header><h1>Retention</h1>"
        '<p class="lead">What the nightly <span class="mono">gdpr_retention</span> runs did and what is overdue now. '
        "Read from the pipeline's audit tables and counts of what is past retention: never personal data.</p>"
        f'<p class="meta">Page generated {_e(fmt_instant(data.generated_at))}.</p></header>'
        f"{render_backlog(data.backlog)}{render_runs(data.recent_runs)}{render_chart(data.runs)}"
        f"{render_policy(data.policy, last)}{render_datamap(data.datamap_rows)}</body></html>"
    )


def render_error(title: str, message: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{CSS}</style></head><body><h1>{_e(title)}</h1>"
            f'<section class="card problem"><p>{_e(message)}</p></section></body></html>')
