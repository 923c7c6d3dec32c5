"""Names that keep two checkouts on one machine apart (demo databases, the stack's metadata DB and queue).

Derived from the checkout's folder (a readable slug plus a digest of its absolute path), or set
with ``RETENTION_CHECKOUT_ID`` (lowercase letters, digits and ``_``, at most 24 characters).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV_ID = "RETENTION_CHECKOUT_ID"
_VALID = re.compile(r"[a-z0-9_]{1,24}")


def checkout_id(root: Path = REPO_ROOT) -> str:
    configured = os.environ.get(ENV_ID, "").strip()
    if configured:
        if not _VALID.fullmatch(configured):
            raise ValueError(f"{ENV_ID} must be 1-24 lowercase letters, digits or '_'")
        return configured
    slug = re.sub(r"[^a-z0-9]+", "_", root.name.lower()).strip("_")[:16] or "checkout"
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:6]
    return f"{slug}_{digest}"


def demo_databases(root: Path = REPO_ROOT) -> tuple[str, str]:
    """The demo's application and warehouse databases for this checkout."""
    ident = checkout_id(root)
    return f"retention_demo_{ident}_app", f"retention_demo_{ident}_warehouse"
