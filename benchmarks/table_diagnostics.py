"""How much collaborative signal an LLM item table carries, and how collapsed it is.

For each cached raw table: PCA 128 + per-dimension standardising (as RAT sees it), then 5-fold
(shuffled) cross-validated ridge R^2 for predicting log popularity and the pretrained plain
SASRec's item embeddings; and the mean pairwise cosine of the raw vectors (1 = collapsed).

    python benchmarks/table_diagnostics.py ml-100k saved/llmemb/ml-100k/llm-table-<key>.npz ... [--seed=2021]

``--key=value`` settings pick the plain SASRec to compare with, as on the pipeline's command line.
"""

from __future__ import annotations

import os
import sys

import numpy as np
from recbole.data import create_dataset
from recbole.model.sequential_recommender import SASRec
from ridge import popularity_r2, ridge_r2

from recbole_llmemb.artifacts.checkpoints import pretrained_checkpoint
from recbole_llmemb.cli import parse_args
from recbole_llmemb.compat import load_recbole_checkpoint
from recbole_llmemb.llm.item_table import ItemTable, reduce_pca
from recbole_llmemb.model.embedding_builder import condition_table
from recbole_llmemb.quick_start import make_config


def main(dataset: str, tables: list[str], settings: list[str]) -> None:
    # The --key=value settings as the runner reads them, so the plain model's key is the same.
    config = make_config(SASRec, dataset, config_dict=parse_args(settings)[1])
    data = create_dataset(config)
    id2token = list(data.field2id_token["item_id"])
    popularity = np.bincount(np.asarray(data.inter_feat["item_id"]), minlength=len(id2token))[1:]
    # The plain model of exactly this config: the cache holds one per seed and epoch count.
    checkpoint = pretrained_checkpoint(config)
    if not os.path.isfile(checkpoint):
        sys.exit(
            f"{checkpoint}: no plain SASRec for this config; train it first with"
            f" python run_recbole_llmemb.py --model=SASRec --dataset={dataset} --stage=pretrain"
            + "".join(f" {s}" for s in settings)
        )
    sasrec = load_recbole_checkpoint(checkpoint)["state_dict"]["item_embedding.weight"][
        1 : len(id2token)
    ].numpy()
    for path in tables:
        table = ItemTable.load(path)
        x = condition_table(reduce_pca(table, 128).to_internal_ids(id2token), "standardize")[0].numpy()[1:]
        r2_pop = popularity_r2(x, popularity)
        r2_emb = ridge_r2(x, sasrec)
        unit = table.vectors / np.linalg.norm(table.vectors, axis=1, keepdims=True)
        n = len(unit)
        sims = unit @ unit.T
        mean_cos = float((sims.sum() - n) / (n * n - n))
        print(
            f"{dataset} {path}: R2 log-popularity {r2_pop:.3f}, R2 SASRec item embedding {r2_emb:.3f}, mean cosine {mean_cos:.3f}"
        )


if __name__ == "__main__":
    settings = [a for a in sys.argv[1:] if a.startswith("--")]
    name, *paths = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(name, paths, settings)
