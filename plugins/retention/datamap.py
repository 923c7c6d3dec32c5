"""The data map (``datamap.yaml``): the one list of what is personal and what anonymisation does to it.

The file is a fideslang ``dataset`` document (Fides' open format) with a ``retention`` block on each
collection and field for what fideslang has no field for (treatment, retention clock, policy key,
PostgreSQL type). This module validates it strictly and answers, with a small typed API, the
questions the pipeline and later issues ask: which columns of which table are personal, what
happens to each, which tables hang off ``app.accounts``, which columns hold stored files, which
dates count as activity. ``RETENTION_DATAMAP`` points a run at another copy of the map; it is read
when a task runs, never while the DAG is parsed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

DEFAULT_DATAMAP_FILE = Path(__file__).with_name("datamap.yaml")

CLOCKS = ("account", "own", "none")
TREATMENTS = ("null", "delete row", "keep", "erase file")
CATEGORIES = ("identity", "professional life", "activity", "connection trace", "content",
              "reference data", "technical", "aggregate")
# Treatments that remove the row: every column of such a table must have one of them.
ROW_GOES = ("delete row", "erase file")

# The purges that exist (retention.logs, retention.prospects): a table on its own clock must be one of them.
OWN_CLOCK_PURGES = {"connection_logs": "connection_log_retention_years", "prospects": "prospect_retention_years"}
# The pipeline's own schema in the application database, and its tables whose personal data a statement
# of the pipeline removes (table key -> the policy key behind it): nothing else there is on its own clock.
PIPELINE_SCHEMA = "retention"
PIPELINE_OWN_CLOCKS = {
    "subject_requests": "request_link_retention_years",  # sql/requests/unlink_answered_requests.sql nulls the subject
    "restricted_connection_logs": "connection_log_retention_years",  # sql/logs/set_aside_restricted_logs.sql, after a lift
    "inactivity_notices": "account_inactivity_years",  # sql/accounts/refresh_inactivity_notices.sql, every night
    "batch_accounts": "account_batch_size",  # retention.accounts: deleted once the batch is done and verified
    "account_batches": "account_batch_size",  # retention.accounts: the id range nulled with the batch's scrub
}

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_CATEGORY_KEY = re.compile(r"^(user|system)(\.[a-z_]+)*$")
_FIELD_KEYS = {"type", "category", "personal", "treatment", "reason", "aggregate_into", "activity", "derived"}
_COLLECTION_KEYS = {"clock", "person", "policy", "key"}


class DataMapError(ValueError):
    """The data map is malformed: refused before any run starts, naming the table and column."""


@dataclass(frozen=True)
class Column:
    schema: str
    table: str
    name: str
    type: str
    category: str
    personal: bool
    treatment: str
    data_categories: tuple[str, ...]
    reason: str | None = None
    aggregate_into: tuple[str, ...] = ()
    activity: bool = False
    references: tuple[str, ...] = ()  # "<table>.<column>" in the same dataset (foreign keys)
    # Produced by the platform (computed, inferred, decided), neither provided by the person nor
    # observed of their activity: left out of a portability package (GDPR art. 20).
    derived: bool = False
    primary_key: bool = False  # fides_meta.primary_key

    @property
    def portable(self) -> bool:
        return self.personal and not self.derived

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}.{self.name}"


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    clock: str
    person: str | None
    policy: tuple[str, ...]
    description: str
    columns: tuple[Column, ...]
    key: str = ""  # the name the pipeline's SQL and ledger know it by (survives a rename of the table)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.qualified}.{name} is not in the data map")

    @property
    def rows_deleted(self) -> bool:
        """Anonymisation (or the table's own purge) deletes whole rows."""
        return any(c.treatment in ROW_GOES for c in self.columns)

    @property
    def nulled(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.treatment == "null")

    @property
    def personal(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.personal)

    @property
    def file_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.treatment == "erase file")

    @property
    def key_columns(self) -> tuple[Column, ...]:
        """The primary key (fides_meta), else ``id`` when the table has one (a row's handle in a package)."""
        marked = tuple(c for c in self.columns if c.primary_key)
        return marked or tuple(c for c in self.columns if c.name == "id")


