"""Plots of the report: HR@10 per popularity group (paper Fig. 5) and a t-SNE of item tables (Fig. 6)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from ..artifacts.atomic_write import atomic_write


def _save(figure, path: str) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    with atomic_write(path, "wb") as handle:
        handle.write(buffer.getvalue())


def plot_group_analysis(
    path: str, results: Sequence, protocol: str, metric: str = "hit@10", title: str = ""
) -> None:
    """Grouped bars: ``metric`` per target-popularity group, one bar per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = results[0].group_names
    counts = [int(results[0].test_results[protocol].get(f"group{i + 1}_users", 0)) for i in range(len(names))]
    x = np.arange(len(names))
    width = 0.8 / len(results)
    figure, axis = plt.subplots(figsize=(1.6 * len(names) + 2, 4))
    for j, result in enumerate(results):
        values = [result.test_results[protocol].get(f"group{i + 1}_{metric}", 0.0) for i in range(len(names))]
        axis.bar(x + (j - (len(results) - 1) / 2) * width, values, width, label=result.model)
    axis.set_xticks(x, [f"{n}\n({c} users)" for n, c in zip(names, counts, strict=True)])
    axis.set_xlabel("training popularity of the target item")
    axis.set_ylabel(metric.upper().replace("HIT", "HR"))
    axis.set_title(f"{metric.upper().replace('HIT', 'HR')} by item popularity group {title}".strip())
    axis.legend()
    _save(figure, path)
    plt.close(figure)


def plot_tsne(path: str, results: Sequence, max_items: int = 3000, seed: int = 0) -> None:
    """Side-by-side 2-D t-SNE of each model's item table, coloured by log training popularity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.manifold import TSNE

    popularity = results[0].popularity
    n = len(popularity) - 1
    rng = np.random.default_rng(seed)
    items = (
        np.arange(1, n + 1)
        if n <= max_items
        else np.sort(rng.choice(np.arange(1, n + 1), max_items, replace=False))
    )
    colour = np.log1p(popularity[items])
    figure, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 5), squeeze=False)
    for axis, result in zip(axes[0], results, strict=True):
        table = result.item_embeddings[items]
        perplexity = float(min(30, max(2, (len(items) - 1) / 3)))
        points = TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(
            table
        )
        scatter = axis.scatter(points[:, 0], points[:, 1], c=colour, s=4, cmap="viridis")
        axis.set_title(f"{result.model} item embeddings (t-SNE)")
        axis.set_xticks([])
        axis.set_yticks([])
    figure.colorbar(scatter, ax=axes[0].tolist(), label="log(1 + training popularity)")
    _save(figure, path)
    plt.close(figure)
