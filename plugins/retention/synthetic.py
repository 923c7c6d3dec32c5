"""Deterministic, French-looking synthetic data for the reference ``app`` schema (demo, tests, benchmark).

Usage::

    PYTHONPATH=plugins python -m retention.synthetic --db-url postgresql://postgres@127.0.0.1:5432/somedb \\
        --accounts 10000 --seed 1 [--as-of 2026-06-15T00:00:00+00:00] [--logs-per-account 20] \\
        [--prospects N] [--documents-dir var/documents] [--log-days 1095] [--write-files]

or ``generate(conninfo, accounts=..., seed=..., as_of=...)`` from Python.

Design:

* Everything is a function of ``(seed, as_of, accounts, ...)``: no wall clock, no global random state.
  Faker (``fr_FR``) builds small pools of values once; rows sample from them with numpy generators
  seeded per ``(seed, stream, chunk)``, so a chunk's rows never depend on how other chunks were drawn.
* Accounts are planned first (creation, last activity, closure, death, holds: see ``plan_chunk``);
  every child timestamp of an account lies in its activity window ``[created_at, last_active]``,
  so "no activity for five years" holds across created_at, last_login_at, activity_events,
  applications, messages sent and assessments. ``last_login_at`` equals the account's last activity
  and its last activity event is a ``login`` at that instant.
* Rows are written with binary ``COPY`` built column-wise with numpy (no per-row Python for the big
  tables), in chunks of ``CHUNK_ACCOUNTS`` accounts, all in one transaction, then ``ANALYZE``.
  Within that transaction the load follows PostgreSQL's bulk-loading advice: primary keys, unique
  and foreign keys and indexes of ``app`` are dropped, the (empty) tables truncated so that COPY can
  FREEZE, and everything is recreated from its own catalog definition before commit; nobody ever
  sees the schema without them and a failed load rolls all of it back. At 1M accounts this is
  about 3x faster than loading through the indexes and foreign-key triggers.
* Identity ids are assigned by PostgreSQL in COPY order: the generator only loads into an empty
  schema, restarts the identities (so ids run from 1) and checks that the ids it relied on are
  contiguous.
* IP addresses come from reserved ranges (100.64.0.0/10 shared address space, 2001:db8::/32
  documentation prefix), e-mails from ``example.fr``/``example.com``: no real person's data.
"""

from __future__ import annotations

import argparse
import json
import re
import struct
import sys
import time
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

DEFAULT_AS_OF = "2026-06-15T00:00:00+00:00"
CHUNK_ACCOUNTS = 50_000
WRITE_FILES_MAX_ACCOUNTS = 50_000
LOG_BLOCK_ROWS = 400_000

APP_TABLES = (
    "accounts",
    "projects",
    "education",
    "experiences",
    "languages",
    "documents",
    "applications",
    "assessments",
    "messages",
    "activity_events",
    "connection_logs",
    "prospects",
)

# --------------------------------------------------------------------------------------------------
# Time: every instant is an int64 of microseconds since 2000-01-01 UTC (PostgreSQL's binary epoch).
# --------------------------------------------------------------------------------------------------
PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
PG_EPOCH_DATE = date(2000, 1, 1)
SECOND = 1_000_000
HOUR = 3600 * SECOND
DAY = 86_400 * SECOND
NULL_TS = np.iinfo(np.int64).min
NULL_DATE = np.iinfo(np.int32).min


def to_us(instant: datetime) -> int:
    """Microseconds since the PostgreSQL epoch for an aware datetime."""
    delta = instant - PG_EPOCH
    return (delta.days * 86_400 + delta.seconds) * SECOND + delta.microseconds


def from_us(value: int) -> datetime:
    return PG_EPOCH + timedelta(microseconds=int(value))


def date_to_days(day: date) -> int:
    return (day - PG_EPOCH_DATE).days


def days_to_date(days: int) -> date:
    return PG_EPOCH_DATE + timedelta(days=int(days))


def _subtract_years(instant: datetime, years: int) -> datetime:
    # Same calendar arithmetic as retention.window.subtract_years (29 Feb -> 28 Feb).
    try:
        return instant.replace(year=instant.year - years)
    except ValueError:
        return instant.replace(year=instant.year - years, day=28)


def _parse_as_of(value: str | datetime) -> datetime:
    from retention.window import parse_as_of

    try:
        return parse_as_of(value)
    except ValueError as exc:
        raise SyntheticDataError(str(exc)) from None


# --------------------------------------------------------------------------------------------------
# Binary COPY encoding, column-wise.
# --------------------------------------------------------------------------------------------------
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
COPY_TRAILER = b"\xff\xff"
_FIXED = {"int8": (">i8", 8), "int4": (">i4", 4), "bool": ("u1", 1), "ts": (">i8", 8), "date": (">i4", 4)}


class SyntheticDataError(ValueError):
    """Bad arguments or a target that is not an empty app schema: nothing was written."""


class Col(NamedTuple):
    """One column of a block: ``kind`` in int8/int4/bool/ts/date/num52/bytes.

    ``bytes`` columns hold a ``(n, width)`` uint8 matrix and the used ``lengths``; ``null`` marks NULLs.
    ``num52`` holds hundredths (numeric(5,2) value * 100) as integers.
    """

    kind: str
    values: np.ndarray
    null: np.ndarray | None = None
    lengths: np.ndarray | None = None


def text_col(values: np.ndarray, null: np.ndarray | None = None) -> Col:
    """A text column from a numpy ``S`` array of UTF-8 bytes."""
    values = np.ascontiguousarray(values)
    if values.dtype.kind != "S":
        raise TypeError("text columns need a numpy bytes (S) array")
    if values.dtype.itemsize == 0:
        values = values.astype("S1")
    n, width = len(values), values.dtype.itemsize
    return Col("bytes", values.view(np.uint8).reshape(n, width), null, np.strings.str_len(values))


def ts_col(values: np.ndarray) -> Col:
    values = np.asarray(values, dtype=np.int64)
    null = values == NULL_TS
    return Col("ts", values, null if null.any() else None)


def date_col(values: np.ndarray) -> Col:
    values = np.asarray(values, dtype=np.int32)
    null = values == NULL_DATE
    return Col("date", values, null if null.any() else None)


def encode_rows(cols: Sequence[Col]) -> bytes:
    """The binary COPY tuples (no header/trailer) for equally long columns."""
    n = len(cols[0].values)
    if n == 0:
        return b""
    widths = []
    for col in cols:
        if len(col.values) != n:
            raise ValueError("columns of one block must have the same length")
        if col.kind in _FIXED:
            widths.append(_FIXED[col.kind][1])
        elif col.kind == "num52":
            widths.append(12)
        elif col.kind == "bytes":
            widths.append(col.values.shape[1])
        else:
            raise ValueError(f"unknown column kind {col.kind!r}")
    row_width = 2 + sum(4 + w for w in widths)
    buf = np.empty((n, row_width), dtype=np.uint8)
    buf[:, 0:2] = np.frombuffer(struct.pack(">h", len(cols)), dtype=np.uint8)
    keep: np.ndarray | None = None
    offset = 2
    for col, width in zip(cols, widths, strict=True):
        if col.kind in _FIXED:
            payload = np.ascontiguousarray(col.values.astype(_FIXED[col.kind][0])).view(np.uint8)
            lengths = np.full(n, width, dtype=np.int32)
        elif col.kind == "num52":
            hundredths = np.asarray(col.values, dtype=np.int64)
            digits = np.empty((n, 6), dtype=">i2")
            digits[:, 0] = 2  # ndigits (base 10000): integer part, fraction
            digits[:, 1] = 0  # weight
            digits[:, 2] = np.where(hundredths < 0, 0x4000, 0)  # sign
            digits[:, 3] = 2  # dscale
            digits[:, 4] = np.abs(hundredths) // 100
            digits[:, 5] = (np.abs(hundredths) % 100) * 100
            payload = digits.view(np.uint8)
            lengths = np.full(n, 12, dtype=np.int32)
        else:
            payload = col.values
            lengths = np.asarray(col.lengths, dtype=np.int32)
        payload = payload.reshape(n, width)
        if col.null is not None:
            lengths = np.where(col.null, np.int32(-1), lengths)
        buf[:, offset : offset + 4] = lengths.astype(">i4").view(np.uint8).reshape(n, 4)
        buf[:, offset + 4 : offset + 4 + width] = payload
        if col.kind == "bytes" or col.null is not None:
            if keep is None:
                keep = np.ones((n, row_width), dtype=bool)
            keep[:, offset + 4 : offset + 4 + width] = np.arange(width) < np.maximum(lengths, 0)[:, None]
        offset += 4 + width
    return buf.tobytes() if keep is None else buf[keep].tobytes()