@dataclass(frozen=True)
class DataMap:
    tables: tuple[Table, ...]
    source: str = "<datamap>"

    def table(self, schema: str, name: str) -> Table:
        for table in self.tables:
            if table.schema == schema and table.name == name:
                return table
        raise KeyError(f"{schema}.{name} is not in the data map")

    def schema(self, schema: str) -> tuple[Table, ...]:
        return tuple(t for t in self.tables if t.schema == schema)

    @property
    def accounts(self) -> Table:
        return self.table("app", "accounts")

    def account_tables(self) -> tuple[Table, ...]:
        """Tables anonymised with the account (``clock: account``) other than accounts itself."""
        return tuple(t for t in self.schema("app") if t.clock == "account" and t.name != "accounts")

    def person_tables(self) -> tuple[Table, ...]:
        """Tables of ``app`` whose rows belong to one account (through ``person``), whatever their clock:
        what an access package reads (connection logs included, prospects not: they are no account)."""
        return tuple(t for t in self.schema("app") if t.person)

    def scrubbed_tables(self) -> tuple[Table, ...]:
        """Account tables whose rows the scrub statement deletes (stored files go by their own path)."""
        return tuple(t for t in self.account_tables() if t.rows_deleted and not t.file_columns)

    def nulled_tables(self) -> tuple[Table, ...]:
        """Account tables whose rows stay with their personal columns nulled (accounts excluded)."""
        return tuple(t for t in self.account_tables() if not t.rows_deleted and t.nulled)

    def file_tables(self) -> tuple[Table, ...]:
        return tuple(t for t in self.account_tables() if t.file_columns)

    def personal_columns(self, schema: str = "app") -> dict[str, tuple[str, ...]]:
        """Per table, the columns that relate to a person (what an access package must hold)."""
        return {t.name: tuple(c.name for c in t.personal) for t in self.schema(schema) if t.personal}

    def activity_columns(self) -> frozenset[tuple[str, str]]:
        """(table, column) of every date that keeps an account alive on the inactivity clock."""
        return frozenset((t.name, c.name) for t in self.schema("app") for c in t.columns if c.activity)

    def text_columns(self, schema: str, category: str = "aggregate") -> tuple[tuple[str, str], ...]:
        """(table, column) of the text columns of ``category`` in a schema (identifying-text check)."""
        return tuple((t.name, c.name) for t in self.schema(schema) for c in t.columns
                     if c.type == "text" and c.category == category)

    def rows(self) -> list[dict[str, Any]]:
        """The record of processing as rows: table, column, category, personal, retention, treatment.

        A table with nothing personal whose columns share one category and treatment (the
        warehouse's aggregates, reference data) is one row listing its columns.
        """
        out = []
        for t in self.tables:
            retention = ", ".join(t.policy) if t.policy else "-"
            if not t.personal and len({(c.category, c.treatment) for c in t.columns}) == 1:
                first = t.columns[0]
                out.append({"table": t.qualified, "column": ", ".join(c.name for c in t.columns),
                            "category": first.category, "data_categories": ", ".join(first.data_categories),
                            "personal": False, "retention": retention, "treatment": first.treatment})
                continue
            for c in t.columns:
                treatment = c.treatment
                if c.aggregate_into:
                    treatment += "; aggregate into " + ", ".join(c.aggregate_into)
                if c.reason and c.treatment == "keep" and c.personal:
                    treatment += f" ({c.reason})"
                if c.derived:
                    treatment += "; derived (not in portability packages)"
                out.append({"table": t.qualified, "column": c.name, "category": c.category,
                            "data_categories": ", ".join(c.data_categories), "personal": c.personal,
                            "retention": retention, "treatment": treatment})
        return out


README_BEGIN = "<!-- datamap:begin (generated by `python -m retention.datamap README.md`; do not edit) -->"
README_END = "<!-- datamap:end -->"


def markdown_table(datamap: DataMap) -> str:
    """The record of processing as a Markdown table (the README's generated section)."""
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|")

    lines = ["| table | column | category | personal | retention (policy key) | treatment |",
             "|---|---|---|---|---|---|"]
    for r in datamap.rows():
        lines.append("| " + " | ".join(cell(v) for v in (
            r["table"], r["column"], r["category"], "yes" if r["personal"] else "no", r["retention"], r["treatment"]
        )) + " |")
    return "\n".join(lines)


