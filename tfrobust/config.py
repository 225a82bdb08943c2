"""What every frozen config shares: help text beside each field, dict round trips, and a run id
that survives new fields.

    @dataclasses.dataclass(frozen=True)
    class MyConfig(Config):
        rate: float = field(0.1, "Fraction pruned per round.")

Field names are flag names (``runs/`` generates the flags from the fields), so a validation error
names the flag. ``run_id(config)`` hashes only the fields that differ from their defaults (as
open_lth does): adding a field with a default leaves every existing id where it was. Nested configs
(a lottery's ``train``) contribute their own changed fields.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, Dict

from tfrobust.errors import ConfigError


def field(default, help_text: str):
    """A dataclass field with ``help_text`` (the flag's help); ``default`` may be a config class."""
    if isinstance(default, type) and dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=default, metadata={"help": help_text})
    return dataclasses.field(default=default, metadata={"help": help_text})


def _plain(value, default=None):
    """``value`` as JSON holds it: nested configs as dicts, tuples as lists, an int where the
    default is a float as a float (so ``l1_reg=2`` and ``l1_reg=2.0`` are one config)."""
    if isinstance(value, Config):
        return value.to_dict()
    if isinstance(value, (tuple, list)):
        return list(value)
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def canonical_json(values: dict) -> str:
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


class Config:
    """Mixin for frozen dataclasses of settings. Subclasses validate in ``__post_init__``."""

    def bad(self, flag: str, allowed: str):
        raise ConfigError(f"--{flag}={getattr(self, flag)!r} is not allowed; {allowed}")

    def check_integers(self, names, minimum: int) -> None:
        """Each field in ``names`` is an int (not a bool) of at least ``minimum``."""
        for name in names:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                self.bad(name, f"it must be an integer >= {minimum}")

    def to_dict(self) -> Dict[str, Any]:
        """Every field (tuples as lists, nested configs as dicts): what config.json holds."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def changes(self) -> Dict[str, Any]:
        """The fields that differ from their defaults, nested configs as their own changes."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Config):
                nested = value.changes()
                if nested:
                    out[f.name] = nested
            elif _plain(value, _default(f)) != _plain(_default(f)):
                out[f.name] = _plain(value, _default(f))
        return out

    @classmethod
    def migrate(cls, values: dict) -> dict:
        """Rewrites a config dict written by an older tfrobust into this version's fields."""
        return dict(values)

    @classmethod
    def from_dict(cls, values: dict):
        """The config of a dict (config.json, results.json); missing fields take their defaults."""
        values = cls.migrate(values)
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"unknown {cls.__name__} settings: {', '.join(unknown)}")
        kwargs = {}
        for name, value in values.items():
            default = _default(known[name])
            if isinstance(default, Config):
                value = type(default).from_dict(value)
            elif isinstance(default, tuple):
                value = tuple(value)
            kwargs[name] = value
        return cls(**kwargs)


def _default(f: dataclasses.Field):
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def run_id(config: Config) -> str:
    """The first 12 hex digits of the SHA-256 of the canonical JSON of ``config.changes()``."""
    return hashlib.sha256(canonical_json(config.changes()).encode()).hexdigest()[:12]


def legacy_run_id(stored: dict) -> str:
    """The id tfrobust gave a run before ids left out defaults: the hash of its whole config.json."""
    return hashlib.sha256(canonical_json(stored).encode()).hexdigest()[:12]
