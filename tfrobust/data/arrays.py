"""The dataset registry and the in-memory form every dataset loads into (:class:`Arrays`)."""
from __future__ import annotations

import dataclasses
import inspect
import os
from typing import Callable, Optional

import numpy as np

from tfrobust.errors import ConfigError, DataError
from tfrobust.registry import Registry

# name -> loader(data_dir, **options) -> Arrays. A loader's options are its keyword-only parameters.
DATASETS: Registry[Callable[..., "Arrays"]] = Registry("dataset")


@dataclasses.dataclass(frozen=True, eq=False)
class Arrays:
    """A dataset in memory: NHWC images and int64 labels, as read from ``source``.

    Images are uint8 (0..255) or float32 (already in [0, 1]); pipelines scale uint8 to [0, 1]
    on the fly, so uint8 datasets stay at one byte a pixel in memory.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    name: str
    source: str

    def __post_init__(self):
        if self.num_classes < 2:
            raise DataError(f"{self.source}: num_classes is {self.num_classes}; need at least 2")
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.ndim != 4 or x.dtype not in (np.uint8, np.float32):
                raise DataError(f"{self.source}: {split} images must be NHWC uint8 or float32, "
                                f"got shape {x.shape} {x.dtype}")
            if y.ndim != 1 or y.dtype != np.int64:
                raise DataError(f"{self.source}: {split} labels must be 1-D int64, got shape {y.shape} {y.dtype}")
            if len(x) != len(y):
                raise DataError(f"{self.source}: {split} has {len(x)} images but {len(y)} labels")
            if x.size == 0:
                raise DataError(f"{self.source}: {split} images of shape {x.shape} are empty; "
                                "need at least one example of at least 1x1x1 pixels")
            check_labels(y, self.num_classes, f"{self.source} ({split} labels)")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(f"{self.source}: train images are {self.x_train.shape[1:]} "
                            f"but test images are {self.x_test.shape[1:]}")

    @property
    def input_shape(self) -> tuple:
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def train_size(self) -> int:
        return len(self.y_train)

    @property
    def test_size(self) -> int:
        return len(self.y_test)


def check_labels(labels: np.ndarray, num_classes: int, where: str) -> None:
    """Raises DataError naming ``where`` when a label is outside 0..num_classes-1."""
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{where}: label {labels[i]} at index {i} is outside 0..{num_classes - 1} "
                        f"({bad.size} labels out of range)")


def names() -> list[str]:
    """The registered dataset names."""
    return DATASETS.names()


def _loader(name: str) -> Callable[..., Arrays]:
    """The loader of dataset ``name``; ConfigError listing the known names otherwise."""
    if not isinstance(name, str):
        raise ConfigError(f"dataset name {name!r} is not allowed; allowed: one of {', '.join(names())}")
    return DATASETS.get(name)


def options(name: str) -> dict:
    """The options dataset ``name`` takes, with their defaults."""
    loader = _loader(name)
    return {p.name: p.default for p in inspect.signature(loader).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


def load_arrays(name: str, data_dir: Optional[str | os.PathLike] = None, **opts) -> Arrays:
    """Loads dataset ``name`` into memory.

    ``data_dir``: a directory holding the dataset's original files (see each dataset's doc);
    without it each dataset looks in its usual places. ``opts``: the dataset's own options
    (:func:`options` lists them); an unknown one raises ConfigError naming it.
    """
    loader = _loader(name)
    allowed = options(name)
    for key in opts:
        if key not in allowed:
            known = ", ".join(sorted(allowed)) if allowed else "none"
            raise ConfigError(f"dataset {name!r} has no option {key!r}; its options: {known}")
    return loader(None if data_dir is None else check_dir("data_dir", data_dir), **opts)


def check_dir(option: str, value) -> str:
    """``value`` as a directory path (str); ConfigError when it is no path, empty or a file.

    A directory that does not exist passes: each loader reports where it looked (DataError).
    """
    path = os.fsdecode(os.fspath(value)) if isinstance(value, (str, bytes, os.PathLike)) else ""
    if not path or "\0" in path:
        raise ConfigError(f"{option}={value!r} is not allowed; allowed: a directory path, or None")
    path = os.path.expanduser(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(f"{option}={path!r} is not allowed: it is a file, not a directory; "
                          "allowed: a directory holding the dataset's files, or None")
    return path


def check_int(option: str, value, minimum: int, maximum: Optional[int] = None) -> int:
    """``value`` as an int in [minimum, maximum]; else ConfigError naming the option and the range."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if ok and value >= minimum and (maximum is None or value <= maximum):
        return int(value)
    allowed = f"an integer >= {minimum}" if maximum is None else f"an integer in {minimum}..{maximum}"
    raise ConfigError(f"{option}={value!r} is not allowed; allowed: {allowed}")


def check_bool(option: str, value) -> bool:
    """``value`` if it is True or False; else ConfigError naming the option."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ConfigError(f"{option}={value!r} is not allowed; allowed: True or False")
