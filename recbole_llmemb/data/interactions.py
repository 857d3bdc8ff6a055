"""Interactions held compactly while converting: ids as ints, columns as arrays."""

from __future__ import annotations

import math
from array import array


class InteractionLog:
    """Every kept raw interaction, in file order.

    User and item ids are interned to ints and the columns are ``array``s, so a few million
    interactions take tens of megabytes rather than a Python tuple each.
    """

    def __init__(self) -> None:
        self.user_index: dict[str, int] = {}
        self.item_index: dict[str, int] = {}
        self.users = array("i")
        self.items = array("i")
        self.times = array("q")
        self.ratings = array("d")

    def __len__(self) -> int:
        return len(self.users)

    def add(self, user: str, item: str, timestamp: int, rating: float | None) -> None:
        self.users.append(self.user_index.setdefault(user, len(self.user_index)))
        self.items.append(self.item_index.setdefault(item, len(self.item_index)))
        self.times.append(timestamp)
        self.ratings.append(math.nan if rating is None else rating)

    def user_sequences(self, drop_duplicates: bool) -> tuple[dict[int, list[int]], int]:
        """Row numbers per user in time order, ties in file order; users in file order.

        With ``drop_duplicates`` a user's repeated item keeps only its earliest row.
        Returns ``(sequences, rows dropped as duplicates)``.
        """
        sequences: dict[int, list[int]] = {user: [] for user in range(len(self.user_index))}
        # sorted() is stable: rows with the same timestamp stay in file order.
        for row in sorted(range(len(self.users)), key=self.times.__getitem__):
            sequences[self.users[row]].append(row)
        dropped = 0
        if drop_duplicates:
            items = self.items
            for user, rows in sequences.items():
                seen: set[int] = set()
                unique = []
                for row in rows:
                    if items[row] not in seen:
                        seen.add(items[row])
                        unique.append(row)
                dropped += len(rows) - len(unique)
                sequences[user] = unique
        return sequences, dropped
