"""Dataset registry -> tf.data pipelines.

>>> from tfrobust import data
>>> data.names()
['cifar10', 'fashion_mnist', 'mnist', 'synthetic']
>>> splits = data.load("fashion_mnist", batch_size=128, valid_size=5000, seed=0)
>>> arrays = data.load_arrays("synthetic", image_shape=(8, 8, 1), data_seed=3)

Modules: ``arrays`` (registry, :class:`Arrays`, :func:`load_arrays`), ``splits``
(:class:`Splits`, :func:`load`), ``idx`` (IDX files), ``sources`` (places looked,
tensorflow-datasets), one module per dataset family (``mnist``, ``cifar10``, ``synthetic``).
A new dataset is a function ``loader(data_dir, *, option=default, ...) -> Arrays`` decorated
with ``@DATASETS.register("name")``; its keyword-only parameters are its options.
"""
from tfrobust.data import cifar10, mnist, synthetic  # noqa: F401  (register the datasets)
from tfrobust.data.arrays import DATASETS, Arrays, load_arrays, names, options
from tfrobust.data.idx import read_idx, write_idx
from tfrobust.data.splits import Splits, load

__all__ = ["DATASETS", "Arrays", "Splits", "load", "load_arrays", "names", "options",
           "read_idx", "write_idx"]
