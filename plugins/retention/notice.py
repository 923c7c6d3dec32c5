"""The reviewed text of an access package's summary (``notice.yaml``): purposes, recipients and
sources per kind of person, their rights and the complaint route. Validated strictly, like the
policy: unknown keys are refused, every right the law lists must be stated, and every data
category of the map's personal columns must have its source."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_NOTICE_FILE = Path(__file__).with_name("notice.yaml")
SUBJECTS = ("member", "prospect")
RIGHTS = ("access", "rectification", "erasure", "portability", "restriction", "objection", "post_mortem")
COMPLAINT_MUST_NAME = ("www.cnil.fr/plaintes", "3 place de Fontenoy", "TSA 80715", "75334 Paris Cedex 07")


class NoticeError(ValueError):
    """The notice file is malformed: refused before any package is built."""


@dataclass(frozen=True)
class Subject:
    purposes: tuple[tuple[str, str], ...]  # (purpose, legal basis)
    recipients: tuple[str, ...]
    sources: dict[str, str]  # data-map category -> where the data comes from


@dataclass(frozen=True)
class Notice:
    controller: str
    subjects: dict[str, Subject]
    rights: dict[str, str]
    complaint: str


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value.strip()) < 5:
        raise NoticeError(f"{where} must be a sentence")
    return value.strip()


def _keys(value: Any, allowed: set[str], where: str, required: bool = True) -> dict:
    if not isinstance(value, dict):
        raise NoticeError(f"{where} must be a mapping")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise NoticeError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    missing = sorted(allowed - set(value)) if required else []
    if missing:
        raise NoticeError(f"{where}: missing key(s) {missing}")
    return value


def parse_notice(document: Any, source: str = "<notice>", required_sources: dict[str, set[str]] | None = None) -> Notice:
    """Validate a parsed notice; ``required_sources``: per subject, the categories that need a source."""
    from retention.datamap import CATEGORIES

    doc = _keys(document, {"version", "controller", "subjects", "rights", "complaint"}, source)
    if doc["version"] != 1:
        raise NoticeError(f"{source}: unsupported or missing version (expected 1)")
    subjects = {}
    for name, raw in _keys(doc["subjects"], set(SUBJECTS), f"{source}: subjects").items():
        where = f"{source}: subjects.{name}"
        raw = _keys(raw, {"purposes", "recipients", "sources"}, where)
        if not isinstance(raw["purposes"], list) or not raw["purposes"]:
            raise NoticeError(f"{where}.purposes must list purposes with their legal basis")
        purposes = tuple((_text(_keys(p, {"purpose", "basis"}, f"{where}.purposes")["purpose"], f"{where}.purpose"),
                          _text(p["basis"], f"{where}.basis")) for p in raw["purposes"])
        if not isinstance(raw["recipients"], list) or not raw["recipients"]:
            raise NoticeError(f"{where}.recipients must list who receives the data")
        recipients = tuple(_text(r, f"{where}.recipients") for r in raw["recipients"])
        sources = {k: _text(v, f"{where}.sources.{k}")
                   for k, v in _keys(raw["sources"], set(CATEGORIES), f"{where}.sources", required=False).items()}
        lacking = sorted((required_sources or {}).get(name, set()) - set(sources))
        if lacking:
            raise NoticeError(f"{where}.sources: no source for the data map's categories {lacking}")
        subjects[name] = Subject(purposes=purposes, recipients=recipients, sources=sources)
    rights = {k: _text(v, f"{source}: rights.{k}") for k, v in _keys(doc["rights"], set(RIGHTS), f"{source}: rights").items()}
    complaint = _text(doc["complaint"], f"{source}: complaint")
    absent = [part for part in COMPLAINT_MUST_NAME if part not in complaint]
    if absent:
        raise NoticeError(f"{source}: complaint must give the CNIL's route ({', '.join(absent)} missing)")
    return Notice(controller=_text(doc["controller"], f"{source}: controller"), subjects=subjects, rights=rights,
                  complaint=complaint)


def required_sources() -> dict[str, set[str]]:
    """Per subject, the categories of the personal columns a package of theirs holds (from the data map)."""
    from retention.datamap import load_datamap

    datamap = load_datamap()
    return {"member": {c.category for t in datamap.person_tables() for c in t.personal},
            "prospect": {c.category for c in datamap.table("app", "prospects").personal}}


def load_notice(path: str | os.PathLike[str] | None = None) -> Notice:
    """``RETENTION_NOTICE_FILE`` overrides the reviewed default."""
    from retention.policy import read_reviewed_yaml

    notice_path = Path(path or os.environ.get("RETENTION_NOTICE_FILE") or DEFAULT_NOTICE_FILE)
    return parse_notice(read_reviewed_yaml(notice_path, NoticeError), str(notice_path), required_sources())