def readme_section(datamap: DataMap) -> str:
    return f"{README_BEGIN}\n{markdown_table(datamap)}\n{README_END}"


def replace_readme_section(readme: str, datamap: DataMap) -> str:
    """``readme`` with its generated data-map section (between the markers) rebuilt from the map."""
    start, end = readme.find(README_BEGIN), readme.find(README_END)
    if start < 0 or end < start:
        raise DataMapError("the README has no data-map markers")
    return readme[:start] + readme_section(datamap) + readme[end + len(README_END):]


# -- loading ------------------------------------------------------------------------------------

def datamap_path() -> Path:
    """``RETENTION_DATAMAP`` if set (a run pointed at another copy of the map), else the reviewed file."""
    return Path(os.environ.get("RETENTION_DATAMAP") or DEFAULT_DATAMAP_FILE)


def load_datamap(path: str | os.PathLike[str] | None = None) -> DataMap:
    """Load and validate the map (cached per file and modification time)."""
    resolved = Path(path) if path is not None else datamap_path()
    try:
        stamp = resolved.stat().st_mtime_ns
    except FileNotFoundError:
        raise DataMapError(f"data map {resolved} is missing") from None
    return _load(str(resolved), stamp)


@lru_cache(maxsize=8)
def _load(path: str, _stamp: int) -> DataMap:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        document = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - safe loader
    except yaml.YAMLError as exc:
        raise DataMapError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    return parse_datamap(document, path)


def _policy_keys() -> frozenset[str]:
    from retention.policy import Policy

    return frozenset(f.name for f in fields(Policy) if f.name != "bases")


def parse_datamap(document: Any, source: str = "<datamap>") -> DataMap:
    """Validate a parsed map; raise DataMapError naming the table and column at fault."""
    if not isinstance(document, dict) or not isinstance(document.get("dataset"), list):
        raise DataMapError(f"{source}: expected a fideslang document with a 'dataset' list")
    policy_keys = _policy_keys()
    tables: list[Table] = []
    for dataset in document["dataset"]:
        if not isinstance(dataset, dict):
            raise DataMapError(f"{source}: every dataset must be a mapping")
        schema = dataset.get("fides_key")
        if not isinstance(schema, str) or not _NAME.match(schema):
            raise DataMapError(f"{source}: dataset fides_key {schema!r} must be a schema name")
        collections = dataset.get("collections")
        if not isinstance(collections, list) or not collections:
            raise DataMapError(f"{source}: dataset {schema} has no collections")
        for collection in collections:
            tables.append(_parse_table(schema, collection, policy_keys, source))
    seen: set[str] = set()
    for t in tables:
        for label in (t.qualified, f"key {t.schema}.{t.key}"):
            if label in seen:
                raise DataMapError(f"{source}: {label} is mapped twice")
            seen.add(label)
    datamap = DataMap(tables=tuple(tables), source=source)
    _check_relations(datamap, source)
    return datamap


def _parse_table(schema: str, collection: Any, policy_keys: frozenset[str], source: str) -> Table:
    if not isinstance(collection, dict) or not isinstance(collection.get("name"), str):
        raise DataMapError(f"{source}: dataset {schema} has a collection without a name")
    name = collection["name"]
    where = f"{source}: {schema}.{name}"
    if not _NAME.match(name):
        raise DataMapError(f"{where}: table name must be lowercase letters, digits and underscores")
    meta = collection.get("retention")
    if not isinstance(meta, dict):
        raise DataMapError(f"{where}: missing its 'retention' block (clock, policy)")
    unknown = sorted(set(meta) - _COLLECTION_KEYS)
    if unknown:
        raise DataMapError(f"{where}: unknown retention key(s) {unknown}; allowed: {sorted(_COLLECTION_KEYS)}")
    clock = meta.get("clock")
    if clock not in CLOCKS:
        raise DataMapError(f"{where}: clock must be one of {CLOCKS}, got {clock!r}")
    policy = meta.get("policy", [])
    if not isinstance(policy, list) or not all(isinstance(p, str) for p in policy):
        raise DataMapError(f"{where}: policy must be a list of policy.yaml keys")
    bad = sorted(set(policy) - policy_keys)
    if bad:
        raise DataMapError(f"{where}: unknown policy key(s) {bad}")
    if clock != "none" and not policy:
        raise DataMapError(f"{where}: a table with a retention clock needs the policy key behind it")
    raw_fields = collection.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise DataMapError(f"{where}: no fields")
    columns = tuple(_parse_column(schema, name, f, source) for f in raw_fields)
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise DataMapError(f"{where}: a column is mapped twice")
    person = meta.get("person")
    if person is not None and person not in names:
        raise DataMapError(f"{where}: person column {person!r} is not one of its fields")
    key = meta.get("key", name)
    if not isinstance(key, str) or not _NAME.match(key):
        raise DataMapError(f"{where}: key must be lowercase letters, digits and underscores")
    table = Table(schema=schema, name=name, clock=clock, person=person, policy=tuple(policy),
                  description=str(collection.get("description") or ""), columns=columns, key=key)
    _check_treatments(table, where)
    return table


