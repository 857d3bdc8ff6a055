"""Training and testing one model: early stopping on validation, every test protocol, cached by checkpoint."""

from __future__ import annotations

import logging
import os
import pickle
import time
from dataclasses import dataclass, field

import numpy as np
from recbole.utils import init_seed

from ..artifacts.fingerprints import file_sha256
from ..artifacts.locks import artifact_lock
from ..artifacts.records import record_path, verified_record, write_record
from ..distributed import agree, barrier, is_main
from ..settings import EvaluationSettings
from .lookup import get_trainer

logger = logging.getLogger(__name__)


@dataclass
class RunResult:
    """One model's test metrics per protocol, checkpoint, item table and training time."""

    model: str
    test_results: dict[str, dict]  # protocol ('full', 'uni100') -> metrics
    protocol: str  # the validation protocol, whose results are ``test_result``
    checkpoint: str
    seconds: float | None  # training and testing; for a cached model those of the run that trained it
    key: str | None = None  # of the checkpoint: its settings and inputs
    best_valid_score: float | None = None
    best_valid_result: dict | None = None
    valid_score_bigger: bool = True
    item_embeddings: np.ndarray | None = field(default=None, repr=False)
    popularity: np.ndarray | None = field(default=None, repr=False)
    group_names: list[str] = field(default_factory=list)
    tail_rule: str = ""
    cached: bool = False  # loaded from its checkpoint and only re-tested
    history_excluded: bool = False  # full ranking without each user's earlier items (eval_exclude_history)
    # Set when trained on from an interrupted run's checkpoint; ``seconds`` then count this part only.
    resumed_at_epoch: int | None = None

    @property
    def test_result(self) -> dict:
        return self.test_results[self.protocol]

    def as_dict(self) -> dict:
        """RecBole's result dict (``best_valid_score`` ... ``test_result``) plus this run's facts."""
        return {
            "model": self.model,
            "best_valid_score": self.best_valid_score,
            "valid_score_bigger": self.valid_score_bigger,
            "best_valid_result": self.best_valid_result,
            "test_result": self.test_result,
            "test_results": self.test_results,
            "checkpoint": self.checkpoint,
            "key": self.key,
            "seconds": self.seconds,
            "cached": self.cached,
            "resumed_at_epoch": self.resumed_at_epoch,
            "tail_rule": self.tail_rule,
            "history_excluded": self.history_excluded,
        }


def protocol_name(negatives: int) -> str:
    """'full' ranking, or 'uniN' with N fixed sampled negatives."""
    return f"uni{negatives}" if negatives else "full"


def protocol(config) -> str:
    """The validation protocol of ``config``."""
    return protocol_name(int(EvaluationSettings.from_config(config).negatives))


def report_protocols(config) -> list[int]:
    """Negatives per test protocol: the validation one first, then ``report_negatives``."""
    settings = EvaluationSettings.from_config(config)
    own = int(settings.negatives)
    extra = [int(n) for n in settings.report_negatives]
    return [own] + [n for n in dict.fromkeys(extra) if n != own]


def item_rows(model) -> np.ndarray:
    """The model's scoring table ``[n_items, d]`` (BERT4Rec's mask row dropped)."""
    model.eval()
    return model.item_embedding.weight[: model.n_items].detach().cpu().float().numpy()


def resume_training(trainer, saved_model_file: str) -> None:
    """Continue an interrupted run from ``saved_model_file`` (its best epoch, optimiser state)."""
    try:
        trainer.resume_checkpoint(saved_model_file)
    except (RuntimeError, EOFError, KeyError, pickle.UnpicklingError) as error:
        raise ValueError(
            f"{saved_model_file}: cannot resume this interrupted run from it "
            f"({type(error).__name__}); delete the file to train from scratch"
        ) from error
    logger.warning(
        "%s: resuming an interrupted run from %s at epoch %d (its best epoch + 1)",
        trainer.config["model"],
        saved_model_file,
        trainer.start_epoch,
    )


def test_every_protocol(trainer, config, dataset, test_data) -> dict[str, dict]:
    """Test results per protocol; the first loads the best checkpoint, the others reuse it."""
    results = {}
    for i, negatives in enumerate(report_protocols(config)):
        trainer.eval_negatives = negatives
        trainer.fixed_negatives = None
        trainer.set_eval_dataset(dataset)
        result = trainer.evaluate(test_data, load_best_model=i == 0, show_progress=config["show_progress"])
        results[protocol_name(negatives)] = {k: float(v) for k, v in result.items()}
        tail_rule = trainer.evaluator.groups.tail_rule
        logger.info(
            "%s test, %s (tail: %s): %s", config["model"], protocol_name(negatives), tail_rule, dict(result)
        )
    return results


