"""The attack registry and the one way from a ``name:key=value,...`` spec to an attack.

>>> make_attack("pgd", eps=0.3, steps=40)
>>> from_spec("pgd:eps=0.3,steps=40,step_size=0.01,norm=l2")
>>> from_spec(config.attack, flag="attack", training=True)    # PGD: its last iterate
"""
from __future__ import annotations

import dataclasses
from typing import Optional

from tfrobust.attacks.apgd import APGD, APGDTargeted
from tfrobust.attacks.autoattack import AutoAttack
from tfrobust.attacks.base import Attack
from tfrobust.attacks.corruptions import GaussianBlur, GaussianNoise
from tfrobust.attacks.cw import CarliniWagnerL2
from tfrobust.attacks.deepfool import DeepFool
from tfrobust.attacks.fab import FAB, FABTargeted
from tfrobust.attacks.fgsm import FGSM
from tfrobust.attacks.iterated_fgsm import IteratedFGSM
from tfrobust.attacks.lbfgs import LBFGSPenalty
from tfrobust.attacks.pgd import PGD
from tfrobust.attacks.square import Square
from tfrobust.attacks.wrm import WRM
from tfrobust.errors import ConfigError
from tfrobust.registry import Registry
from tfrobust.spec import parse_spec

ATTACKS: Registry = Registry("attack")
for _cls in (FGSM, PGD, IteratedFGSM, LBFGSPenalty, GaussianNoise, GaussianBlur, APGD, APGDTargeted,
             FAB, FABTargeted, Square, AutoAttack, CarliniWagnerL2, DeepFool, WRM):
    ATTACKS.register(_cls.name)(_cls)


def make_attack(name: str, **settings) -> Attack:
    """The registered attack ``name`` with ``settings``; unknown names or settings fail clearly."""
    return ATTACKS.build(name, **settings)


def from_spec(spec: str, flag: Optional[str] = None, training: bool = False, targets: bool = False) -> Attack:
    """The attack of ``"name"`` or ``"name:key=value,..."``.

    ``training``: settings the spec leaves out take the attack's ``training_defaults`` (PGD trains
    on its last iterate). ``targets``: the caller will give target classes as labels; without it a
    targeted attack is refused (given the true labels it would aim at the true class). An error
    names ``--flag=spec`` when ``flag`` is given.
    """
    try:
        name, settings = parse_spec(spec, ATTACKS)
        if training:
            settings = {**ATTACKS.get(name).training_defaults, **settings}
        attack = make_attack(name, **settings)
        if getattr(attack, "targeted", False) and not targets:
            raise ConfigError("targeted=true needs target classes as labels, and this command gives "
                              "the true labels")
        return attack
    except ConfigError as e:
        if flag is None:
            raise
        raise ConfigError(f"--{flag}={spec}: {e}") from None


def with_options(attack: Attack, **options) -> Attack:
    """``attack`` with ``options`` replaced where it has them (``predicted_labels`` for gradient
    attacks; corruptions have no labels to replace)."""
    names = {f.name for f in dataclasses.fields(attack)}
    return dataclasses.replace(attack, **{k: v for k, v in options.items() if k in names})
