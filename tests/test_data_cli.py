"""``python -m recbole_llmemb.data`` and the raw-file reader's handling of bad files."""

from __future__ import annotations

import codecs
import gzip
import json
import os
import subprocess
import sys

import pytest
from test_data_convert import write_beauty, write_lines

from recbole_llmemb.data.__main__ import main
from recbole_llmemb.data.amazon2014 import read_reviews
from recbole_llmemb.data.rawfiles import LineReport, RawFileError, iter_lines


def test_convert_command_with_overrides(tmp_path, capsys):
    write_beauty(tmp_path / "raw")
    out = tmp_path / "dataset" / "amazon-beauty"
    code = main(
        ["convert", "amazon-beauty", f"--raw_dir={tmp_path / 'raw'}", f"--out_dir={out}", "--convert_kcore=3"]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert sorted(os.listdir(out)) == ["amazon-beauty.inter", "amazon-beauty.item"]
    assert "amazon-beauty: 3 users, 3 items, 9 interactions, density 100.0000%" in printed
    assert "reviews_Beauty_5.json.gz: 21 lines, 4 malformed, skipped (first: line 17" in printed
    assert "meta_Beauty.json.gz: 7 lines, 2 malformed, skipped (first: line 3" in printed
    assert "1 repeated (user, item) dropped, 6 removed by the k-core (1 rounds)" in printed

    assert main(["stats", str(out)]) == 0
    assert "sequence length: min 3, mean 3.00, max 3" in capsys.readouterr().out


def test_convert_command_default_folders(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_beauty(tmp_path / "dataset" / "amazon-beauty" / "raw")
    # The YAML's k=5 leaves nobody in this small fixture: a one-line error says what to change.
    assert main(["convert", "amazon-beauty"]) == 2
    assert "lower convert_kcore" in capsys.readouterr().err
    assert main(["convert", "amazon-beauty", "--convert_kcore=2"]) == 0
    assert os.path.isfile("dataset/amazon-beauty/amazon-beauty.inter")
    assert main(["stats", "amazon-beauty"]) == 0
    assert "amazon-beauty: " in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["convert", "amazon-beauty", "--epochs=3"], "conversion settings are --convert_<key>=value"),
        (["convert", "no-such-set"], "has no convert_format; give --convert_format="),
        (["convert", "amazon-beauty", "--convert_kcore=many"], "convert_kcore: 'many' is not a whole number"),
        (["convert", "yelp", "--raw_dir=/nonexistent"], "yelp_academic_dataset_review.json and"),
        (["stats", "/nonexistent/folder"], "folder.inter not found"),
    ],
)
def test_command_errors_are_one_line(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_module_runs_as_a_command(tmp_path):
    write_beauty(tmp_path / "raw")
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    args = [sys.executable, "-m", "recbole_llmemb.data", "convert", "amazon-beauty", "--convert_kcore=3"]
    args += [f"--raw_dir={tmp_path / 'raw'}", f"--out_dir={tmp_path / 'out'}"]
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "amazon-beauty: 3 users, 3 items, 9 interactions" in done.stdout


# --- reading raw files ----------------------------------------------------------------------


def review_line(user: str, item: str, time: int) -> str:
    return json.dumps({"reviewerID": user, "asin": item, "overall": 5.0, "unixReviewTime": time})


def test_byte_order_marks(tmp_path):
    lines = [review_line("u1", "a", 1), review_line("u1", "b", 2)]
    utf8 = tmp_path / "utf8.json"
    utf8.write_bytes(codecs.BOM_UTF8 + ("\n".join(lines) + "\n").encode())
    utf16 = tmp_path / "utf16.json.gz"
    with gzip.open(utf16, "wb") as handle:
        handle.write(("\n".join(lines) + "\n").encode("utf-16"))  # with its BOM
    for path in (utf8, utf16):
        report = LineReport(str(path))
        assert list(read_reviews(str(path), "utf-8", report)) == [("u1", "a", 1, 5.0), ("u1", "b", 2, 5.0)]
        assert (report.lines, report.malformed) == (2, 0)


def test_truncated_gzip_is_one_clear_error(tmp_path):
    path = write_lines(tmp_path / "reviews.json.gz", [review_line(f"u{i}", "a", i) for i in range(2000)])
    data = open(path, "rb").read()
    with open(path, "wb") as handle:
        handle.write(data[: len(data) // 2])
    report = LineReport(path)
    with pytest.raises(RawFileError, match=r"truncated or corrupt after line \d+ .*download the file again"):
        list(read_reviews(path, "utf-8", report))
    assert report.lines > 0


def test_unknown_encoding_names_the_option(tmp_path):
    path = write_lines(tmp_path / "x.json", ["{}"], gz=False)
    with pytest.raises(RawFileError, match="convert_encoding: unknown encoding 'utf-99'"):
        list(iter_lines(path, "utf-99", LineReport(path)))


def test_declared_encoding_is_used(tmp_path):
    # A latin-1 file read as latin-1 needs no fallback; read as utf-8 its é line falls back.
    path = write_lines(
        tmp_path / "x.json", ['{"t": "caf\u00e9"}', '{"t": "plain"}'], gz=False, encoding="latin-1"
    )
    report = LineReport(path)
    assert [line.strip() for _, line in iter_lines(path, "latin-1", report)][0] == '{"t": "café"}'
    assert report.redecoded == 0
    report = LineReport(path)
    assert [line.strip() for _, line in iter_lines(path, "utf-8", report)][0] == '{"t": "café"}'
    assert (report.redecoded, report.first_redecoded) == (1, 1)
