"""Attacks with one call signature, ``attack(model, x, y) -> x_adv`` on inputs in [0, 1]."""
from tfrobust.attacks.base import Attack, GradientAttack, per_example_loss, predicted_labels
from tfrobust.attacks.corruptions import GaussianBlur, GaussianNoise
from tfrobust.attacks.fgsm import FGSM
from tfrobust.attacks.iterated_fgsm import IteratedFGSM
from tfrobust.attacks.lbfgs import LBFGSPenalty
from tfrobust.attacks.pgd import PGD
from tfrobust.attacks.registry import ATTACKS, from_spec, make_attack, with_options


def names():
    return ATTACKS.names()


__all__ = [
    "ATTACKS", "Attack", "FGSM", "GaussianBlur", "GaussianNoise", "GradientAttack", "IteratedFGSM",
    "LBFGSPenalty", "PGD", "from_spec", "make_attack", "names", "per_example_loss",
    "predicted_labels", "with_options",
]
