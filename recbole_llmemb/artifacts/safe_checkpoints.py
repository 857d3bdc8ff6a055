"""Reading torch checkpoints without running code from them, and a Config's settings as JSON.

RecBole checkpoints pickle the Config (protocol 4, which torch's weights-only loader does not
read), and unpickling calls whatever the file names. Here the unpickler builds only tensors,
plain containers, ``torch.device``/``torch.Size``/dtypes, numpy numbers and RecBole's enums; the
Config becomes a stand-in that only keeps its attributes (RecBole's ``Config.__init__`` evaluates
strings, so it is never called). Any other name in the file is a stand-in class that refuses to
be called or instantiated, so a crafted file stops with an error before anything it names runs.
Class references that a Config holds (the model class, the YAML loader) are looked up in this
process by their recorded name, never imported from the file.
"""

from __future__ import annotations

import collections
import enum
import functools
import json
import pickle
import sys
import types

import numpy as np
import torch
import yaml
from recbole.model.abstract_recommender import AbstractRecommender
from recbole.utils import enum_type

from .records import ArtifactError

# Taken at import: resuming redirects torch.load to read_checkpoint while RecBole's method runs.
_torch_load = torch.load


class RefusedPickleError(pickle.UnpicklingError):
    """The file asks to call or build something that a checkpoint never holds."""


_TENSOR_REBUILDERS = (
    torch._utils._rebuild_tensor,
    torch._utils._rebuild_tensor_v2,
    torch._utils._rebuild_parameter,
    torch._utils._rebuild_parameter_with_state,
)


_NUMERIC_KINDS = "biufc?"  # bool, integers, floats, complex: no object pointers in their bytes


def _numpy_dtype(*args) -> np.dtype:
    """``numpy.dtype`` as pickles call it (a best validation score is a numpy float); only numbers."""
    dtype = np.dtype(*args)
    if dtype.kind not in _NUMERIC_KINDS:
        raise RefusedPickleError(f"it would make a numpy {dtype} value, which no RecBole checkpoint does")
    return dtype


def _numpy_scalar(dtype, data=None):
    """``numpy.core.multiarray.scalar`` for a numeric dtype from its bytes (checked again: a pickle can
    change a dtype's state after making it, and object bytes would be read as pointers)."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject or dtype.kind not in _NUMERIC_KINDS:
        raise RefusedPickleError("it would make a numpy value that is not a number")
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise RefusedPickleError("it holds a numpy number of the wrong size")
    return np.frombuffer(data, dtype=dtype)[0].copy()


@functools.lru_cache(maxsize=1)
def _allowed_globals() -> dict[str, object]:
    """Every name the unpickler resolves to the real object: none of them runs code from the file."""
    allowed: dict[str, object] = {
        "collections.OrderedDict": collections.OrderedDict,
        "builtins.set": set,
        "builtins.frozenset": frozenset,
        "torch.device": torch.device,
        "torch.Size": torch.Size,
        "numpy.dtype": _numpy_dtype,
        "numpy.core.multiarray.scalar": _numpy_scalar,  # numpy 1's name
        "numpy._core.multiarray.scalar": _numpy_scalar,  # numpy 2's
    }
    allowed.update({f"torch._utils.{f.__name__}": f for f in _TENSOR_REBUILDERS})
    # dtypes are pickled by name (torch.float32); calling one is an error, not code.
    allowed.update({f"torch.{n}": v for n, v in vars(torch).items() if isinstance(v, torch.dtype)})
    # RecBole's enums: calling one with a value only looks the member up.
    allowed.update(
        {
            f"{enum_type.__name__}.{n}": v
            for n, v in vars(enum_type).items()
            if isinstance(v, type) and issubclass(v, enum.Enum) and v is not enum.Enum
        }
    )
    return allowed


def _config_classes() -> dict[str, type]:
    from recbole.config import Config

    from ..config import LLMEmbConfig

    return {"recbole.config.configurator.Config": Config, "recbole_llmemb.config.LLMEmbConfig": LLMEmbConfig}


class SavedConfig:
    """Stand-in for a pickled Config: keeps the attributes the file gives, runs nothing."""

    config_class: type

    def __init__(self, *args, **kwargs):
        # A file that calls the Config class gets an empty stand-in: the real __init__ evals strings.
        self.state: dict = {}

    def __setstate__(self, state) -> None:
        self.state = state if isinstance(state, dict) else {}


class Unresolved:
    """Stand-in for a name a checkpoint may only refer to: building or calling it is refused."""

    path: str = ""

    def __new__(cls, *args, **kwargs):
        raise RefusedPickleError(f"it would call {cls.path}, which no RecBole checkpoint does")


class RestrictedUnpickler(pickle.Unpickler):
    """A pickle reader that resolves only :func:`_allowed_globals`; Configs and every other name get
    stand-ins (fresh classes per name, so a file cannot change a shared one)."""

    def find_class(self, module: str, name: str):
        path = f"{module}.{name}"
        allowed = _allowed_globals()
        if path in allowed:
            return allowed[path]
        configs = _config_classes()
        if path in configs:
            return type("SavedConfig", (SavedConfig,), {"config_class": configs[path]})
        return type(name if name.isidentifier() else "Unresolved", (Unresolved,), {"path": path})


def _restricted_load(file, **kwargs):
    return RestrictedUnpickler(file, **kwargs).load()


# What torch.load takes as ``pickle_module``: it subclasses ``Unpickler`` to read tensor storages.
RESTRICTED_PICKLE = types.SimpleNamespace(
    __name__=__name__, Unpickler=RestrictedUnpickler, load=_restricted_load
)


def _class_named(reference, base: type) -> type | None:
    """The class a stand-in names, if its module is already imported here and it is a ``base``."""
    if not (isinstance(reference, type) and issubclass(reference, Unresolved)):
        return reference if isinstance(reference, type) and issubclass(reference, base) else None
    module, _, name = reference.path.rpartition(".")
    found = getattr(sys.modules.get(module), name, None)  # no import: only what this process has loaded
    return found if isinstance(found, type) and issubclass(found, base) else None


def _config_of(saved: SavedConfig):
    """The real Config class, built without ``__init__``, holding the stand-in's attributes."""
    state = {
        k: v for k, v in getattr(saved, "state", {}).items() if isinstance(k, str) and not k.startswith("__")
    }
    if not isinstance(state.get("final_config_dict"), dict):
        raise RefusedPickleError("its config holds no settings (final_config_dict)")
    config = saved.config_class.__new__(saved.config_class)
    config.__dict__.update(state)
    if "yaml_loader" in state:  # RecBole's loader is yaml.FullLoader with resolvers added to the class
        config.yaml_loader = yaml.FullLoader
    if "model_class" in state:
        model_class = _class_named(state["model_class"], AbstractRecommender)
        config.model_class = model_class or state["model_class"]
    return config


