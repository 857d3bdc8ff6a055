"""data/atomic_files.py: the one reader of .inter / .item files, by hand, and its readers agreeing."""

import pytest

from recbole_llmemb.data.atomic_files import AtomicFile, Header, write_atomic_file
from recbole_llmemb.data.stats import read_statistics
from recbole_llmemb.llm.prompts import read_item_file


def write(path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_header_and_rows_by_hand(tmp_path):
    # CRLF endings, a blank line, a final line without a newline, a value holding a lone \r.
    path = write(tmp_path / "a.inter", b"user_id:token\titem_id:token\r\nu1\ti1\r\n\r\nu2\ti\r2\nu3\ti3")
    inter = AtomicFile(path)
    assert inter.header == Header(("user_id:token", "item_id:token"))
    assert inter.header.names == ["user_id", "item_id"] and inter.header.types == ["token", "token"]
    assert inter.header.index("item_id") == 1 and inter.header.index("timestamp") is None
    assert list(inter.rows()) == [(2, ["u1", "i1"]), (4, ["u2", "i\r2"]), (5, ["u3", "i3"])]
    # Another separator; a field far longer than the csv module's limit (131072).
    long = "x" * 200_000
    path = write(tmp_path / "b.item", f"item_id:token,title:token_seq\na,{long}\n".encode())
    assert list(AtomicFile(path, ",").rows()) == [(2, ["a", long])]


def test_the_one_line_errors(tmp_path):
    for data in (b"", b"\n\nu1\ti1\n", b"  \t \n"):
        with pytest.raises(
            ValueError, match=r"a\.inter: empty file; an atomic file starts with a 'field:type'"
        ):
            AtomicFile(write(tmp_path / "a.inter", data))
    with pytest.raises(ValueError, match=r"a\.item: empty \.item file"):
        AtomicFile(write(tmp_path / "a.item", b""), what=".item file")
    short = write(
        tmp_path / "s.inter", b"user_id:token\titem_id:token\ttimestamp:float\nu1\ti1\t1\n\nu2\ti2\n"
    )
    message = r"s\.inter, line 4: 2 columns, header has 3; fix the line or the field_separator option"
    with pytest.raises(ValueError, match=message):
        list(AtomicFile(short).rows())
    with pytest.raises(ValueError, match=r"line 4: 2 columns, header has 3 \(timestamp missing\); fix"):
        list(AtomicFile(short).rows(name_missing=True))
    with pytest.raises(ValueError, match=r"line 2: 4 columns, header has 2; fix"):
        list(
            AtomicFile(write(tmp_path / "l.inter", b"a:token\tb:token\n1\t2\t3\t4\n")).rows(name_missing=True)
        )
    untyped = write(tmp_path / "t.inter", b"user_id:token\titem_id\n")
    assert AtomicFile(untyped).header.names == ["user_id", "item_id"]  # only `typed` checks the types
    with pytest.raises(
        ValueError, match=r"t\.inter, line 1: column 2 is 'item_id', not 'name:type' with a type"
    ):
        AtomicFile(untyped, typed=True)
    with pytest.raises(ValueError, match=r"line 1: column 1 is ':token'"):
        AtomicFile(write(tmp_path / "n.inter", b":token\n"), typed=True)


def test_a_byte_that_is_not_text_is_found_in_the_file_not_in_the_decoders_chunk(tmp_path):
    head = b"item_id:token\ttitle:token_seq\n" + b"".join(b"i%d\tred blue\n" % i for i in range(2000))
    path = write(tmp_path / "x.item", head + b"i9\tcaf\xe9\n")
    with pytest.raises(
        ValueError, match=rf"x\.item, line 2002: not UTF-8 text \(byte 0xe9 at offset {len(head) + 6}\)"
    ):
        list(AtomicFile(path).rows())
    assert AtomicFile(path, encoding="latin-1").header.names == ["item_id", "title"]
    assert list(AtomicFile(path, encoding="latin-1").rows())[-1] == (2002, ["i9", "café"])


def test_written_files_read_back(tmp_path):
    header = Header(("item_id:token", "title:token_seq"))
    write_atomic_file(str(tmp_path / "w.item"), header, [["a", "red"], ["b", ""]])
    assert (tmp_path / "w.item").read_text() == "item_id:token\ttitle:token_seq\na\tred\nb\t\n"
    back = AtomicFile(str(tmp_path / "w.item"))
    assert back.header == header and [values for _, values in back.rows()] == [["a", "red"], ["b", ""]]


def test_the_statistics_and_the_prompts_read_the_same_rows(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    write(folder / "d.inter", b"user_id:token\titem_id:token\r\nu1\ta\r\n\r\nu1\tb\r\nu2\ta\r\n")
    write(folder / "d.item", b"item_id:token\ttitle:token_seq\r\na\tred\r\nb\tblue\r\n")
    stats = read_statistics(str(folder))
    assert (stats.users, stats.items, stats.interactions, stats.items_with_row) == (2, 2, 3, 2)
    assert read_item_file(str(folder / "d.item")) == (
        "item_id",
        ["title"],
        {"a": {"item_id": "a", "title": "red"}, "b": {"item_id": "b", "title": "blue"}},
    )
    write(folder / "d.item", b"item_id:token\ttitle:token_seq\na\tred\nb\n")
    with pytest.raises(ValueError, match=r"d\.item, line 3: 1 columns, header has 2"):
        read_statistics(str(folder))  # it once read such a row as an item without text
