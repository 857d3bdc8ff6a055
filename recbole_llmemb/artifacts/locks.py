"""One lock file per artifact, so two runs on the same ``saved/`` never build the same thing twice.

The second run waits for the first (it says so) and then reuses what the first built.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from filelock import FileLock, Timeout

from ..distributed import is_main

logger = logging.getLogger(__name__)


def lock_path(artifact: str) -> str:
    """``<folder>/.locks/<name>.lock``: beside the artifact, out of the folder's listing."""
    folder, name = os.path.split(os.path.abspath(artifact))
    return os.path.join(folder, ".locks", f"{name}.lock")


@contextmanager
def artifact_lock(artifact: str) -> Iterator[None]:
    """Hold the lock of ``artifact`` for the block; wait, with a log line, while another run holds it.

    In a multi-process run only rank 0 locks: its other ranks are part of the same run. Callers
    take it only to build: a finished artifact is read without a lock (a read-only ``saved/``).
    """
    if not is_main():
        yield
        return
    path = lock_path(artifact)
    lock = FileLock(path)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        lock.acquire(timeout=0)
    except Timeout:
        logger.info("%s: another run is building it; waiting for it to finish", artifact)
        lock.acquire()
    except OSError as error:
        # Only a missing or unfinished artifact takes a lock: it is about to be written, and cannot be.
        if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        raise OSError(
            error.errno,
            f"{artifact}: cannot build it, {os.path.dirname(os.path.abspath(artifact))} is not writable"
            f" ({error.strerror}); make the folder writable, or set checkpoint_dir (or llmemb_cache_dir) to"
            " a writable folder",
        ) from None
    try:
        yield
    finally:
        lock.release()
