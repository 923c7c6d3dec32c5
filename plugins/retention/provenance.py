"""Which code and which reviewed files a receipt was produced by: content digests, not git.

A receipt must say which code and which policy answered the request, in a deployed image too
(which carries no ``.git``): the code's version is a SHA-256 over the pipeline's DAG files, its
package and its SQL files (sorted relative paths and bytes), the policy's over ``policy.yaml``
and the data map's over ``datamap.yaml``, each with the file's own format version. The same tree
gives the same digest on every machine; any edit changes it.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DIGEST_CHARS = 16


def _digest(files: list[tuple[str, Path]]) -> str:
    sha = hashlib.sha256()
    for name, path in sorted(files):
        sha.update(name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()[:DIGEST_CHARS]


def _tree(root: Path, pattern: str, prefix: str) -> list[tuple[str, Path]]:
    if not root.is_dir():
        return []
    return [(f"{prefix}/{p.relative_to(root).as_posix()}", p) for p in root.rglob(pattern)
            if "__pycache__" not in p.parts]


@lru_cache(maxsize=1)
def code_version() -> str:
    """``code sha256:<16 hex>`` over dags/*.py, the retention package (.py, .yaml) and sql/**.sql."""
    from retention.sqlfiles import sql_root

    dags = Path(os.environ.get("RETENTION_DAGS_DIR") or PACKAGE_DIR.parents[1] / "dags")
    files = (_tree(dags, "*.py", "dags") + _tree(PACKAGE_DIR, "*.py", "retention")
             + _tree(PACKAGE_DIR, "*.yaml", "retention") + _tree(sql_root(), "*.sql", "sql"))
    return f"code sha256:{_digest(files)}"


def policy_version() -> str:
    """``policy v<n> sha256:<16 hex>; data map v<n> sha256:<16 hex>`` of the files in force."""
    from retention.datamap import datamap_path
    from retention.policy import DEFAULT_POLICY_FILE

    policy = Path(os.environ.get("RETENTION_POLICY_FILE") or DEFAULT_POLICY_FILE)
    datamap = datamap_path()
    return (f"policy v1 sha256:{_digest([('policy', policy)])}; "
            f"data map v1 sha256:{_digest([('datamap', datamap)])}")
