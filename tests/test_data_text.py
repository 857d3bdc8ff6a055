"""Item text cleaning and the k-core filter, against hand-computed answers."""

from __future__ import annotations

import pytest

from recbole_llmemb.data.interactions import InteractionLog
from recbole_llmemb.data.kcore import kcore
from recbole_llmemb.data.text import clean_number, clean_text, clean_token, join_texts


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Rose &amp;amp; Honey\tLip Balm; 2 pack", "Rose & Honey Lip Balm, 2 pack"),
        ("<b>Soft</b> lips\r\nall   day", "Soft lips all day"),
        ('<span class="x">Silk&nbsp;Scarf</span>', "Silk Scarf"),
        ("a < b > c", "a < b > c"),
        ("bell\x07ring\x00", "bell ring"),
        ("Caf&eacute; &#39;Le Bon&#39;", "Café 'Le Bon'"),
        (["Beauty", " Skin  Care ", "", None, "Lips"], "Beauty, Skin Care, Lips"),
        (None, ""),
        (12.5, "12.5"),
    ],
)
def test_clean_text(raw, expected):
    assert clean_text(raw) == expected


def test_clean_text_cuts_to_max_chars():
    long = "Long " * 40
    assert clean_text(long, 100) == " ".join(["Long"] * 20)  # 100 chars, trailing space dropped
    assert len(clean_text("x" * 150, 100)) == 100
    assert clean_text("x" * 150, 0) == "x" * 150
    # The cut comes after folding, so entities and spaces do not eat the budget.
    assert clean_text("&amp;" * 10 + "y", 5) == "&&&&&"


def test_join_texts_cuts_the_joined_value():
    assert join_texts(["Light.", "Soft &amp; warm."], 100, separator=" ") == "Light. Soft & warm."
    assert join_texts(["abc", "defgh"], 6) == "abc, d"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (9.99, "9.99"),
        (3, "3.0"),
        ("$1,299.00", "1299.0"),
        ("$5.99 - $24.99", "5.99"),
        ("US$ 7", "7.0"),
        (".a-box-inner{background-color:#fff}", ""),
        ("call 555-1234 for price", ""),
        ("", ""),
        (None, ""),
        (True, ""),
        (float("nan"), ""),
    ],
)
def test_clean_number(raw, expected):
    assert clean_number(raw) == expected


def test_clean_token():
    assert clean_token(" A1B2 ") == "A1B2"
    assert clean_token(1193) == "1193"
    assert clean_token("two words") is None
    assert clean_token("") is None
    assert clean_token(None) is None
    assert clean_token({"id": 1}) is None


def test_kcore_two_rounds_hand_computed():
    sequences = {"u1": ["a", "b", "z"], "u2": ["a", "b"], "u3": ["b", "c"], "u4": ["c", "y"]}
    # k=2. Round 1: counts a2 b3 c2 z1 y1 -> z, y go; u4 keeps [c] and goes.
    # Round 2: c now 1 -> goes; u3 keeps [b] and goes. Round 3: a2 b2, nothing changes.
    kept, rounds = kcore(sequences, 2)
    assert kept == {"u1": ["a", "b"], "u2": ["a", "b"]}
    assert rounds == 2


def test_kcore_three_core_and_cascade_to_empty():
    sequences = {
        "u1": ["a", "b", "c"],
        "u2": ["a", "b", "c"],
        "u3": ["c", "a", "b", "d"],
        "u4": ["d", "e", "a"],
        "u5": ["a", "b"],
    }
    # k=3. Round 1: a5 b4 c3 d2 e1 -> d, e go; u4 keeps [a], u5 has 2: both go.
    # Round 2: a3 b3 c3, stable. u3 keeps its own order.
    kept, rounds = kcore(sequences, 3)
    assert kept == {"u1": ["a", "b", "c"], "u2": ["a", "b", "c"], "u3": ["c", "a", "b"]}
    assert rounds == 1
    chain = {"u1": ["a", "b"], "u2": ["b", "c"], "u3": ["c", "x"]}
    assert kcore(chain, 2) == ({}, 2)
    assert kcore(chain, 0) == (chain, 0)
    assert kcore({"u": [], "v": ["a"]}, 1) == ({"v": ["a"]}, 0)


def test_kcore_with_item_of_counts_repeats():
    rows = {"u1": [0, 1], "u2": [2, 3, 4]}
    items = ["a", "b", "a", "b", "b"]
    kept, _ = kcore(rows, 2, item_of=items.__getitem__)
    assert kept == rows
    # u1 = [a, b], u2 = [b, b]: a occurs once -> goes, u1 falls to [b] -> goes; u2 stays.
    assert kcore({"u1": [0, 1], "u2": [3, 4]}, 2, item_of=items.__getitem__) == ({"u2": [3, 4]}, 1)


def test_user_sequences_order_ties_and_duplicates():
    log = InteractionLog()
    for user, item, time in [
        ("u1", "b", 200),
        ("u2", "x", 5),
        ("u1", "a", 100),
        ("u1", "c", 100),  # same time as a: stays after a (file order)
        ("u1", "a", 300),  # repeat of a: dropped, the earliest kept
        ("u1", "d", 50),
    ]:
        log.add(user, item, time, None)
    items = list(log.item_index)
    sequences, dropped = log.user_sequences(drop_duplicates=True)
    assert dropped == 1
    assert [items[log.items[r]] for r in sequences[0]] == ["d", "a", "c", "b"]
    assert [items[log.items[r]] for r in sequences[1]] == ["x"]
    sequences, dropped = log.user_sequences(drop_duplicates=False)
    assert dropped == 0
    assert [items[log.items[r]] for r in sequences[0]] == ["d", "a", "c", "b", "a"]
