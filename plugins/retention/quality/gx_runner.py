"""Data-quality gates on Great Expectations 1.x, evaluated entirely inside PostgreSQL.

A *gate* is a list of :class:`Check` objects that must all pass before a destructive stage may
run. Each check is a SQL query; :func:`run_gate` turns the list into Great Expectations objects,
runs them and returns plain dataclasses (and optionally a Data Docs site).

How a gate maps onto GX 1.x (one in-memory ``EphemeralDataContext`` per call):

* one PostgreSQL data source (``context.data_sources.add_postgres``);
* per check one *query asset* with a whole-table batch definition, one ``ExpectationSuite`` and
  one ``ValidationDefinition``; the gate itself is one ``Checkpoint`` running all of them;
* ``no_rows``: the asset is ``SELECT 1 AS offending_row FROM (<query>) AS gx_check`` validated by
  ``ExpectTableRowCountToEqual(value=0)``. GX evaluates it as ``SELECT count(*)`` in PostgreSQL,
  so offending rows are counted where they live and none of their columns is ever selected;
* ``equal`` / ``at_most``: the check's query is evaluated **once**, in a read-only session, and
  its (at most three) rows of numbers become the asset
  ``SELECT observed, expected, observed - expected AS excess FROM (VALUES (<n>, <n>)) AS gx_check``.
  GX runs an asset's query three times (its column reflection executes the query itself, then the
  row count, then the bundled column aggregates) and these measurements count millions of rows
  (the connection logs kept, 0.8 s each at 1M accounts): evaluated by GX directly they tripled
  the cost of the gate. GX then validates the numbers: ``ExpectTableRowCountToEqual(value=1)``,
  ``ExpectColumnMaxToBeBetween`` on ``observed`` and on ``expected`` (unbounded: they report the
  two numbers, and fail when a value is NULL or missing) and the verdict on ``excess``: at most 0
  (``at_most``), or at most 0 and at least 0 (``equal``, with ``ExpectColumnMinToBeBetween``).
  Only numbers cross into GX; a measurement that fails in the database reaches GX as an empty
  asset (the check fails) and is reported by exception class only.

``UnexpectedRowsExpectation`` is deliberately not used: in GX 1.24.1 it always computes the
``unexpected_rows_query.table`` metric, i.e. fetches up to 200 complete offending rows into the
worker whatever the ``result_format`` (only ``COMPLETE`` copies them into the result, but they are
read either way), runs the query a second time to count, and prints a warning to stdout for
every query without a ``{batch}`` placeholder (our checks query the tables directly).

Keeping personal data out of results, Data Docs and logs:

* the projections above mean GX never receives a column of the checked tables;
* ``result_format`` BASIC with ``partial_unexpected_count: 0`` and no unexpected rows, and every
  result is additionally reduced to its numeric entries before it is returned or rendered;
* database errors quote values (``invalid input syntax for type integer: "<the value>"``) and GX
  copies them, with the traceback, into the result and so into Data Docs: they are replaced by the
  exception class name before Data Docs are built;
* GX loggers are held at WARNING for the duration of :func:`run_gate`;
* parameters are rendered into the SQL text as typed literals and ``str`` is refused
  (see :func:`sql_literal`).

Data Docs (``docs_dir`` given) are one GX site per gate, ``docs_dir/<gate_name>/``::

    index.html                                   the gate: one row per check, pass/fail
    validations/<gate>/<check name split on ".">/<gate>/<run time>/retention_db-<check>.html
    expectations/<gate>/<check name split on ".">.html

and one stylesheet for every run and gate, ``docs_dir/../_assets/data_docs-<hash>.css``. A
validation page shows the check's description with the observed value, and the query GX ran (with
the rendered parameters) under "Batch Spec". GX's pages load their scripts and styles from public
CDNs and copy 4 MB of static files per site: :mod:`retention.quality.datadocs` rewrites them to
need nothing but that stylesheet (no request leaves the machine) and drops the copies.

Nothing heavy is imported at module level: Great Expectations (seconds to import) is imported
inside :func:`run_gate`, because this module sits on the DAG-parse import chain.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retention.db import SqlTimer

logger = logging.getLogger(__name__)

KINDS = frozenset({"no_rows", "equal", "at_most"})

# Gate and check names become GX object names and Data Docs path components.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

# SQLAlchemy 2.1's own pattern for bound parameters in text() (TextClause._bind_params_regex):
# ":name" neither preceded by a colon, a word character or a backslash nor followed by a colon or
# a word character. So "::int" casts, "12:30" and backslash-escaped "\:" are not parameters, and
# neither is ":name::type" (as in SQLAlchemy: write CAST(:name AS type), or nothing, since the
# literals are typed). Escapes are left in place: GX wraps the query in sqlalchemy.text() itself,
# which removes them.
_BIND_RE = re.compile(r"(?<![:\w\\]):(\w+)(?![:\w])")

# No unexpected values, no unexpected rows, but aggregate observed values (BOOLEAN_ONLY drops those).
RESULT_FORMAT: dict[str, Any] = {
    "result_format": "BASIC",
    "partial_unexpected_count": 0,
    "include_unexpected_rows": False,
}

_DATASOURCE = "retention_db"
_SITE = "gate"
_APPLICATION_NAME = "gdpr_retention_quality_gate"


@dataclass(frozen=True)
class Check:
    """One data-quality check, expressed as SQL that PostgreSQL evaluates.

    ``kind``:
      * ``no_rows``: ``query`` returns the offending rows; the check passes when there are none.
      * ``equal``: ``query`` returns one row with numeric columns ``observed`` and ``expected``;
        passes when they are equal.
      * ``at_most``: same shape; passes when ``observed <= expected``.

    ``query`` may use SQLAlchemy-style ``:name`` parameters, filled from ``run_gate(params=...)``.
    """

    name: str
    description: str
    kind: str
    query: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"check {self.name!r}: kind must be one of {sorted(KINDS)}, not {self.kind!r}")
        if not _NAME_RE.match(self.name):
            raise ValueError(f"check name {self.name!r} must match {_NAME_RE.pattern}")
        if not self.query.strip():
            raise ValueError(f"check {self.name!r} has an empty query")


@dataclass(frozen=True)
class CheckResult:
    name: str
    success: bool
    observed: int | float | None
    expected: int | float | None
    description: str


@dataclass(frozen=True)
class GateResult:
    gate_name: str
    success: bool
    results: list[CheckResult]
    data_docs_index: str | None = None
    elapsed_s: float = 0.0
    # Time the gate's statements spent in PostgreSQL (its measurements and GX's queries).
    sql_statements: int = 0
    sql_seconds: float = 0.0
    # Importing Great Expectations, paid once per process (by the first gate a task runs).
    import_seconds: float = 0.0

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.success]


# --------------------------------------------------------------------------- parameters as SQL literals


def sql_literal(value: Any, *, name: str = "?") -> str:
    """Render one parameter value as a typed PostgreSQL literal.

    GX takes SQL text and cannot bind parameters, so values are spliced into the query text.
    Only types whose literal form cannot carry SQL syntax are accepted: None, bool, integers,
    finite float/Decimal, date and datetime. Error messages name the parameter, never its value.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):  # before the integer branch: bool is an int
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        # Refused on purpose, even though it could be quoted:
        # * a string is the one type whose literal needs escaping, i.e. the SQL-injection surface;
        # * it is the type most likely to be personal data (an email, a name), and the rendered
        #   query is copied verbatim into GX results, Data Docs (the batch spec shows the query)
        #   and GX debug logs, which must never hold personal values.
        # Keep string conditions inside the SQL itself, or pass ids, dates and numbers instead.
        raise TypeError(
            f"parameter :{name} is a str; gate parameters are rendered into SQL text, so only "
            "datetime, date, int, float, Decimal, bool and None are accepted"
        )
    if isinstance(value, numbers.Integral):
        number = int(value)
        # Parenthesised when negative so "x -:p" cannot become the comment "x --5".
        return str(number) if number >= 0 else f"({number})"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"parameter :{name} is not a finite number")
        return f"numeric '{value}'"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"parameter :{name} is not a finite number")
        return f"float8 '{float(value)!r}'"
    if isinstance(value, datetime):  # before date: datetime is a date
        if value.utcoffset() is None:
            return f"timestamp '{value.isoformat()}'"
        return f"timestamptz '{value.isoformat()}'"
    if isinstance(value, date):
        return f"date '{value.isoformat()}'"
    raise TypeError(f"parameter :{name} has unsupported type {type(value).__name__}")


