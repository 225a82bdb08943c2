"""TFLite export: the real bytes of a (compressed) model.

    data = to_tflite(model, weights="int8")          # the .tflite flatbuffer, as bytes
    logits = tflite_outputs(data, x)                 # the TFLite interpreter on a batch
    record = export(model, "model.tflite", weights="float32", check_inputs=x)
    # {"path", "bytes", "gzip_bytes", "dense_float32_bytes", "weights", "examples",
    #  "max_abs_diff", "agreement", "tolerance", "within_tolerance"}

Every model goes through :func:`tfrobust.layers.export_plain` first, so masked, quantized and
factorized layers reach the converter as the plain ``Dense``/``Conv2D`` layers they are equivalent
to (a pruned kernel holds its zeros, a k-means-quantized kernel its codebook values), and the file's
gzip size shows what sparsity and weight sharing save.

``weights``:

- ``"float32"``: no optimisation; the weights are stored exactly as in the model (float32).
- ``"int8"``: ``tf.lite.Optimize.DEFAULT`` with no representative dataset, i.e. dynamic-range
  quantization: int8 weights (per output channel), float32 activations, about 4x smaller.

Converter route (TF 2.21, tf_keras 2.21): ``tf.lite.TFLiteConverter.from_keras_model(plain)`` works
as is. For a model that is not Keras 3, TF's converter saves it with ``tf.saved_model.save`` to a
temporary directory (the tf_keras serving signature runs with ``training=False``: dropout off,
batch norm on its moving statistics) and converts that; the input keeps its dynamic batch
dimension (``shape_signature`` ``[-1, H, W, C]``), so :func:`tflite_outputs` resizes the input to
the batch. (The concrete-function route, ``from_concrete_functions([tf.function(model)
.get_concrete_function(spec)], model)``, also works but fixes the batch size to ``spec``'s.)

Tolerances of the check (:func:`export` with ``check_inputs``), on the logits, where ``scale`` is
``max(1, max |Keras logit|)`` over the check inputs (float32 rounding grows with the logits):

- float32: ``max |TFLite - Keras| <= 1e-4 * scale``. Measured: <= 1.4e-5 (<= 7e-7 * scale) on
  LeNet(ω=1, 4), Caffe-LeNet and dense-300-100 trained on Fashion-MNIST (dense and 80% pruned), and
  2.5e-5 on an untrained ResNet-18 (logits up to 14). Beyond it, :func:`export` raises
  :class:`TFLiteMismatchError` and writes nothing.
- int8 (dynamic range): ``max |TFLite - Keras| <= 0.02 * scale``. Measured on the full
  Fashion-MNIST test set (10,000 images) for the same trained models, dense and 80% pruned:
  ``max |diff| / max |logit|`` between 0.0026 and 0.0044 (per example at most 0.0125 of that
  example's logit range), argmax agreement between 0.9961 and 0.9992. Agreement is reported, not
  checked: near a decision boundary int8 rounding flips a few predictions, so expect >= 0.99 on a
  large check set and a few flips on a small one. An int8 export beyond its tolerance is written
  and flagged (``within_tolerance: False``), not refused: int8 is lossy by design.
"""
from __future__ import annotations

import gzip
import os
import warnings
from typing import Optional

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrobust.errors import ConfigError, TfrobustError
from tfrobust.io import write_bytes_atomic

WEIGHTS = ("float32", "int8")

#: ``max |TFLite - Keras|`` allowed on logits, as a multiple of ``max(1, max |Keras logit|)``.
TOLERANCES = {"float32": 1e-4, "int8": 0.02}

#: Layer classes that TFLite's converter turns into builtin ops (checked on the plain model, by
#: exact type: a subclass may override ``call``). Every one is exercised by the tests.
SUPPORTED_LAYERS = (
    keras.layers.InputLayer,
    keras.layers.Dense,
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.Flatten,
    keras.layers.Reshape,
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.Softmax,
    keras.layers.Dropout,
    keras.layers.BatchNormalization,
    keras.layers.Add,
    keras.layers.Concatenate,
    keras.layers.ZeroPadding2D,
)

