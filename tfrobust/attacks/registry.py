"""The attack registry and the ``name:key=value,...`` spec strings used on the command line.

>>> make_attack("pgd", eps=0.3, steps=40)
>>> parse_attack("pgd:eps=0.3,steps=40,step_size=0.01,norm=l2")
"""
from __future__ import annotations

import dataclasses
import typing

from tfrobust.attacks.base import Attack
from tfrobust.attacks.corruptions import GaussianBlur, GaussianNoise
from tfrobust.attacks.fgsm import FGSM
from tfrobust.attacks.iterated_fgsm import IteratedFGSM
from tfrobust.attacks.lbfgs import LBFGSPenalty
from tfrobust.attacks.pgd import PGD
from tfrobust.errors import ConfigError
from tfrobust.registry import Registry

ATTACKS: Registry = Registry("attack")
for _cls in (FGSM, PGD, IteratedFGSM, LBFGSPenalty, GaussianNoise, GaussianBlur):
    ATTACKS.register(_cls.name)(_cls)


def make_attack(name: str, **settings) -> Attack:
    """The registered attack ``name`` with ``settings``; unknown names or settings fail clearly."""
    return ATTACKS.build(name, **settings)


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _coerce(cls, key: str, text: str, spec: str):
    hints = typing.get_type_hints(cls)
    kind = hints.get(key)
    try:
        if kind is bool:
            if text.lower() not in _TRUE + _FALSE:
                raise ValueError
            return text.lower() in _TRUE
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
        return text
    except ValueError:
        raise ConfigError(
            f"attack spec {spec!r}: {key}={text!r} is not a valid {getattr(kind, '__name__', kind)}"
        ) from None


def parse_attack(spec: str) -> Attack:
    """Parses ``"name"`` or ``"name:key=value,key=value"`` into an attack."""
    name, _, rest = spec.strip().partition(":")
    cls = ATTACKS.get(name.strip())
    fields = {f.name for f in dataclasses.fields(cls)}
    settings = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq:
            raise ConfigError(f"attack spec {spec!r}: expected key=value, got {item!r}")
        if key not in fields:
            raise ConfigError(
                f"attack spec {spec!r}: {name} has no setting {key!r}; its settings: {', '.join(sorted(fields))}"
            )
        settings[key] = _coerce(cls, key, value.strip(), spec)
    return cls(**settings)
