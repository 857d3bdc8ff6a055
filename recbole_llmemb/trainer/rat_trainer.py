"""RAT, the recommendation adaptation training of LLMEmb: backbone loss + alignment to a plain model."""

from __future__ import annotations

import torch

from ..compat import load_recbole_checkpoint
from ..model.alignment_loss import alignment_loss
from ..model.llm_item_embedding import batch_item_ids
from ..settings import RATSettings
from .longtail_trainer import LongTailTrainer


def pretrained_item_embedding(checkpoint_file: str, n_items: int, dataset: str) -> torch.Tensor:
    """Item rows ``[n_items, d]`` of a plain backbone's checkpoint of the same dataset (BERT4Rec's mask
    row dropped); another dataset or item count is a one-line error naming ``pretrained_srs_file``."""
    checkpoint = load_recbole_checkpoint(checkpoint_file, users_own=True, option="pretrained_srs_file")
    state, config = checkpoint["state_dict"], checkpoint.get("config")
    if "item_embedding.weight" not in state:
        raise ValueError(f"pretrained_srs_file: {checkpoint_file} has no item_embedding.weight")
    if config is not None and config["dataset"] != dataset:
        raise ValueError(
            f"pretrained_srs_file: {checkpoint_file} is a model of dataset '{config['dataset']}', this run's is"
            f" '{dataset}'; train the plain backbone on this dataset"
        )
    rows = state["item_embedding.weight"].shape[0]
    extra = 1 if config is not None and config["model"] == "BERT4Rec" else 0  # its [mask] row
    if rows - extra != n_items:
        raise ValueError(
            f"pretrained_srs_file: {checkpoint_file} has {rows - extra - 1} items, dataset has {n_items - 1};"
            " train the plain backbone on the same dataset and filters"
        )
    return state["item_embedding.weight"][:n_items].float()


class RATTrainer(LongTailTrainer):
    """Recommendation adaptation training: loss = backbone loss + ``align_weight`` * alignment.

    The alignment target is the item table of the pretrained plain backbone
    (``pretrained_srs_file``), fixed; it pulls the adapter outputs of the batch's items
    (history and targets) towards their collaborative vectors. Both parts are logged. Of the base
    trainer it overrides the loss hook (:meth:`batch_loss`) and the optimizer's parameter groups.
    """

    def __init__(self, config, model, align_target: torch.Tensor | None = None):
        super().__init__(config, model)
        settings = RATSettings.from_config(config)
        self.align_weight = float(settings.align_weight)
        self.align_temperature = float(settings.align_temperature)
        self.align_similarity = settings.align_similarity
        self.align_max_items = int(settings.align_max_items)
        if self.align_weight > 0 and align_target is None:
            checkpoint = settings.pretrained_srs_file
            if not checkpoint:
                raise ValueError(
                    "pretrained_srs_file: align_weight > 0 needs the plain backbone's checkpoint;"
                    " run the full pipeline or set align_weight: 0"
                )
            align_target = pretrained_item_embedding(checkpoint, model.n_items, config["dataset"])
            size = model.item_embedding.weight.shape[1]
            if align_target.shape[1] != size:
                raise ValueError(
                    f"pretrained_srs_file: {checkpoint} has item vectors of size {align_target.shape[1]},"
                    f" this model {size}; train the plain backbone with the same embedding size"
                )
        self.align_target = None if align_target is None else align_target.to(self.device)

    def _build_optimizer(self, **kwargs):
        """RecBole's optimizer; with ``adapter_learning_rate`` the adapter gets a group of its own."""
        adapter_lr = RATSettings.from_config(self.config).adapter_learning_rate
        embedding = getattr(self.model, "item_embedding", None)
        if adapter_lr is None or "params" in kwargs or not hasattr(embedding, "adapter"):
            return super()._build_optimizer(**kwargs)
        adapter_ids = {id(p) for p in embedding.adapter.parameters()}
        rest = [p for p in self.model.parameters() if id(p) not in adapter_ids]
        groups = [{"params": rest}, {"params": list(embedding.adapter.parameters()), "lr": float(adapter_lr)}]
        return super()._build_optimizer(params=groups, **kwargs)

    def batch_loss(self, interaction) -> tuple[torch.Tensor, torch.Tensor]:
        """``(backbone loss, align_weight * alignment loss)`` for one batch."""
        embedding = self.model.item_embedding
        row_lookup = getattr(embedding, "row_lookup", False)
        # The sampled softmax adapts the history and its candidates itself.
        if row_lookup and self.recommendation_loss.sampled_softmax is None:
            # One adapter pass over the batch's distinct items serves every lookup of this step.
            embedding.prefetch(batch_item_ids(self.model, interaction))
        rec_loss = self.recommendation_loss(interaction)
        if self.align_target is None or self.align_weight == 0:
            return rec_loss, rec_loss.new_zeros(())
        items = torch.cat([interaction[self.model.ITEM_SEQ].flatten(), interaction[self.model.ITEM_ID]])
        items = torch.unique(items)
        items = items[items > 0]
        if 0 < self.align_max_items < len(items):  # the loss is quadratic in the item count
            items = items[torch.randperm(len(items), device=items.device)[: self.align_max_items]]
        # Indexing .weight (not the lookup) under CE keeps recorded CE runs bit-reproducible.
        adapted = embedding(items) if row_lookup else embedding.weight[items]
        align = alignment_loss(
            adapted, self.align_target[items], self.align_temperature, self.align_similarity
        )
        return rec_loss, self.align_weight * align
