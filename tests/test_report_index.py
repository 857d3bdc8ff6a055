"""The results folder's index: built from the comparison reports there, whatever else the folder holds."""

import json
import os

from recbole_llmemb.report.index import update_index


def test_index_lists_comparison_reports_and_skips_a_cold_item_report(tmp_path):
    rows = [{"model": "SASRec", "ndcg@10": 0.25}, {"model": "LLMEmbSASRec", "ndcg@10": 0.5}]
    meta = {"dataset": "tiny", "seed": 7, "epochs": 2, "llmemb checkpoint": "m.pth"}
    (tmp_path / "tiny-SASRec-abcd-full.json").write_text(json.dumps({"rows": rows, "meta": meta}))
    (tmp_path / "tiny-SASRec-abcd-full.md").write_text("report")
    # The cold-item protocol writes its report into the same folder, with rows per method.
    cold = {"rows": {"popularity": {"full": {}, "uni100": {}}}, "meta": {"cold_items": ["3"]}}
    (tmp_path / "tiny-SASRec-cold-ef01.json").write_text(json.dumps(cold))
    index = update_index(
        str(tmp_path), str(tmp_path / "tiny-SASRec-abcd"), str(tmp_path / "tiny-SASRec-abcd-full.md")
    )
    lines = open(index, encoding="utf-8").read().splitlines()
    assert lines[4:] == [
        "| [tiny-SASRec-abcd-full](tiny-SASRec-abcd-full.md) | tiny | SASRec / LLMEmbSASRec | 7 | 2"
        " | 0.2500 → 0.5000 | m.pth |"
    ]
    assert os.readlink(tmp_path / "tiny-SASRec-latest.md") == "tiny-SASRec-abcd-full.md"
