"""Monthly differentially private releases of the statistics about former members.

The exact statistics (schema ``stats``) are cumulative and change every night: published as they
are, tonight's totals minus yesterday's would be tonight's members. Analysts read instead, in
``published``, one *release per month of anonymisations*, computed once by the first run whose
as-of instant falls after the month closed, and stored append-only:

* a fixed set of one- and two-dimension tables (:data:`RELEASED_TABLES`) over the full public key
  set of each dimension (every cell present, zero included), each value with OpenDP's discrete
  Gaussian noise and its 95 % error bound;
* the noise is calibrated to each table's L2 sensitivity: how much one person can move the table.
  The bounds behind it are enforced where the rows are aggregated, in the scrub's
  ``sql/accounts/aggregate_release_*.sql`` (a person's events clipped per feature, their languages
  and projects capped), and every person is in one cell of each demographic table;
* the budget per release, ``release_rho_per_month`` in ``policy.yaml``, is split evenly across the
  tables (zero-concentrated DP composes by adding rho). Each person is anonymised once, so their data
  is in one month's release only: their total loss is one release's, however many months are
  published (parallel composition); ``published.privacy_accounting`` shows it;
* a rerun or backfill finds the month in ``published.releases`` and returns it as stored: noise is
  drawn once, never again (averaging fresh draws would defeat it).

Nothing here logs a value: only counts of cells and tables.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from retention import faults

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from retention.policy import Policy
    from retention.window import RunWindow

log = logging.getLogger(__name__)

# Contribution bounds, bound into the scrub's aggregate_release_*.sql: the sensitivities below
# rely on them. Raising one widens the noise of its table (sensitivity grows with it).
EVENTS_PER_FEATURE = 10     # a member's events counted per feature, at most
LANGUAGES_PER_MEMBER = 3    # language cells a member counts in, at most (best levels first)
PROJECTS_PER_MEMBER = 5     # projects a member counts in, at most (latest applications first)

# Languages released one by one (ISO 639-1); any other is 'other'. Public: the EU's official
# languages and the most spoken others.
RELEASED_LANGUAGES = (
    "ar", "bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "ga", "hi", "hr", "hu", "it", "ja",
    "ko", "lt", "lv", "mt", "nl", "pl", "pt", "ro", "ru", "sk", "sl", "sv", "tr", "uk", "zh",
)
LANGUAGE_LEVELS = ("A1", "A2", "B1", "B2", "C1", "C2", "native", "unknown")
# The nightly run's three reasons and an erasure on request (gdpr_subject_requests): every anonymised
# member is in exactly one reason's cell.
REASONS = ("closed", "deceased", "inactive", "erasure")
AGE_BANDS = tuple(f"{a}-{a + 4}" for a in range(15, 100, 5)) + ("unknown",)
ANNOTATION_EXPERIENCE = ("no", "yes")
EXPERIENCE_BANDS = ("0", "1", "2-3", "4+")
UNPUBLISHED = "unpublished"  # the pooled cell of projects not published when the member went

ALPHA = 0.05  # error bounds at 95 %
LIBRARY = "opendp"


def scrub_params() -> dict[str, Any]:
    """The contribution bounds the scrub's release aggregates enforce (bound parameters)."""
    return {
        "release_events_per_feature": EVENTS_PER_FEATURE,
        "release_languages_per_member": LANGUAGES_PER_MEMBER,
        "release_projects_per_member": PROJECTS_PER_MEMBER,
        "release_languages": list(RELEASED_LANGUAGES),
    }


@dataclass(frozen=True)
class Dimension:
    name: str          # the view's column and the key set's name
    source_sql: str    # its value in the source table ``s``, as text
    view_sql: str = "" # how the view shows key1/key2 (default: as text, under ``name``)


