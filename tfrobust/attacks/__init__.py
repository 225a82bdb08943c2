"""Attacks with one call signature, ``attack(model, x, y) -> x_adv`` on inputs in [0, 1]."""
from tfrobust.attacks.apgd import APGD, APGDTargeted
from tfrobust.attacks.autoattack import AutoAttack
from tfrobust.attacks.base import Attack, CountingAttack, GradientAttack, per_example_loss, predicted_labels
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
from tfrobust.attacks.registry import ATTACKS, from_spec, make_attack, with_options


def names():
    return ATTACKS.names()


__all__ = [
    "APGD", "APGDTargeted", "ATTACKS", "Attack", "AutoAttack", "CarliniWagnerL2", "CountingAttack",
    "DeepFool", "FAB", "FABTargeted", "FGSM", "GaussianBlur", "GaussianNoise", "GradientAttack",
    "IteratedFGSM", "LBFGSPenalty", "PGD", "Square", "WRM", "from_spec", "make_attack", "names",
    "per_example_loss", "predicted_labels", "with_options",
]
