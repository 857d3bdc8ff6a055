"""RecBole Config that also loads the backbone's YAML and this package's ``properties/``."""

from __future__ import annotations

import ast
import os
from collections.abc import Sequence
from enum import Enum

import recbole
import torch
import yaml
from recbole.config import Config

from .distributed import backend_for, is_distributed, is_main, local_rank, world_size
from .option_rules import check_dataset_name, check_recbole_settings
from .settings import LLMEmbModelSettings, OutputSettings

PROPERTIES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "properties")
RECBOLE_PROPERTIES_DIR = os.path.join(os.path.dirname(recbole.__file__), "properties")
VARIANTS_DIR = os.path.join(PROPERTIES_DIR, "variants")

# Options that were removed, and why: a run that still sets them is stopped rather than ignored.
REMOVED_OPTIONS = {
    "item_scale": (False, "a trainable norm per item never beat the default, docs/experiments/levers.md"),
    "adapter_experts": (0, "a mixture of adapters never beat the single adapter, docs/experiments/levers.md"),
    "llm_pca_whiten": (False, "llm_table_norm: standardize gives the whitened table, docs/experiments/levers.md"),
}


def resolve_config_files(files: Sequence[str] | None) -> list[str] | None:
    """Config file paths as given, or a bundled variant: ``llm2x`` / ``properties/variants/llm2x.yaml``.

    A path that exists is used as is; otherwise a name of ``properties/variants/`` (with or without
    ``.yaml``) or a path under ``properties/`` is looked up in the installed package.
    """
    if not files:
        return None
    resolved = []
    for file in files:
        candidates = [file]
        if file.startswith("properties" + os.sep) or file.startswith("properties/"):
            candidates.append(os.path.join(os.path.dirname(PROPERTIES_DIR), file))
        name = file if file.endswith(".yaml") else f"{file}.yaml"
        candidates.append(os.path.join(VARIANTS_DIR, os.path.basename(name)))
        found = next((path for path in candidates if os.path.isfile(path)), None)
        if found is None:
            variants = sorted(n[: -len(".yaml")] for n in os.listdir(VARIANTS_DIR) if n.endswith(".yaml"))
            raise FileNotFoundError(
                f"config_files: {file} not found; give a YAML path or a bundled variant ({', '.join(variants)})"
            )
        resolved.append(found)
    return resolved


