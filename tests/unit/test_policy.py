"""The policy file is the reviewed source of every promise: bad values are refused before any run."""

from __future__ import annotations

import copy

import pytest
import yaml
from retention.policy import DEFAULT_POLICY_FILE, PolicyError, load_policy, parse_policy


@pytest.fixture
def document():
    return yaml.safe_load(DEFAULT_POLICY_FILE.read_text())


def test_reviewed_policy_matches_the_privacy_policy():
    policy = load_policy()
    assert policy.account_inactivity_years == 5
    assert policy.connection_log_retention_years == 1
    assert policy.prospect_retention_years == 3
    assert policy.closed_account_grace_days == 0
    assert 0 < policy.release_rho_per_month <= 1  # a strong guarantee per person (docs/analysts.md)
    assert policy.release_delta < 1e-6
    assert policy.request_package_retention_days == 30
    assert "deleted from our systems 30 days after" in policy.bases["request_package_retention_days"]
    assert all(len(policy.bases[k]) > 20 for k in policy.values())


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("account_inactivity_years", -5, "outside"),
        ("release_rho_per_month", 0, "outside"),
        ("release_rho_per_month", 50, "outside"),
        ("release_delta", 0.5, "outside"),
        ("connection_log_retention_years", 1.5, "whole number"),
        ("prospect_retention_years", "3", "must be a number"),
        ("account_batch_size", True, "must be a number"),
        ("max_eligible_share", 1.5, "outside"),
    ],
)
def test_bad_values_are_refused_with_the_key_named(document, key, value, message):
    bad = copy.deepcopy(document)
    bad[key]["value"] = value
    with pytest.raises(PolicyError, match=message) as info:
        parse_policy(bad)
    assert key in str(info.value)


def test_unknown_and_missing_keys_are_refused(document):
    with pytest.raises(PolicyError, match="unknown key"):
        parse_policy({**document, "keep_forever": {"value": 1, "basis": "no sentence justifies this"}})
    partial = dict(document)
    partial.pop("release_rho_per_month")
    with pytest.raises(PolicyError, match="missing key"):
        parse_policy(partial)


def test_each_value_needs_its_justification(document):
    bad = copy.deepcopy(document)
    bad["release_rho_per_month"]["basis"] = ""
    with pytest.raises(PolicyError, match="sentence"):
        parse_policy(bad)


def test_policy_file_override_is_validated(tmp_path, monkeypatch):
    path = tmp_path / "policy.yaml"
    path.write_text("version: 1\nrelease_rho_per_month: {value: 0}\n")
    monkeypatch.setenv("RETENTION_POLICY_FILE", str(path))
    with pytest.raises(PolicyError):
        load_policy()
    path.write_text(": not yaml : [")
    with pytest.raises(PolicyError, match="YAML"):
        load_policy()
