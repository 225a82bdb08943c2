"""Where datasets come from: a log of the places looked, and tensorflow-datasets as a last resort."""
from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np

from tfrobust.errors import DataError


class Search:
    """Records each place a loader looked and why it was passed over, for the final DataError."""

    def __init__(self, dataset: str):
        self.dataset = dataset
        self.looked: list[str] = []

    def note(self, place: str, why: str) -> None:
        self.looked.append(f"{place}: {why}")

    def not_found(self, how_to_get: Sequence[str]) -> DataError:
        lines = [f"dataset {self.dataset!r} not found. Looked in:"]
        lines += [f"  - {place}" for place in self.looked]
        lines += ["To get it:"] + [f"  - {how}" for how in how_to_get]
        return DataError("\n".join(lines))


def find_file(directory: str, basenames: Sequence[str]) -> Optional[str]:
    """The first of ``basenames`` (each tried plain, then with .gz) present in ``directory``."""
    for base in basenames:
        for candidate in (base, base + ".gz"):
            path = os.path.join(directory, candidate)
            if os.path.isfile(path):
                return path
    return None


def from_tfds(tfds_name: str, data_dir: Optional[str], download: bool, search: Search):
    """``(x_train, y_train, x_test, y_test, source)`` from tensorflow-datasets, or None (noted).

    tensorflow-datasets is imported only here. Without ``download`` only data already prepared
    in its data directory (``data_dir``, else its default) is used, so nothing touches the network.
    Data that is prepared but unreadable raises DataError.
    """
    try:
        import tensorflow_datasets as tfds  # slow to import: only when the files were not found
    except ImportError:
        search.note("tensorflow-datasets", "not installed (pip install tensorflow-datasets)")
        return None
    try:
        builder = tfds.builder(tfds_name, data_dir=data_dir)
    except Exception as e:  # noqa: BLE001 - any failure means "not available here"
        search.note(f"tensorflow-datasets {tfds_name!r}", f"no builder: {_first_line(e)}")
        return None
    place = f"tensorflow-datasets {tfds_name!r} in {builder.data_dir}"
    if not builder.is_prepared():
        if not download:
            search.note(place, "not prepared, and download=False (pass download=True when online)")
            return None
        try:
            builder.download_and_prepare()
        except Exception as e:  # noqa: BLE001 - offline, blocked, interrupted ...
            search.note(place, f"download failed: {type(e).__name__}: {_first_line(e)}")
            return None
    try:
        train, test = tfds.as_numpy(builder.as_dataset(
            split=["train", "test"], batch_size=-1, as_supervised=True))
    except Exception as e:  # noqa: BLE001
        raise DataError(f"{place}: prepared but unreadable: {type(e).__name__}: {_first_line(e)}") from None
    (x_train, y_train), (x_test, y_test) = train, test
    return (np.asarray(x_train), np.asarray(y_train, np.int64),
            np.asarray(x_test), np.asarray(y_test, np.int64), place)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
