"""Progress a person can follow: tqdm bars on a terminal, plain log lines elsewhere (CI, nohup, files).

tqdm writes carriage-return redraws that turn into one endless line in a log file; off a terminal
:class:`LogProgress` writes a line at every tenth of the work instead, with the elapsed time and
an estimate of what is left. RecBole's trainer draws its own tqdm bars: the plugin's trainer routes
them through :func:`progress` too (:func:`recbole_bars_as_progress`).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
QUIET_SECONDS = 15.0  # a loop that ends sooner writes no progress line


def interactive() -> bool:
    """Whether progress goes to a terminal (bars) rather than to a file or pipe (log lines)."""
    return sys.stderr.isatty()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class LogProgress:
    """tqdm's interface (iteration, ``update``, ``set_postfix``, ``close``) writing log lines.

    A line is written each time another tenth of ``total`` is done, once the loop has run
    :data:`QUIET_SECONDS` (short loops stay silent).
    """

    def __init__(
        self,
        iterable: Iterable | None = None,
        total: int | None = None,
        desc: str = "",
        unit: str = "it",
        initial: int = 0,
        disable: bool = False,
        **_: object,
    ):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total, self.n, self.initial = total, initial, initial
        self.desc, self.unit, self.disable = _ANSI.sub("", desc).strip(), unit, disable
        self.postfix = ""
        self.started = time.time()
        self.next_tenth = self._tenth(initial) + 1

    def _tenth(self, n: int) -> int:
        return int(10 * n / self.total) if self.total else 0

    def __iter__(self) -> Iterator:
        for item in self.iterable:
            yield item
            self.update(1)

    def __len__(self) -> int:
        return self.total or 0

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.disable or not self.total or self._tenth(self.n) < self.next_tenth:
            return
        self.next_tenth = self._tenth(self.n) + 1
        if time.time() - self.started >= QUIET_SECONDS:
            self._write()

    def _write(self) -> None:
        elapsed = time.time() - self.started
        done = self.n - self.initial
        left = (self.total - self.n) * elapsed / done if done > 0 else float("nan")
        eta = _duration(left) if left == left else "?"
        extra = f", {self.postfix}" if self.postfix else ""
        logger.info(
            "%s: %d/%d %s (%d%%), %s elapsed, ~%s left%s",
            self.desc, self.n, self.total, self.unit, 100 * self.n // self.total, _duration(elapsed), eta, extra,
        )  # fmt: skip

    def set_postfix(self, **values: object) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def set_postfix_str(self, text: str = "", **_: object) -> None:
        self.postfix = _ANSI.sub("", text)

    def close(self) -> None:
        """Nothing to release: every line is written when its tenth is reached."""


def progress(iterable: Iterable | None = None, **kwargs):
    """A tqdm bar on a terminal, else :class:`LogProgress`; takes tqdm's arguments."""
    if interactive():
        return tqdm(iterable, **kwargs)
    return LogProgress(iterable, **kwargs)


@contextmanager
def recbole_bars_as_progress() -> Iterator[None]:
    """RecBole's trainer calls ``tqdm(...)`` by the name its module imported: for this block that
    name is :func:`progress` (log lines off a terminal). RecBole's code stays its own."""
    import recbole.trainer.trainer as recbole_trainer

    original = recbole_trainer.tqdm
    recbole_trainer.tqdm = progress
    try:
        yield
    finally:
        recbole_trainer.tqdm = original
