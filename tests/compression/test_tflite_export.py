"""TFLite export (tfrobust.compression.export): real bytes that agree with the Keras model, smaller
for int8 weights, sparsity and shared values; clear errors for what cannot be exported."""
import gzip
import os
import sys
import warnings

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "layers"))  # layer_models
sys.path.insert(0, os.path.join(HERE, "..", "runs"))  # badinput (the in-process command runner)

import layer_models  # noqa: E402
from layer_models import random_masks  # noqa: E402

from tfrobust import models  # noqa: E402
from tfrobust.compression import export as tfl  # noqa: E402
from tfrobust.errors import ConfigError  # noqa: E402
from tfrobust.layers import Compressible, MaskedDense, get_masks, set_masks  # noqa: E402


def tensors_of_shape(data, shapes):
    """The TFLite model's tensors whose shape is one of ``shapes`` (to find its weights: the
    interpreter does not say which tensors are constants)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_content=data)
    interpreter.allocate_tensors()
    return [interpreter.get_tensor(d["index"]) for d in interpreter.get_tensor_details()
            if tuple(d["shape"]) in shapes]


def files_in(path):
    return sorted(os.listdir(path))


def test_float32_export_of_a_masked_convnet_agrees_and_reports_the_file_size(tmp_path):
    model = layer_models.small_convnet(seed=3, activation="relu", bias_initializer="ones")
    set_masks(model, random_masks(model, keep=0.6, seed=1))
    x = np.random.default_rng(0).random((300, 8, 8, 2), dtype=np.float32)  # 2 interpreter chunks
    path = str(tmp_path / "sub" / "convnet.tflite")
    record = tfl.export(model, path, weights="float32", check_inputs=x)
    assert record["max_abs_diff"] <= 1e-4 and record["agreement"] == 1.0 and record["within_tolerance"]
    assert record["examples"] == 300 and record["weights"] == "float32" and record["path"] == path
    data = open(path, "rb").read()
    assert record["bytes"] == os.path.getsize(path) == len(data)
    assert record["gzip_bytes"] == len(gzip.compress(data, 9))
    assert record["dense_float32_bytes"] == 4 * (3 * 3 * 2 * 4 + 4 + 6 * 6 * 4 * 5 + 5)
    assert files_in(tmp_path / "sub") == ["convnet.tflite"]  # no temporary file left
    np.testing.assert_allclose(tfl.tflite_outputs(data, x), model(x).numpy(), atol=1e-5)
    # the masked kernel entries are exact zeros in the file
    kernels = tensors_of_shape(data, {(5, 6 * 6 * 4)})  # TFLite stores a dense kernel as (out, in)
    assert len(kernels) == 1
    np.testing.assert_array_equal(np.sort(kernels[0].T.ravel()),
                                  np.sort((model.get_layer("fc").effective_weights()["kernel"]).numpy().ravel()))


def test_int8_export_is_smaller_and_agrees_within_its_tolerance(trained_model, test_batch, tmp_path):
    x, _ = test_batch
    f32 = tfl.export(trained_model, str(tmp_path / "f32.tflite"), weights="float32", check_inputs=x)
    i8 = tfl.export(trained_model, str(tmp_path / "i8.tflite"), weights="int8", check_inputs=x)
    assert f32["max_abs_diff"] <= 1e-4 and f32["agreement"] == 1.0
    assert i8["bytes"] < 0.3 * f32["bytes"]  # 61,000 weights: 1 byte instead of 4
    logits = trained_model(x).numpy()
    scale = max(1.0, np.abs(logits).max())
    assert i8["tolerance"] == pytest.approx(0.02 * scale) and i8["within_tolerance"]
    assert 1e-5 * scale < i8["max_abs_diff"] <= 0.02 * scale  # lossy, but within its tolerance
    assert i8["agreement"] >= 0.98
    assert files_in(tmp_path) == ["f32.tflite", "i8.tflite"]


def test_pruning_and_shared_values_shrink_the_gzip_size():
    model = models.build_model("dense-300-100", (10, 10, 1), 10, seed=0)
    dense = gzip.compress(tfl.to_tflite(model, weights="float32"), 9)
    set_masks(model, random_masks(model, keep=0.5, seed=0))
    pruned = tfl.to_tflite(model, weights="float32")
    assert len(gzip.compress(pruned, 9)) < 0.8 * len(dense)
    # k-means-like weight sharing: 16 values per kernel, kept exactly by the float32 export
    codebook = np.linspace(-0.1, 0.1, 16, dtype=np.float32)
    for layer in model.layers:
        if isinstance(layer, MaskedDense):
            kernel = layer.kernel.numpy()
            layer.kernel.assign(codebook[np.abs(kernel[..., None] - codebook).argmin(-1)] * get_masks(model)[layer.name])
    shared = tfl.to_tflite(model, weights="float32")
    assert len(gzip.compress(shared, 9)) < 0.5 * len(gzip.compress(pruned, 9))
    kernels = tensors_of_shape(shared, {(300, 100), (100, 300), (10, 100)})
    assert len(kernels) == 3
    for value in kernels:
        assert set(np.unique(value)) <= set(codebook) | {0.0}


def test_every_supported_layer_converts_and_agrees(tmp_path):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.ZeroPadding2D(1)(inputs)
    x = keras.layers.Conv2D(6, 3)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.LeakyReLU(0.1)(x)
    a = keras.layers.MaxPooling2D(2)(x)
    b = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Add()([a, b])
    x = keras.layers.Activation("tanh")(x)
    x = keras.layers.Dropout(0.5)(x)
    g = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling2D()(x), keras.layers.GlobalMaxPooling2D()(x)])
    f = keras.layers.Flatten()(keras.layers.Reshape((4, 4, 6))(x))
    x = keras.layers.Concatenate()([g, f])
    x = keras.layers.Dense(12, activation="relu")(x)
    x = MaskedDense(10)(x)
    outputs = keras.layers.Softmax()(x)
    model = keras.Model(inputs, outputs)
    bn = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)][0]
    rng = np.random.default_rng(0)
    bn.set_weights([rng.random(6) + 0.5, rng.random(6), rng.random(6), rng.random(6) + 0.5])  # inference statistics
    assert {type(layer) for layer in model.layers} - {MaskedDense} == set(tfl.SUPPORTED_LAYERS)
    x = rng.random((20, 8, 8, 3), dtype=np.float32)
    record = tfl.export(model, str(tmp_path / "zoo.tflite"), weights="float32", check_inputs=x)
    assert record["max_abs_diff"] <= 1e-5 and record["agreement"] == 1.0


class Sine(keras.layers.Layer):
    pass


class NoPlain(Compressible, keras.layers.Dense):
    def effective_weights(self):
        return {"kernel": self.kernel}

    def prunable(self):
        return []


@pytest.mark.parametrize("layer, message", [
    (keras.layers.Lambda(lambda t: t * 2, name="double"), "cannot export layer 'double' (Lambda) to TFLite"),
    (Sine(name="sine"), "cannot export layer 'sine' (Sine) to TFLite"),
    (NoPlain(3, name="odd"), "layer 'odd' (NoPlain) has no plain Keras equivalent"),
])
def test_a_layer_that_cannot_be_exported_is_named_and_nothing_is_written(layer, message, tmp_path):
    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(3)(layer(MaskedDense(4, name="fc")(inputs))))
    for weights in ("float32", "int8"):
        with pytest.raises(ConfigError) as e:
            tfl.export(model, str(tmp_path / "m.tflite"), weights=weights, check_inputs=np.zeros((2, 6)))
        assert message in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="to TFLite|no plain Keras equivalent"):
        tfl.to_tflite(model)
    assert files_in(tmp_path) == []


def test_bad_weights_value_lists_the_allowed_ones(tmp_path):
    model = layer_models.small_convnet()
    for call in (lambda: tfl.to_tflite(model, weights="int4"),
                 lambda: tfl.export(model, str(tmp_path / "m.tflite"), weights="float16")):
        with pytest.raises(ConfigError, match="is not allowed; allowed: float32, int8"):
            call()
    assert files_in(tmp_path) == []


def test_a_float32_export_that_disagrees_is_refused_and_not_written(tmp_path, monkeypatch):
    model = layer_models.small_convnet()
    x = np.random.default_rng(0).random((4, 8, 8, 2), dtype=np.float32)
    real = tfl.tflite_outputs
    monkeypatch.setattr(tfl, "tflite_outputs", lambda data, x: real(data, x) + 1e-3)
    with pytest.raises(tfl.TFLiteMismatchError, match="differs from the Keras model by 0.001"):
        tfl.export(model, str(tmp_path / "m.tflite"), weights="float32", check_inputs=x)
    assert files_in(tmp_path) == []
    record = tfl.export(model, str(tmp_path / "m.tflite"), weights="int8", check_inputs=x)  # int8: lossy by design
    assert record["within_tolerance"] and record["max_abs_diff"] >= 1e-3


def test_the_command_line_exports_prints_sizes_and_refuses_a_lambda_model(tmp_path):
    from badinput import run_rows
    from clitools import DATASET, ROOT

    from tfrobust.saving import save_model

    model = models.build_model("lenet", (10, 10, 1), 10, seed=0)
    set_masks(model, random_masks(model, keep=0.5, seed=0))
    values = {"model": str(tmp_path / "model.keras"), "lambda_model": str(tmp_path / "lambda.keras")}
    save_model(model, values["model"])
    inputs = keras.Input((10, 10, 1))
    save_model(keras.Model(inputs, keras.layers.Dense(10, name="head")(keras.layers.Lambda(
        lambda t: tf.reshape(t, (-1, 100)), name="to_vector")(inputs))), values["lambda_model"])
    rows = [[DATASET, "--check_examples=50", "--weights=float32"], [],
            ["--model_path={lambda_model}", "--trust_model_file"], ["--model_path={lambda_model}"]]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    results, outs = run_rows("runs.export_tflite", rows, str(tmp_path / "runs"), values, ROOT, env)
    (f32, i8, trusted, untrusted) = results
    assert f32["code"] == 0 and i8["code"] == 0, f32["stderr"][-2000:] + i8["stderr"][-2000:]
    for result, out in ((f32, outs[0]), (i8, outs[1])):
        size = os.path.getsize(os.path.join(out, "model.tflite"))
        assert f"TFLite model: {size} bytes, " in result["stdout"]
        assert f"wrote {out}/model.tflite" in result["stdout"]
    assert "float32 TFLite model: " in f32["stdout"] and "int8 TFLite model: " in i8["stdout"]
    assert "on 50 test images of synthetic:" in f32["stdout"] and "argmax agreement 1.0000" in f32["stdout"]
    assert "(within the tolerance" in f32["stdout"]
    for result, out, message in ((trusted, outs[2], "cannot export layer 'to_vector' (Lambda) to TFLite"),
                                 (untrusted, outs[3], "cannot load a model from")):
        errors = [line for line in result["stderr"].splitlines() if line.startswith("error:")]
        assert result["code"] == 2 and len(errors) == 1 and message in errors[0], result["stderr"][-2000:]
        assert "Traceback" not in result["stderr"] and not os.path.exists(out)
