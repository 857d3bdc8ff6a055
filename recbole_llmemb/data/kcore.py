"""Iterative k-core filtering of user sequences (SASRec / BERT4Rec preprocessing)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from typing import TypeVar

U = TypeVar("U", bound=Hashable)
T = TypeVar("T")


def kcore(
    sequences: dict[U, list[T]], k: int, item_of: Callable[[T], Hashable] | None = None
) -> tuple[dict[U, list[T]], int]:
    """Keep only users with >= ``k`` interactions and items with >= ``k`` interactions.

    Removing a rare item can push a user under ``k`` and the other way round, so both filters
    repeat until nothing changes. ``item_of`` maps a sequence element to its item (identity by
    default). Order is kept. Returns ``(filtered sequences, rounds that removed something)``.
    ``k <= 1`` keeps everything non-empty.
    """
    key = item_of or (lambda element: element)
    current = {user: seq for user, seq in sequences.items() if seq}
    if k <= 1:
        return current, 0
    rounds = 0
    while True:
        counts = Counter(key(element) for seq in current.values() for element in seq)
        changed = False
        kept: dict[U, list[T]] = {}
        for user, seq in current.items():
            filtered = [element for element in seq if counts[key(element)] >= k]
            if len(filtered) != len(seq):
                changed = True
            if len(filtered) >= k:
                kept[user] = filtered
            else:
                changed = True
        current = kept
        if not changed:
            return current, rounds
        rounds += 1
