"""Data Docs rewritten offline (retention.quality.datadocs), on a page shaped like GX 1.24's."""

from __future__ import annotations

import re

from retention.quality.datadocs import rewrite_page, stylesheet

PAGE = """<html><head>
<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>
<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>
<link rel="shortcut icon" href="./static/images/favicon.ico" type="image/x-icon"/>
<style>.navbar { background: url('https://great-expectations-web-assets.s3.amazonaws.com/full_logo_dark.png') }</style>
</head><body>
<a href="https://greatexpectations.io/"><img src="https://great-expectations-web-assets.s3.amazonaws.com/logo-long.png?d=1"/>GX</a>
<table
  id="t1"
  class="table-sm" data-toggle="table"
></table>
<script>
  $('#t1').bootstrapTable(
    Object.assign(
      {
        columns: [{'field': 'name', 'title': 'Check', 'sortable': 'true'}, {'field': 'ok', 'title': 'Status'}],
        data: [{'name': 'a <b>check</b>', 'ok': '<i class="fas fa-check-circle"></i>', '_table_row_link_path': 'v/a.html'}],
        toolbar: '#t1-toolbar'
      },
      {'search': 'true'}
    )
  );
</script>
<button class="btn" onclick="clearTableFilters('t1')">Clear Filters</button>
<table id="t2"></table>
<script>$('#t2').bootstrapTable(Object.assign({columns: [{'field': 'x'}], data: [{'x': undefined}], toolbar: '#t'}))</script>
<footer><p>Stay current on everything GX with our newsletter <a href="https://greatexpectations.io/newsletter">Subscribe</a></p></footer>
</body></html>"""


def test_page_needs_nothing_from_outside_and_keeps_its_tables():
    out = rewrite_page(PAGE, "../_assets/data_docs-x.css")
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?:https?:)?//|url\(\s*["']?(?:https?:)?//""", out)
    assert "<script" not in out and "newsletter" not in out and "static/" not in out
    assert "onclick" not in out and "clearTableFilters" not in out
    assert '<link rel="stylesheet" href="../_assets/data_docs-x.css"></head>' in out
    assert ('<table id="t1" class="table table-sm"><thead><tr><th>Check</th><th>Status</th></tr></thead><tbody>'
            '<tr><td><a href="v/a.html">a <b>check</b></a></td><td><i class="fas fa-check-circle"></i></td></tr>'
            "</tbody></table>") in out
    # A call this module cannot read is said on the page, never an exception in the gate.
    assert "This table could not be drawn without JavaScript." in out
    assert ">GX</a>" not in out and "GX" in out  # the vendor link's text stays, the link goes


def test_one_stylesheet_for_every_run(tmp_path):
    first = stylesheet(tmp_path)
    assert first == stylesheet(tmp_path)
    assert [p.name for p in (tmp_path / "_assets").iterdir()] == [first.name]
    assert "http" not in first.read_text()
