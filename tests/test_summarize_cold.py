"""benchmarks/summarize_cold.py: the cold-item table of RESULTS.md from the runs' reports."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))

from summarize_cold import report_paths, table  # noqa: E402


def _report(cold_hit: float) -> dict:
    full = {"cold_hit@10": cold_hit, "cold_ndcg@10": 0.5, "warm_hit@10": 0.2, "warm_ndcg@10": 0.1}
    uni100 = {"cold_hit@10": 0.3, "cold_ndcg@10": 0.25, "warm_hit@10": 0.7, "warm_ndcg@10": 0.4}
    # a group without users (here both) has no metrics in its report row
    return {
        "rows": {"LLMEmb-SASRec": {"full": full, "uni100": uni100}, "popularity": {"full": {}, "uni100": {}}}
    }


def test_one_report_prints_its_numbers_in_pairs():
    lines = table([_report(0.125)])
    assert (
        lines[2]
        == "| LLMEmb-SASRec | 0.1250 / 0.5000 | 0.2000 / 0.1000 | 0.3000 / 0.2500 | 0.7000 / 0.4000 |"
    )
    assert (
        lines[3] == "| popularity | 0.0000 / 0.0000 | 0.0000 / 0.0000 | 0.0000 / 0.0000 | 0.0000 / 0.0000 |"
    )


def test_several_reports_give_mean_and_sample_std():
    lines = table([_report(0.1), _report(0.2), _report(0.3)])
    # mean 0.2, sample std sqrt(((0.1)^2 + 0 + (0.1)^2) / 2) = 0.1; constant cells have std 0
    assert lines[2].startswith("| LLMEmb-SASRec (n=3) | 0.2000 ± 0.1000 / 0.5000 ± 0.0000 | 0.2000 ± 0.0000")
    assert len(lines) == 4


def test_a_folder_stands_for_its_newest_report(tmp_path):
    (tmp_path / "run").mkdir()
    old, new = (
        tmp_path / "run" / "ml-100k-SASRec-cold-aaaa.json",
        tmp_path / "run" / "ml-100k-SASRec-cold-bbbb.json",
    )
    old.write_text("{}")
    new.write_text("{}")
    os.utime(old, (1, 1))
    (tmp_path / "run" / "ml-100k-SASRec-full.json").write_text("{}")  # the warm comparison's report
    assert report_paths([str(tmp_path / "ru*"), str(old)]) == [str(new), str(old)]
    assert report_paths([str(tmp_path / "missing")]) == []
