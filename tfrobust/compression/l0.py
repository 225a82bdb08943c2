"""The global l0 projection of ATMC (Gui et al., seed 002): keep the ``k`` largest weights of the
whole model, zero the rest.

The constraint ``||theta||_0 <= k`` counts every prunable variable of the model together (the
kernels of masked layers; B, A and C of factorized ones), so layers compete for the budget. Its
Euclidean projection keeps the ``k`` entries of largest ``|w|`` and zeroes the others
(:func:`l0_masks`; ties go by position, the first one stays, so exactly ``k`` entries are kept).

:class:`L0Projection` applies it after every optimizer step, as the reference's projected gradient
descent does: the masks stay at one during training, so a zeroed weight still gets gradients and
comes back if a step makes it one of the ``k`` largest (the evaluation records' ``l0`` holds the
nonzero count; ``weights``, which counts masks, shows the dense network until the end). After
the last step the masks are set to the kept entries, so the final evaluation, the weight counts
and the saved model see the sparse network. A model whose masks are already set (a stage after
another l0 stage) keeps its support: masked entries cannot come back.

    hook = L0Projection(keep=0.01)        # 1% of the model's prunable weights survive
    Trainer(setup, run_dir, hooks=[hook]).run()
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np
import tensorflow as tf

from tfrobust.errors import ConfigError
from tfrobust.layers.compressible import prunable_variables
from tfrobust.training.hooks import Hook


def check_keep(keep: float, flag: str = "keep") -> float:
    """``keep`` if it is a fraction in (0, 1]; else a ConfigError naming ``--flag``."""
    if not (isinstance(keep, (int, float)) and not isinstance(keep, bool) and 0.0 < keep <= 1.0):
        raise ConfigError(f"--{flag}={keep!r} is not allowed; the kept fraction must be in (0, 1]")
    return float(keep)


def budget(total: int, keep: float) -> int:
    """The number of weights a kept fraction ``keep`` of ``total`` allows: ``round``, at least 1."""
    return max(1, int(round(check_keep(keep) * total)))


def l0_masks(tensors: Sequence[tf.Tensor], k: int) -> List[tf.Tensor]:
    """0/1 masks (float32, the tensors' shapes) of the ``k`` entries of largest magnitude among all
    ``tensors`` together; ties by position. Works eagerly and in a graph."""
    sizes = [int(np.prod(t.shape)) for t in tensors]
    total = sum(sizes)
    if not 1 <= k <= total:
        raise ConfigError(f"the l0 budget k={k} must be between 1 and the {total} weights")
    flat = tf.concat([tf.reshape(tf.abs(tf.cast(t, tf.float32)), [-1]) for t in tensors], axis=0)
    if k == total:
        keep = tf.ones([total], tf.float32)
    else:
        _, index = tf.math.top_k(flat, k, sorted=True)  # sorted: equal values go by position
        keep = tf.scatter_nd(tf.expand_dims(index, 1), tf.ones([k], tf.float32), [total])
    return [tf.reshape(part, t.shape) for part, t in zip(tf.split(keep, sizes), tensors)]


class L0Projection(Hook):
    """Keeps the ``keep`` fraction of ``dense_weights`` (default: of the model's prunable entries)
    after every step; see the module docstring. ``dense_weights`` lets a factorized model share the
    budget of the dense model it came from (the reference counts k against the dense weights).
    Each evaluation record gets ``l0``: the budget and the nonzero entries."""

    def __init__(self, keep: float, dense_weights: int = 0):
        self.keep, self.dense_weights = check_keep(keep), dense_weights

    def before_train(self, trainer, start_step):
        prunables = prunable_variables(trainer.model)
        if not prunables:
            raise ConfigError(f"model {trainer.model.name!r} has no prunable weights for the l0 projection")
        self.variables = [p.variable for p in prunables]
        self.prunables = prunables
        total = sum(int(np.prod(v.shape)) for v in self.variables)
        self.k = min(budget(self.dense_weights or total, self.keep), total)

        @tf.function
        def project():
            masks = l0_masks([v.read_value() for v in self.variables], self.k)
            for v, m in zip(self.variables, masks):
                v.assign(v * tf.cast(m, v.dtype))

        self._project = project
        if start_step == 0:
            self._project()

    def after_step(self, trainer, step):
        self._project()
        if step == trainer.setup.config.train_iters:
            self.freeze()

    def freeze(self) -> None:
        """Sets every mask to the entries that survived (the sparse network, for evaluation and saving)."""
        for p in self.prunables:
            p.assign(p.mask.numpy() * (p.variable.numpy() != 0))

    def after_eval(self, trainer, step, record):
        nonzero = sum(int(np.count_nonzero(v.numpy())) for v in self.variables)
        record["l0"] = {"k": self.k, "nonzero": nonzero}