# --------------------------------------------------------------------------------------------------
# Vocabularies and Faker pools.
# --------------------------------------------------------------------------------------------------
LEVELS = ("bac", "bac+2", "licence", "master", "doctorat")
LEVEL_WEIGHTS = (0.22, 0.23, 0.25, 0.25, 0.05)
LEVEL_AGE = (18, 20, 21, 23, 27)
SPECIALTIES = (
    "informatique", "mathématiques", "linguistique", "lettres modernes", "droit", "économie",
    "gestion", "biologie", "médecine", "psychologie", "sociologie", "langues étrangères appliquées",
    "traduction", "communication", "marketing", "histoire", "physique", "chimie", "design graphique",
    "sciences de l'éducation",
)  # fmt: skip
LANGUAGES = ("fr", "en", "es", "de", "it", "pt", "ar", "zh")
LANGUAGE_WEIGHTS = (3.0, 6.0, 2.5, 1.5, 1.2, 0.8, 1.0, 0.4)
LANGUAGE_LEVELS = ("A1", "A2", "B1", "B2", "C1", "C2", "native")
DOCUMENT_KINDS = ("cv", "cover_letter", "diploma", "certificate", "portfolio")
APPLICATION_OPEN = ("submitted", "in_review", "shortlisted", "accepted", "rejected")
APPLICATION_FINAL = ("accepted", "rejected", "withdrawn")
ASSESSMENT_CODES = (
    "ANNOT-TXT", "ANNOT-IMG", "ANNOT-AUDIO", "LANG-FR", "LANG-EN", "LANG-ES", "CODE-PY", "CODE-SQL",
    "QA-SEARCH",
)  # fmt: skip
FEATURES = (
    "login", "logout", "search_projects", "view_project", "apply", "profile_edit", "message_send",
    "message_read", "assessment_start", "assessment_complete", "download_cv", "upload_document",
)  # fmt: skip
FEATURE_WEIGHTS = (0.0, 0.08, 0.22, 0.25, 0.06, 0.07, 0.08, 0.1, 0.04, 0.035, 0.035, 0.03)
AVAILABILITY = (
    "Disponible immédiatement", "Disponible à temps partiel", "Disponible le soir et le week-end",
    "Disponible à partir du mois prochain", "Environ 10 heures par semaine", "Environ 20 heures par semaine",
    "Temps plein", "Missions ponctuelles uniquement", "Pas disponible actuellement",
    "Disponible pendant les vacances scolaires",
)  # fmt: skip
ANNOTATION_TITLES = (
    "Annotateur de données", "Annotatrice de données", "Transcripteur audio", "Évaluateur de moteur de recherche",
    "Correcteur de corpus", "Modérateur de contenus", "Étiqueteur d'images", "Relecteur de traductions",
)  # fmt: skip
PROJECT_TASKS = (
    "Annotation d'images", "Transcription audio", "Évaluation de réponses d'assistant",
    "Classification de documents", "Traduction et relecture", "Modération de contenus", "Saisie de données",
    "Étiquetage de vidéos", "Correction de textes", "Test d'applications mobiles",
)  # fmt: skip
PROJECT_DOMAINS = (
    "santé", "juridique", "e-commerce", "automobile", "assurance", "énergie", "tourisme", "éducation",
    "finance", "agriculture",
)  # fmt: skip
PROSPECT_SOURCES = ("salon_professionnel", "linkedin", "formulaire_site", "recommandation", "webinaire", "partenaire")
NATIONALITIES = ("BE", "MA", "DZ", "TN", "SN", "CI", "PT", "ES", "IT", "DE", "RO", "CM", "CA", "CH", "GB", "BR")
EU_NATIONALITIES = frozenset({"FR", "BE", "PT", "ES", "IT", "DE", "RO"})
# Countries of residence abroad, chosen for postal codes that do not look French.
ABROAD = (
    # (country, Faker locale or None, dialling code)
    ("BE", None, "32"),
    ("CH", "fr_CH", "41"),
    ("GB", "en_GB", "44"),
    ("NL", "nl_NL", "31"),
    ("PT", "pt_PT", "351"),
    ("CA", "en_CA", "1"),
)
BELGIAN_CITIES = ("Bruxelles", "Liège", "Namur", "Charleroi", "Mons", "Louvain-la-Neuve", "Tournai", "Arlon")
ACCOUNT_PATHS = (
    "/", "/login", "/logout", "/projects", "/account", "/account/profile", "/account/documents", "/messages",
    "/assessments", "/search", "/api/v1/notifications", "/api/v1/projects",
)  # fmt: skip
ACCOUNT_PATH_WEIGHTS = (0.08, 0.14, 0.04, 0.16, 0.06, 0.05, 0.03, 0.1, 0.04, 0.1, 0.12, 0.08)
VISITOR_PATHS = ("/", "/login", "/signup", "/projects", "/faq", "/robots.txt", "/mentions-legales", "/contact")
VISITOR_PATH_WEIGHTS = (0.3, 0.15, 0.1, 0.2, 0.08, 0.07, 0.05, 0.05)
# Share of the day's traffic per UTC hour (France is UTC+1/+2).
HOURLY = np.array(
    [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.5, 3, 5, 6, 6.5, 6.5, 6, 6.5, 6.5, 6, 5.5, 5, 5, 5.5, 5, 4, 3, 2],
    dtype=float,
)
HOURLY /= HOURLY.sum()


def _ascii_slug(value: str) -> str:
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", folded).strip("-") or "x"


def _s(values: Sequence[str]) -> np.ndarray:
    """UTF-8 numpy bytes array from strings."""
    return np.array([v.encode("utf-8") for v in values], dtype=bytes)


def _vocab(values: Sequence[str]) -> np.ndarray:
    return _s(values)


@dataclass(frozen=True)
class Pools:
    """Values drawn once from Faker; rows sample indexes into them."""

    first_female: np.ndarray
    first_male: np.ndarray
    first_female_slug: list[str]
    first_male_slug: list[str]
    last: np.ndarray
    last_slug: list[str]
    street: np.ndarray
    postcode: np.ndarray
    city: np.ndarray
    abroad_street: list[np.ndarray]
    abroad_postcode: list[np.ndarray]
    abroad_city: list[np.ndarray]
    company: np.ndarray
    job: np.ndarray
    sentence: np.ndarray
    message: np.ndarray
    user_agent: np.ndarray
    lycee: np.ndarray
    university: np.ndarray
    iut: np.ndarray
    diploma: np.ndarray  # index level * len(SPECIALTIES) + specialty
    project_title: np.ndarray