def render_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Every parameter as a SQL literal; refuses a bad value even when no query uses it."""
    return {name: sql_literal(value, name=name) for name, value in params.items()}


def render_query(query: str, params: Mapping[str, Any]) -> str:
    """Replace ``:name`` parameters in ``query`` with typed literals (see :func:`sql_literal`)."""
    return _substitute(query, render_params(params))


def _substitute(query: str, literals: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in literals:
            raise ValueError(f"query uses parameter :{name}, which was not given")
        return literals[name]

    return _BIND_RE.sub(replace, query)


def asset_query(check: Check, rendered_query: str) -> str:
    """The query GX validates for a ``no_rows`` check, or the measurement of a pair check."""
    body = rendered_query.strip().rstrip(";").rstrip()
    # The newline before ")" keeps a trailing "-- comment" in the check's query from eating it.
    if check.kind == "no_rows":
        return f"SELECT 1 AS offending_row FROM (\n{body}\n) AS gx_check"
    return f"SELECT observed, expected FROM (\n{body}\n) AS gx_check"


def measured_pairs_query(rows: Sequence[Sequence[Any]]) -> str:
    """The asset GX validates for a pair check: the measured rows, as numeric literals only."""
    if not rows:
        return ("SELECT observed, expected, observed - expected AS excess FROM "
                "(SELECT NULL::numeric AS observed, NULL::numeric AS expected WHERE false) AS gx_check")

    def literal(value: Any) -> str:
        # Anything but a finite number (NULL, text, NaN) becomes NULL, which fails the check.
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
            return "NULL::numeric"
        if not (value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)):
            return "NULL::numeric"
        return f"{sql_literal(value)}::numeric"

    values = ", ".join(f"({literal(observed)}, {literal(expected)})" for observed, expected in rows)
    return (f"SELECT observed, expected, observed - expected AS excess FROM "
            f"(VALUES {values}) AS gx_check(observed, expected)")


def _measure(url: str, connect_args: Mapping[str, Any], queries: Mapping[str, str],
             timer: SqlTimer) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Evaluate each pair check's measurement once; returns GX asset queries and raised classes."""
    from sqlalchemy import create_engine, text

    assets: dict[str, str] = {}
    raised: dict[str, list[str]] = {}
    engine = create_engine(url, hide_parameters=True, connect_args=dict(connect_args))
    timer.watch(engine)
    try:
        for name, query in queries.items():
            error = None
            try:
                with engine.connect() as conn:
                    # Three rows are enough to tell "exactly one row" from "more than one".
                    rows = [tuple(row) for row in conn.execute(text(query)).fetchmany(3)]
            except Exception as exc:  # noqa: BLE001 - reported as a failed check, by class only
                error = _exception_class(exc)
            if error is not None:
                raised[name] = [error]
                rows = []
            assets[name] = measured_pairs_query(rows)
    finally:
        engine.dispose()
    return assets, raised


