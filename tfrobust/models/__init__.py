"""The model registry. ``build_model(name, input_shape, num_classes, seed, **options)``."""
from tfrobust.models import dense, lenet, resnet, rotation  # noqa: F401  (register the models and the rotation head)
from tfrobust.models.registry import MODELS, build_model


def names():
    return MODELS.names()


__all__ = ["MODELS", "build_model", "names"]
