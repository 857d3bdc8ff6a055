"""How far apart two item tables of the same items are: per-row cosine and nearest-neighbour overlap.

Used to state what a setting that should not change the table much (``llm_dtype: bfloat16``
against float32, two SCFT runs) does to it. Tables are the ``.npz`` files the table stage writes;
rows are matched by item token. PCA tables of different runs have their own bases, so compare raw
tables (``llm-table-<key>.npz``) or the neighbour overlap, which does not depend on the basis.

    python benchmarks/table_agreement.py saved/llmemb/ml-100k/llm-table-A.npz saved/llmemb/ml-100k/llm-table-B.npz
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from recbole_llmemb.llm.item_table import ItemTable


def neighbours(vectors: torch.Tensor, k: int) -> torch.Tensor:
    """Each row's k nearest other rows by cosine."""
    unit = torch.nn.functional.normalize(vectors, dim=1)
    similarity = unit @ unit.T
    similarity.fill_diagonal_(-torch.inf)
    return similarity.topk(k, dim=1).indices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--k", type=int, default=10, help="neighbours compared per item")
    args = parser.parse_args()
    first = ItemTable.load(args.first, require_record=False)
    second = ItemTable.load(args.second, require_record=False)
    order = {token: i for i, token in enumerate(second.tokens)}
    if set(order) != set(first.tokens):
        raise SystemExit(f"{args.second}: not the items of {args.first}")
    a = torch.from_numpy(np.asarray(first.vectors, dtype=np.float32))
    b = torch.from_numpy(np.asarray(second.vectors, dtype=np.float32))[[order[t] for t in first.tokens]]
    if a.shape == b.shape:  # rows of different sizes have no cosine; their neighbours still compare
        cosine = torch.nn.functional.cosine_similarity(a, b, dim=1)
        q = torch.quantile(cosine, torch.tensor([0.01, 0.5]))
        print(
            f"row cosine: mean {cosine.mean():.5f}, min {cosine.min():.5f}, 1% {q[0]:.5f}, median {q[1]:.5f}"
        )
    pairs = zip(neighbours(a, args.k).tolist(), neighbours(b, args.k).tolist(), strict=True)
    overlap = [len(set(x) & set(y)) / args.k for x, y in pairs]
    print(f"{len(a)} items: {args.k}-nearest-neighbour overlap mean {np.mean(overlap):.4f}")


if __name__ == "__main__":
    main()
