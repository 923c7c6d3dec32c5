"""The summary's reviewed text (notice.yaml): every right, the CNIL's route, a source per category of the map."""

from __future__ import annotations

import copy

import pytest
import yaml
from retention.notice import (
    DEFAULT_NOTICE_FILE,
    RIGHTS,
    NoticeError,
    load_notice,
    parse_notice,
    required_sources,
)


@pytest.fixture
def document():
    return yaml.safe_load(DEFAULT_NOTICE_FILE.read_text(encoding="utf-8"))


def test_reviewed_notice_loads_and_covers_the_map():
    notice = load_notice()
    assert set(notice.rights) == set(RIGHTS)
    assert "www.cnil.fr/plaintes" in notice.complaint
    for subject, categories in required_sources().items():
        assert categories <= set(notice.subjects[subject].sources), subject
    assert "professional life" in required_sources()["member"]


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["rights"].pop("post_mortem"), r"rights: missing key\(s\) \['post_mortem'\]"),
    (lambda d: d.update(complaint="Write to us."), r"complaint must give the CNIL's route"),
    (lambda d: d["subjects"]["member"]["sources"].pop("connection trace"), r"no source for .*connection trace"),
    (lambda d: d["subjects"]["member"]["sources"].update(weather="sunny days"), r"unknown key\(s\) \['weather'\]"),
    (lambda d: d.update(colour="red"), r"unknown key\(s\) \['colour'\]"),
    (lambda d: d["subjects"]["prospect"].update(recipients=[]), r"recipients must list"),
])
def test_bad_notice_is_refused(document, edit, message):
    bad = copy.deepcopy(document)
    edit(bad)
    with pytest.raises(NoticeError, match=message):
        parse_notice(bad, "bad", required_sources())
