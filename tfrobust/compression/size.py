"""A compressed model's size, two ways.

- As the papers count it (:func:`paper_size`): the kept weights (nonzero entries of the prunable
  variables: kernels, or a factorized layer's B, A and C) times the bits per weight, against the
  dense model's weights at 32 bits. Biases and the positions of the kept weights are not counted
  (ATMC's Caffe LeNet: 430,500 weights, 13,776,000 dense bits).
- As real bytes (:func:`export_record`): the model exported to TFLite with int8 weights
  (:mod:`tfrobust.compression.export`), the file's bytes, and its gzip size (zeros and repeated
  values compress; TFLite itself stores dense tensors).
"""
from __future__ import annotations

import json
import os
from typing import Callable, Dict, Optional

import numpy as np

from tfrobust.io import write_json_atomic
from tfrobust.layers.compressible import prunable_variables


def kept_weights(model) -> int:
    """Nonzero entries of every prunable variable (under its mask)."""
    return sum(int(np.count_nonzero(p.masked().numpy())) for p in prunable_variables(model))


def paper_size(model, bits: int, dense_weights: int) -> Dict:
    """``{kept, bits, dense_weights, bits_total, ratio}``: ratio = kept x bits / (dense x 32). A
    model without prunable variables (tfmot's quantization-aware model) keeps every weight."""
    kept = kept_weights(model) if prunable_variables(model) else dense_weights
    return {"kept": kept, "bits": bits, "dense_weights": dense_weights, "bits_total": kept * bits,
            "ratio": kept * bits / (dense_weights * 32)}


def export_record(model, run_path: str, bits: int, dense_weights: int, check_inputs: Optional[np.ndarray] = None,
                  progress: Optional[Callable[[str], None]] = None) -> Dict:
    """``{"size": paper_size, "tflite": the export's record}`` of ``model``, made once into
    ``run_path`` (``model.tflite`` and ``export.json``); a later call returns ``export.json``."""
    path = os.path.join(run_path, "export.json")
    if os.path.exists(path):
        return read_export(run_path)
    from tfrobust.compression.export import export

    (progress or (lambda text: None))(f"exporting {run_path} to TFLite (int8 weights)")
    record = export(model, os.path.join(run_path, "model.tflite"), weights="int8", check_inputs=check_inputs)
    record = {"size": paper_size(model, bits, dense_weights), "tflite": {**record, "path": "model.tflite"}}
    write_json_atomic(path, record)
    return record


def read_export(run_path: str) -> Dict:
    """The record :func:`export_record` wrote in ``run_path``."""
    with open(os.path.join(run_path, "export.json")) as f:
        return json.load(f)