def _exception_class(exc: BaseException) -> str:
    module = type(exc).__module__
    if module.startswith(("psycopg", "sqlalchemy")):
        return f"{module}.{type(exc).__name__}"
    return type(exc).__name__


# --------------------------------------------------------------------------- GX plumbing


@contextmanager
def _gx_logging_at_warning() -> Iterator[Callable[[], None]]:
    """Hold every ``great_expectations`` logger at WARNING; yields a function to re-apply after imports.

    Setting the parent is not enough: GX sets some module loggers to INFO explicitly at import.
    """
    saved: dict[str, int] = {}

    def apply() -> None:
        names = ["great_expectations"] + [
            n for n in list(logging.root.manager.loggerDict) if n.startswith("great_expectations.")
        ]
        for name in names:
            gx_logger = logging.getLogger(name)
            saved.setdefault(name, gx_logger.level)
            gx_logger.setLevel(logging.WARNING)

    apply()
    try:
        yield apply
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _import_gx() -> Any:
    # No usage statistics, ever. GX 1.24.1 as installed ships no analytics client at all; the
    # variable (and analytics_enabled=False in the context config) keep any future one switched off.
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import great_expectations as gx

    return gx


def _context(gx: Any, site_dir: Path | None) -> Any:
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites: dict[str, Any] = {}
    if site_dir is not None:
        sites[_SITE] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def _expectations(check: Check) -> list[Any]:
    import great_expectations.expectations as gxe

    def meta(role: str) -> dict[str, str]:
        return {"check": check.name, "role": role}

    if check.kind == "no_rows":
        return [
            gxe.ExpectTableRowCountToEqual(
                value=0,
                description=f"{check.description} (the check query must return no rows)",
                meta=meta("verdict"),
            )
        ]
    expectations = [
        gxe.ExpectTableRowCountToEqual(
            value=1, description="The check query returns exactly one row", meta=meta("one_row")
        ),
        gxe.ExpectColumnMaxToBeBetween(
            column="observed", description="Reported: observed (fails when NULL)", meta=meta("observed")
        ),
        gxe.ExpectColumnMaxToBeBetween(
            column="expected", description="Reported: expected (fails when NULL)", meta=meta("expected")
        ),
    ]
    if check.kind == "equal":
        return [
            *expectations,
            gxe.ExpectColumnMaxToBeBetween(
                column="excess", max_value=0,
                description=f"{check.description} (observed must not exceed expected)", meta=meta("verdict"),
            ),
            gxe.ExpectColumnMinToBeBetween(
                column="excess", min_value=0,
                description=f"{check.description} (observed must not fall short of expected)",
                meta=meta("verdict_low"),
            ),
        ]
    return [
        *expectations,
        gxe.ExpectColumnMaxToBeBetween(
            column="excess", max_value=0,
            description=f"{check.description} (observed must be at most expected)", meta=meta("verdict"),
        ),
    ]


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    if isinstance(value, Decimal):
        return int(value) if value.is_finite() and value == value.to_integral_value() else float(value)
    return value


