"""What every frozen config shares: help text beside each field, dict round trips, and a run id
that survives new fields.

    @dataclasses.dataclass(frozen=True)
    class MyConfig(Config):
        rate: float = field(0.1, "Fraction pruned per round.")

Field names are flag names (``runs/`` generates the flags from the fields), so a validation error
names the flag. ``run_id(config)`` hashes only the fields that differ from their defaults (as
open_lth does): adding a field with a default leaves every existing id where it was. Nested configs
(a lottery's ``train``) contribute their own changed fields.

Every integer setting has a kind (``field(..., kind="size")``; ``count`` unless said) whose bound is
declared once, in :data:`INTEGER_KINDS`; every config calls :meth:`Config.check_bounds` first in
its ``__post_init__``, so a value TensorFlow cannot hold is refused naming its flag. A config whose
big tensors follow from its settings refuses, with :meth:`Config.check_memory`, sizes that need
more memory than the machine has.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers
import os
import re
from typing import Any, Dict, Iterable, Optional, Tuple

from tfrobust.errors import ConfigError


# The largest value of each kind of integer setting. Seeds are int64 in the graph, less room for
# what code adds to one: a lottery trial's seed + t and a round's fresh weights seed + 100_003 r
# (t, r <= COUNT_MAX, so below 2**48), keras-tuner's seed + 1.
COUNT_MAX = 2 ** 31 - 1  # iterations, steps, restarts, draws, trials: int32 loop counters
SIZE_MAX = 2 ** 31 - 1  # batch sizes, example counts, widths, dimensions: int32 tensor dimensions
SEED_OFFSET_MAX = 2 ** 48
SEED_MAX = 2 ** 63 - 1 - SEED_OFFSET_MAX
INTEGER_KINDS = {
    "count": (COUNT_MAX, "a count: an int32 loop counter"),
    "size": (SIZE_MAX, "a size: an int32 tensor dimension"),
    "seed": (SEED_MAX, "a seed: an int64, less 2**48 for the offsets code adds to a seed"),
}


def field(default, help_text: str, kind: Optional[str] = None):
    """A dataclass field with ``help_text`` (the flag's help); ``default`` may be a config class.
    ``kind`` (a key of :data:`INTEGER_KINDS`) bounds an integer field; ``count`` unless said."""
    metadata = {"help": help_text}
    if kind is not None:
        if kind not in INTEGER_KINDS:
            raise ValueError(f"kind={kind!r}; kinds: {', '.join(INTEGER_KINDS)}")
        metadata["kind"] = kind
    if isinstance(default, type) and dataclasses.is_dataclass(default):
        return dataclasses.field(default_factory=default, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def integer_kind(f: dataclasses.Field) -> Optional[str]:
    """The kind of a field that holds an integer or a tuple of them (None for any other)."""
    return f.metadata.get("kind") or ("count" if re.search(r"\bint\b", str(f.type)) else None)


def check_bounds(config, prefix: str = "--") -> None:
    """No integer of the dataclass ``config`` (nor of a tuple field) is above its kind's bound; else
    ConfigError ``<prefix><field>=<value> is not allowed; ...``. Types and minimums are the config's."""
    for f in dataclasses.fields(config):
        kind, value = integer_kind(f), getattr(config, f.name)
        if kind is None:
            continue
        maximum, what = INTEGER_KINDS[kind]
        items = value if isinstance(value, (tuple, list)) else (value,)
        if any(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > maximum for v in items):
            raise ConfigError(f"{prefix}{f.name}={value!r} is not allowed; it must be an integer <= {maximum} "
                              f"({what})")


def memory_bytes() -> int:
    """This machine's physical memory in bytes (1 TiB where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 2 ** 40


def gib(nbytes: float) -> str:
    return f"{nbytes / 2 ** 30:,.1f} GiB"


def check_memory(needs: Iterable[Tuple[str, float, Tuple[str, ...]]], show) -> None:
    """``needs``: ``(what, bytes, settings)`` of the big tensors some settings make. Fails, naming
    the settings of the largest (``show(name)`` writes one), when together they need more than
    this machine's memory."""
    needs = list(needs)
    total, limit = sum(n for _, n, _ in needs), memory_bytes()
    if total > limit:
        what, nbytes, names = max(needs, key=lambda need: need[1])
        raise ConfigError(f"{' '.join(map(show, names))} is not allowed: {what} would need about {gib(nbytes)} "
                          f"of memory ({gib(total)} in all), more than this machine's {gib(limit)}; "
                          "allowed: smaller values")


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

    def check_bounds(self) -> None:
        """Every integer field within its kind's bound (:func:`check_bounds`); call it first."""
        check_bounds(self)

    def check_memory(self, needs: Iterable[Tuple[str, float, Tuple[str, ...]]]) -> None:
        """:func:`check_memory`, naming flags: ``--name=value``."""
        check_memory(needs, lambda name: f"--{name}={getattr(self, name)}")

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
