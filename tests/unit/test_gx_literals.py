"""Rendering gate parameters into SQL text: typed literals only, never a str."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from retention.quality.gx_runner import (
    _BIND_RE,
    Check,
    asset_query,
    measured_pairs_query,
    render_params,
    render_query,
    sql_literal,
)

SECRET = "secret.person@example.org"


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        (None, "NULL"),
        (True, "TRUE"),
        (False, "FALSE"),
        (0, "0"),
        (42, "42"),
        (-5, "(-5)"),
        (10**20, "100000000000000000000"),
        (0.1, "float8 '0.1'"),
        (-1.5, "float8 '-1.5'"),
        (1e-05, "float8 '1e-05'"),
        (Decimal("1.50"), "numeric '1.50'"),
        (Decimal("-2"), "numeric '-2'"),
        (date(2026, 6, 15), "date '2026-06-15'"),
        (datetime(2026, 6, 15, tzinfo=timezone.utc), "timestamptz '2026-06-15T00:00:00+00:00'"),
        (
            datetime(2026, 6, 15, 12, 30, 0, 123456, tzinfo=timezone(timedelta(hours=-5))),
            "timestamptz '2026-06-15T12:30:00.123456-05:00'",
        ),
        (datetime(2026, 6, 15, 1, 2, 3), "timestamp '2026-06-15T01:02:03'"),
    ],
)
def test_typed_literals(value, literal):
    assert sql_literal(value) == literal


@pytest.mark.parametrize("value", [SECRET, "", "1; drop table accounts", type("S", (str,), {})("x")])
def test_str_is_refused_without_echoing_the_value(value):
    with pytest.raises(TypeError) as excinfo:
        sql_literal(value, name="email")
    assert ":email" in str(excinfo.value)
    if len(value) > 3:
        assert value not in str(excinfo.value)


@pytest.mark.parametrize("value", [b"bytes", [1, 2], {"a": 1}, timedelta(days=1), object()])
def test_other_types_are_refused(value):
    with pytest.raises(TypeError):
        sql_literal(value, name="p")


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), -float("inf"), Decimal("NaN"), Decimal("Infinity")]
)
def test_non_finite_numbers_are_refused(value):
    with pytest.raises(ValueError):
        sql_literal(value, name="p")


def test_render_params_refuses_a_str_even_when_no_query_uses_it():
    with pytest.raises(TypeError):
        render_params({"cutoff": date(2026, 1, 1), "who": SECRET})


def test_render_query_substitutes_sqlalchemy_style_parameters():
    query = (
        "select id from accounts where last_seen < :cutoff and id > :min_id "
        "and legal_hold = :hold and note is distinct from :nothing and x::int > 0"
    )
    params = {
        "cutoff": datetime(2026, 6, 15, tzinfo=timezone.utc),
        "min_id": 7,
        "hold": False,
        "nothing": None,
        "unused": 1,
    }
    rendered = render_query(query, params)
    assert "last_seen < timestamptz '2026-06-15T00:00:00+00:00'" in rendered
    assert "id > 7" in rendered
    assert "legal_hold = FALSE" in rendered
    assert "is distinct from NULL" in rendered
    assert "x::int" in rendered
    assert ":" not in rendered.replace("::int", "").replace("T00:00:00+00:00", "")


def test_negative_numbers_cannot_turn_into_a_comment():
    assert render_query("select 1 -:p", {"p": -5}) == "select 1 -(-5)"


def test_casts_times_and_escaped_colons_are_not_parameters():
    query = r"select :a, x::text, '12:30', :b::int, 'a\:b' from t"
    assert render_query(query, {"a": 1}) == r"select 1, x::text, '12:30', :b::int, 'a\:b' from t"


def test_missing_parameter_is_an_error():
    with pytest.raises(ValueError, match=":cutoff"):
        render_query("select 1 where now() > :cutoff", {})


@pytest.mark.parametrize(
    "query",
    [
        "select :a, :b_2 from t where c = :a",
        "select x::int, :ts::timestamptz, :ok from t",
        r"select 'a\:b', '10:30', :x",
        "select :été, f(:y), array[:z]",
    ],
)
def test_parameter_names_match_sqlalchemy_text(query):
    """Whatever sqlalchemy.text() treats as a bound parameter is what gets substituted."""
    assert set(_BIND_RE.findall(query)) == set(sa.text(query).compile().params)


def test_asset_query_projects_away_the_checked_columns():
    no_rows = Check("a.b", "d", "no_rows", "select * from accounts -- trailing comment")
    assert asset_query(no_rows, no_rows.query + " ;\n") == (
        "SELECT 1 AS offending_row FROM (\nselect * from accounts -- trailing comment\n) AS gx_check"
    )
    equal = Check("a.c", "d", "equal", "select 1 as observed, 1 as expected;")
    assert asset_query(equal, equal.query).startswith("SELECT observed, expected FROM (\n")


def test_measured_pairs_reach_gx_as_numeric_literals_only():
    from decimal import Decimal

    query = measured_pairs_query([(3, Decimal("2.5")), (None, "not a number")])
    assert query.endswith("FROM (VALUES (3::numeric, numeric '2.5'::numeric), (NULL::numeric, NULL::numeric)) "
                          "AS gx_check(observed, expected)")
    assert "not a number" not in query
    assert "WHERE false" in measured_pairs_query([]), "no measured row: an empty asset, which fails"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "x", "kind": "most", "query": "select 1"}, "kind"),
        ({"name": "../x", "kind": "no_rows", "query": "select 1"}, "name"),
        ({"name": "x", "kind": "no_rows", "query": "  "}, "empty"),
    ],
)
def test_check_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Check(description="d", **kwargs)


def test_importing_the_runner_stays_light():
    code = (
        "import sys, retention.quality.gx_runner\n"
        "heavy = [m for m in ('great_expectations', 'pandas', 'sqlalchemy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    import retention

    plugins = str(Path(retention.__file__).parents[1])
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": plugins})
