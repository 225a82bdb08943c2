"""Adversarial training with self-supervised rotation prediction (objective ``rotation``;
Hendrycks et al., 2019, as Stutz et al., 2021 train it).

The loss is ``madry``'s adversarial cross-entropy plus ``weight`` (lambda, default 0.5) times the
cross-entropy of the model's rotation head (``--model=...,rotation_head=true``, see
:mod:`tfrobust.models.rotation`) predicting by how many quarter turns each image was rotated::

    r_i uniform in {0, 1, 2, 3}, drawn from the step's seed (one rotation per image)
    x_rot = rot90(x, r)                      (counter-clockwise, tf.image.rot90)
    x_rot_adv = the training attack on x_rot against the rotation head and labels r
    loss = CE(f(x_adv), y) + weight * CE(rotation_head(x_rot_adv), r)

As in Stutz et al.'s code, the rotated images are attacked against the rotation labels with the
same attack settings, and both halves go through the network as one batch (one forward pass of
``[x_adv; x_rot_adv]``, so batch normalisation sees them together). ``adversarial_rotations=false`` skips
that second attack and uses the clean rotated images (cheaper). ``weight=0`` is exactly ``madry``
(no rotation pass at all). ``label_smoothing`` applies to the class cross-entropy only. Logs
``adv_loss`` and ``rotation_loss``.

Departure from Stutz et al.: they split every batch in half (half classified, half rotated);
here the whole batch is classified and the same images, rotated, form the second half, so a step
costs two attacks and a forward pass of twice the batch, and ``weight=0`` reduces to ``madry``.
Images must be square (a quarter turn of an H x W image is W x H).
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfrobust.errors import ConfigError
from tfrobust.training.objectives import OBJECTIVES, Objective

NEEDS_HEAD = "objective rotation needs a model with a rotation head: add rotation_head=true to --model"


def rotate_quarters(x, quarters) -> tf.Tensor:
    """Each image ``x[i]`` (NHWC, square) turned counter-clockwise by ``quarters[i]`` quarter turns."""
    turned = tf.stack([x] + [tf.image.rot90(x, k) for k in (1, 2, 3)], axis=1)
    return tf.gather(turned, tf.cast(quarters, tf.int32), axis=1, batch_dims=1)


class _RotationView:
    """The model as the attack sees it when attacking the rotation head: inputs -> rotation logits."""

    def __init__(self, model):
        self.model = model

    def __call__(self, inputs, training=False):
        return self.model.rotation_logits(inputs, training=training)


@OBJECTIVES.register("rotation")
@dataclasses.dataclass(frozen=True)
class Rotation(Objective):
    """Adversarial training plus rotation prediction; see :mod:`tfrobust.training.rotation`."""

    weight: float = 0.5
    adversarial_rotations: bool = True
    uses_attack = True

    def __post_init__(self):
        super().__post_init__()
        self.check_nonnegative("weight", "rotation")
        if not isinstance(self.adversarial_rotations, bool):
            raise ConfigError(f"objective 'rotation': adversarial_rotations={self.adversarial_rotations!r} is not "
                              "allowed; it must be true or false")

    def check_model_options(self, options):
        if not options.get("rotation_head", False):
            raise ConfigError(NEEDS_HEAD)

    def check_input(self, input_shape):
        if self.weight > 0 and input_shape[0] != input_shape[1]:
            raise ConfigError(f"objective 'rotation' turns images by quarter turns and needs square images; got "
                              f"{input_shape[0]}x{input_shape[1]}")

    def loss(self, model, x, y, seed):
        if not hasattr(model, "logits_and_rotation"):  # the build step's check_model_options, when skipped
            raise ConfigError(NEEDS_HEAD)
        x_adv = self.adversarial(model, x, y, seed)
        if self.weight == 0:
            ce = self.cross_entropy(model(x_adv, training=True), y)
            return ce, {"adv_loss": ce}
        self.check_input(tuple(x.shape[1:]))
        n = tf.shape(x)[0]
        quarters = tf.random.stateless_uniform([n], tf.random.experimental.stateless_fold_in(seed, 0x524f54),
                                               0, 4, dtype=tf.int64)
        x_rot = rotate_quarters(x, quarters)
        if self.adversarial_rotations:
            rot_seed = tf.random.experimental.stateless_fold_in(seed, 0x524f55)
            x_rot = tf.stop_gradient(self.attack.perturb(_RotationView(model), x_rot, quarters, rot_seed))
        logits, rotation_logits = model.logits_and_rotation(tf.concat([x_adv, x_rot], 0), training=True)
        ce = self.cross_entropy(logits[:n], y)
        rotation = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            tf.cast(quarters, tf.int32), rotation_logits[n:]))
        return ce + self.weight * rotation, {"adv_loss": ce, "rotation_loss": rotation}
