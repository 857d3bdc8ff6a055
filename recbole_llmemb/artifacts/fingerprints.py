"""Content fingerprints: the keys of every artifact come from what its inputs hold, not where they lie.

A file is hashed once (SHA-256) and the digest memoised by path, size and modification time, in
this process and in ``$XDG_CACHE_HOME/recbole_llmemb/file-sha256.json`` (``~/.cache`` by default):
a 7B model's weights are read once per machine, not once per run, and the same weights in a new
virtual environment or on another machine give the same keys.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable

from .atomic_write import atomic_write

# Every artifact's key includes this: a change of what artifacts mean makes old ones unreachable.
CACHE_FORMAT_VERSION = 2

_memo: dict[str, str] = {}
_memo_loaded = False


def key_of(*parts) -> str:
    """A 16-hex-digit key of JSON-able ``parts`` and the cache format."""
    text = json.dumps([CACHE_FORMAT_VERSION, *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def memo_path() -> str:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "recbole_llmemb", "file-sha256.json")


def _load_memo() -> None:
    global _memo_loaded
    if _memo_loaded:
        return
    _memo_loaded = True
    try:
        with open(memo_path(), encoding="utf-8") as handle:
            stored = json.load(handle)
        _memo.update({k: v for k, v in stored.items() if isinstance(v, str)})
    except (OSError, ValueError):
        pass  # no memo yet, or an unreadable one: digests are recomputed


def _save_memo() -> None:
    # Entries of files that are gone (temp folders, replaced files) would only grow the memo.
    for stale in [key for key in _memo if not os.path.exists(key.split("|", 1)[0])]:
        del _memo[stale]
    try:
        with atomic_write(memo_path()) as handle:
            json.dump(_memo, handle)
    except OSError:
        pass  # a read-only home only costs a re-hash next time


def file_sha256(path: str) -> str:
    """SHA-256 of a file's bytes, memoised by (real path, size, modification time)."""
    real = os.path.realpath(path)
    stat = os.stat(real)
    memo_key = f"{real}|{stat.st_size}|{stat.st_mtime_ns}"
    _load_memo()
    if memo_key not in _memo:
        digest = hashlib.sha256()
        with open(real, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        _memo[memo_key] = digest.hexdigest()
        _save_memo()
    return _memo[memo_key]


def files_fingerprint(named_files: Iterable[tuple[str, str]]) -> str:
    """Key of ``(name, path)`` pairs: each file's content under a name that does not depend on where it is."""
    return key_of(sorted((name, file_sha256(path)) for name, path in named_files))


def dataset_fingerprint(config, kinds: tuple[str, ...] = ("inter", "item")) -> str:
    """Key of the contents of ``<data_path>/<dataset>.<kind>`` for each kind that exists."""
    folder, name = config["data_path"], config["dataset"]
    paths = ((kind, os.path.join(folder, f"{name}.{kind}")) for kind in kinds)
    return files_fingerprint((kind, path) for kind, path in paths if os.path.isfile(path))