_CHUNK = 256  # examples per interpreter invocation in tflite_outputs


class TFLiteMismatchError(TfrobustError):
    """A float32 TFLite export whose outputs differ from the Keras model's beyond the tolerance."""


def check_weights(weights) -> str:
    """``weights`` if it is one of :data:`WEIGHTS`; else ConfigError listing them."""
    if weights not in WEIGHTS:
        raise ConfigError(f"weights={weights!r} is not allowed; allowed: {', '.join(WEIGHTS)}")
    return weights


def _first_line(e: BaseException) -> str:
    lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(e).__name__


def _plain(model: keras.Model) -> keras.Model:
    """``export_plain(model)``, with every layer checked against :data:`SUPPORTED_LAYERS`."""
    from tfrobust.layers.plain import export_plain

    if not isinstance(model, keras.Model):
        raise ConfigError(f"cannot export {model!r} to TFLite: not a tf_keras model")
    plain = export_plain(model)  # ConfigError naming a compressible layer with no plain equivalent
    for layer in plain._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.Model) and getattr(layer, "_is_graph_network", False):
            continue  # a nested functional/sequential model: its own layers are checked
        if type(layer) not in SUPPORTED_LAYERS:
            raise ConfigError(
                f"cannot export layer {layer.name!r} ({type(layer).__name__}) to TFLite: not among the "
                f"layers known to convert ({', '.join(c.__name__ for c in SUPPORTED_LAYERS)})")
    return plain


def is_qat(model) -> bool:
    """Whether ``model`` holds tensorflow-model-optimization's quantization wrappers (a model made
    by ``quantize_model``: the converter reads its learned ranges and writes a full-integer model)."""
    return any(type(layer).__module__.startswith("tensorflow_model_optimization") for layer in model.layers)


def check_exportable(model: keras.Model) -> None:
    """Fails (ConfigError, naming the layer) if :func:`to_tflite` would refuse ``model``'s layers;
    converts nothing, so a pipeline can check before it trains."""
    _plain(model)


def _convert(plain: keras.Model, weights: str) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(plain)
    if weights == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # no representative data: dynamic range
    try:
        return bytes(converter.convert())
    except Exception as e:  # the converter's own errors (ConverterError, ValueError, ...)
        raise ConfigError(f"cannot export model {plain.name!r} to TFLite: {type(e).__name__}: "
                          f"{_first_line(e)}") from None


def to_tflite(model: keras.Model, weights: str = "int8") -> bytes:
    """The TFLite flatbuffer of ``model`` (any functional/sequential tfrobust model).

    ``weights``: ``"float32"`` (weights as in the model) or ``"int8"`` (dynamic-range quantization).
    Raises ConfigError for another ``weights``, a layer with no plain equivalent, a layer not in
    :data:`SUPPORTED_LAYERS` (``cannot export layer 'x' (Type) to TFLite: ...``), or a converter
    failure."""
    weights = check_weights(weights)
    return _convert(_plain(model), weights)


def _interpreter(data: bytes):
    with warnings.catch_warnings():  # tf.lite.Interpreter warns that it moves to ai_edge_litert
        warnings.simplefilter("ignore")
        try:
            return tf.lite.Interpreter(model_content=data)
        except ValueError as e:
            raise ConfigError(f"not a TFLite model: {_first_line(e)}") from None


def tflite_outputs(tflite_bytes: bytes, x) -> np.ndarray:
    """The outputs of the TFLite model ``tflite_bytes`` on the batch ``x`` (first axis: examples),
    run by ``tf.lite.Interpreter`` in chunks of up to 256 examples (the input resized to each)."""
    interpreter = _interpreter(tflite_bytes)
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ConfigError(f"the TFLite model has {len(inputs)} inputs and {len(outputs)} outputs; "
                          "tflite_outputs runs models with one of each")
    (inp,), (out,) = inputs, outputs
    x = np.asarray(x, dtype=inp["dtype"])
    if x.ndim != len(inp["shape"]) or any(s not in (-1, d) for s, d in zip(inp["shape_signature"][1:], x.shape[1:])):
        raise ConfigError(f"inputs of shape {x.shape} do not fit the TFLite model's input "
                          f"{tuple(int(s) for s in inp['shape_signature'])}")
    results, size = [], None
    for start in range(0, len(x), _CHUNK):
        chunk = x[start:start + _CHUNK]
        if chunk.shape != size:
            interpreter.resize_tensor_input(inp["index"], list(chunk.shape))
            interpreter.allocate_tensors()
            size = chunk.shape
        interpreter.set_tensor(inp["index"], chunk)
        interpreter.invoke()
        results.append(interpreter.get_tensor(out["index"]).copy())
    if not results:
        return np.zeros((0, *(int(d) for d in out["shape"][1:])), out["dtype"])
    return np.concatenate(results)