class LLMEmbConfig(Config):
    """RecBole's Config with this package's defaults, built only from its arguments.

    Internal defaults, lowest priority first: RecBole's, then the backbone's RecBole YAML (for
    ``LLMEmbBERT4Rec`` that is ``BERT4Rec.yaml``, which switches on ``mask_itemseq``), then ours:
    ``properties/overall.yaml``, ``properties/model/<backbone>.yaml``, ``<model>.yaml``,
    ``properties/dataset/<dataset>.yaml``. Then config files, then ``config_dict``. Unlike RecBole's
    Config it never reads ``sys.argv``: the command line reaches it as ``config_dict``.
    """

    def __init__(self, model=None, dataset=None, config_file_list=None, config_dict=None):
        self._texts: dict[str, str] = {}  # config_dict's values as given in text (the command line's)
        super().__init__(model, dataset, resolve_config_files(config_file_list), config_dict)

    def _load_cmd_line(self):
        return {}

    def _load_config_files(self, file_list):
        settings: dict = {}
        for file in file_list or ():
            settings.update(read_config_file(file, self.yaml_loader))
        return settings

    def _convert_config_dict(self, config_dict):
        # RecBole eval()s each text value: '--epochs=1/0' raised ZeroDivisionError from inside its
        # Config, and any expression ran as code. A text is read as a Python literal here (numbers,
        # lists, dicts, True/False/None), else kept as text for the option checks to name.
        for key, value in config_dict.items():
            if isinstance(value, str):
                self._texts[key] = value
                config_dict[key] = literal_value(value)
        return config_dict

    def _load_internal_config_dict(self, model, model_class, dataset):
        super()._load_internal_config_dict(model, model_class, dataset)
        if not os.path.isfile(os.path.join(PROPERTIES_DIR, "overall.yaml")):
            raise FileNotFoundError(f"{PROPERTIES_DIR}/overall.yaml is missing: reinstall recbole-llmemb")
        backbone = backbone_class(model_class).__name__
        files = (
            [os.path.join(RECBOLE_PROPERTIES_DIR, "model", f"{backbone}.yaml")] if backbone != model else []
        )
        files += [
            os.path.join(PROPERTIES_DIR, "overall.yaml"),
            os.path.join(PROPERTIES_DIR, "model", f"{backbone}.yaml"),
            os.path.join(PROPERTIES_DIR, "model", f"{model}.yaml") if backbone != model else None,
            os.path.join(PROPERTIES_DIR, "dataset", f"{dataset}.yaml"),
        ]
        for file in files:
            if file and os.path.isfile(file):
                loaded = self._update_internal_config_dict(file) or {}
                if os.path.dirname(file).endswith("dataset"):
                    self.parameters["Dataset"] += [k for k in loaded if k not in self.parameters["Dataset"]]

    def _get_final_config_dict(self):
        check_dataset_name(self.dataset)
        final = super()._get_final_config_dict()
        for key, (neutral, reason) in REMOVED_OPTIONS.items():
            if key in final and final[key] not in (None, neutral):
                raise ValueError(f"{key}: this option was removed ({reason}); leave it out")
        # "align_weight=1" parses to int 1 where the default is a float: without this, 1 and 1.0
        # would be two settings with two cache keys, and a cached model would be trained again.
        for key, default in self.internal_config_dict.items():
            if key in final:
                final[key] = like_default(final[key], default)
                # A text option given a number on the command line (--data_path=2024) keeps its text.
                if isinstance(default, str) and key in self._texts and not isinstance(final[key], str | None):
                    final[key] = self._texts[key]
        # RecBole fills the keys an eval_args leaves out with its own defaults (a random 8:1:1 split):
        # --eval_args="{'mode':'uni100'}" would silently leave leave-one-out. Ours fill them instead.
        given, default = (
            self.external_config_dict.get("eval_args"),
            self.internal_config_dict.get("eval_args"),
        )
        if isinstance(given, dict) and isinstance(default, dict):
            final["eval_args"] = {**default, **given}
        if "device" in self.external_config_dict:
            raise ValueError(
                "device: RecBole sets it from use_gpu and gpu_id; leave it out, and give --use_gpu=False"
                " for the CPU or --gpu_id=<n> for a GPU (llm_device places the LLM alone)"
            )
        # Before RecBole's Config acts on its options: it raises tracebacks on some bad values
        # (an unknown metric, a text topk), and the Trainer only fails later on others.
        check_recbole_settings(final, self.internal_config_dict)
        # An LLMEmb model's own dropout: the plain backbone, built from the same files, keeps its own.
        probability = LLMEmbModelSettings.from_config(final).dropout_prob
        if probability is not None:
            for key in getattr(self.model_class, "dropout_keys", ()):
                final[key] = float(probability)
        return final

    def _set_default_parameters(self):
        super()._set_default_parameters()
        # RecBole 1.2.1 points ml-100k at its bundled copy even when data_path is given: a data_path
        # of the user's (or the cold-item split's warm files) wins here, as for every other dataset.
        given = self.external_config_dict.get("data_path")
        if self.dataset == "ml-100k" and given:
            self.final_config_dict["data_path"] = os.path.join(given, self.dataset)

    def _init_device(self):
        final = self.final_config_dict
        if not (is_distributed() or "local_rank" in final):
            return super()._init_device()
        # Several processes (torchrun, or RecBole's launcher with nproc): RecBole 1.2.1 would init
        # nccl on a GPU always; here gloo and the CPU where there is no GPU, and an existing group is joined.
        gpu_id = final["gpu_id"]
        gpu_id = ",".join(map(str, gpu_id)) if isinstance(gpu_id, (tuple, list)) else str(gpu_id)
        final["gpu_id"] = gpu_id
        cuda = bool(gpu_id) and final.get("use_gpu", True) is not False and torch.cuda.is_available()
        if not is_distributed():  # RecBole's launcher: its spawn set local_rank, world_size, ip, port
            torch.distributed.init_process_group(
                backend=backend_for("cuda" if cuda else "cpu"),
                rank=final["local_rank"] + final.get("offset", 0),
                world_size=final["world_size"],
                init_method=f"tcp://{final['ip']}:{final['port']}",
            )
        final["local_rank"] = local_rank()
        final["world_size"] = world_size()
        final.setdefault("nproc", world_size())
        final["single_spec"] = False
        final["device"] = torch.device("cuda", local_rank()) if cuda else torch.device("cpu")
        if cuda:
            torch.cuda.set_device(final["device"])
        if not is_main():
            final["state"] = "error"
            final["show_progress"] = False

    def _set_eval_neg_sample_args(self, phase):
        # RecBole's uniN redraws negatives at every evaluation; run full-sort data loading and
        # rank against fixed negatives instead (recbole_llmemb.evaluation.fixed_negatives).
        mode = self.final_config_dict["eval_args"]["mode"]
        if isinstance(mode.get(phase), str) and mode[phase].startswith("uni"):
            self.final_config_dict["eval_negatives"] = int(mode[phase][3:])
            mode[phase] = "full"
        super()._set_eval_neg_sample_args(phase)


