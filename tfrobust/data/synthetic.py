"""``synthetic``: deterministic, learnable images of any shape, for tests and quick runs.

Each class gets a fixed random template (uniform in [0, 1] per pixel); an example is
``clip(template[label] + noise_std * N(0, 1), 0, 1)`` as float32, with balanced labels in
shuffled order. A small model learns it well above chance within a few hundred steps.

Options (all keyword): ``image_shape=(28, 28, 1)`` (height, width, channels),
``num_classes=10``, ``train_size=1000``, ``test_size=200``, ``noise_std=0.3`` and
``data_seed=0``. The seed is called ``data_seed`` because :func:`tfrobust.data.load` already has
a ``seed`` (for shuffling and carving the validation split); ``data_seed`` fixes the data itself.
The same options give bit-identical arrays; templates, train set and test set come from
independent streams, so changing ``train_size`` leaves the templates and the test set unchanged.
``data_dir`` is ignored.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np

from tfrobust.data.arrays import DATASETS, Arrays, check_int
from tfrobust.errors import ConfigError


def _examples(rng: np.random.Generator, templates: np.ndarray, n: int, noise_std: float):
    k = len(templates)
    labels = rng.permutation(np.arange(n, dtype=np.int64) % k)
    noise = rng.standard_normal((n,) + templates.shape[1:], dtype=np.float32)
    x = templates[labels] + np.float32(noise_std) * noise
    return np.clip(x, 0.0, 1.0, out=x), labels


def _generate(image_shape, num_classes, train_size, test_size, noise_std, data_seed):
    """``(x_train, y_train, x_test, y_test)``; ConfigError when they cannot be allocated."""
    template_rng, train_rng, test_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(data_seed).spawn(3))
    try:
        templates = template_rng.random((num_classes,) + image_shape, dtype=np.float32)
        return (*_examples(train_rng, templates, train_size, noise_std),
                *_examples(test_rng, templates, test_size, noise_std))
    except MemoryError:
        gib = (num_classes + train_size + test_size) * math.prod(image_shape) * 4 / 2 ** 30
        raise ConfigError(f"image_shape={image_shape} with num_classes={num_classes}, "
                          f"train_size={train_size}, test_size={test_size} needs {gib:.3g} GiB, more "
                          "than this machine can allocate; allowed: a smaller image_shape or sizes") from None


def _check_image_shape(image_shape) -> tuple:
    if (not isinstance(image_shape, (tuple, list)) or len(image_shape) != 3
            or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1
                       for d in image_shape)):
        raise ConfigError(f"image_shape={image_shape!r} is not allowed; allowed: "
                          "(height, width, channels), three positive integers")
    return tuple(int(d) for d in image_shape)


@DATASETS.register("synthetic")
def load_synthetic(data_dir: Optional[str], *, image_shape: Sequence[int] = (28, 28, 1),
                   num_classes: int = 10, train_size: int = 1000, test_size: int = 200,
                   noise_std: float = 0.3, data_seed: int = 0) -> Arrays:
    """Class templates plus Gaussian noise; see the module doc. ``data_dir`` is ignored."""
    del data_dir
    image_shape = _check_image_shape(image_shape)
    num_classes = check_int("num_classes", num_classes, 2)
    train_size = check_int("train_size", train_size, 1)
    test_size = check_int("test_size", test_size, 1)
    data_seed = check_int("data_seed", data_seed, 0)
    if (not isinstance(noise_std, (int, float, np.floating)) or isinstance(noise_std, bool)
            or not 0 <= noise_std < float("inf")):
        raise ConfigError(f"noise_std={noise_std!r} is not allowed; allowed: a finite number >= 0")
    x_train, y_train, x_test, y_test = _generate(image_shape, num_classes, train_size, test_size,
                                                 noise_std, data_seed)
    source = (f"synthetic(image_shape={image_shape}, num_classes={num_classes}, "
              f"train_size={train_size}, test_size={test_size}, noise_std={noise_std}, "
              f"data_seed={data_seed})")
    return Arrays(x_train, y_train, x_test, y_test, num_classes=num_classes,
                  name="synthetic", source=source)