def _parse_column(schema: str, table: str, raw: Any, source: str) -> Column:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not _NAME.match(raw["name"]):
        raise DataMapError(f"{source}: {schema}.{table} has a field without a valid name")
    name = raw["name"]
    where = f"{source}: {schema}.{table}.{name}"
    if raw.get("fields"):
        raise DataMapError(f"{where}: nested fields are not supported (relational schema)")
    categories = raw.get("data_categories")
    if not isinstance(categories, list) or not categories or not all(
            isinstance(c, str) and _CATEGORY_KEY.match(c) for c in categories):
        raise DataMapError(f"{where}: data_categories must list fideslang keys (user.*, system.*)")
    meta = raw.get("retention")
    if not isinstance(meta, dict):
        raise DataMapError(f"{where}: missing its 'retention' block")
    unknown = sorted(set(meta) - _FIELD_KEYS)
    if unknown:
        raise DataMapError(f"{where}: unknown retention key(s) {unknown}; allowed: {sorted(_FIELD_KEYS)}")
    type_ = meta.get("type")
    if not isinstance(type_, str) or not type_.strip():
        raise DataMapError(f"{where}: type (as PostgreSQL's format_type prints it) is required")
    category = meta.get("category")
    if category not in CATEGORIES:
        raise DataMapError(f"{where}: category must be one of {CATEGORIES}, got {category!r}")
    personal = meta.get("personal")
    if not isinstance(personal, bool):
        raise DataMapError(f"{where}: personal must be true or false")
    if personal != any(c.startswith("user") for c in categories):
        raise DataMapError(f"{where}: personal is {str(personal).lower()} but its data_categories say "
                           f"{'not ' if personal else ''}user data")
    treatment = meta.get("treatment")
    if treatment not in TREATMENTS:
        raise DataMapError(f"{where}: treatment must be one of {TREATMENTS}, got {treatment!r}")
    reason = meta.get("reason")
    if personal and treatment == "keep" and not (isinstance(reason, str) and len(reason.strip()) >= 10):
        raise DataMapError(f"{where}: a personal column that is kept needs the reason why")
    aggregate_into = meta.get("aggregate_into", [])
    if not isinstance(aggregate_into, list) or not all(isinstance(a, str) for a in aggregate_into):
        raise DataMapError(f"{where}: aggregate_into must list warehouse tables (stats.<table>)")
    activity = meta.get("activity", False)
    if not isinstance(activity, bool):
        raise DataMapError(f"{where}: activity must be true or false")
    derived = meta.get("derived", False)
    if not isinstance(derived, bool):
        raise DataMapError(f"{where}: derived must be true or false")
    if derived and not personal:
        raise DataMapError(f"{where}: derived marks a personal column (left out of portability packages)")
    if derived and not (isinstance(reason, str) and len(reason.strip()) >= 10):
        raise DataMapError(f"{where}: a derived column needs the reason (what produces it)")
    fides_meta = raw.get("fides_meta") or {}
    references = []
    for ref in fides_meta.get("references") or []:
        if not isinstance(ref, dict) or ref.get("dataset") != schema or not isinstance(ref.get("field"), str) \
                or ref["field"].count(".") != 1:
            raise DataMapError(f"{where}: references must name a field of the same dataset as <table>.<column>")
        references.append(ref["field"])
    return Column(schema=schema, table=table, name=name, type=type_.strip(), category=category, personal=personal,
                  treatment=treatment, data_categories=tuple(categories),
                  reason=reason.strip() if isinstance(reason, str) else None,
                  aggregate_into=tuple(aggregate_into), activity=activity, references=tuple(references),
                  derived=derived, primary_key=fides_meta.get("primary_key") is True)