@dataclass(frozen=True)
class ReleasedTable:
    name: str                        # published.<name>
    source: str                      # stats.<source>, keyed by anonymised_month
    dims: tuple[Dimension, ...]
    measure: str                     # the summed column of the source
    label: str                       # the view's column for the value
    description: str

    def sensitivity(self, key_sets: Mapping[str, Sequence[str]]) -> float:
        """L2 norm of the most one person can change this table (the bounds enforced by the scrub)."""
        if self.source in ("anonymised_cohorts", "experience_profiles"):
            return 1.0  # one row per member: each person is in exactly one cell
        if self.source == "release_languages":
            return math.sqrt(LANGUAGES_PER_MEMBER)
        if self.source == "release_project_applicants":
            return math.sqrt(PROJECTS_PER_MEMBER)
        if self.source == "release_feature_usage":
            per_cell = EVENTS_PER_FEATURE if self.measure == "events" else 1
            return per_cell * math.sqrt(len(key_sets["feature"]))
        raise ValueError(f"no contribution bound known for {self.source}")


def _dim(name: str, column: str | None = None) -> Dimension:
    return Dimension(name, f"s.{column or name}")


_REASON, _AGE, _REGION, _EDU = _dim("reason"), _dim("age_band"), _dim("region"), _dim("education_level")


def _cohort(*dims: Dimension) -> ReleasedTable:
    name = "members_by_" + "_".join(d.name for d in dims)
    what = " and ".join(d.name.replace("_", " ") for d in dims)
    return ReleasedTable(name, "anonymised_cohorts", dims, "members", "members",
                         f"Members anonymised in the month, by {what}")


RELEASED_TABLES: tuple[ReleasedTable, ...] = (
    _cohort(_REASON), _cohort(_AGE), _cohort(_REGION), _cohort(_EDU),
    _cohort(_REASON, _AGE), _cohort(_REASON, _REGION), _cohort(_REASON, _EDU),
    _cohort(_AGE, _REGION), _cohort(_AGE, _EDU), _cohort(_REGION, _EDU),
    ReleasedTable("members_by_reason_annotation_experience", "experience_profiles",
                  (_REASON, _dim("annotation_experience")), "members", "members",
                  "Members anonymised in the month, by reason and whether they had annotation experience"),
    ReleasedTable("members_by_experience_band", "experience_profiles", (_dim("experience_band"),),
                  "members", "members", "Members anonymised in the month, by number of experiences listed"),
    ReleasedTable("members_by_language_level", "release_languages", (_dim("language"), _dim("level")),
                  "members", "members",
                  f"Members anonymised in the month, by language spoken and level (at most {LANGUAGES_PER_MEMBER} "
                  "languages per member)"),
    ReleasedTable("members_by_feature", "release_feature_usage", (_dim("feature"),), "members", "members",
                  "Members anonymised in the month who ever used each feature"),
    ReleasedTable("events_by_feature", "release_feature_usage", (_dim("feature"),), "events", "events",
                  f"Their events per feature (at most {EVENTS_PER_FEATURE} per member and feature)"),
    ReleasedTable("applicants_by_project", "release_project_applicants",
                  (Dimension("project", f"coalesce(s.project_id::text, '{UNPUBLISHED}')",
                             f"nullif(key1, '{UNPUBLISHED}')::bigint as project_id"),),
                  "members", "applicants",
                  f"Members anonymised in the month who had applied to each published project (at most "
                  f"{PROJECTS_PER_MEMBER} projects per member; project_id NULL: projects not published)"),
)


def _ident(name: str) -> str:
    # Names come from RELEASED_TABLES above, never from input; still, refuse anything unexpected.
    if not name.replace("_", "").isalnum() or not name[0].isalpha():
        raise ValueError(f"unexpected identifier {name!r}")
    return f'"{name}"'


