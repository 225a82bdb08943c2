"""tfrobust: one TensorFlow 2 core for research where adversarial robustness meets compression.

Subpackages: ``data`` (dataset registry), ``layers`` (masked layers), ``models`` (model
registry), ``attacks`` (attack registry), ``evaluation`` (accuracy/loss under attacks),
``theory`` (cross-generalization-gap models).
"""

__version__ = "0.1.0"
