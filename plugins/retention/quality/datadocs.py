"""Great Expectations Data Docs made offline and small, right after GX builds them.

GX 1.24's site builder writes pages that load Bootstrap, jQuery, bootstrap-table, Font Awesome and
Vega from public CDNs, copies its ``static/`` folder (4 MB: fonts, animated GIFs, logos) into every
site, fills the index tables from inline jQuery calls, and ends each page with a newsletter footer.
On a machine without internet the pages are unstyled, the index tables empty and the console full of
``$ is not defined``; kept nightly, the copies cost ~21 MB a run. Its templates cannot be replaced
(the package's own loader is consulted first), so each page is rewritten once built:

* every external ``<link>``/``<script>``/``<img>`` (GX's logo is fetched from its S3 bucket with the
  build time in the query string), every external ``url(...)`` in inline styles and every inline
  script is removed (nothing leaves the machine, nothing needs jQuery);
* each ``bootstrapTable`` call becomes the static table it would have drawn (its columns and rows are
  Python literals in the page; the cells are GX's own HTML, already escaped by GX);
* the vendor footer and the links to the vendor's site go; references to ``static/`` go;
* one small stylesheet (layout, tables, the icons GX uses as text) is stored once for all runs and
  gates, ``<docs root>/_assets/data_docs-<hash>.css``, and every page links to it relatively;
* the site's ``static/`` copy is deleted.

Pure file work, no GX import: testable on any HTML and run by :func:`retention.quality.gx_runner.run_gate`.
"""

from __future__ import annotations

import ast
import hashlib
import html
import os
import re
import shutil
from pathlib import Path

ASSETS_DIR = "_assets"

CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 0;
       color: #1d2430; background: #fff; }