def exact_sql(t: ReleasedTable) -> str:
    """The table's exact values for ``:month`` over its full key set (``:keys1``, ``:keys2``), zeros included."""
    keys = [f"unnest(cast(:keys{i} as text[])) as k{i} (v)" for i in range(1, len(t.dims) + 1)]
    match = " and ".join(f"{d.source_sql} = k{i}.v" for i, d in enumerate(t.dims, 1))
    group = ", ".join(f"k{i}.v" for i in range(1, len(t.dims) + 1))
    key2 = "k2.v" if len(t.dims) == 2 else "cast(null as text)"
    return (
        f"select k1.v as key1, {key2} as key2, coalesce(sum(s.{_ident(t.measure)}), 0)::bigint as value "
        f"from {' cross join '.join(keys)} "
        f"left join stats.{_ident(t.source)} as s on s.anonymised_month = :month and {match} "
        f"group by {group} order by {group}"
    )


def exact_rows(conn: Connection, t: ReleasedTable, month: date, keys: Mapping[str, Sequence[str]]) -> list[Any]:
    """(key1, key2, value) of every cell of the table's key set, in a fixed order: exact, internal."""
    from sqlalchemy import text

    params: dict[str, Any] = {"month": month}
    for i, d in enumerate(t.dims, 1):
        params[f"keys{i}"] = list(keys[d.name])
    return conn.execute(text(exact_sql(t)), params).all()


def view_sql(t: ReleasedTable) -> str:
    columns = ["release_month"]
    for i, d in enumerate(t.dims, 1):
        columns.append(d.view_sql or f"key{i} as {_ident(d.name)}")
    columns += [f"value as {_ident(t.label)}", f"error95 as {_ident(t.label + '_error95')}"]
    return (
        f"create or replace view published.{_ident(t.name)} as select {', '.join(columns)} "
        f"from published.released_cells where table_name = '{t.name}'"
    )


def create_views(conn: Connection) -> None:
    """One readable view per released table over ``published.released_cells`` (idempotent)."""
    from sqlalchemy import text

    for t in RELEASED_TABLES:
        conn.execute(text(view_sql(t)))
        # COMMENT takes no parameter; the text is ours (RELEASED_TABLES), quoted as a literal.
        comment = t.description.replace("'", "''")
        conn.exec_driver_sql(f"comment on view published.{_ident(t.name)} is '{comment}'")


def key_sets(app: Engine, month_end: Any) -> dict[str, list[str]]:
    """The full public key set of every dimension: reviewed vocabularies (reference data of the
    application database) and the projects published before the month's end. No personal data."""
    from sqlalchemy import text

    with app.connect() as conn:
        regions = list(conn.execute(text("select distinct region from retention.department_regions order by 1")).scalars())
        levels = list(conn.execute(text("select level from retention.education_levels order by rank")).scalars())
        features = list(conn.execute(text("select feature from retention.known_features order by 1")).scalars())
        projects = list(conn.execute(
            text("select id::text from app.projects where published_at < :month_end order by id"),
            {"month_end": month_end},
        ).scalars())
    return {
        "reason": list(REASONS),
        "age_band": list(AGE_BANDS),
        "region": regions + ["abroad", "unknown"],
        "education_level": levels + ["other", "none"],
        "annotation_experience": list(ANNOTATION_EXPERIENCE),
        "experience_band": list(EXPERIENCE_BANDS),
        "language": list(RELEASED_LANGUAGES) + ["other"],
        "level": list(LANGUAGE_LEVELS),
        "feature": features + ["other"],
        "project": projects + [UNPUBLISHED],
    }


@dataclass(frozen=True)
class Noise:
    scale: float
    rho: float
    error95: int


def calibrate(sensitivity: float, rho: float) -> Noise:
    """The smallest discrete Gaussian scale whose zCDP loss for this sensitivity is within ``rho``."""
    import opendp.prelude as dp

    # make_gaussian is in OpenDP's "contrib" set (proven, not yet vetted by its committee). Integer
    # counts get the discrete Gaussian: no floating-point noise, so "floating-point" stays off.
    dp.enable_features("contrib")
    scale = dp.binary_search_param(lambda s: _gaussian(s), d_in=sensitivity, d_out=rho)
    spent = _gaussian(scale).map(sensitivity)
    if spent > rho:
        raise RuntimeError(f"calibration overspent: {spent} > {rho}")
    return Noise(scale=scale, rho=spent, error95=int(dp.discrete_gaussian_scale_to_accuracy(scale, ALPHA)))