def train_and_test(
    config,
    model_class,
    data,
    saved_model_file: str,
    key: str | None = None,
    train: bool = True,
    resume: bool = False,
    **trainer_kwargs,
) -> RunResult:
    """Train with early stopping on valid (or, with ``train=False``, load ``saved_model_file``),
    then test the best checkpoint under every protocol with the long-tail evaluator.

    ``key``: what the checkpoints are recorded under (and checked against before loading).
    ``resume``: continue training from ``saved_model_file`` (an interrupted run's best epoch, with
    its optimizer state) instead of from scratch."""
    dataset, train_data, valid_data, test_data = data
    start = time.time()
    init_seed(config["seed"], config["reproducibility"])
    model = model_class(config, train_data.dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model, **trainer_kwargs)
    trainer.saved_model_file = saved_model_file
    trainer.checkpoint_key = key
    groups = trainer.set_popularity(train_data)
    trainer.set_eval_dataset(dataset)
    best_score = best_result = None
    if train:
        logger.info(model)
        os.makedirs(os.path.dirname(os.path.abspath(saved_model_file)), exist_ok=True)
        if resume:
            resume_training(trainer, saved_model_file)
        best_score, best_result = trainer.fit(
            train_data, valid_data, saved=True, show_progress=config["show_progress"]
        )
    results = test_every_protocol(trainer, config, dataset, test_data)
    return RunResult(
        config["model"],
        results,
        protocol(config),
        saved_model_file,
        time.time() - start,
        key=key,
        best_valid_score=None if best_score is None else float(best_score),
        best_valid_result=None if best_result is None else {k: float(v) for k, v in best_result.items()},
        valid_score_bigger=bool(config["valid_metric_bigger"]),
        resumed_at_epoch=trainer.start_epoch if train and resume else None,
        item_embeddings=item_rows(model),
        popularity=groups.popularity,
        group_names=groups.group_names(),
        tail_rule=groups.tail_rule,
        history_excluded=bool(trainer.exclude_history),
    )


def _retest(config, model_class, data, checkpoint: str, key: str, **trainer_kwargs) -> RunResult:
    """Test a cached model whose bytes match its record; its training facts come from the record."""
    record = verified_record(checkpoint, key)
    logger.info("%s: reusing %s", config["model"], checkpoint)
    result = train_and_test(config, model_class, data, checkpoint, key, train=False, **trainer_kwargs)
    result.seconds = record.get("seconds")
    result.resumed_at_epoch = record.get("resumed_at_epoch")
    result.best_valid_score = record.get("best_valid_score")
    result.best_valid_result = record.get("best_valid_result")
    result.cached = True
    return result


def cached_train_and_test(
    config,
    model_class,
    data,
    checkpoint: str,
    key: str,
    inputs: dict,
    scratch_dir: str | None = None,
    **trainer_kwargs,
) -> RunResult:
    """Train once per ``checkpoint`` (a name holding ``key``), then only re-test.

    ``<checkpoint>.json`` records the key, the ``inputs``' keys, the checkpoint's SHA-256 and the
    training run's seconds and validation, so that a re-test reports them. A run that was killed
    leaves ``<checkpoint>.partial.pth`` (its best epoch so far): the next run resumes it. With
    ``scratch_dir`` (``saved=False``) a model that is not cached trains into that folder and is
    not kept."""
    if scratch_dir is not None and not os.path.isfile(checkpoint):
        scratch = os.path.join(scratch_dir, os.path.basename(checkpoint))
        return train_and_test(config, model_class, data, scratch, key, **trainer_kwargs)
    # A finished checkpoint is only read: no lock file, so a read-only saved/ serves a re-run.
    # It is renamed into place whole, after its record, so reading it needs no lock.
    if agree(os.path.isfile(checkpoint)):
        return _retest(config, model_class, data, checkpoint, key, **trainer_kwargs)
    with artifact_lock(checkpoint):  # a second run on the same saved/ waits, then re-tests
        if agree(os.path.isfile(checkpoint)):
            return _retest(config, model_class, data, checkpoint, key, **trainer_kwargs)
        return _train(config, model_class, data, checkpoint, key, inputs, **trainer_kwargs)


def _train(config, model_class, data, checkpoint: str, key: str, inputs: dict, **trainer_kwargs) -> RunResult:
    """Train into ``<checkpoint>.partial.pth`` (resuming it when there), then record and rename it."""
    partial = checkpoint.replace(".pth", ".partial.pth")
    resume = agree(os.path.isfile(partial))
    logger.info("%s: training (%d epochs at most) into %s", config["model"], config["epochs"], checkpoint)
    result = train_and_test(config, model_class, data, partial, key, resume=resume, **trainer_kwargs)
    # Rounded here as in the record, so a re-test's report shows the same seconds as this run's.
    result.seconds = round(result.seconds, 3)
    facts = {
        "kind": "checkpoint",
        "model": config["model"],
        "inputs": inputs,
        "seconds": result.seconds,
        "best_valid_score": result.best_valid_score,
        "best_valid_result": result.best_valid_result,
    }
    if result.resumed_at_epoch is not None:
        facts["resumed_at_epoch"] = result.resumed_at_epoch
    if is_main():  # the other ranks of a multi-process run trained the same model
        write_record(checkpoint, key, file_sha256(partial), **facts)
        os.replace(partial, checkpoint)
        os.remove(record_path(partial))
    barrier()
    result.checkpoint = checkpoint
    return result
