"""A self-supervised rotation head on any model (``--model=<name>:...,rotation_head=true``).

Hendrycks et al. (2019) and Stutz et al. (2021) train a second, 4-way head on the classifier's
penultimate features to predict by how many quarter turns (0, 90, 180, 270 degrees) an image was
rotated (objective ``rotation``). :class:`RotationHeadModel` wraps the registered model (its
*base*, unchanged) and adds that head: a plain Keras ``Dense(4)`` on the input of the base's last
layer (the features its classifier reads).

- ``model(x)`` returns the class logits only, so evaluation, attacks, pruning and the saved
  ``.keras`` file treat the wrapper like its base;
- ``model.rotation_logits(x)`` gives the head's logits, and ``model.logits_and_rotation(x)`` both
  from one forward pass;
- the head's kernel and bias are trainable weights of the model (the optimizer trains them, the
  checkpoint and the ``.keras`` file hold them); the head is a plain ``Dense``, not a masked layer,
  so pruning, the L1 term and the weight counts see only the base's layers (size accounting
  counts the head at 32 bits a weight, as any plain layer);
- it is registered for Keras deserialisation (``tfrobust>RotationHeadModel``) when this module is
  imported (``import tfrobust.models`` does).

Not supported: the conversions that clone a functional model layer by layer (``to_factorized``,
``to_quantized``, ``export_plain``) refuse the wrapper with a ConfigError; apply them to
``model.base`` (the classifier without the head).
"""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from tfrobust.errors import ConfigError

ROTATIONS = 4  # quarter turns: 0, 90, 180 and 270 degrees


@keras.saving.register_keras_serializable(package="tfrobust")
class RotationHeadModel(keras.Model):
    """``base`` (a functional model that outputs logits) plus a ``Dense(4)`` rotation head on the
    input of its last layer. ``head_seed`` seeds the head's initializer."""

    def __init__(self, base: keras.Model, head_seed: int = 0, **kwargs):
        kwargs.setdefault("name", f"{base.name}_rotation")
        super().__init__(**kwargs)
        if not getattr(base, "_is_graph_network", False) or len(base.outputs) != 1:
            raise ConfigError(f"rotation_head=true needs a functional model with one output; "
                              f"{base.name!r} ({type(base).__name__}) is not")
        self.base = base
        self.head_seed = int(head_seed)
        features = base.layers[-1].input
        # One pass for both outputs. It shares every layer (and weight) with ``base`` and is kept
        # out of Keras's tracking, so that the wrapper's layers are just ``base`` and the head.
        object.__setattr__(self, "_joint", keras.Model(base.inputs, [base.outputs[0], features]))
        self.rotation_head = keras.layers.Dense(
            ROTATIONS, kernel_initializer=keras.initializers.GlorotUniform(seed=self.head_seed),
            name="rotation_head")
        with tf.name_scope(self.rotation_head.name):  # variables named rotation_head/kernel, .../bias
            self.rotation_head.build(features.shape)
        self.build(base.inputs[0].shape)

    def call(self, inputs, training=None):
        return self.base(inputs, training=training)

    @property
    def input_shape(self):
        return self.base.input_shape

    @property
    def output_shape(self):
        """The class logits' shape (the base's), as evaluation and the run commands read it."""
        return self.base.output_shape

    def rotation_logits(self, inputs, training=None) -> tf.Tensor:
        """The head's logits (one per quarter turn) for ``inputs``."""
        return self.logits_and_rotation(inputs, training=training)[1]

    def logits_and_rotation(self, inputs, training=None):
        """``(class logits, rotation logits)`` from one forward pass."""
        logits, features = self._joint(inputs, training=training)
        return logits, self.rotation_head(features)

    def get_config(self):
        return {"name": self.name, "head_seed": self.head_seed,
                "base": keras.saving.serialize_keras_object(self.base)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        base = keras.saving.deserialize_keras_object(config.pop("base"), custom_objects=custom_objects)
        return cls(base, **config)


def with_rotation_head(model: keras.Model, seed: int = 0) -> RotationHeadModel:
    """``model`` wrapped with a rotation head whose initializer is seeded from ``seed`` (as the
    registry seeds a model's layers: the same seed gives the same head)."""
    from tfrobust.models.registry import initializer

    return RotationHeadModel(model, head_seed=initializer(seed, 999).seed)