def _check_treatments(table: Table, where: str) -> None:
    treatments = {c.treatment for c in table.columns}
    if table.clock == "none" and treatments != {"keep"}:
        raise DataMapError(f"{where}: a table without a retention clock keeps every column (treatment: keep)")
    if table.clock == "own" and table.schema == PIPELINE_SCHEMA:
        _check_pipeline_own_clock(table, treatments, where)
    elif table.clock == "own" and treatments != {"delete row"}:
        raise DataMapError(f"{where}: a table purged on its own clock deletes whole rows (treatment: delete row)")
    elif table.clock == "own" and (table.schema != "app" or OWN_CLOCK_PURGES.get(table.key) not in table.policy):
        raise DataMapError(f"{where}: no purge deletes this table on its own clock; only "
                           f"{sorted(OWN_CLOCK_PURGES)} have one (with their policy key)")
    if table.clock == "account":
        if table.person is None:
            raise DataMapError(f"{where}: a table anonymised with the account needs its person column")
        if table.rows_deleted and not treatments <= set(ROW_GOES):
            odd = sorted(c.name for c in table.columns if c.treatment not in ROW_GOES)
            raise DataMapError(f"{where}: its rows are deleted, so no column can be kept or nulled: {odd}")
        if not table.rows_deleted and not treatments <= {"null", "keep"}:
            raise DataMapError(f"{where}: its rows stay, so every column is nulled or kept")
        if table.file_columns and table.name != "documents":
            # Files are deleted from the object store before their rows, with retries for failures
            # (retention.pending_file_deletions is keyed by documents.id): only documents has that path.
            raise DataMapError(f"{where}: stored files are only erased through app.documents")


def _check_pipeline_own_clock(table: Table, treatments: set[str], where: str) -> None:
    """A table of the pipeline's own schema on its own clock: a statement of the pipeline removes its
    personal data (PIPELINE_OWN_CLOCKS, with the policy key), deleting its rows or nulling every personal column."""
    if PIPELINE_OWN_CLOCKS.get(table.key) not in table.policy:
        raise DataMapError(f"{where}: no statement of the pipeline removes this table's data on its own clock; only "
                           f"{sorted(PIPELINE_OWN_CLOCKS)} have one (with their policy key)")
    if treatments == {"delete row"}:
        return
    if not treatments <= {"null", "keep"} or not table.nulled or any(c.treatment != "null" for c in table.personal):
        raise DataMapError(f"{where}: on its own clock, its rows are deleted (every column: delete row) or stay "
                           "with every personal column nulled (the others kept)")


def _check_relations(datamap: DataMap, source: str) -> None:
    warehouse = {t.qualified for t in datamap.schema("stats")}
    for t in datamap.tables:
        for c in t.columns:
            for target in c.aggregate_into:
                if target not in warehouse:
                    raise DataMapError(f"{source}: {c.qualified} aggregates into {target}, not a stats table of the map")
            for ref in c.references:
                ref_table, ref_column = ref.split(".")
                try:
                    datamap.table(t.schema, ref_table).column(ref_column)
                except KeyError:
                    raise DataMapError(f"{source}: {c.qualified} references {t.schema}.{ref}, not in the map") from None
    try:
        accounts = datamap.accounts
    except KeyError:
        raise DataMapError(f"{source}: app.accounts is not mapped") from None
    if accounts.person != "id" or accounts.clock != "account" or accounts.rows_deleted:
        raise DataMapError(f"{source}: app.accounts is the tombstone table (clock: account, person: id, rows kept)")
    for t in datamap.account_tables():
        person = t.column(t.person or "")
        if "accounts.id" not in person.references:
            raise DataMapError(f"{source}: {person.qualified} (the person column) must reference accounts.id")


if __name__ == "__main__":  # python -m retention.datamap README.md: regenerate the README's table
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    target.write_text(replace_readme_section(target.read_text(encoding="utf-8"), load_datamap()), encoding="utf-8")
