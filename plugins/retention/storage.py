"""Deletion of stored documents through Airflow's object-storage abstraction (file://, s3://, ...)."""

from __future__ import annotations

import logging
from typing import Iterable

log = logging.getLogger(__name__)


def delete_stored_files(documents: Iterable[tuple[int, str]]) -> tuple[int, list[int]]:
    """Delete each ``(document_id, storage_uri)``; returns (files handled, ids that failed).

    A file already gone is fine (a previous attempt deleted it). Any other error keeps the
    document for a later retry: the caller must not drop its row. URIs are never logged.
    """
    from airflow.sdk import ObjectStoragePath

    handled, failed = 0, []
    for document_id, uri in documents:
        try:
            ObjectStoragePath(uri).unlink()
            handled += 1
        except FileNotFoundError:
            handled += 1
        except Exception as exc:  # noqa: BLE001 - any store failure keeps the row; reported by count
            log.warning("stored file of document %s could not be deleted (%s)", document_id, type(exc).__name__)
            failed.append(document_id)
    return handled, failed
