import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.analysis import robustness, tables
from tfrobust import attacks
from tfrobust.errors import TfrobustError
from tfrobust.evaluation import evaluate


def manual(model, x, y):
    logits = model(x).numpy()
    loss = attacks.per_example_loss(logits, y).numpy()
    return float(np.mean(np.argmax(logits, -1) == y.numpy())), float(np.mean(loss))


def test_evaluate_matches_a_direct_computation(trained_model, synthetic_splits, test_batch):
    x, y = test_batch
    fgsm = attacks.FGSM(eps=0.15)
    results = evaluate(trained_model, synthetic_splits.test, {"fgsm": fgsm, "noise": attacks.GaussianNoise(std=0.0)})
    acc, loss = manual(trained_model, x, y)
    assert results["natural"]["examples"] == 300
    assert results["natural"]["accuracy"] == pytest.approx(acc)
    assert results["natural"]["loss"] == pytest.approx(loss, rel=1e-5)
    # a zero-strength corruption reproduces the natural numbers; FGSM is per batch but deterministic
    assert results["noise"]["accuracy"] == pytest.approx(acc)
    fgsm_acc, _ = manual(trained_model, fgsm(trained_model, x, y), y)
    assert results["fgsm"]["accuracy"] == pytest.approx(fgsm_acc)
    assert results["fgsm"]["attack"]["eps"] == 0.15


def test_evaluate_takes_spec_strings_and_max_examples(trained_model, synthetic_splits):
    results = evaluate(trained_model, synthetic_splits.test, ["pgd:eps=0.15,steps=5,step_size=0.05"], max_examples=120)
    assert set(results) == {"natural", "pgd:eps=0.15,step_size=0.05,steps=5"}
    assert all(r["examples"] == 120 for r in results.values())
    assert results["pgd:eps=0.15,step_size=0.05,steps=5"]["accuracy"] < results["natural"]["accuracy"]


def test_nan_weights_give_a_clear_error(synthetic_splits):
    model = keras.Sequential([keras.layers.Flatten(input_shape=(10, 10, 1)), keras.layers.Dense(10)])
    model.layers[1].kernel.assign(tf.fill(model.layers[1].kernel.shape, float("nan")))
    with pytest.raises(TfrobustError, match="natural loss is nan"):
        evaluate(model, synthetic_splits.test)


def test_report_tables_and_plot(tmp_path, trained_model, synthetic_splits):
    results = evaluate(trained_model, synthetic_splits.test, ["fgsm:eps=0.15"])
    paths = robustness.write_report(results, str(tmp_path), title="t")
    md = open(paths["markdown"]).read().splitlines()
    assert md[0] == "| evaluation | accuracy | loss | examples |"
    assert md[2].startswith("| natural | ") and md[3].startswith("| fgsm:eps=0.15 | ")
    csv_lines = open(paths["csv"]).read().splitlines()
    assert csv_lines[0] == "evaluation,accuracy,loss,examples" and len(csv_lines) == 3
    assert open(paths["plot"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    latex = tables.to_latex(robustness.rows(results))
    assert "fgsm:eps=0.15" in latex and latex.count(r"\\") == 3


def test_the_sanity_report_comes_with_the_results_and_can_be_turned_off(trained_model, synthetic_splits):
    results = evaluate(trained_model, synthetic_splits.test, ["fgsm:eps=0.1"], check_examples=120)
    assert results.checks["examples"] == 120  # gathered over three batches of 50
    assert results.checks["warnings"] == []
    assert {c["attack"] for c in results.checks["checks"]} == {"", "fgsm:eps=0.1"}
    assert evaluate(trained_model, synthetic_splits.test, ["fgsm:eps=0.1"], checks=False).checks is None
    assert evaluate(trained_model, synthetic_splits.test).checks is None  # nothing attacked, nothing checked
