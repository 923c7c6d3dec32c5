"""The reviewed retention policy: loaded once per task, validated strictly, logged per run."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

DEFAULT_POLICY_FILE = Path(__file__).with_name("policy.yaml")


class PolicyError(ValueError):
    """The policy file is malformed: refused before any run starts."""


@dataclass(frozen=True)
class Policy:
    account_inactivity_years: int
    closed_account_grace_days: int
    connection_log_retention_years: int
    prospect_retention_years: int
    account_batch_size: int
    purge_batch_pages: int
    prospect_batch_size: int
    lock_timeout_ms: int
    max_eligible_share: float
    eligible_ceiling_floor: int
    inactivity_notice_days: int
    airflow_metadata_retention_days: int
    release_rho_per_month: float
    release_delta: float
    request_link_retention_years: int
    request_package_retention_days: int
    bases: dict[str, str]

    def values(self) -> dict[str, Any]:
        """The policy as plain values (what the run logs and the report shows)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "bases"}


# (type, minimum, maximum): bounds catch typos that would silently change a promise.
_RULES: dict[str, tuple[type, float, float]] = {
    "account_inactivity_years": (int, 1, 50),
    "closed_account_grace_days": (int, 0, 365),
    "connection_log_retention_years": (int, 1, 10),
    "prospect_retention_years": (int, 1, 10),
    "account_batch_size": (int, 1, 1_000_000),
    "purge_batch_pages": (int, 1, 1_000_000),
    "prospect_batch_size": (int, 1, 1_000_000),
    "lock_timeout_ms": (int, 10, 600_000),
    "max_eligible_share": (float, 0.0, 1.0),
    "eligible_ceiling_floor": (int, 0, 10_000_000),
    "inactivity_notice_days": (int, 0, 365),
    "airflow_metadata_retention_days": (int, 7, 3650),
    # zero-concentrated DP: above 5 a release protects little; 0 would release pure noise.
    "release_rho_per_month": (float, 0.001, 5.0),
    # Only states the guarantee as (epsilon, delta); must stay far below 1 / members.
    "release_delta": (float, 1e-15, 1e-4),
    "request_link_retention_years": (int, 1, 10),
    # The copy sent to a person who asked for access or portability (retention.requests.package).
    "request_package_retention_days": (int, 1, 365),
}


def parse_policy(document: Any, source: str = "<policy>") -> Policy:
    """Validate a parsed policy document; raise PolicyError naming the bad key."""
    if not isinstance(document, dict):
        raise PolicyError(f"{source}: expected a mapping of policy keys")
    if document.get("version") != 1:
        raise PolicyError(f"{source}: unsupported or missing version (expected 1)")
    keys = set(document) - {"version"}
    unknown = sorted(keys - set(_RULES))
    if unknown:
        raise PolicyError(f"{source}: unknown key(s) {unknown}; allowed: {sorted(_RULES)}")
    missing = sorted(set(_RULES) - keys)
    if missing:
        raise PolicyError(f"{source}: missing key(s) {missing}")
    values: dict[str, Any] = {}
    bases: dict[str, str] = {}
    for key, (kind, low, high) in _RULES.items():
        entry = document[key]
        if not isinstance(entry, dict) or set(entry) != {"value", "basis"}:
            raise PolicyError(f"{source}: {key} must have exactly 'value' and 'basis'")
        value, basis = entry["value"], entry["basis"]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PolicyError(f"{source}: {key} must be a number, got {type(value).__name__}")
        if kind is int and not isinstance(value, int):
            raise PolicyError(f"{source}: {key} must be a whole number, got {value!r}")
        if not low <= value <= high:
            raise PolicyError(f"{source}: {key}={value!r} is outside [{low}, {high}]")
        if not isinstance(basis, str) or len(basis.strip()) < 10:
            raise PolicyError(f"{source}: {key} needs the sentence of the privacy policy behind it")
        values[key] = kind(value)
        bases[key] = basis.strip()
    return Policy(**values, bases=bases)


def read_reviewed_yaml(path: Path, error: type[ValueError]) -> Any:
    """A reviewed YAML file's document; malformed YAML raises ``error`` naming the file (not the parser's
    message, which may quote the file's text)."""
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML ({exc.__class__.__name__})") from None


def load_policy(path: str | os.PathLike[str] | None = None) -> Policy:
    """Load the policy file (``RETENTION_POLICY_FILE`` overrides the reviewed default)."""
    policy_path = Path(path or os.environ.get("RETENTION_POLICY_FILE") or DEFAULT_POLICY_FILE)
    return parse_policy(read_reviewed_yaml(policy_path, PolicyError), str(policy_path))
