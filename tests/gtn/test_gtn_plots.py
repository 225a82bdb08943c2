"""The GTN's figures and tables from records, on edge cases of their shapes."""
import os

import numpy as np

from tfrobust.analysis import gtn as plots


def test_samples_handle_one_step_and_batches_smaller_than_the_classes(tmp_path):
    images = np.random.default_rng(0).uniform(size=(1, 3, 8, 8, 1)).astype(np.float32)
    labels = np.array([[0, 1, 2]])
    path = str(tmp_path / "samples.png")
    plots.samples(images, labels, path, steps=1, classes=4)  # label 3 has no image: a blank cell
    assert os.path.getsize(path) > 0


def test_curves_and_accuracy_rows(tmp_path):
    metrics = [{"step": s, "outer_loss": 1.0 / s, "valid": {"few_2": 0.3, "all_4": 0.5 + 0.01 * s}} for s in (2, 4)]
    path = str(tmp_path / "curves.png")
    plots.curves(metrics, path)
    assert os.path.getsize(path) > 0
    results = {"final": {"valid": {"all_4": 0.6, "few_2": 0.3}, "test": {"all_4": 0.61, "few_2": 0.31}},
               "real_data_epoch": {"valid": 0.7, "test": 0.71}}
    rows = plots.accuracy_rows(results, None)
    assert rows[1] == {"split": "test", "2 GTN steps": 0.31, "4 GTN steps": 0.61, "1 epoch of real data": 0.71}
    assert list(rows[0]) == ["split", "2 GTN steps", "4 GTN steps", "1 epoch of real data"]  # fewest steps first