a { color: #1f5fa8; }
.container, .container-fluid { padding: 12px 20px; max-width: 1400px; }
nav, .navbar { padding: 8px 20px; border-bottom: 1px solid #dde3ea; background: #f7f9fb; }
.navbar-brand img, img { display: none; }
.row { display: flex; flex-wrap: wrap; gap: 16px; } .col, [class*="col-"] { flex: 1 1 320px; min-width: 0; }
.row > .col-12 { flex: 1 1 100%; } .row > .col-md-2 { flex: 0 1 220px; } .row > .col-md-10 { flex: 1 1 640px; }
[id$="-toolbar"], .btn { display: none; }
.table-responsive, .ge-section { overflow-x: auto; }
.card { border: 1px solid #dde3ea; border-radius: 6px; margin: 10px 0; }
.card-header { padding: 8px 12px; background: #f7f9fb; border-bottom: 1px solid #dde3ea; font-weight: 600; }
.card-body { padding: 8px 12px; }
.collapse, .collapse:not(.show) { display: block; }
.d-none { display: none; } .sticky { position: static; }
h1 { font-size: 22px; } h2 { font-size: 18px; } h3, h4, h5, h6 { font-size: 15px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0; }
th, td { border-bottom: 1px solid #dde3ea; padding: 5px 8px; text-align: left; vertical-align: top; }
th { font-size: 12px; color: #5f6b7a; }
pre, code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; white-space: pre-wrap;
            word-break: break-word; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; background: #eef1f4; }
.text-success, .badge-success { color: #1b7f3b; } .text-danger, .badge-danger { color: #c62828; }
.text-muted { color: #5f6b7a; }
.fas, .far, .fa { font-style: normal; }
.fa-check-circle::before, .fa-check::before { content: "\\2714"; }
.fa-times-circle::before, .fa-times::before { content: "\\2718"; }
.fa-exclamation-triangle::before { content: "\\26A0"; }
.fa-info-circle::before, .fa-question-circle::before { content: "\\24D8"; }
.fa-external-link-alt::before { content: "\\2197"; }
.cooltip { position: relative; } .cooltip .top { display: none; }
.cooltip:hover .top { display: block; position: absolute; z-index: 2; background: #fff; border: 1px solid #c4ccd6;
                      padding: 6px; white-space: pre-wrap; min-width: 320px; font-size: 12px; }
.ge-retention-note { color: #5f6b7a; font-size: 12px; margin: 16px 20px; }
"""

_EXTERNAL_TAG = re.compile(
    r"<(?:link|script|img|iframe|source)\b[^>]*\b(?:href|src)\s*=\s*[\"'](?:https?:)?//[^\"']*[\"'][^>]*>(?:\s*</script>)?\s*", re.I)
_STATIC_TAG = re.compile(r"<(?:link|img|script)\b[^>]*\b(?:href|src)\s*=\s*[\"'](?:\.{0,2}/)*static/[^\"']*[\"'][^>]*>"
                         r"(?:\s*</script>)?\s*", re.I)
_TABLE_CALL = re.compile(
    r"\$\('#(?P<id>[^']+)'\)\.bootstrapTable\(\s*Object\.assign\(\s*\{\s*columns:\s*(?P<columns>\[.*?\]),\s*"
    r"data:\s*(?P<data>\[.*?\]),\s*toolbar:", re.S)
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>\s*", re.S | re.I)
_FOOTER = re.compile(r"<footer\b[^>]*>.*?</footer>\s*", re.S | re.I)
_VENDOR_LINK = re.compile(r"<a\b[^>]*\bhref\s*=\s*[\"']https?://[^\"']*greatexpectations\.io[^\"']*[\"'][^>]*>(.*?)</a>",
                          re.S | re.I)
_HEAD_END = re.compile(r"</head>", re.I)
_EVENT_HANDLER = re.compile(r"""\s+on[a-z]+\s*=\s*(?:"[^"]*"|'[^']*')""", re.I)
_EXTERNAL_CSS_URL = re.compile(r"url\(\s*[\"']?(?:https?:)?//[^)]*\)", re.I)


def stylesheet(docs_root: Path) -> Path:
    """The one shared stylesheet under ``docs_root`` (written once; its name carries its hash)."""
    digest = hashlib.sha256(CSS.encode()).hexdigest()[:12]
    path = docs_root / ASSETS_DIR / f"data_docs-{digest}.css"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(CSS, encoding="utf-8")
        partial.replace(path)  # atomic: two gates writing at once never leave half a file
    return path


def static_table(table_id: str, columns: list[dict], rows: list[dict]) -> str:
    """The table bootstrap-table would have drawn: a header per column, GX's cell HTML as is, each row
    linked to its page when GX gave one."""
    head = "".join(f"<th>{html.escape(str(c.get('title', c.get('field', ''))))}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for index, column in enumerate(columns):
            cell = str(row.get(column.get("field"), ""))
            link = row.get("_table_row_link_path")
            if index == 0 and link:
                cell = f'<a href="{html.escape(str(link), quote=True)}">{cell or "open"}</a>'
            cells.append(f"<td>{cell}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<table id="{html.escape(table_id, quote=True)}" class="table table-sm"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def rewrite_page(text: str, stylesheet_href: str) -> str:
    """One GX page, offline: its tables drawn, every script and external or static reference gone,
    the vendor's footer and links removed, the shared stylesheet linked."""
    for match in list(_TABLE_CALL.finditer(text)):
        table_id = match.group("id")
        try:
            drawn = static_table(table_id, ast.literal_eval(match.group("columns")), ast.literal_eval(match.group("data")))
        except (ValueError, SyntaxError):
            # A GX version that writes these calls differently: say so on the page, never break the gate.
            drawn = '<p class="ge-retention-note">This table could not be drawn without JavaScript.</p>'
        element = re.compile(rf"<table\s+id=\"{re.escape(table_id)}\"[^>]*>.*?</table>", re.S)
        text = element.sub(lambda _m, d=drawn: d, text, count=1)
    text = _EXTERNAL_TAG.sub("", text)
    text = _STATIC_TAG.sub("", text)
    text = _SCRIPT.sub("", text)
    text = _EVENT_HANDLER.sub("", text)  # onclick="clearTableFilters(...)": the functions are gone
    text = _EXTERNAL_CSS_URL.sub("none", text)
    text = _FOOTER.sub("", text)
    text = _VENDOR_LINK.sub(lambda m: m.group(1), text)
    link = f'<link rel="stylesheet" href="{html.escape(stylesheet_href, quote=True)}">'
    text, found = _HEAD_END.subn(link + "</head>", text, count=1)
    if not found:
        text = link + text
    return text


def make_offline(site_dir: Path, docs_root: Path) -> dict[str, int]:
    """Rewrite every page of one GX site and drop its ``static/`` copy. Returns pages and bytes."""
    css = stylesheet(docs_root)
    pages = size = 0
    for page in sorted(site_dir.rglob("*.html")):
        href = os.path.relpath(css, page.parent).replace(os.sep, "/")
        rewritten = rewrite_page(page.read_text(encoding="utf-8"), href)
        page.write_text(rewritten, encoding="utf-8")
        pages += 1
        size += len(rewritten.encode())
    shutil.rmtree(site_dir / "static", ignore_errors=True)
    return {"pages": pages, "bytes": size}
