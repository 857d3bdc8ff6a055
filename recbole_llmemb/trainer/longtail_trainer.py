"""The trainer of every model here: RecBole's Trainer with one explicit hook per thing this plugin changes."""

from __future__ import annotations

import torch
from recbole.evaluator import Collector, Evaluator
from recbole.trainer import Trainer
from torch.nn.parallel import DistributedDataParallel

from ..artifacts.atomic_write import atomic_write
from ..artifacts.fingerprints import file_sha256
from ..artifacts.records import verified_record, write_record
from ..artifacts.safe_checkpoints import read_checkpoint
from ..compat import load_recbole_checkpoint
from ..data.sequence_examples import sequence_train_data
from ..distributed import barrier, is_main
from ..evaluation import seen_items
from ..evaluation.candidates import restrict_to_candidates
from ..evaluation.fixed_negatives import FixedNegatives
from ..evaluation.longtail import LongTailCollector, LongTailEvaluator
from ..evaluation.popularity import PopularityGroups, training_history_lengths, training_item_popularity
from ..progress import recbole_bars_as_progress
from ..settings import EvaluationSettings
from .distributed_training import ddp_model
from .recommendation_loss import RecommendationLoss


class LongTailTrainer(Trainer):
    """RecBole's ``Trainer`` for every model of this plugin (``get_trainer`` gives it where RecBole would
    give its plain ``Trainer``). RecBole's ``fit``, epoch and evaluation loops run as they are; the
    methods below override them only to call these hooks, each at one place. A subclass overrides a
    hook, never a loop:

    - ``batch_loss(interaction)``: the loss of one training batch, a tensor or a tuple of parts
      (summed for the gradient, logged apart). Here :attr:`recommendation_loss`, the backbone loss
      that ``train_regime`` and ``sampled_softmax_negatives`` ask for.
    - ``epoch_data(train_data)``: what every epoch trains on: the prefix rows, or under
      ``train_regime: sequence`` each user's whole sequence. ``fit`` calls it once, after the
      popularity groups and the loss are built from the prefix rows.
    - ``build_eval_collector(config)`` / ``build_evaluator(config)``: RecBole's collector and
      evaluator, here with the long-tail rows and metrics (``evaluation/longtail.py``).
    - ``mask_candidates(interaction, scores, positive_u, positive_i)``: a full-ranking batch's
      scores with the candidates not to rank at -inf: outside the fixed negatives
      (``eval_negatives``, from ``set_eval_dataset``) and the user's earlier items
      (``eval_exclude_history``, from ``set_popularity``).
    - ``wrap_distributed()`` / ``writes_checkpoints()``: under several processes, the DDP module
      that RecBole's epoch syncs gradients through, and whether this process writes checkpoints
      (rank 0).
    - ``load_checkpoint(checkpoint_file, resuming)`` / ``_save_checkpoint(epoch, verbose)``: a
      checkpoint of this run, checked against its record (``checkpoint_key``) and read without
      running code from it, for the best model and for resuming; written by temp file + rename,
      with its record.

    RecBole's progress bars become log lines off a terminal (:mod:`~recbole_llmemb.progress`).
    """

    checkpoint_key: str | None = None  # the key the checkpoints of this run are recorded under

    def __init__(self, config, model):
        distributed = not config["single_spec"]
        # RecBole's own DDP wrapper passes device_ids, which DDP refuses for a CPU module: keep it out.
        config["single_spec"] = True
        try:
            super().__init__(config, model)
        finally:
            config["single_spec"] = not distributed
        if distributed:
            self.distributed_model = self.wrap_distributed()
        self.eval_collector = self.build_eval_collector(config)
        self.evaluator = self.build_evaluator(config)
        self.recommendation_loss = RecommendationLoss(config, self.model)
        settings = EvaluationSettings.from_config(config)
        self.eval_negatives = int(settings.negatives)
        self.fixed_negatives: FixedNegatives | None = None
        self.exclude_history_setting = settings.exclude_history
        self.exclude_history: bool | None = None  # resolved from the data
        self.seen_items: seen_items.SeenItems | None = None

    # Training.

    def batch_loss(self, interaction) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """The loss of one training batch: the backbone loss of this trainer's regime and settings."""
        return self.recommendation_loss(interaction)

    def epoch_data(self, train_data):
        """What every epoch trains on: RecBole's prefix rows, or each user's whole sequence once."""
        if self.recommendation_loss.train_regime == "sequence":
            return sequence_train_data(train_data, self.model)
        return train_data

    def fit(self, train_data, valid_data=None, *args, **kwargs):
        """RecBole's ``fit`` on :meth:`epoch_data`; popularity groups and loss from the prefix rows first."""
        if self.evaluator.groups is None:
            self.set_popularity(train_data)
        self.recommendation_loss.build(train_data)
        return super().fit(self.epoch_data(train_data), valid_data, *args, **kwargs)

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        """RecBole's epoch with :meth:`batch_loss` (or ``loss_func``) as the loss of each batch."""
        self.recommendation_loss.build(train_data)  # an epoch run without fit (tests, benchmarks)
        with recbole_bars_as_progress():  # RecBole's tqdm bars are one endless line in a log file
            return super()._train_epoch(
                train_data, epoch_idx, loss_func=loss_func or self.batch_loss, show_progress=show_progress
            )

    # Evaluation.

    def build_eval_collector(self, config) -> Collector:
        """What evaluation collects of each batch: RecBole's data plus each row's user and target."""
        return LongTailCollector(config)

    def build_evaluator(self, config) -> Evaluator:
        """The metrics: RecBole's, and each top-k one per tail / head, popularity group and history length."""
        return LongTailEvaluator(config)

    def set_popularity(self, train_data) -> PopularityGroups:
        """Tail / head / groups from the training split's item popularity; each user's earlier items."""
        popularity = training_item_popularity(train_data.dataset, self.model.n_items)
        self.evaluator.groups = PopularityGroups.from_config(self.config, popularity)
        self.evaluator.history_lengths = training_history_lengths(
            train_data.dataset, train_data.dataset.user_num
        )
        self.seen_items = seen_items.SeenItems.from_training_rows(
            train_data.dataset, train_data.dataset.user_num, self.model.n_items
        )
        if self.exclude_history is None:  # set_eval_dataset, given every split, decides for good
            self.exclude_history = seen_items.resolve(self.exclude_history_setting, train_data.dataset)
        return self.evaluator.groups

    def set_eval_dataset(self, dataset) -> None:
        """The dataset before the split: every user's items, excluded from the sampled negatives; whether
        items repeat (``eval_exclude_history: auto``)."""
        self.exclude_history = seen_items.resolve(self.exclude_history_setting, dataset)
        if self.eval_negatives:
            self.fixed_negatives = FixedNegatives.from_dataset(
                dataset, self.eval_negatives, int(self.config["seed"])
            )

    def mask_candidates(self, interaction, scores, positive_u, positive_i) -> torch.Tensor:
        """``scores`` at -inf outside the fixed negatives and on the user's earlier items; a target
        stays a candidate (:func:`~recbole_llmemb.evaluation.candidates.restrict_to_candidates`)."""
        if not self.eval_negatives and not self.exclude_history:
            return scores
        if self.eval_negatives and self.fixed_negatives is None:
            raise ValueError(
                "eval_negatives: call trainer.set_eval_dataset(dataset) with the dataset before the split"
            )
        if self.exclude_history and self.seen_items is None:
            raise ValueError(
                "eval_exclude_history: call trainer.set_popularity(train_data) before evaluating"
            )
        windows = (
            interaction[self.config["ITEM_ID_FIELD"] + self.config["LIST_SUFFIX"]]
            if self.exclude_history
            else None
        )
        return restrict_to_candidates(
            scores,
            interaction[self.config["USER_ID_FIELD"]],
            windows,
            positive_u,
            positive_i,
            self.fixed_negatives if self.eval_negatives else None,
            self.seen_items if self.exclude_history else None,
        )

    def _full_sort_batch_eval(self, batched_data):
        interaction, scores, positive_u, positive_i = super()._full_sort_batch_eval(batched_data)
        scores = self.mask_candidates(interaction, scores, positive_u, positive_i)
        return interaction, scores, positive_u, positive_i

    @torch.no_grad()
    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        """RecBole's evaluation; the best model comes through :meth:`load_checkpoint`."""
        if load_best_model:
            barrier()  # rank 0 may still be writing the best checkpoint
        if eval_data and load_best_model:
            checkpoint_file = model_file or self.saved_model_file
            checkpoint = self.load_checkpoint(checkpoint_file)
            self.model.load_state_dict(checkpoint["state_dict"])
            self.model.load_other_parameter(checkpoint.get("other_parameter"))
            self.logger.info(f"Loading model structure and parameters from {checkpoint_file}")
        with recbole_bars_as_progress():  # RecBole's tqdm bars are one endless line in a log file
            return super().evaluate(
                eval_data, load_best_model=False, model_file=model_file, show_progress=show_progress
            )

    # Distribution.

    def wrap_distributed(self) -> DistributedDataParallel:
        """The DDP module of :attr:`model` that RecBole's epoch trains through under several processes."""
        return ddp_model(self.model)

    def writes_checkpoints(self) -> bool:
        """Whether this process writes checkpoints: rank 0 (the others trained the same model)."""
        return is_main()

    def _map_reduce(self, result, num_sample):
        # RecBole averages each rank's metrics weighted by rows, wrong for per-group metrics; the
        # collector gathered every rank's rows, so this result is already over every rank's users.
        return result

    # Checkpoints.

    def load_checkpoint(self, checkpoint_file: str, resuming: bool = False) -> dict:
        """A checkpoint of this run: its bytes checked against its record, then read without running
        code from it (torch >= 2.6 loads weights-only, which cannot read RecBole's pickled Config).
        ``resuming``: an interrupted run's file, whose remedy is training from scratch."""
        if resuming:
            verified_record(checkpoint_file, self.checkpoint_key)
            return read_checkpoint(
                checkpoint_file, self.device, "delete it and its .json to train from scratch"
            )
        return load_recbole_checkpoint(checkpoint_file, self.device, self.checkpoint_key)

    def resume_checkpoint(self, resume_file):
        """RecBole's resume, its checkpoint read by :meth:`load_checkpoint`."""
        # RecBole's method calls torch.load (weights-only under torch >= 2.6): only this call's
        # torch.load is redirected, RecBole's method body stays its own.
        original = torch.load

        def load(file, map_location=None, **kwargs):
            return self.load_checkpoint(str(file), resuming=True)

        torch.load = load
        try:
            return super().resume_checkpoint(resume_file)
        finally:
            torch.load = original

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        """RecBole's checkpoint, by the writing process only, by temp file + rename, with its record."""
        if not self.writes_checkpoints():
            return
        target = kwargs.pop("saved_model_file", self.saved_model_file)
        # RecBole writes in place: a run killed mid-save would leave a truncated file to resume from.
        with atomic_write(target, "wb") as handle:  # torch.save takes the open file as well as a path
            super()._save_checkpoint(epoch, verbose=False, saved_model_file=handle)
        write_record(target, self.checkpoint_key, file_sha256(target), kind="partial checkpoint", epoch=epoch)
        if verbose:
            self.logger.info(f"Saving current: {target}")