def read_checkpoint(path: str, map_location=None, remedy: str = "give another", prefix: str = "") -> dict:
    """The dict a RecBole (or weights-only) torch file holds, read by :class:`RestrictedUnpickler`.

    A refused name, an unreadable file, or a file without a ``state_dict`` dict is an
    :class:`ArtifactError`: ``prefix`` (the option that named the file), ``path``, what is wrong,
    then ``remedy``.
    """
    try:
        # weights_only=False only because torch refuses a pickle_module otherwise: the restricted
        # unpickler is the allow-list (torch's weights-only reader cannot read pickle protocol 4).
        saved = _torch_load(
            path, map_location=map_location, pickle_module=RESTRICTED_PICKLE, weights_only=False
        )
        if isinstance(saved, dict) and isinstance(saved.get("config"), SavedConfig):
            saved["config"] = _config_of(saved["config"])
    except RefusedPickleError as error:
        raise ArtifactError(
            f"{prefix}{path}: not loaded: {error} (a crafted or foreign file; nothing in it was run); {remedy}"
        ) from None
    except Exception as error:  # a damaged file fails in many ways: all mean the same to the user
        detail = str(error).splitlines()[0][:160] if str(error) else ""
        raise ArtifactError(
            f"{prefix}{path}: not a readable torch checkpoint ({type(error).__name__}: {detail}); {remedy}"
        ) from error
    if not isinstance(saved, dict) or not isinstance(saved.get("state_dict"), dict):
        held = "a dict without 'state_dict'" if isinstance(saved, dict) else f"a {type(saved).__name__}"
        raise ArtifactError(f"{prefix}{path}: not a RecBole checkpoint (the file holds {held}); {remedy}")
    return saved


def _to_json(value):
    if isinstance(value, enum.Enum):
        return {"__enum__": type(value).__name__, "name": value.name}
    if isinstance(value, torch.device):
        return {"__device__": str(value)}
    if isinstance(value, np.generic):
        return value.item()
    return str(value)  # a value no model constructor reads (a set, a custom object): kept as text


def _from_json(value: dict):
    if "__device__" in value:
        return torch.device(value["__device__"])
    if "__enum__" in value:
        kind = getattr(enum_type, value["__enum__"], None)
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            return kind[value["name"]]
    return value


def settings_json(config) -> str:
    """The Config's settings (``final_config_dict``) as JSON text; enums and devices round-trip."""
    return json.dumps(config.final_config_dict, default=_to_json, sort_keys=True)


def config_from_settings(text: str, config_class: type, model_class: type):
    """A ``config_class`` instance holding the settings of :func:`settings_json` (no ``__init__``:
    nothing is re-read or evaluated), for building ``model_class``."""
    settings = json.loads(text, object_hook=_from_json)
    config = config_class.__new__(config_class)
    config.final_config_dict = settings
    config.model, config.dataset, config.model_class = (
        settings.get("model"),
        settings.get("dataset"),
        model_class,
    )
    return config
