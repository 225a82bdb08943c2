"""The attack registry and the ``name:key=value,...`` spec strings used on the command line.

>>> make_attack("pgd", eps=0.3, steps=40)
>>> parse_attack("pgd:eps=0.3,steps=40,step_size=0.01,norm=l2")
"""
from __future__ import annotations

from tfrobust.attacks.base import Attack
from tfrobust.attacks.corruptions import GaussianBlur, GaussianNoise
from tfrobust.attacks.fgsm import FGSM
from tfrobust.attacks.iterated_fgsm import IteratedFGSM
from tfrobust.attacks.lbfgs import LBFGSPenalty
from tfrobust.attacks.pgd import PGD
from tfrobust.registry import Registry
from tfrobust.spec import parse_spec

ATTACKS: Registry = Registry("attack")
for _cls in (FGSM, PGD, IteratedFGSM, LBFGSPenalty, GaussianNoise, GaussianBlur):
    ATTACKS.register(_cls.name)(_cls)


def make_attack(name: str, **settings) -> Attack:
    """The registered attack ``name`` with ``settings``; unknown names or settings fail clearly."""
    return ATTACKS.build(name, **settings)


def parse_attack(spec: str) -> Attack:
    """Parses ``"name"`` or ``"name:key=value,key=value"`` into an attack."""
    name, settings = parse_spec(spec, ATTACKS)
    return make_attack(name, **settings)