def _raised_exception_classes(exception_info: Any) -> list[str]:
    """Exception class names in a GX exception_info: flat, or keyed by metric id."""
    if not isinstance(exception_info, Mapping):
        return []
    entries = [exception_info] if "raised_exception" in exception_info else list(exception_info.values())
    names = []
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("raised_exception"):
            text = f"{entry.get('exception_message') or ''}\n{entry.get('exception_traceback') or ''}"
            match = (
                re.search(r"\b(psycopg2?\.errors\.\w+)", text)
                or re.search(r"\b(sqlalchemy\.exc\.\w+)", text)
                or re.search(r"\b(\w+(?:Error|Exception))\b", text)
            )
            names.append(match.group(1) if match else "error")
    return names


def _sanitize(suite_result: Any) -> list[str]:
    """Strip everything but numbers from each result and withhold exception texts, in place.

    Returns the class names of the exceptions raised while evaluating the suite.
    """
    raised: list[str] = []
    for evr in suite_result.results:
        evr.result = {
            key: value
            for key, value in (evr.result or {}).items()
            if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
        }
        classes = _raised_exception_classes(evr.exception_info)
        if classes:
            raised.extend(c for c in classes if c not in raised)
            withheld = (
                f"{', '.join(sorted(set(classes)))} raised while evaluating this check; the message and "
                "traceback are withheld because database errors can quote row values."
            )
            # A string traceback, not None: the Data Docs renderer fails on None and drops the page.
            evr.exception_info = {
                "raised_exception": True,
                "exception_message": withheld,
                "exception_traceback": withheld,
            }
    return raised


def _check_result(check: Check, suite_result: Any, raised: Sequence[str]) -> CheckResult:
    by_role = {evr.expectation_config.meta.get("role"): evr for evr in suite_result.results}

    def observed_value(role: str) -> int | float | None:
        evr = by_role.get(role)
        return _number((evr.result or {}).get("observed_value")) if evr is not None else None

    if check.kind == "no_rows":
        observed, expected = observed_value("verdict"), 0
    else:
        observed, expected = observed_value("observed"), observed_value("expected")
    success = bool(suite_result.success) and not raised
    return CheckResult(check.name, success, observed, expected, check.description)


def _close(datasource: Any) -> None:
    """Close the pools of the data source and of its execution engine (a second engine of its own)."""
    for close in (
        lambda: datasource.get_execution_engine().close(),
        lambda: datasource.get_engine().dispose(),
    ):
        try:
            close()
        except Exception:  # best effort: the outcome of the gate is already decided
            logger.debug("closing the GX data source failed", exc_info=True)


