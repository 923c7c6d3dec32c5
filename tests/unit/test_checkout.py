"""Two checkouts on one machine get their own demo databases (a demo drops and recreates its own)."""

from __future__ import annotations

from pathlib import Path

import pytest
from retention.checkout import checkout_id, demo_databases


def test_two_checkouts_never_share_demo_databases(monkeypatch):
    monkeypatch.delenv("RETENTION_CHECKOUT_ID", raising=False)
    first, second = Path("/work/a/gdpr-retention"), Path("/work/b/gdpr-retention")
    assert demo_databases(first) != demo_databases(second)
    assert demo_databases(first) == demo_databases(first)  # stable across runs
    for name in (*demo_databases(first), *demo_databases(Path("/x" * 40 + "/A Very Long Folder Name Indeed"))):
        assert len(name) <= 63 and name.replace("_", "").isalnum() and name == name.lower()


def test_the_id_can_be_set_and_is_validated(monkeypatch):
    monkeypatch.setenv("RETENTION_CHECKOUT_ID", "laptop_two")
    assert checkout_id() == "laptop_two"
    assert demo_databases() == ("retention_demo_laptop_two_app", "retention_demo_laptop_two_warehouse")
    monkeypatch.setenv("RETENTION_CHECKOUT_ID", 'x"; drop database y; --')
    with pytest.raises(ValueError, match="RETENTION_CHECKOUT_ID"):
        checkout_id()
