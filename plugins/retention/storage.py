"""Deletion of stored documents through Airflow's object-storage abstraction (file://, s3://, ...)."""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any, Iterable
from urllib.parse import SplitResult, unquote, urlsplit

log = logging.getLogger(__name__)


def _filesystem(scheme: str, netloc: str) -> Any:
    """One fsspec filesystem per store (building an ObjectStoragePath per file costs ~2 ms)."""
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(f"{scheme}://{netloc}/").fs


def _store_path(fs: Any, uri: str, parts: SplitResult) -> str:
    if parts.scheme in ("", "file"):
        # A local file is named by an absolute path on this machine: never resolved against the
        # worker's working directory, never a file:// URI naming another host (it would delete
        # the local file of that path). Refused here, the row is kept and reported.
        if parts.netloc not in ("", "localhost"):
            raise ValueError("file URI names another host")
        # Path.as_uri() percent-encodes; the local filesystem wants the decoded path.
        path = unquote(parts.path) if parts.scheme == "file" else uri
        if not path.startswith("/"):
            raise ValueError("relative path")
        return path
    return fs._strip_protocol(uri)


def delete_stored_files(documents: Iterable[tuple[int, str]]) -> tuple[int, list[int]]:
    """Delete each ``(document_id, storage_uri)``; returns (files handled, ids that failed).

    A file already gone is fine (a previous attempt deleted it). Any other error keeps the
    document for a later retry: the caller must not drop its row. URIs are never logged.
    """
    by_store: dict[tuple[str, str], list[tuple[int, str, SplitResult]]] = defaultdict(list)
    for document_id, uri in documents:
        parts = urlsplit(uri)
        by_store[(parts.scheme or "file", parts.netloc)].append((document_id, uri, parts))

    handled, failed = 0, []
    for (scheme, netloc), items in by_store.items():
        # Errors are logged *after* their except clause: a failing log handler prints the exception
        # being handled, and a storage error's message holds the file's path.
        error = None
        try:
            fs = _filesystem(scheme, netloc)
        except Exception as exc:  # noqa: BLE001 - an unusable store keeps every row; reported by count
            error = type(exc).__name__
        if error is not None:
            log.warning("object store %s:// unusable (%s): %d file(s) kept", scheme, error, len(items))
            failed.extend(document_id for document_id, _, _ in items)
            continue
        for document_id, uri, parts in items:
            try:
                fs.rm_file(_store_path(fs, uri, parts))
                handled += 1
            except FileNotFoundError:
                handled += 1
            except Exception as exc:  # noqa: BLE001 - any store failure keeps the row; reported by count
                error = type(exc).__name__
            if error is not None:
                log.warning("stored file of document %s could not be deleted (%s)", document_id, error)
                failed.append(document_id)
                error = None
    return handled, failed