def _gaussian(scale: float):
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp.m.make_gaussian(dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T="f64"), scale=scale)


def add_noise(values: list[int], sensitivity: float, noise: Noise) -> list[int]:
    """OpenDP's measurement on the vector of exact values (fresh randomness from the OS)."""
    measurement = _gaussian(noise.scale)
    if measurement.map(sensitivity) > noise.rho:
        raise RuntimeError("the measurement would spend more than calibrated")
    return [int(v) for v in measurement(values)]


def epsilon_of(rho: float, delta: float) -> float:
    """A zCDP loss ``rho`` stated as (epsilon, delta), by OpenDP's conversion."""
    import opendp.prelude as dp

    dp.enable_features("contrib")
    # A scale giving exactly rho at sensitivity 1 (the conversion depends on rho only).
    scale = 1.0 / math.sqrt(2.0 * rho)
    profile = dp.c.make_zCDP_to_approxDP(_gaussian(scale)).map(1.0)
    return float(profile.epsilon(delta))


def month_of(instant: Any) -> date:
    from datetime import timezone

    utc = instant.astimezone(timezone.utc)
    return date(utc.year, utc.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def months_to_release(conn: Connection, as_of: Any) -> list[date]:
    """Closed months (before the as-of instant's month, UTC) from the first anonymisation on, not released yet."""
    from sqlalchemy import text

    from retention.sqlfiles import load_sql

    return list(conn.execute(text(load_sql("warehouse/select_months_to_release")),
                             {"current_month": month_of(as_of)}).scalars())


def release_month(app: Engine, wh: Engine, month: date, *, policy: Policy, as_of: Any, run_id: str) -> dict[str, Any]:
    """Compute, noise and store one month's release, unless it is stored already (then returned as is)."""
    from importlib.metadata import version

    from sqlalchemy import text

    keys = key_sets(app, next_month(month))
    rho_per_table = policy.release_rho_per_month / len(RELEASED_TABLES)
    with wh.begin() as conn:
        # Two runs started by hand must not both release the month: one waits, then finds it stored.
        conn.execute(text("select pg_advisory_xact_lock(hashtext('gdpr_retention.release'))"))
        if conn.execute(text("select 1 from published.releases where release_month = :m"), {"m": month}).first():
            return {"month": month.isoformat(), "stored": "already released"}
        ledger, cells = [], {"table_name": [], "key1": [], "key2": [], "value": [], "error95": []}
        for t in RELEASED_TABLES:
            rows = exact_rows(conn, t, month, keys)
            sensitivity = t.sensitivity(keys)
            noise = calibrate(sensitivity, rho_per_table)
            noisy = add_noise([int(r.value) for r in rows], sensitivity, noise)
            for r, value in zip(rows, noisy, strict=True):
                cells["table_name"].append(t.name)
                cells["key1"].append(r.key1)
                cells["key2"].append(r.key2)
                cells["value"].append(value)
                cells["error95"].append(noise.error95)
            ledger.append({"m": month, "t": t.name, "mech": "discrete Gaussian (zCDP)", "sens": sensitivity,
                           "scale": noise.scale, "rho": noise.rho, "err": noise.error95, "cells": len(rows)})
        spent = sum(e["rho"] for e in ledger)
        if spent > policy.release_rho_per_month * (1 + 1e-9):
            raise RuntimeError(f"release of {month} would spend rho {spent} over the policy's {policy.release_rho_per_month}")
        conn.execute(
            text("insert into published.releases (release_month, as_of, run_id, rho_budget, rho_spent, delta, epsilon, "
                 "tables, cells, library) values (:m, :as_of, :run_id, :budget, :spent, :delta, :eps, :tables, :cells, :lib)"),
            {"m": month, "as_of": as_of, "run_id": run_id, "budget": policy.release_rho_per_month, "spent": spent,
             "delta": policy.release_delta, "eps": epsilon_of(spent, policy.release_delta), "tables": len(ledger),
             "cells": len(cells["value"]), "lib": f"{LIBRARY} {version(LIBRARY)}"},
        )
        conn.execute(
            text("insert into published.privacy_ledger (release_month, table_name, mechanism, sensitivity_l2, "
                 "noise_scale, rho, error95, cells) values (:m, :t, :mech, :sens, :scale, :rho, :err, :cells)"),
            ledger,
        )
        conn.execute(
            text("insert into published.released_cells (release_month, table_name, key1, key2, value, error95) "
                 "select :m, * from unnest(cast(:table_name as text[]), cast(:key1 as text[]), cast(:key2 as text[]), "
                 "cast(:value as bigint[]), cast(:error95 as bigint[]))"),
            {"m": month, **cells},
        )
        faults.checkpoint("release.before_commit")
    log.info("released %s: %d tables, %d cells, rho %.4f", month, len(ledger), len(cells["value"]), spent)
    # The run's report keeps these figures: the Retention page shows the accounting from them.
    return {"month": month.isoformat(), "tables": len(ledger), "cells": len(cells["value"]), "rho": spent,
            "epsilon": epsilon_of(spent, policy.release_delta), "delta": policy.release_delta}


def release_closed_months(app: Engine, wh: Engine, window: RunWindow, policy: Policy, run_id: str) -> dict[str, Any]:
    """Release every closed month not released yet (normally: last month, on the first run after it closed)."""
    if window.dry_run:
        return {"dry_run": True, "released": []}
    with wh.connect() as conn:
        months = months_to_release(conn, window.as_of)
    released = [release_month(app, wh, m, policy=policy, as_of=window.as_of, run_id=run_id) for m in months]
    return {"released": released, "months": len(released)}


def release_summary(wh: Engine | str) -> list[str]:
    """Readable lines on what was released (counts and privacy accounting only), e.g. for the demo's report.

    ``wh``: the warehouse's engine, or its URL (any PostgreSQL URI; an engine is made and disposed here).
    """
    if isinstance(wh, str):
        from retention.db import make_engine

        engine = make_engine(wh)
        try:
            return release_summary(engine)
        finally:
            engine.dispose()
    from sqlalchemy import text

    lines: list[str] = []
    with wh.connect() as conn:
        releases = conn.execute(text(
            "select r.release_month, r.rho_spent, r.epsilon, r.delta, r.tables, r.cells, a.rho_per_person, "
            "a.rho_sum_over_months, (select sum(c.value) from published.released_cells as c "
            "where c.release_month = r.release_month and c.table_name = 'members_by_reason') as members, "
            "(select max(l.error95) from published.privacy_ledger as l where l.release_month = r.release_month "
            "and l.table_name = 'members_by_reason') as members_error "
            "from published.releases as r join published.privacy_accounting as a using (release_month) "
            "order by r.release_month")).all()
    if not releases:
        return ["No month released yet: a month is released by the first run after it closes."]
    for r in releases:
        lines.append(
            f"Released {r.release_month:%Y-%m}: {r.tables} tables, {r.cells:,} cells; about {int(r.members):,} members "
            f"anonymised (each reason's count ±{int(r.members_error)} at 95 %); rho {r.rho_spent:.3g} "
            f"(epsilon {r.epsilon:.2f} at delta {r.delta:.0e})")
    last = releases[-1]
    lines.append(f"Privacy loss per person over {len(releases)} release(s): rho {last.rho_per_person:.3g} "
                 f"(each person is in one month's release; the sum over months, {last.rho_sum_over_months:.3g}, "
                 f"would apply only if the same people were in every month)")
    lines.append("Analysts query published.<table> (e.g. published.members_by_reason_age_band); see docs/analysts.md")
    return lines
