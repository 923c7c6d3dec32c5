"""Which file a stored document's location names, and what deleting it does (real files in tmp_path)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from retention.storage import RefusedLocation, delete_stored_files, local_path


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("file:///var/docs/12/a.pdf", "/var/docs/12/a.pdf"),
        ("file:///var/docs/caf%C3%A9%20cv.pdf", "/var/docs/café cv.pdf"),
        ("file://localhost/var/docs/a.pdf", "/var/docs/a.pdf"),
        ("file:///var/docs/a.pdf?v=2", "/var/docs/a.pdf"),  # a URI's query is not part of the path
        ("file:/var/docs/a.pdf", "/var/docs/a.pdf"),
        ("/var/docs/a?b#c.pdf", "/var/docs/a?b#c.pdf"),  # a plain path is taken as it is
        ("s3://bucket/docs/a.pdf", None),
    ],
)
def test_location_names_this_file(uri: str, path: str | None) -> None:
    assert local_path(uri) == path


@pytest.mark.parametrize("uri", ["file://fileserver/var/docs/a.pdf", "//fileserver/var/docs/a.pdf",
                                 "docs/a.pdf", "file:docs/a.pdf", " /var/docs/a.pdf"])
def test_locations_that_name_no_local_file_of_ours_are_refused(uri: str) -> None:
    with pytest.raises(RefusedLocation):
        local_path(uri)


@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FF), max_size=40))
def test_the_shortcut_reads_file_uris_as_urlsplit_does(tail: str) -> None:
    uri = "file:///" + tail
    if urlsplit(uri).scheme == "file" and urlsplit(uri).netloc == "":
        assert local_path(uri) == unquote(urlsplit(uri).path)


def test_deletes_local_files_and_keeps_the_rows_it_cannot_delete(tmp_path: Path) -> None:
    present, gone = tmp_path / "a b.pdf", tmp_path / "gone.pdf"
    present.write_bytes(b"%PDF")
    directory = tmp_path / "not-a-file.pdf"
    directory.mkdir()
    handled, failed = delete_stored_files([
        (1, present.as_uri()),
        (2, gone.as_uri()),  # already deleted by an earlier attempt: fine
        (3, directory.as_uri()),
        (4, "file://fileserver" + str(present)),
        (5, "relative/c.pdf"),
    ])
    assert not present.exists()
    assert (handled, sorted(failed)) == (2, [3, 4, 5])