def run_gate(
    engine_url: str,
    gate_name: str,
    checks: Sequence[Check],
    params: Mapping[str, Any] | None = None,
    *,
    docs_dir: Path | str | None = None,
) -> GateResult:
    """Run every check of a gate with Great Expectations against PostgreSQL.

    ``engine_url``: a PostgreSQL SQLAlchemy URL (any ``postgresql[+driver]://``; GX is given the
    psycopg 3 dialect). ``params`` fill the ``:name`` parameters of the check queries.

    With ``docs_dir``, a Data Docs site for this gate is written to ``docs_dir/<gate_name>/`` and
    ``data_docs_index`` is the path of its ``index.html``. The site holds the latest run of the
    gate only: GX prunes pages whose results are not in the (in-memory) store, so pass a docs_dir
    per pipeline run to keep history. The sessions are read-only (default_transaction_read_only).

    Raises ValueError/TypeError for a malformed gate or parameter before touching the database.
    A check whose SQL fails in the database is reported as failed (the exception text withheld).
    """
    from retention.db import SqlTimer, session_options, sqlalchemy_url
    from retention.quality.datadocs import make_offline

    started = time.perf_counter()
    timer = SqlTimer()
    if not _NAME_RE.match(gate_name):
        raise ValueError(f"gate name {gate_name!r} must match {_NAME_RE.pattern}")
    checks = list(checks)
    if not checks:
        raise ValueError(f"gate {gate_name!r} has no checks")
    names = [c.name for c in checks]
    if len(set(names)) != len(names):
        raise ValueError(f"gate {gate_name!r} has duplicate check names")
    literals = render_params(params or {})
    queries = {c.name: asset_query(c, _substitute(c.query, literals)) for c in checks}
    url = sqlalchemy_url(engine_url)
    site_dir = (Path(docs_dir) / gate_name).resolve() if docs_dir is not None else None
    connect_args = {
        "application_name": _APPLICATION_NAME,
        "options": session_options(url, "-c default_transaction_read_only=on"),
    }
    measured, measure_errors = _measure(url, connect_args, {c.name: queries[c.name] for c in checks if c.kind != "no_rows"},
                                        timer)
    queries.update(measured)

    with _gx_logging_at_warning() as quiet_new_loggers:
        import_started = time.perf_counter()
        gx = _import_gx()
        import_seconds = time.perf_counter() - import_started
        from great_expectations.core.run_identifier import RunIdentifier

        quiet_new_loggers()
        context = _context(gx, site_dir)
        datasource = context.data_sources.add_postgres(
            _DATASOURCE,
            connection_string=url,
            kwargs={"connect_args": connect_args},
        )
        timer.watch(datasource.get_engine())
        timer.watch(datasource.get_execution_engine().engine)
        try:
            suites: dict[str, Check] = {}
            validation_definitions = []
            for check in checks:
                asset = datasource.add_query_asset(name=check.name, query=queries[check.name])
                batch_definition = asset.add_batch_definition_whole_table("whole_result")
                suite = context.suites.add(
                    gx.ExpectationSuite(name=f"{gate_name}.{check.name}", expectations=_expectations(check))
                )
                suites[suite.name] = check
                validation_definitions.append(
                    context.validation_definitions.add(
                        gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=suite)
                    )
                )
            checkpoint = context.checkpoints.add(
                gx.Checkpoint(
                    name=gate_name,
                    validation_definitions=validation_definitions,
                    result_format=RESULT_FORMAT,
                )
            )
            run = checkpoint.run(
                run_id=RunIdentifier(run_name=gate_name, run_time=datetime.now(timezone.utc))
            )
        finally:
            _close(datasource)

        by_check: dict[str, CheckResult] = {}
        for key, suite_result in run.run_results.items():
            check = suites[key.expectation_suite_identifier.name]
            raised = _sanitize(suite_result) + measure_errors.get(check.name, [])
            if raised:
                logger.warning(
                    "gate %s: check %s raised %s (message withheld)", gate_name, check.name, ", ".join(raised)
                )
            # The store holds its own serialised copy; Data Docs are rendered from it.
            context.validation_results_store.set(key, suite_result)
            by_check[check.name] = _check_result(check, suite_result, raised)

        data_docs_index = None
        if site_dir is not None:
            keys = list(run.run_results)
            context.build_data_docs(
                site_names=[_SITE],
                resource_identifiers=[*keys, *(key.expectation_suite_identifier for key in keys)],
            )
            # Offline and small: no CDN, no per-site static copy, one shared stylesheet beside the runs.
            make_offline(site_dir, site_dir.parent.parent)
            data_docs_index = str(site_dir / "index.html")

    # Fail closed should GX ever not report a check.
    results = [by_check.get(c.name) or CheckResult(c.name, False, None, None, c.description) for c in checks]
    gate = GateResult(
        gate_name=gate_name,
        success=all(r.success for r in results),
        results=results,
        data_docs_index=data_docs_index,
        elapsed_s=round(time.perf_counter() - started, 3),
        sql_statements=timer.statements,
        sql_seconds=round(timer.seconds, 3),
        import_seconds=round(import_seconds, 3),
    )
    for r in gate.failed:
        logger.warning(
            "gate %s: check %s failed (observed=%s, expected=%s)", gate_name, r.name, r.observed, r.expected
        )
    logger.info(
        "gate %s: %s, %d/%d checks passed in %.2fs",
        gate_name,
        "passed" if gate.success else "FAILED",
        len(results) - len(gate.failed),
        len(results),
        gate.elapsed_s,
    )
    return gate
