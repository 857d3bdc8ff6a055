"""The record beside every artifact: its key, the keys of its inputs, and the SHA-256 of its bytes.

``<artifact>.json`` is written before the artifact is renamed into place, and read before the
artifact is used: an artifact without a record, from another cache format, under another key, or
whose bytes changed since it was written (truncated, corrupted, replaced) is refused with a
one-line error that names it. A checkpoint is read only after its bytes matched its record.
"""

from __future__ import annotations

import hashlib
import json
import os

from .atomic_write import atomic_write
from .fingerprints import CACHE_FORMAT_VERSION, file_sha256


class ArtifactError(ValueError):
    """An artifact that cannot be used as it is: the message names the file and what to do."""


def record_path(artifact: str) -> str:
    return f"{artifact}.json"


def write_record(artifact: str, key: str, sha256: str, **facts) -> dict:
    """Write ``<artifact>.json``: format, key, the artifact's SHA-256 and ``facts`` (JSON-able)."""
    record = {"format_version": CACHE_FORMAT_VERSION, "key": key, "sha256": sha256, **facts}
    with atomic_write(record_path(artifact)) as handle:
        json.dump(record, handle, indent=2, sort_keys=True, default=str)
    return record


def bytes_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_record(artifact: str) -> dict | None:
    """The record of ``artifact``, or None when it has none; an unreadable record is an error."""
    path = record_path(artifact)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as error:
        raise ArtifactError(
            f"{path}: unreadable record ({error}); delete it and {artifact} to rebuild"
        ) from error


def verified_record(artifact: str, key: str | None = None) -> dict:
    """The record of ``artifact`` after checking format, ``key`` and the artifact's bytes against it."""
    record = read_record(artifact)
    remedy = f"delete {artifact} and its .json to rebuild it"
    if record is None:
        raise ArtifactError(f"{artifact}: no record of its inputs ({record_path(artifact)}); {remedy}")
    if record.get("format_version") != CACHE_FORMAT_VERSION:
        raise ArtifactError(
            f"{artifact}: cache format {record.get('format_version')}, this version reads"
            f" {CACHE_FORMAT_VERSION}; {remedy}"
        )
    if key is not None and record.get("key") != key:
        raise ArtifactError(f"{artifact}: recorded key {record.get('key')} is not {key}; {remedy}")
    if file_sha256(artifact) != record.get("sha256"):
        raise ArtifactError(
            f"{artifact}: its bytes changed since it was written (truncated or corrupted); {remedy}"
        )
    return record
