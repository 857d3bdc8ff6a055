"""How a plugin setting is declared: a dataclass field with its config key, rule and effect.

A group of settings is a dataclass of :class:`SettingsGroup` whose fields are made by
:func:`setting`, as peft declares its configs. The fields have no defaults: the defaults are the
package's YAML files (``properties/overall.yaml`` and the others), which RecBole's Config merges.
Each setting's rule is checked in one place, :meth:`SettingsGroup.from_config`.
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import ClassVar, TypeVar

import yaml

OVERALL_YAML = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "properties", "overall.yaml"
)

Group = TypeVar("Group", bound="SettingsGroup")


class Effect(Enum):
    """What a setting changes, and so whether its value is in the cache keys."""

    RESULT = "changes results"  # in the key of every artifact whose stage reads it
    INDIRECT = "changes results through its inputs"  # what it names or fills in is keyed instead
    REPORT = "changes the report only"  # computed from a trained model: nothing retrains
    RUNTIME = "runtime only"  # where, how fast, what is shown: never a number


@dataclass(frozen=True)
class Declared:
    """One declared setting: its config key, the group and field that hold it, its rule and effect."""

    key: str
    group: type
    name: str
    rule: Callable
    effect: Effect

    @property
    def llmemb_only(self) -> bool:
        """Read by LLMEmb models alone: a plain backbone's cache key leaves it out."""
        return self.group.llmemb_only

    @property
    def in_key(self) -> bool:
        return self.effect is Effect.RESULT


def setting(
    rule: Callable,
    *,
    key: str,
    effect: Effect = Effect.RESULT,
    fallback: str | None = None,
    mirror: bool = False,
) -> dataclasses.Field:
    """A field of a settings group: the value of config ``key``, checked by ``rule``.

    ``fallback``: the key whose value a ~ (None) takes (``scft_seed: ~`` means ``seed``).
    ``mirror``: a copy of a setting that another group declares (read here, declared there).
    """
    return dataclasses.field(
        metadata={"rule": rule, "key": key, "effect": effect, "fallback": fallback, "mirror": mirror}
    )


def check_value(key: str, value, rule: Callable) -> None:
    """A one-line ValueError naming ``key`` when ``rule`` refuses ``value``."""
    problem = rule(value)
    if problem:
        raise ValueError(f"{key}: {value!r} is not {problem}")


def _read(config: Mapping, key: str):
    if key not in config:
        raise ValueError(
            f"{key}: not set; give --{key}=<value> (properties/overall.yaml sets it: if it is missing,"
            " reinstall recbole-llmemb)"
        )
    return config[key]


@lru_cache(maxsize=1)
def _overall() -> dict:
    with open(OVERALL_YAML, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def overall_defaults() -> dict:
    """The package's ``properties/overall.yaml`` (a copy): every plugin setting's default."""
    return copy.deepcopy(_overall())


class SettingsGroup:
    """Base of a dataclass of settings declared with :func:`setting`."""

    llmemb_only: ClassVar[bool] = False  # only LLMEmb models read this group

    @classmethod
    def declared(cls) -> tuple[Declared, ...]:
        """The settings this group declares (a mirrored one is declared by its own group)."""
        return tuple(
            Declared(f.metadata["key"], cls, f.name, f.metadata["rule"], f.metadata["effect"])
            for f in dataclasses.fields(cls)
            if not f.metadata["mirror"]
        )

    @classmethod
    def from_config(cls: type[Group], config: Mapping) -> Group:
        """The group's settings from a RecBole Config (or any mapping of every key), each checked."""
        values = {}
        for f in dataclasses.fields(cls):
            key, fallback = f.metadata["key"], f.metadata["fallback"]
            value = _read(config, key)
            check_value(key, value, f.metadata["rule"])
            values[f.name] = _read(config, fallback) if value is None and fallback else value
        settings = cls(**values)
        settings.check()
        return settings

    @classmethod
    def from_defaults(cls: type[Group], **changes) -> Group:
        """The group as the package's defaults set it, with ``changes`` (by field name), checked."""
        keys = {f.name: f.metadata["key"] for f in dataclasses.fields(cls)}
        unknown = sorted(set(changes) - set(keys))
        if unknown:
            raise TypeError(f"{cls.__name__} has no setting {unknown[0]!r}")
        return cls.from_config({**overall_defaults(), **{keys[n]: v for n, v in changes.items()}})

    def check(self) -> None:
        """Checks across this group's settings (each setting alone is checked by its rule)."""

    def key(self) -> dict:
        """The settings that change results, by field name: what a cache key holds of this group."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.metadata["effect"] is Effect.RESULT
        }