def backbone_class(model_class: type) -> type:
    """The RecBole model whose YAML files hold ``model_class``'s defaults: its ``backbone``, followed
    to the end (an LLMEmb model of a SASRec subclass reads SASRec's)."""
    while getattr(model_class, "backbone", model_class) is not model_class:
        model_class = model_class.backbone
    return model_class


def literal_value(value: str):
    """A text setting as RecBole reads it, without running it: a Python literal, ``true``/``false``
    in any case, else the text itself."""
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        lowered = value.strip().lower()
        return {"true": True, "false": False}.get(lowered, value)
    if parsed is not None and not isinstance(parsed, str | int | float | list | tuple | dict | bool | Enum):
        return value  # a set, bytes or complex number: kept as written, as RecBole keeps them
    return parsed


def read_config_file(path: str, loader=yaml.SafeLoader) -> dict:
    """The settings of a YAML config file; a one-line error naming the file and the YAML problem."""
    try:
        with open(path, encoding="utf-8") as handle:
            loaded = yaml.load(handle, Loader=loader)
    except UnicodeDecodeError as error:
        raise ValueError(
            f"config_files: {path}: not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset"
            f" {error.start}); save the file as UTF-8"
        ) from None
    except yaml.YAMLError as error:
        raise ValueError(
            f"config_files: {path}: not valid YAML ({yaml_problem(error)}); fix the file"
        ) from None
    if loaded is None:  # an empty file, or comments only
        return {}
    if not isinstance(loaded, dict):
        raise ValueError(
            f"config_files: {path} holds a {type(loaded).__name__}, not settings; write one 'key: value' per line"
        )
    return loaded


def yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's error in one line: where, what, and the construct it was inside."""
    problem = getattr(error, "problem", None)
    mark = getattr(error, "problem_mark", None)
    if not (problem and mark):
        return " ".join(str(error).split())
    text = f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    context, start = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context and start and start.line != mark.line:
        text += f", {context} from line {start.line + 1}"
    return text


def like_default(value, default):
    """``value`` as int or float when its default is that type and the number is the same."""
    if isinstance(value, bool) or isinstance(default, bool):
        return value
    if isinstance(default, float) and isinstance(value, int):
        return float(value)
    if isinstance(default, int) and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def config_get(config, key: str, default=None):
    """RecBole's option ``config[key]``, or ``default`` when the key is absent or None (a RecBole
    Config or a dict). For the few options a model's YAML may lack (GRU4Rec has no
    ``initializer_range``); the plugin's own settings are read typed (:mod:`.settings`)."""
    value = config[key] if key in config else None
    return default if value is None else value


def cache_dir(config) -> str:
    """Folder for this dataset's artifacts: ``llmemb_cache_dir`` or ``<checkpoint_dir>/llmemb``."""
    root = OutputSettings.from_config(config).cache_dir or os.path.join(config["checkpoint_dir"], "llmemb")
    return os.path.join(root, config["dataset"])