def build_pools(seed: int, size: int = 3000) -> Pools:
    """Faker pools, deterministic for a seed (and a Faker version)."""
    from faker import Faker

    fake = Faker("fr_FR")
    fake.seed_instance(seed)
    first_f = [fake.first_name_female() for _ in range(size // 2)]
    first_m = [fake.first_name_male() for _ in range(size // 2)]
    last = [fake.last_name() for _ in range(size)]
    street = [fake.street_address() for _ in range(size)]
    post_city = [(fake.postcode(), fake.city()) for _ in range(size)]
    company = [fake.company() for _ in range(size // 2)]
    job = [fake.job() for _ in range(size // 3)]
    sentence = [fake.sentence(nb_words=10) for _ in range(size // 2)]
    message = [" ".join(fake.sentences(nb=1 + i % 3)) for i in range(size)]
    user_agent = [fake.user_agent() for _ in range(300)]
    cities = [c for _, c in post_city]
    lycee = [f"Lycée {fake.last_name()} de {cities[i]}" for i in range(300)]
    university = [f"Université de {cities[i]}" for i in range(300, 500)] + [
        "Sorbonne Université", "Université Paris Cité", "Université Lyon 2", "Aix-Marseille Université",
        "Université de Bordeaux", "Université de Strasbourg", "Université Toulouse Capitole",
    ]  # fmt: skip
    iut = [f"IUT de {cities[i]}" for i in range(500, 650)]
    abroad_street, abroad_post, abroad_city = [], [], []
    for _country, locale, _ in ABROAD:
        if locale is None:  # Faker's fr_BE postcodes are not Belgian: four digits by hand
            streets = [fake.street_address() for _ in range(200)]
            posts = [f"{1000 + (fake.random_int(0, 8999))}" for _ in range(200)]
            towns = [BELGIAN_CITIES[i % len(BELGIAN_CITIES)] for i in range(200)]
        else:
            local = Faker(locale)
            local.seed_instance(seed * 31 + len(abroad_street))
            streets = [local.street_address().replace("\n", ", ") for _ in range(200)]
            posts = [local.postcode() for _ in range(200)]
            towns = [local.city() for _ in range(200)]
        abroad_street.append(_s(streets))
        abroad_post.append(_s(posts))
        abroad_city.append(_s(towns))
    diplomas = []
    for level in LEVELS:
        for spec in SPECIALTIES:
            of = f"d'{spec}" if _ascii_slug(spec)[0] in "aeiouh" else f"de {spec}"
            diplomas.append(
                {
                    "bac": "Baccalauréat général",
                    "bac+2": f"BTS {spec}" if len(spec) % 2 else f"DUT {spec}",
                    "licence": f"Licence {of}",
                    "master": f"Master {of}",
                    "doctorat": f"Doctorat {of}",
                }[level]
            )
    titles = [f"{task} – {domain}" for task in PROJECT_TASKS for domain in PROJECT_DOMAINS]
    return Pools(
        first_female=_s(first_f),
        first_male=_s(first_m),
        first_female_slug=[_ascii_slug(v) for v in first_f],
        first_male_slug=[_ascii_slug(v) for v in first_m],
        last=_s(last),
        last_slug=[_ascii_slug(v) for v in last],
        street=_s(street),
        postcode=_s([p for p, _ in post_city]),
        city=_s(cities),
        abroad_street=abroad_street,
        abroad_postcode=abroad_post,
        abroad_city=abroad_city,
        company=_s(company),
        job=_s(job),
        sentence=_s(sentence),
        message=_s(message),
        user_agent=_s(user_agent),
        lycee=_s(lycee),
        university=_s(university),
        iut=_s(iut),
        diploma=_s(diplomas),
        project_title=_s(titles),
    )


# --------------------------------------------------------------------------------------------------
# Random streams.
# --------------------------------------------------------------------------------------------------
_STREAMS = {
    name: i
    for i, name in enumerate(
        (
            "plan", "person", "projects", "education", "experiences", "languages", "documents",
            "applications", "assessments", "messages", "activity_events", "connection_logs", "prospects",
        ),
        start=1,
    )
}  # fmt: skip


def rng_for(seed: int, stream: str, chunk: int = 0) -> np.random.Generator:
    return np.random.default_rng([int(seed), _STREAMS[stream], int(chunk)])


def _uniform_between(rng: np.random.Generator, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Integers uniformly in [low, high] (elementwise; high >= low)."""
    low = np.asarray(low, dtype=np.int64)
    span = np.asarray(high, dtype=np.int64) - low
    return low + (rng.random(np.broadcast(low, span).shape) * (span + 1)).astype(np.int64).clip(0, span)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    z = np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


# --------------------------------------------------------------------------------------------------
# The account plan: who is active, closed, inactive, deceased, on hold.
# --------------------------------------------------------------------------------------------------
ACTIVE, CLOSED, INACTIVE, DECEASED, NEAR_INSIDE, NEAR_OUTSIDE, CLOSING_LATER, EXACT_BOUNDARY = range(8)
CATEGORY_NAMES = (
    "active", "closed", "inactive", "deceased", "near_boundary_inside", "near_boundary_outside",
    "closing_after_as_of", "exact_boundary",
)  # fmt: skip
# Exact shares per chunk. Each anonymisation reason stays below the policy's 5% safety brake.
CATEGORY_SHARES = {
    CLOSED: 0.048,  # closed_at <= as_of, last activity within 5 years
    INACTIVE: 0.040,  # last activity 5 years + 30 days ago or earlier
    DECEASED: 0.007,  # deceased_reported_at <= as_of
    NEAR_INSIDE: 0.004,  # last activity 5 years - 1..45 days ago: eligible soon (notice window)
    NEAR_OUTSIDE: 0.003,  # last activity 5 years + up to 30 days ago: eligible
    CLOSING_LATER: 0.001,  # closed_at after as_of
    EXACT_BOUNDARY: 0.0005,  # last activity exactly as_of - 5 years (not "before" the cutoff)
}
LEGAL_HOLD_SHARE = 0.003  # future legal_hold_until; half of them on otherwise eligible accounts
EXPIRED_HOLD_SHARE = 0.002
POST_MORTEM_SHARE = 0.002  # future post_mortem_retain_until (all on deceased accounts)
EXPIRED_POST_MORTEM_SHARE = 0.001
NEVER_LOGGED_IN_SHARE = 0.03  # active accounts created but never used
ELIGIBLE_CATEGORIES = (CLOSED, INACTIVE, DECEASED, NEAR_OUTSIDE)


def _category_counts(n: int) -> dict[int, int]:
    counts = {cat: int(round(share * n)) for cat, share in CATEGORY_SHARES.items()}
    counts[ACTIVE] = n - sum(counts.values())
    return counts


def _pick(rng: np.random.Generator, pool: np.ndarray, k: int) -> np.ndarray:
    k = min(k, len(pool))
    return rng.choice(pool, size=k, replace=False) if k else np.empty(0, dtype=np.int64)


def plan_chunk(seed: int, as_of: datetime, chunk: int, n: int) -> dict[str, np.ndarray]:
    """The life of ``n`` accounts of chunk ``chunk``: timestamps as int64 microseconds, dates as int32 days.

    Keys: category, created, last_active, logged_in, closed, deceased, post_mortem, legal_hold,
    engagement, birth. ``last_active`` is the latest activity of any kind; NULL_TS/NULL_DATE mark NULLs.
    """
    rng = rng_for(seed, "plan", chunk)
    a = to_us(as_of)
    a_day = date_to_days(as_of.date())
    cut5 = to_us(_subtract_years(as_of, 5))
    start = to_us(_subtract_years(as_of, 9))
    counts = _category_counts(n)
    category = rng.permutation(np.repeat(np.array(list(counts), dtype=np.int8), list(counts.values())))
    u, v = rng.random(n), rng.random(n)
    created = np.empty(n, dtype=np.int64)
    last = np.empty(n, dtype=np.int64)
    closed = np.full(n, NULL_TS, dtype=np.int64)
    deceased = np.full(n, NULL_TS, dtype=np.int64)
    logged_in = np.ones(n, dtype=bool)

    def grow(low: int, high: int, sel: np.ndarray) -> np.ndarray:
        # The platform grows: more accounts were created recently (density rising linearly).
        return (low + (high - low) * np.sqrt(u[sel])).astype(np.int64)

    # Active (and closing after as_of): last activity skewed towards as_of, always within 5 years - 46 days.
    sel = (category == ACTIVE) | (category == CLOSING_LATER)
    created[sel] = grow(start, a - HOUR, sel)
    low = np.maximum(created[sel], cut5 + 46 * DAY)
    last[sel] = a - ((a - low) * v[sel] ** 2).astype(np.int64)
    never = sel & (category == ACTIVE) & (rng.random(n) < NEVER_LOGGED_IN_SHARE)
    created[never] = _uniform_between(rng, np.full(never.sum(), cut5 + 46 * DAY), a - HOUR)
    last[never] = created[never]
    logged_in[never] = False
    sel = category == CLOSING_LATER
    closed[sel] = a + _uniform_between(rng, np.full(sel.sum(), DAY), 60 * DAY)

    sel = category == CLOSED
    created[sel] = grow(start, a - 30 * DAY, sel)
    closed[sel] = _uniform_between(rng, np.maximum(created[sel] + DAY, a - 4 * 365 * DAY), a)
    last[sel] = _uniform_between(rng, np.maximum(created[sel], cut5 + DAY), closed[sel])

    sel = category == DECEASED
    created[sel] = grow(start, a - 60 * DAY, sel)
    deceased[sel] = _uniform_between(rng, np.maximum(created[sel] + DAY, a - 3 * 365 * DAY), a - DAY)
    last[sel] = _uniform_between(rng, np.maximum(created[sel], cut5 + DAY), deceased[sel])

    sel = category == INACTIVE
    created[sel] = _uniform_between(rng, np.full(sel.sum(), start), cut5 - 30 * DAY)
    last[sel] = created[sel] + ((cut5 - 30 * DAY - created[sel]) * v[sel]).astype(np.int64)
    never = sel & (rng.random(n) < 0.1)
    last[never] = created[never]
    logged_in[never] = False

    for cat, low_off, high_off in (
        (NEAR_INSIDE, DAY, 45 * DAY),
        (NEAR_OUTSIDE, -30 * DAY, -SECOND),
        (EXACT_BOUNDARY, 0, 0),
    ):
        sel = category == cat
        created[sel] = _uniform_between(rng, np.full(sel.sum(), start), cut5 - 60 * DAY)
        last[sel] = cut5 + _uniform_between(rng, np.full(sel.sum(), low_off), high_off)

    # Dates: retention holds and post-mortem instructions.
    legal_hold = np.full(n, NULL_DATE, dtype=np.int32)
    post_mortem = np.full(n, NULL_DATE, dtype=np.int32)
    eligible_idx = np.flatnonzero(np.isin(category, ELIGIBLE_CATEGORIES))
    active_idx = np.flatnonzero(category == ACTIVE)
    holds = int(round(LEGAL_HOLD_SHARE * n))
    on_eligible = _pick(rng, eligible_idx, (holds + 1) // 2)
    on_active = _pick(rng, active_idx, holds - len(on_eligible))
    held = np.concatenate([on_eligible, on_active]).astype(np.int64)
    legal_hold[held] = a_day + _uniform_between(rng, np.ones(len(held)), 1000)
    free = np.setdiff1d(np.arange(n), held)
    expired = _pick(rng, free, int(round(EXPIRED_HOLD_SHARE * n)))
    legal_hold[expired] = a_day - _uniform_between(rng, np.ones(len(expired)), 1500)
    dead = np.flatnonzero(category == DECEASED)
    keep = _pick(rng, dead, int(round(POST_MORTEM_SHARE * n)))
    post_mortem[keep] = a_day + _uniform_between(rng, np.full(len(keep), 30), 3 * 365)
    rest = np.setdiff1d(dead, keep)
    lapsed = _pick(rng, rest, int(round(EXPIRED_POST_MORTEM_SHARE * n)))
    if len(lapsed):
        post_mortem[lapsed] = ((deceased[lapsed] // DAY) + _uniform_between(rng, np.zeros(len(lapsed)), 30)).clip(
            max=a_day - 1
        )

    engagement = rng.lognormal(0.0, 0.8, n)
    engagement /= np.exp(0.32)  # mean 1
    age_days = _uniform_between(rng, np.full(n, 18 * 366), 60 * 365)
    birth = ((created // DAY) - age_days).astype(np.int32)
    return {
        "category": category,
        "created": created,
        "last_active": last,
        "logged_in": logged_in,
        "closed": closed,
        "deceased": deceased,
        "post_mortem": post_mortem,
        "legal_hold": legal_hold,
        "engagement": engagement,
        "birth": birth,
    }


def eligible_mask(plan: dict[str, np.ndarray], as_of: datetime, inactivity_years: int = 5) -> np.ndarray:
    """Accounts a first nightly run at ``as_of`` should anonymise (rules of the policy, on the plan)."""
    a = to_us(as_of)
    a_day = date_to_days(as_of.date())
    cutoff = to_us(_subtract_years(as_of, inactivity_years))
    closed = (plan["closed"] != NULL_TS) & (plan["closed"] <= a)
    dead = (plan["deceased"] != NULL_TS) & (plan["deceased"] <= a)
    inactive = plan["last_active"] < cutoff
    held = plan["legal_hold"] >= a_day  # a hold until today still holds (NULL_DATE is below any day)
    kept = plan["post_mortem"] >= a_day
    return (closed | dead | inactive) & ~held & ~kept


def _concat_plans(plans: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([p[key] for p in plans]) for key in plans[0]}


# --------------------------------------------------------------------------------------------------
# Row generators (pure: arrays in, arrays out). ``plan`` is the slice of the chunk's accounts.
# --------------------------------------------------------------------------------------------------
def _owners(counts: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(counts)), counts)


def _times_in_window(rng: np.random.Generator, plan: dict[str, np.ndarray], owner: np.ndarray) -> np.ndarray:
    return _uniform_between(rng, plan["created"][owner], plan["last_active"][owner])


def account_rows(pools: Pools, seed: int, chunk: int, first_number: int, plan: dict[str, np.ndarray]) -> list[Col]:
    """Columns of app.accounts (``first_number`` is the 1-based rank of the chunk's first account)."""
    rng = rng_for(seed, "person", chunk)
    n = len(plan["created"])
    female = rng.random(n) < 0.5
    fi_f = rng.integers(0, len(pools.first_female), n)
    fi_m = rng.integers(0, len(pools.first_male), n)
    li = rng.integers(0, len(pools.last), n)
    first = np.where(female, pools.first_female[fi_f], pools.first_male[fi_m])
    numbers = np.arange(first_number, first_number + n)
    first_slug = [
        pools.first_female_slug[f] if is_f else pools.first_male_slug[m]
        for is_f, f, m in zip(female.tolist(), fi_f.tolist(), fi_m.tolist(), strict=True)
    ]
    last_slug = [pools.last_slug[i] for i in li.tolist()]
    emails = [f"{f}.{la}.{k}@example.fr" for f, la, k in zip(first_slug, last_slug, numbers.tolist(), strict=True)]
    tags = rng.integers(0, 16**6, n).tolist()
    has_linkedin = rng.random(n) < 0.4
    linkedin = [
        f"https://www.linkedin.com/in/{f}-{la}-{t:06x}" if h else ""
        for f, la, t, h in zip(first_slug, last_slug, tags, has_linkedin.tolist(), strict=True)
    ]

    abroad = rng.random(n) < 0.05
    country_idx = rng.integers(0, len(ABROAD), n)
    street = pools.street[rng.integers(0, len(pools.street), n)]
    place = rng.integers(0, len(pools.city), n)
    postcode, city = pools.postcode[place], pools.city[place]
    country = np.full(n, b"FR", dtype="S2")
    for c, (code, _, _) in enumerate(ABROAD):
        sel = abroad & (country_idx == c)
        k = int(sel.sum())
        if not k:
            continue
        pick = rng.integers(0, len(pools.abroad_street[c]), k)
        street = street.astype(f"S{max(street.dtype.itemsize, pools.abroad_street[c].dtype.itemsize)}")
        postcode = postcode.astype(f"S{max(postcode.dtype.itemsize, pools.abroad_postcode[c].dtype.itemsize)}")
        city = city.astype(f"S{max(city.dtype.itemsize, pools.abroad_city[c].dtype.itemsize)}")
        street[sel] = pools.abroad_street[c][pick]
        postcode[sel] = pools.abroad_postcode[c][pick]
        city[sel] = pools.abroad_city[c][pick]
        country[sel] = code.encode()

    digits = rng.integers(0, 10**8, n).tolist()
    prefix = rng.choice(np.array([1, 2, 3, 4, 5, 6, 6, 6, 7, 7, 9]), n).tolist()
    intl = (rng.random(n) < 0.3).tolist()
    phones = []
    for d, p, i, ab, c in zip(digits, prefix, intl, abroad.tolist(), country_idx.tolist(), strict=True):
        s = f"{d:08d}"
        if ab:
            phones.append(f"+{ABROAD[c][2]} {p}{s[:2]} {s[2:5]} {s[5:]}")
        elif i:
            phones.append(f"+33 {p} {s[0:2]} {s[2:4]} {s[4:6]} {s[6:8]}")
        else:
            phones.append(f"0{p} {s[0:2]} {s[2:4]} {s[4:6]} {s[6:8]}")
    phone_null = rng.random(n) < 0.08

    nat_foreign = rng.random(n) < 0.12
    nationality = np.full(n, b"FR", dtype="S2")
    foreign_codes = np.array([c.encode() for c in NATIONALITIES], dtype="S2")
    nationality[nat_foreign] = foreign_codes[rng.integers(0, len(foreign_codes), int(nat_foreign.sum()))]
    lives_home = abroad & (rng.random(n) < 0.6)
    nationality[lives_home] = country[lives_home]
    eu = np.isin(nationality, np.array([c.encode() for c in EU_NATIONALITIES], dtype="S2"))
    work_auth = eu | (rng.random(n) < 0.7)
    work_null = rng.random(n) < 0.02
    avail_vocab = _vocab(AVAILABILITY)
    availability = avail_vocab[rng.integers(0, len(avail_vocab), n)]
    avail_null = rng.random(n) < 0.2
    last_login = np.where(plan["logged_in"], plan["last_active"], NULL_TS)
    return [
        text_col(_s(emails)),
        text_col(first),
        text_col(pools.last[li]),
        text_col(_s(phones), phone_null),
        text_col(street),
        text_col(postcode),
        text_col(city),
        text_col(country),
        date_col(plan["birth"]),
        text_col(nationality),
        text_col(_s(linkedin), ~has_linkedin),
        Col("bool", work_auth, work_null),
        text_col(availability, avail_null),
        ts_col(plan["created"]),
        ts_col(last_login),
        ts_col(plan["closed"]),
        ts_col(plan["deceased"]),
        date_col(plan["post_mortem"]),
        date_col(plan["legal_hold"]),
        ts_col(np.full(n, NULL_TS, dtype=np.int64)),
    ]


ACCOUNT_COLUMNS = (
    "email", "first_name", "last_name", "phone", "address_line", "postal_code", "city", "country_code",
    "birth_date", "nationality", "linkedin_url", "work_authorisation", "availability", "created_at",
    "last_login_at", "closed_at", "deceased_reported_at", "post_mortem_retain_until", "legal_hold_until",
    "anonymised_at",
)  # fmt: skip


def project_rows(pools: Pools, seed: int, as_of: datetime, count: int) -> tuple[list[Col], np.ndarray]:
    """Columns of app.projects and the published_at of each (NULL_TS for drafts), in id order."""
    rng = rng_for(seed, "projects")
    a = to_us(as_of)
    first = to_us(_subtract_years(as_of, 9)) - 30 * DAY
    published = np.sort(first + ((a - DAY - first) * np.sqrt(rng.random(count))).astype(np.int64))
    published[0] = first  # every application has a project published before it
    drafts = max(1, int(round(0.05 * count)))
    draft_idx = rng.choice(np.arange(max(1, count - 3 * drafts), count), size=drafts, replace=False)
    published[draft_idx] = NULL_TS
    closed = np.full(count, NULL_TS, dtype=np.int64)
    old = (published != NULL_TS) & (published < a - 60 * DAY) & (rng.random(count) < 0.85)
    closed[old] = published[old] + _uniform_between(rng, np.full(int(old.sum()), 30 * DAY), 400 * DAY)
    closed[closed > a] = NULL_TS
    cols = [
        text_col(pools.company[rng.integers(0, len(pools.company), count)]),
        text_col(pools.project_title[rng.integers(0, len(pools.project_title), count)]),
        ts_col(published),
        ts_col(closed),
    ]
    return cols, published


def education_rows(
    pools: Pools, seed: int, chunk: int, plan: dict[str, np.ndarray], ids: np.ndarray, as_of: datetime
) -> list[Col]:
    rng = rng_for(seed, "education", chunk)
    counts = rng.choice(4, size=len(ids), p=[0.15, 0.35, 0.35, 0.15])
    owner = _owners(counts)
    m = len(owner)
    level = rng.choice(len(LEVELS), size=m, p=LEVEL_WEIGHTS)
    spec = rng.integers(0, len(SPECIALTIES), m)
    birth_year = 2000 + plan["birth"][owner] // 365.25
    year = (birth_year + np.array(LEVEL_AGE)[level] + rng.integers(0, 4, m)).astype(np.int64)
    year = np.minimum(year, as_of.year)
    school = np.where(
        level == 0,
        pools.lycee[rng.integers(0, len(pools.lycee), m)],
        np.where(
            level == 1,
            pools.iut[rng.integers(0, len(pools.iut), m)],
            pools.university[rng.integers(0, len(pools.university), m)],
        ),
    )
    level_vocab, spec_vocab = _vocab(LEVELS), _vocab(SPECIALTIES)
    return [
        Col("int8", ids[owner]),
        text_col(school, rng.random(m) < 0.05),
        text_col(spec_vocab[spec], level == 0),
        text_col(level_vocab[level]),
        text_col(pools.diploma[level * len(SPECIALTIES) + spec]),
        Col("int4", year, rng.random(m) < 0.03),
    ]


def experience_rows(
    pools: Pools, seed: int, chunk: int, plan: dict[str, np.ndarray], ids: np.ndarray, as_of: datetime
) -> list[Col]:
    rng = rng_for(seed, "experiences", chunk)
    a_day = date_to_days(as_of.date())
    counts = rng.choice(5, size=len(ids), p=[0.15, 0.3, 0.25, 0.2, 0.1])
    owner = _owners(counts)
    m = len(owner)
    annotation = rng.random(m) < 0.25
    titles = np.where(
        annotation,
        _vocab(ANNOTATION_TITLES)[rng.integers(0, len(ANNOTATION_TITLES), m)],
        pools.job[rng.integers(0, len(pools.job), m)],
    )
    adult = plan["birth"][owner].astype(np.int64) + 18 * 366
    started = _uniform_between(rng, adult, np.maximum(adult, a_day - 30))
    ended = started + _uniform_between(rng, np.full(m, 30), 2500)
    current = (ended > a_day) | (rng.random(m) < 0.12)
    ended = np.where(current, NULL_DATE, ended)
    return [
        Col("int8", ids[owner]),
        text_col(titles),
        text_col(pools.company[rng.integers(0, len(pools.company), m)]),
        Col("bool", annotation),
        date_col(started),
        date_col(ended),
        text_col(pools.sentence[rng.integers(0, len(pools.sentence), m)], rng.random(m) < 0.3),
    ]


def language_rows(seed: int, chunk: int, ids: np.ndarray) -> list[Col]:
    rng = rng_for(seed, "languages", chunk)
    n = len(ids)
    counts = rng.choice(np.arange(1, 5), size=n, p=[0.3, 0.4, 0.2, 0.1])
    weights = np.array(LANGUAGE_WEIGHTS) / sum(LANGUAGE_WEIGHTS)
    # Weighted distinct languages per account: Gumbel-top-k keys; French first for most.
    keys = np.log(np.maximum(weights, 1e-12)) + rng.gumbel(size=(n, len(LANGUAGES)))
    francophone = rng.random(n) < 0.92
    keys[francophone, 0] = np.inf
    order = np.argsort(-keys, axis=1, kind="stable")
    owner = _owners(counts)
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    lang = order[owner, rank]
    level = rng.integers(0, 6, len(owner))
    level = np.where(rng.random(len(owner)) < 0.5, np.maximum(level, 2), level)
    level = np.where(rank == 0, 6, level)  # first language: native
    return [
        Col("int8", ids[owner]),
        text_col(_vocab(LANGUAGES)[lang]),
        text_col(_vocab(LANGUAGE_LEVELS)[level]),
    ]


def document_rows(
    seed: int, chunk: int, plan: dict[str, np.ndarray], ids: np.ndarray, documents_dir: Path
) -> tuple[list[Col], list[tuple[str, str]]]:
    """Columns of app.documents and, per row, the file's path relative to ``documents_dir`` and its kind.

    ``storage_uri`` is ``file://<absolute documents_dir>/<account_id>/<32 hex digits>.pdf`` (RFC 8089,
    as ``Path.as_uri`` writes it: characters outside the URI alphabet are percent-encoded).
    """
    rng = rng_for(seed, "documents", chunk)
    counts = rng.choice(3, size=len(ids), p=[0.35, 0.5, 0.15])
    owner = _owners(counts)
    m = len(owner)
    rank = np.arange(m) - np.repeat(np.cumsum(counts) - counts, counts)
    kind = np.where(rank == 0, 0, rng.integers(1, len(DOCUMENT_KINDS), m))
    uploaded = _times_in_window(rng, plan, owner)
    hi = rng.integers(0, 2**63, m, dtype=np.int64).tolist()
    lo = rng.integers(0, 2**63, m, dtype=np.int64).tolist()
    base_uri = documents_dir.resolve().as_uri().rstrip("/")
    kinds = [DOCUMENT_KINDS[k] for k in kind.tolist()]
    files = [
        (f"{account_id}/{h:016x}{low:016x}.pdf", k)
        for account_id, h, low, k in zip(ids[owner].tolist(), hi, lo, kinds, strict=True)
    ]
    uris = [f"{base_uri}/{name}" for name, _ in files]
    cols = [
        Col("int8", ids[owner]),
        text_col(_vocab(DOCUMENT_KINDS)[kind]),
        text_col(_s(uris)),
        ts_col(uploaded),
    ]
    return cols, files


def _activity_counts(rng: np.random.Generator, plan: dict[str, np.ndarray], mean: float) -> np.ndarray:
    lam = mean * plan["engagement"] * plan["logged_in"]
    return rng.poisson(lam)


def application_rows(
    seed: int,
    chunk: int,
    plan: dict[str, np.ndarray],
    ids: np.ndarray,
    as_of: datetime,
    published: np.ndarray,
    project_ids: np.ndarray,
) -> list[Col]:
    """Applications to projects published in the year before (``published`` sorted, drafts excluded)."""
    rng = rng_for(seed, "applications", chunk)
    a = to_us(as_of)
    owner = _owners(_activity_counts(rng, plan, 3.0))
    m = len(owner)
    applied = _times_in_window(rng, plan, owner)
    hi = np.searchsorted(published, applied, side="right")
    lo = np.searchsorted(published, applied - 365 * DAY, side="left")
    hi = np.maximum(hi, 1)
    lo = np.minimum(lo, hi - 1)
    project = project_ids[lo + (rng.random(m) * (hi - lo)).astype(np.int64)]
    score = np.clip(np.round(rng.normal(6500, 1800, m)), 0, 10000).astype(np.int64)
    final = applied < a - 90 * DAY
    status_open = rng.choice(len(APPLICATION_OPEN), size=m, p=[0.35, 0.3, 0.15, 0.08, 0.12])
    status_final = rng.choice(len(APPLICATION_FINAL), size=m, p=[0.2, 0.7, 0.1])
    status = np.where(final, _vocab(APPLICATION_FINAL)[status_final], _vocab(APPLICATION_OPEN)[status_open])
    return [
        Col("int8", ids[owner]),
        Col("int8", project),
        ts_col(applied),
        Col("num52", score),
        text_col(status),
    ]


def assessment_rows(seed: int, chunk: int, plan: dict[str, np.ndarray], ids: np.ndarray) -> list[Col]:
    rng = rng_for(seed, "assessments", chunk)
    counts = rng.choice(3, size=len(ids), p=[0.5, 0.3, 0.2]) * plan["logged_in"]
    owner = _owners(counts)
    m = len(owner)
    score = np.clip(np.round(rng.normal(6800, 2000, m)), 0, 10000).astype(np.int64)
    return [
        Col("int8", ids[owner]),
        text_col(_vocab(ASSESSMENT_CODES)[rng.integers(0, len(ASSESSMENT_CODES), m)]),
        Col("num52", score, rng.random(m) < 0.03),
        ts_col(_times_in_window(rng, plan, owner)),
    ]


def message_rows(
    pools: Pools, seed: int, chunk: int, plan: dict[str, np.ndarray], ids: np.ndarray, first_id: int, total: int
) -> list[Col]:
    rng = rng_for(seed, "messages", chunk)
    owner = _owners(_activity_counts(rng, plan, 2.0))
    m = len(owner)
    sender = ids[owner]
    recipient = first_id + rng.integers(0, total, m)
    recipient = np.where(recipient == sender, first_id + (recipient - first_id + 1) % total, recipient)
    sent = _times_in_window(rng, plan, owner)
    order = np.lexsort((sent, owner))
    return [
        Col("int8", sender[order]),
        Col("int8", recipient[order], None if total > 1 else np.ones(m, dtype=bool)),
        text_col(pools.message[rng.integers(0, len(pools.message), m)]),
        ts_col(sent[order]),
    ]


EVENTS_PER_SESSION = 5


def event_rows(seed: int, chunk: int, plan: dict[str, np.ndarray], ids: np.ndarray) -> list[Col]:
    """Activity events per account in time order, in sessions that start with a ``login``.

    The account's last event is a ``login`` at its ``last_login_at`` (its last activity).
    """
    rng = rng_for(seed, "activity_events", chunk)
    counts = _activity_counts(rng, plan, 20.0)
    owner = _owners(counts)
    m = len(owner)
    rank = np.arange(m) - np.repeat(np.cumsum(counts) - counts, counts)
    first_of_session = rank % EVENTS_PER_SESSION == 0
    session = np.cumsum(first_of_session) - 1
    starts = _times_in_window(rng, plan, owner[first_of_session])
    step = rng.integers(20 * SECOND, 6 * 60 * SECOND, m)
    step[first_of_session] = 0
    offset = np.cumsum(step) - np.repeat(np.cumsum(step)[first_of_session], np.bincount(session))
    when = np.minimum(starts[session] + offset, plan["last_active"][owner])
    feature = rng.choice(len(FEATURES), size=m, p=np.array(FEATURE_WEIGHTS) / sum(FEATURE_WEIGHTS))
    feature[first_of_session] = 0
    order = np.lexsort((rank, when, owner))
    when, feature = when[order], feature[order]
    last_of = np.cumsum(counts)[counts > 0] - 1
    when[last_of] = plan["last_active"][owner[last_of]]
    feature[last_of] = 0
    return [
        Col("int8", ids[owner]),
        text_col(_vocab(FEATURES)[feature]),
        ts_col(when),
    ]


def _inet_matrix(hashes: np.ndarray, v6: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Binary inet values: 100.64.0.0/10 for IPv4, 2001:db8::/32 for IPv6."""
    m = len(hashes)
    out = np.zeros((m, 20), dtype=np.uint8)
    lengths = np.where(v6, 20, 8).astype(np.int32)
    out[:, 0] = np.where(v6, 3, 2)  # PGSQL_AF_INET / PGSQL_AF_INET6
    out[:, 1] = np.where(v6, 128, 32)
    out[:, 3] = np.where(v6, 16, 4)
    v4 = (np.uint64(0x64400000) | (hashes & np.uint64(0x3FFFFF))).astype(">u4").view(np.uint8).reshape(m, 4)
    second = _splitmix64(hashes)
    v6_bytes = np.concatenate(
        [
            np.tile(np.array([0x20, 0x01, 0x0D, 0xB8], dtype=np.uint8), (m, 1)),
            (hashes >> np.uint64(32)).astype(">u4").view(np.uint8).reshape(m, 4),
            second.astype(">u8").view(np.uint8).reshape(m, 8),
        ],
        axis=1,
    )
    out[:, 4:8] = np.where(v6[:, None], v6_bytes[:, :4], v4)
    out[:, 8:20] = np.where(v6[:, None], v6_bytes[:, 4:], 0)
    return out, lengths


def log_rates(plan: dict[str, np.ndarray]) -> np.ndarray:
    """Connection rate of each account: its engagement spread over its activity window (a week at least)."""
    window = np.maximum(plan["last_active"] - plan["created"], 7 * DAY).astype(np.float64)
    return plan["engagement"] / window * DAY


def log_day_counts(
    seed: int,
    as_of: datetime,
    created: np.ndarray,
    last_active: np.ndarray,
    rates: np.ndarray,
    total: int,
    log_days: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows per day (oldest first): account rows follow the rates of the accounts active that day,
    visitors (about 12%) spread evenly; both quieter at weekends."""
    rng = rng_for(seed, "connection_logs", 0)
    a = to_us(as_of)
    period_start = a - log_days * DAY
    t0 = period_start + np.arange(log_days) * DAY
    first_day = np.clip((created - period_start) // DAY, 0, log_days)
    last_day = (last_active - period_start) // DAY
    inside = (last_day >= 0) & (first_day < log_days)
    last_day = np.minimum(last_day, log_days - 1)
    diff = np.bincount(first_day[inside], rates[inside], log_days + 1)
    diff -= np.bincount(last_day[inside] + 1, rates[inside], log_days + 1)
    active = np.maximum(np.cumsum(diff)[:log_days], 0)
    weekday = np.array([1.0, 1.0, 1.0, 1.0, 0.95, 0.7, 0.65])[((t0 // DAY) + 5) % 7]  # 2000-01-01 was a Saturday
    weights = active * weekday
    accounts_total = int(round(total * 0.88)) if weights.sum() > 0 else 0
    per_day = rng.multinomial(accounts_total, weights / weights.sum()) if accounts_total else np.zeros(log_days, int)
    visitors = rng.multinomial(total - accounts_total, weekday / weekday.sum())
    return per_day, visitors


def log_rows_for_day(
    rng: np.random.Generator,
    day_start: int,
    n_accounts: int,
    n_visitors: int,
    order_by_created: np.ndarray,
    created_sorted: np.ndarray,
    last_by_created: np.ndarray,
    rate_by_created: np.ndarray,
    first_id: int,
    ua_count: int,
    salt: int,
) -> dict[str, np.ndarray]:
    """One day of connection logs, sorted by time (account rows inside each account's activity window).

    The ``*_by_created`` arrays describe the accounts in order of creation (``order_by_created``).
    """
    t1 = day_start + DAY
    prefix = int(np.searchsorted(created_sorted, t1, side="left"))
    chosen = np.empty(0, dtype=np.int64)
    if n_accounts:
        candidates = np.flatnonzero(last_by_created[:prefix] >= day_start)
        cdf = np.cumsum(rate_by_created[candidates])
        picks = np.searchsorted(cdf, rng.random(n_accounts) * cdf[-1], side="right")
        chosen = candidates[np.minimum(picks, len(candidates) - 1)]
    n_acc = len(chosen)
    lo = np.maximum(created_sorted[chosen], day_start)
    hi = np.minimum(last_by_created[chosen], t1 - 1)
    m = n_acc + n_visitors
    offsets = rng.choice(24, size=m, p=HOURLY) * HOUR + rng.integers(0, HOUR, m)
    when = day_start + offsets
    inside = (when[:n_acc] >= lo) & (when[:n_acc] <= hi)
    when[:n_acc] = np.where(inside, when[:n_acc], _uniform_between(rng, lo, hi))
    account = np.full(m, -1, dtype=np.int64)
    account[:n_acc] = first_id + order_by_created[chosen]
    # Each account uses a few stable devices (home, phone, work): IP and user agent follow from it.
    device = rng.choice(3, size=n_acc, p=[0.6, 0.3, 0.1])
    key = np.empty(m, dtype=np.uint64)
    key[:n_acc] = (account[:n_acc].astype(np.uint64) * np.uint64(4) + device.astype(np.uint64)) ^ np.uint64(salt)
    key[n_acc:] = rng.integers(0, 2**63, n_visitors, dtype=np.int64).astype(np.uint64) | np.uint64(1 << 63)
    hashes = _splitmix64(key)
    order = np.argsort(when, kind="stable")
    return {
        "when": when[order],
        "account": account[order],
        "hash": hashes[order],
        "visitor": (np.arange(m) >= n_acc)[order],
        "ua": (hashes % np.uint64(ua_count)).astype(np.int64)[order],
        "route": rng.random(m)[order],
    }


def log_cols(
    pools: Pools, rng: np.random.Generator, rows: dict[str, np.ndarray], project_first: int, project_count: int
) -> list[Col]:
    m = len(rows["when"])
    hashes = rows["hash"]
    v6 = (hashes >> np.uint64(56)) < np.uint64(38)  # ~15% IPv6
    inet, inet_len = _inet_matrix(hashes, v6)
    visitor = rows["visitor"]
    acc_cdf = np.cumsum(ACCOUNT_PATH_WEIGHTS) / sum(ACCOUNT_PATH_WEIGHTS)
    vis_cdf = np.cumsum(VISITOR_PATH_WEIGHTS) / sum(VISITOR_PATH_WEIGHTS)
    route = rows["route"]
    acc_path = _vocab(ACCOUNT_PATHS)[np.minimum(np.searchsorted(acc_cdf, route), len(ACCOUNT_PATHS) - 1)]
    vis_path = _vocab(VISITOR_PATHS)[np.minimum(np.searchsorted(vis_cdf, route), len(VISITOR_PATHS) - 1)]
    project_page = rng.random(m) < 0.2
    project = project_first + rng.integers(0, project_count, m)
    detail = np.strings.add(np.array([b"/projects/"]), project.astype("S"))
    path = np.where(visitor, vis_path, np.where(project_page, detail, acc_path))
    ua = pools.user_agent[rows["ua"]]
    return [
        Col("int8", rows["account"], rows["account"] < 0),
        Col("bytes", inet, None, inet_len),
        ts_col(rows["when"]),
        text_col(path),
        text_col(ua, rng.random(m) < 0.01),
    ]


def prospect_collection_times(seed: int, as_of: datetime, total: int) -> np.ndarray:
    """When each prospect was collected, over the 6 years before as_of, in id order (ascending)."""
    rng = rng_for(seed, "prospects", 0)
    a = to_us(as_of)
    return np.sort(_uniform_between(rng, np.full(total, to_us(_subtract_years(as_of, 6))), a - HOUR))


def prospect_rows(
    pools: Pools, seed: int, as_of: datetime, collected: np.ndarray, chunk: int = 0, first_number: int = 1
) -> list[Col]:
    rng = rng_for(seed, "prospects", chunk + 1)
    a = to_us(as_of)
    count = len(collected)
    female = rng.random(count) < 0.45
    fi_f = rng.integers(0, len(pools.first_female), count)
    fi_m = rng.integers(0, len(pools.first_male), count)
    li = rng.integers(0, len(pools.last), count)
    first = np.where(female, pools.first_female[fi_f], pools.first_male[fi_m])
    first_slug = [
        pools.first_female_slug[f] if is_f else pools.first_male_slug[m]
        for is_f, f, m in zip(female.tolist(), fi_f.tolist(), fi_m.tolist(), strict=True)
    ]
    numbers = range(first_number, first_number + count)
    slugs = [f"{f}.{pools.last_slug[la]}" for f, la in zip(first_slug, li.tolist(), strict=True)]
    emails = [f"{s}.p{k}@example.com" for s, k in zip(slugs, numbers, strict=True)]
    social = [f"https://www.linkedin.com/in/{s.replace('.', '-')}-p{k}" for s, k in zip(slugs, numbers, strict=True)]
    digits = rng.integers(0, 10**8, count).tolist()
    phones = [f"0{6 + d % 2} {f'{d:08d}'[0:2]} {f'{d:08d}'[2:4]} {f'{d:08d}'[4:6]} {f'{d:08d}'[6:8]}" for d in digits]
    contacted = rng.random(count) < 0.5
    last_contact = np.where(contacted, _uniform_between(rng, collected, np.full(count, a - HOUR)), NULL_TS)
    objected = rng.random(count) < 0.03
    objected_at = np.where(objected, _uniform_between(rng, collected, np.full(count, a - HOUR)), NULL_TS)
    source = _vocab(PROSPECT_SOURCES)[rng.integers(0, len(PROSPECT_SOURCES), count)]
    return [
        text_col(np.where(female, b"Mme", b"M.")),
        text_col(first),
        text_col(pools.last[li]),
        text_col(_s(emails), rng.random(count) < 0.05),
        text_col(_s(phones), rng.random(count) < 0.4),
        text_col(_s(social), rng.random(count) < 0.4),
        text_col(pools.company[rng.integers(0, len(pools.company), count)]),
        text_col(pools.job[rng.integers(0, len(pools.job), count)], rng.random(count) < 0.1),
        text_col(source),
        ts_col(collected),
        ts_col(last_contact),
        ts_col(objected_at),
    ]


TABLE_COLUMNS = {
    "accounts": ACCOUNT_COLUMNS,
    "projects": ("client_name", "title", "published_at", "closed_at"),
    "education": ("account_id", "school", "specialty", "level", "diploma", "graduation_year"),
    "experiences": ("account_id", "title", "company", "is_annotation", "started_on", "ended_on", "description"),
    "languages": ("account_id", "language", "level"),
    "documents": ("account_id", "kind", "storage_uri", "uploaded_at"),
    "applications": ("account_id", "project_id", "applied_at", "matching_score", "status"),
    "assessments": ("account_id", "assessment_code", "score", "completed_at"),
    "messages": ("sender_id", "recipient_id", "body", "sent_at"),
    "activity_events": ("account_id", "feature", "occurred_at"),
    "connection_logs": ("account_id", "ip", "occurred_at", "path", "user_agent"),
    "prospects": (
        "civility", "first_name", "last_name", "email", "phone", "social_url", "company", "job_title", "source",
        "collected_at", "last_contact_at", "objected_at",
    ),
}  # fmt: skip

DOCUMENT_CONTENT = "%PDF-1.4\n% synthetic {kind}: placeholder content, no personal data\n%%EOF\n"


# --------------------------------------------------------------------------------------------------
# Loading.
# --------------------------------------------------------------------------------------------------
class _Progress:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.started = time.perf_counter()
        self.table_started = self.started

    def start(self, table: str) -> None:
        self.table_started = time.perf_counter()

    def report(self, table: str, rows: int, done: int | None = None, of: int | None = None) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        rate = rows / max(now - self.table_started, 1e-9)
        where = f" (accounts {done:,}/{of:,})" if done is not None and of is not None else ""
        print(
            f"synthetic: {table}: {rows:,} rows{where}, {rate:,.0f} rows/s, {now - self.started:,.1f}s elapsed",
            file=sys.stderr,
            flush=True,
        )


@contextmanager
def _copy(cur: Any, table: str, freeze: bool = False) -> Iterator[Any]:
    from psycopg import sql
    from psycopg.copy import QueuedLibpqWriter

    statement = sql.SQL("copy app.{} ({}) from stdin (format binary{})").format(
        sql.Identifier(table),
        sql.SQL(", ").join(sql.Identifier(c) for c in TABLE_COLUMNS[table]),
        sql.SQL(", freeze" if freeze else ""),
    )
    with cur.copy(statement, writer=QueuedLibpqWriter(cur)) as copy:
        copy.write(COPY_HEADER)
        yield copy
        copy.write(COPY_TRAILER)


def _write(copy: Any, cols: list[Col]) -> int:
    data = encode_rows(cols)
    if data:
        copy.write(memoryview(data))
    return len(cols[0].values)


def _check_empty(cur: Any) -> None:
    from psycopg import errors, sql

    for table in APP_TABLES:
        try:
            cur.execute(sql.SQL("select exists (select 1 from app.{})").format(sql.Identifier(table)))
        except errors.UndefinedTable:
            raise SyntheticDataError(
                f"app.{table} does not exist: create the schema first "
                "(retention.appschema.create_app_schema or --create-schema)"
            ) from None
        if cur.fetchone()[0]:
            raise SyntheticDataError(
                f"app.{table} already has rows: synthetic data is only loaded into an empty app schema "
                "(use a fresh database)"
            )


def _contiguous_ids(cur: Any, table: str, expected: int) -> int:
    from psycopg import sql

    cur.execute(sql.SQL("select min(id), max(id), count(*) from app.{}").format(sql.Identifier(table)))
    low, high, count = cur.fetchone()
    if count != expected or (count and high - low + 1 != count):
        raise SyntheticDataError(f"app.{table}: expected {expected} contiguous ids, got {count} in [{low}, {high}]")
    return int(low or 1)


@dataclass
class _DeferredDDL:
    """Keys, indexes and foreign keys of the app schema, dropped for the load and recreated as they were."""

    keys: list[tuple[str, str, str]]  # (table, constraint, definition): primary keys and unique constraints
    indexes: list[str]  # CREATE INDEX statements of indexes that back no constraint
    foreign_keys: list[tuple[str, str, str]]


def _drop_keys_and_indexes(cur: Any) -> _DeferredDDL:
    """PostgreSQL's bulk-load recipe: load without indexes and foreign keys, then build them once.

    Everything happens in the loading transaction, so nobody sees the schema without them, and a
    failed load rolls the DDL back too. Per-partition objects follow their partitioned parent.
    """
    from psycopg import sql

    cur.execute(
        """
        select c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype
          from pg_constraint c
          join pg_class t on t.oid = c.conrelid
          left join pg_class r on r.oid = c.confrelid
         where c.conparentid = 0
           and ((t.relnamespace = 'app'::regnamespace and c.contype in ('p', 'u', 'f'))
                or (c.contype = 'f' and r.relnamespace = 'app'::regnamespace))
         order by c.conrelid, c.conname
        """
    )
    constraints = cur.fetchall()
    cur.execute(
        """
        select pg_get_indexdef(i.indexrelid), i.indexrelid::regclass::text
          from pg_index i
          join pg_class ic on ic.oid = i.indexrelid
         where ic.relnamespace = 'app'::regnamespace
           and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid and c.contype in ('p', 'u', 'x'))
           and not exists (select 1 from pg_inherits h where h.inhrelid = i.indexrelid)
         order by i.indexrelid
        """
    )
    indexes = cur.fetchall()
    deferred = _DeferredDDL(
        keys=[(t, n, d) for t, n, d, kind in constraints if kind in ("p", "u")],
        # A partitioned table's index definition reads "ON ONLY": recreate it with its partitions.
        indexes=[definition.replace(" ON ONLY ", " ON ", 1) for definition, _ in indexes],
        foreign_keys=[(t, n, d) for t, n, d, kind in constraints if kind == "f"],
    )
    for table, name, _ in deferred.foreign_keys + deferred.keys:
        cur.execute(
            sql.SQL("alter table {} drop constraint {}").format(sql.SQL(table), sql.Identifier(name))
        )
    for _, name in indexes:
        cur.execute(sql.SQL("drop index {}").format(sql.SQL(name)))
    return deferred


def _recreate_keys_and_indexes(cur: Any, deferred: _DeferredDDL) -> None:
    from psycopg import sql

    cur.execute("set local maintenance_work_mem = '512MB'")
    for table, name, definition in deferred.keys:
        cur.execute(
            sql.SQL("alter table {} add constraint {} {}").format(
                sql.SQL(table), sql.Identifier(name), sql.SQL(definition)
            )
        )
    for definition in deferred.indexes:
        cur.execute(sql.SQL(definition))
    for table, name, definition in deferred.foreign_keys:
        cur.execute(
            sql.SQL("alter table {} add constraint {} {}").format(
                sql.SQL(table), sql.Identifier(name), sql.SQL(definition)
            )
        )


def _write_files(documents_dir: Path, files: list[tuple[str, str]]) -> None:
    made: set[Path] = set()
    for name, kind in files:
        path = documents_dir / name
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        path.write_bytes(DOCUMENT_CONTENT.format(kind=kind).encode("ascii"))


def generate(
    conninfo: str,
    *,
    accounts: int,
    seed: int,
    as_of: str | datetime = DEFAULT_AS_OF,
    logs_per_account: float = 20,
    prospects: int | None = None,
    documents_dir: str | Path = Path("var/documents"),
    progress: bool = True,
    log_days: int = 1095,
    write_files: bool | None = None,
) -> dict[str, int]:
    """Fill an empty ``app`` schema; return the rows written per table.

    Document files are written when ``write_files`` is true, or by default when ``accounts`` is at most
    WRITE_FILES_MAX_ACCOUNTS; otherwise the rows still point under ``documents_dir``.
    """
    import psycopg
    from psycopg import sql

    if accounts < 1:
        raise SyntheticDataError("accounts must be at least 1")
    if seed < 0:
        raise SyntheticDataError("seed must be a non-negative integer")
    if log_days < 1:
        raise SyntheticDataError("log_days must be at least 1")
    if logs_per_account < 0:
        raise SyntheticDataError("logs_per_account must not be negative")
    instant = _parse_as_of(as_of)
    prospects = max(100, accounts // 5) if prospects is None else int(prospects)
    if prospects < 0:
        raise SyntheticDataError("prospects must not be negative")
    if write_files is None:
        write_files = accounts <= WRITE_FILES_MAX_ACCOUNTS
    documents_dir = Path(documents_dir).resolve()
    report = _Progress(progress)
    counts = dict.fromkeys(APP_TABLES, 0)
    chunks = [(k, k * CHUNK_ACCOUNTS, min(CHUNK_ACCOUNTS, accounts - k * CHUNK_ACCOUNTS))
              for k in range((accounts + CHUNK_ACCOUNTS - 1) // CHUNK_ACCOUNTS)]  # fmt: skip
    pools = build_pools(seed)

    with psycopg.connect(conninfo, autocommit=False) as conn:
        cur = conn.cursor()
        _check_empty(cur)
        deferred = _drop_keys_and_indexes(cur)
        # The tables are empty: truncating them in this transaction lets COPY write frozen, all-visible
        # rows (no hint-bit rewrite by the first reader) and restarts identities, so ids run from 1.
        cur.execute(
            sql.SQL("truncate {} restart identity").format(
                sql.SQL(", ").join(sql.Identifier("app", t) for t in APP_TABLES)
            )
        )
        cur.execute(
            "select relname from pg_class where relnamespace = 'app'::regnamespace and relkind = 'r' "
            "and relname = any(%s)",
            (list(APP_TABLES),),
        )
        plain_tables = {name for (name,) in cur.fetchall()}

        @contextmanager
        def copy_into(table: str) -> Iterator[Any]:
            with _copy(cur, table, freeze=table in plain_tables) as copy:
                yield copy

        # Accounts first: every other table refers to them.
        plans = []
        report.start("accounts")
        with copy_into("accounts") as copy:
            for k, start, n in chunks:
                plan = plan_chunk(seed, instant, k, n)
                plans.append(plan)
                counts["accounts"] += _write(copy, account_rows(pools, seed, k, start + 1, plan))
                report.report("accounts", counts["accounts"], start + n, accounts)
        first_id = _contiguous_ids(cur, "accounts", accounts)
        plan_all = _concat_plans(plans)
        del plans

        project_count = max(20, accounts // 200)
        report.start("projects")
        project_cols, published = project_rows(pools, seed, instant, project_count)
        with copy_into("projects") as copy:
            counts["projects"] += _write(copy, project_cols)
        first_project = _contiguous_ids(cur, "projects", project_count)
        report.report("projects", counts["projects"])
        is_published = published != NULL_TS
        published_sorted = published[is_published]
        published_ids = first_project + np.flatnonzero(is_published)

        def per_chunk(table: str, build) -> None:
            report.start(table)
            with copy_into(table) as copy:
                for k, start, n in chunks:
                    plan = {key: value[start : start + n] for key, value in plan_all.items()}
                    ids = np.arange(first_id + start, first_id + start + n, dtype=np.int64)
                    counts[table] += _write(copy, build(k, plan, ids))
                    report.report(table, counts[table], start + n, accounts)

        def documents(k: int, plan: dict[str, np.ndarray], ids: np.ndarray) -> list[Col]:
            cols, files = document_rows(seed, k, plan, ids, documents_dir)
            if write_files:
                _write_files(documents_dir, files)
            return cols

        per_chunk("education", lambda k, plan, ids: education_rows(pools, seed, k, plan, ids, instant))
        per_chunk("experiences", lambda k, plan, ids: experience_rows(pools, seed, k, plan, ids, instant))
        per_chunk("languages", lambda k, plan, ids: language_rows(seed, k, ids))
        per_chunk("documents", documents)
        per_chunk(
            "applications",
            lambda k, plan, ids: application_rows(seed, k, plan, ids, instant, published_sorted, published_ids),
        )
        per_chunk("assessments", lambda k, plan, ids: assessment_rows(seed, k, plan, ids))
        per_chunk("messages", lambda k, plan, ids: message_rows(pools, seed, k, plan, ids, first_id, accounts))
        per_chunk("activity_events", lambda k, plan, ids: event_rows(seed, k, plan, ids))

        # Connection logs, oldest first, like a real access log.
        report.start("connection_logs")
        total_logs = int(round(accounts * logs_per_account))
        if total_logs:
            rates = log_rates(plan_all)
            per_day, visitors = log_day_counts(
                seed, instant, plan_all["created"], plan_all["last_active"], rates, total_logs, log_days
            )
            order_by_created = np.argsort(plan_all["created"], kind="stable")
            created_sorted = plan_all["created"][order_by_created]
            last_by_created = plan_all["last_active"][order_by_created]
            rate_by_created = rates[order_by_created]
            a = to_us(instant)
            pending: list[dict[str, np.ndarray]] = []
            pending_rows = 0
            block = 0
            with copy_into("connection_logs") as copy:
                for day in range(log_days):
                    rng = rng_for(seed, "connection_logs", day + 1)
                    rows = log_rows_for_day(
                        rng,
                        a - (log_days - day) * DAY,
                        int(per_day[day]),
                        int(visitors[day]),
                        order_by_created,
                        created_sorted,
                        last_by_created,
                        rate_by_created,
                        first_id,
                        len(pools.user_agent),
                        seed,
                    )
                    pending.append(rows)
                    pending_rows += len(rows["when"])
                    if pending_rows >= LOG_BLOCK_ROWS or day == log_days - 1:
                        merged = {key: np.concatenate([p[key] for p in pending]) for key in pending[0]}
                        block_rng = rng_for(seed, "connection_logs", 10_000_000 + block)
                        cols = log_cols(pools, block_rng, merged, first_project, project_count)
                        counts["connection_logs"] += _write(copy, cols)
                        pending, pending_rows, block = [], 0, block + 1
                        report.report("connection_logs", counts["connection_logs"])

        report.start("prospects")
        if prospects:
            with copy_into("prospects") as copy:
                collected = prospect_collection_times(seed, instant, prospects)
                for k, start in enumerate(range(0, prospects, CHUNK_ACCOUNTS)):
                    part = collected[start : start + CHUNK_ACCOUNTS]
                    counts["prospects"] += _write(copy, prospect_rows(pools, seed, instant, part, k, start + 1))
                    report.report("prospects", counts["prospects"])
        started = time.perf_counter()
        _recreate_keys_and_indexes(cur, deferred)
        if progress:
            print(
                f"synthetic: keys, indexes and foreign keys built: {time.perf_counter() - started:,.1f}s",
                file=sys.stderr,
                flush=True,
            )
        conn.commit()

    with psycopg.connect(conninfo, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute("analyze " + ", ".join(f"app.{t}" for t in APP_TABLES))
        if progress:
            print(f"synthetic: analyze: {time.perf_counter() - started:,.1f}s", file=sys.stderr, flush=True)
    if progress:
        total = sum(counts.values())
        elapsed = time.perf_counter() - report.started
        print(f"synthetic: done: {total:,} rows in {elapsed:,.1f}s", file=sys.stderr, flush=True)
    return counts


# Daily rates of what happens on the platform between two demo nights (per 10,000 live accounts or
# prospects, or per day): enough that every night has work under every rule at the demo's size.
ADVANCE_RATES = {"close": 15, "deceased": 3, "login": 60, "object": 5, "visitors_per_day": 300,
                 "prospects_per_day": 20}


def advance(conninfo: str, from_as_of: str | datetime, to_as_of: str | datetime, seed: int,
            rates: dict[str, float] | None = None) -> dict[str, int]:
    """What the platform does between two nights, in (from_as_of, to_as_of]: members close their
    account, deaths are reported, members log in (activity event + connection log), visitors browse,
    prospects are collected and some object. Set-based (sql/synthetic/*.sql), one transaction;
    deterministic for (seed, from_as_of, to_as_of): which rows and when come from a hash, never the
    wall clock or a random state. Returns the rows touched per kind."""
    import psycopg
    from sqlalchemy import create_engine, text

    from retention.sqlfiles import load_sql

    start, end = _parse_as_of(from_as_of), _parse_as_of(to_as_of)
    if end <= start:
        raise SyntheticDataError("to_as_of must be after from_as_of")
    if seed < 0:
        raise SyntheticDataError("seed must be a non-negative integer")
    rates = {**ADVANCE_RATES, **(rates or {})}
    tag = f"{seed}:{start.isoformat()}:{end.isoformat()}"
    common = {"from_as_of": start, "to_as_of": end, "tag": tag,
              "days": (end - start).total_seconds() / 86_400}
    steps = (
        ("closed", "close_accounts", {"per_10k": rates["close"]}),
        ("deceased", "report_deceased_accounts", {"per_10k": rates["deceased"]}),
        ("logins", "insert_logins", {"per_10k": rates["login"]}),
        ("visitor_logs", "insert_visitor_logs", {"per_day": rates["visitors_per_day"]}),
        ("prospects", "insert_prospects", {"per_day": rates["prospects_per_day"],
                                           "tag_slug": f"{seed}-{end:%Y%m%d%H%M%S}"}),
        ("objections", "object_prospects", {"per_10k": rates["object"]}),
    )
    # A URL or a key=value conninfo (the demo's), as psycopg takes both.
    engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(conninfo))
    counts: dict[str, int] = {}
    try:
        with engine.begin() as conn:
            for name, sql_name, params in steps:
                result = conn.execute(text(load_sql(f"synthetic/{sql_name}")), {**common, **params})
                counts[name] = int(result.first()[0]) if result.returns_rows else int(result.rowcount)
    finally:
        engine.dispose()
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m retention.synthetic",
        description="Fill an empty app schema with deterministic, French-looking synthetic data.",
    )
    parser.add_argument("--db-url", required=True, help="postgresql:// URL of the application database")
    parser.add_argument("--accounts", type=int, required=True, help="number of accounts")
    parser.add_argument("--seed", type=int, required=True, help="random seed (same seed + as-of = same data)")
    parser.add_argument("--as-of", default=DEFAULT_AS_OF, help=f"reference instant (default {DEFAULT_AS_OF})")
    parser.add_argument("--logs-per-account", type=float, default=20, help="connection logs per account (avg)")
    parser.add_argument("--prospects", type=int, default=None, help="prospects (default max(100, accounts // 5))")
    parser.add_argument("--documents-dir", default="var/documents", help="where document files live")
    parser.add_argument("--log-days", type=int, default=1095, help="days of connection logs before as-of")
    parser.add_argument(
        "--write-files",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"write document files (default: only when accounts <= {WRITE_FILES_MAX_ACCOUNTS:,})",
    )
    parser.add_argument(
        "--create-schema",
        choices=("partitioned", "plain"),
        default=None,
        help="create the app schema first (retention.appschema) with this connection log layout",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if args.create_schema:
        from retention.appschema import create_app_schema

        create_app_schema(args.db_url, logs_layout=args.create_schema)
    try:
        counts = generate(
            args.db_url,
            accounts=args.accounts,
            seed=args.seed,
            as_of=args.as_of,
            logs_per_account=args.logs_per_account,
            prospects=args.prospects,
            documents_dir=args.documents_dir,
            progress=not args.quiet,
            log_days=args.log_days,
            write_files=args.write_files,
        )
    except SyntheticDataError as exc:
        print(f"synthetic: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(counts, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