def _keras_outputs(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(model(x[i:i + _CHUNK], training=False))
                           for i in range(0, len(x), _CHUNK)])


def export(model: keras.Model, path: str, weights: str = "int8", check_inputs=None,
           atol: Optional[float] = None) -> dict:
    """Converts ``model`` (see :func:`to_tflite`), checks it and writes it to ``path`` atomically.

    With ``check_inputs`` (a batch of model inputs), compares the Keras model's logits with the
    interpreter's: ``max_abs_diff`` is ``max |TFLite - Keras|``, ``agreement`` the fraction of
    equal argmax. The tolerance is ``atol * max(1, max |Keras logit|)`` with ``atol`` defaulting
    to :data:`TOLERANCES` (float32 1e-4, int8 0.02; see the module docstring for the measured
    errors). A float32 export beyond it raises :class:`TFLiteMismatchError` and writes nothing; an
    int8 one is written, with ``within_tolerance: False``.

    A tensorflow-model-optimization quantization-aware model (:func:`is_qat`) is converted as it
    is, to a full-integer model with its learned ranges, whatever ``weights`` says.

    Returns ``{"path", "bytes" (the file's size), "gzip_bytes" (gzip level 9 of the file),
    "dense_float32_bytes" (4 bytes per parameter of the plain model: no sparsity, no sharing),
    "weights", "examples", "max_abs_diff", "agreement", "tolerance", "within_tolerance"}``, the
    check's fields None without ``check_inputs``.
    """
    weights = check_weights(weights)
    atol = TOLERANCES[weights] if atol is None else float(atol)
    if not atol >= 0:
        raise ConfigError(f"atol={atol!r} is not allowed; allowed: a number >= 0")
    qat = is_qat(model)  # exported as it is, int8 from its own ranges
    plain = model if qat else _plain(model)
    data = _convert(plain, "int8" if qat else weights)
    record = {"path": str(path), "bytes": len(data), "gzip_bytes": len(gzip.compress(data, 9)),
              "dense_float32_bytes": 4 * int(plain.count_params()),
              "weights": "int8 (tfmot quantization-aware)" if qat else weights,
              "examples": None, "max_abs_diff": None, "agreement": None, "tolerance": None,
              "within_tolerance": None}
    if check_inputs is not None:
        x = np.asarray(check_inputs, dtype=np.float32)
        if len(x) == 0:
            raise ConfigError("check_inputs is empty; give at least one example or None")
        reference = _keras_outputs(model, x)
        got = tflite_outputs(data, x).reshape(reference.shape)
        diff = float(np.max(np.abs(got.astype(np.float64) - reference)))
        tolerance = atol * max(1.0, float(np.max(np.abs(reference))))
        record.update(examples=int(len(x)), max_abs_diff=diff,
                      agreement=float(np.mean(np.argmax(got, -1) == np.argmax(reference, -1))),
                      tolerance=tolerance, within_tolerance=bool(diff <= tolerance))
        if weights == "float32" and not diff <= tolerance:  # also catches NaN
            raise TFLiteMismatchError(
                f"the float32 TFLite export of {model.name!r} differs from the Keras model by {diff:.3g} on "
                f"{len(x)} examples; allowed: {tolerance:.3g} ({atol:g} x the largest |logit|, at least 1); "
                f"nothing written to {path}")
    write_bytes_atomic(os.fspath(path), data)
    record["bytes"] = os.path.getsize(path)
    return record
