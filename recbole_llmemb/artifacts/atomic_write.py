"""Atomic file writes: a temp file in the target folder, renamed into place when complete."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def atomic_write(path: str, mode: str = "w") -> Iterator:
    """Open a temp file beside ``path``; on success it replaces ``path``, on error it is removed.

    An interrupted run therefore never leaves a half-written cache or result file.
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".", suffix=".tmp")
    except OSError as error:
        if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        # Without this the message names the temp file ('.x1y2.tmp'), not the file being written.
        raise OSError(
            error.errno, f"{path}: cannot write, {directory} is not writable ({error.strerror})"
        ) from None
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; caches are plain data files
        os.replace(tmp, path)
    except BaseException as error:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(error, OSError) and not error.filename:
            # A full disk fails inside a write with no file name: say which file, and that the old one stands.
            raise OSError(
                error.errno, f"{path}: cannot write ({error.strerror}); the previous file is kept"
            ) from error
        raise
