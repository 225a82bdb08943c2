"""Magnitude pruning: exact counts, smallest first, masks only shrink, per layer and global."""
import numpy as np
import pytest

from tfrobust import models
from tfrobust.errors import ConfigError
from tfrobust.layers import get_masks, masked_layers, set_masks
from tfrobust.pruning import layer_rates, prune_array, prune_masks


@pytest.fixture
def dense():
    return models.build_model("dense-300-100", (10, 10, 1), 10, seed=3)


def test_document_rates_are_20_percent_hidden_and_10_percent_output(dense):
    assert layer_rates(dense) == {"hidden_1": 0.2, "hidden_2": 0.2, "output": 0.1}
    rates = layer_rates(dense, 0.3, None, overrides={"hidden_2": 0.5}, skip=("output",))
    assert rates == {"hidden_1": 0.3, "hidden_2": 0.5, "output": 0.0}


def test_each_round_removes_exactly_the_rate_of_the_remaining_weights_per_layer(dense):
    rates = layer_rates(dense)
    remaining = {n: m.size for n, m in get_masks(dense).items()}
    for _ in range(4):
        before = get_masks(dense)
        masks = prune_masks(dense, rates)
        for name, mask in masks.items():
            expected = remaining[name] - int(round(rates[name] * remaining[name]))
            assert np.count_nonzero(mask) == expected, name
            assert np.all(mask <= before[name])  # masks only ever shrink
            remaining[name] = expected
        set_masks(dense, masks)
    assert remaining["hidden_1"] == 30000 - 6000 - 4800 - 3840 - 3072


def test_the_smallest_remaining_magnitudes_go_first(dense):
    set_masks(dense, prune_masks(dense, layer_rates(dense)))
    old = get_masks(dense)
    new = prune_masks(dense, layer_rates(dense))
    for layer in masked_layers(dense):
        w = np.abs(layer.kernel.numpy())
        removed = (old[layer.name] == 1) & (new[layer.name] == 0)
        kept = new[layer.name] == 1
        assert removed.any() and w[removed].max() <= w[kept].min()


def test_ties_and_zero_rates_are_deterministic():
    w = np.array([0.5, -0.1, 0.1, 0.1, 2.0])
    mask = np.array([1.0, 1.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(prune_array(w, mask, 2), [1, 0, 0, 0, 1])
    np.testing.assert_array_equal(prune_array(w, mask, 0), mask)
    with pytest.raises(ConfigError, match="only 4 remain"):
        prune_array(w, mask, 5)


def test_global_rate_prunes_across_layers_and_skips_layers():
    model = models.build_model("dense-300-100", (28, 28, 1), 10, seed=3)
    masks = prune_masks(model, global_rate=0.5, skip=("output",))
    pooled = 235200 + 30000
    assert np.count_nonzero(masks["hidden_1"]) + np.count_nonzero(masks["hidden_2"]) == pooled // 2
    assert np.count_nonzero(masks["output"]) == 1000
    # Glorot gives the 784-input layer smaller weights than the 300-input one: it loses more
    assert np.count_nonzero(masks["hidden_1"]) / 235200 < 0.5 < np.count_nonzero(masks["hidden_2"]) / 30000
    layers = masked_layers(model)[:2]
    cut = max(np.abs(layer.kernel.numpy())[masks[layer.name] == 0].max() for layer in layers)
    assert all(np.abs(layer.kernel.numpy())[masks[layer.name] == 1].min() >= cut for layer in layers)


def test_conv_models_prune_too():
    model = models.build_model("lenet", (28, 28, 1), 10, seed=0, width=1)
    masks = prune_masks(model, layer_rates(model, 0.25, 0.1))
    for layer in masked_layers(model):
        n = layer.mask.numpy().size
        assert np.count_nonzero(masks[layer.name]) == n - int(round((0.1 if layer.name == "fc_2" else 0.25) * n))
    assert masks["conv_1"].shape == (5, 5, 1, 2)


@pytest.mark.parametrize("call, message", [
    (lambda m: layer_rates(m, 1.0), "must be in \\[0, 1\\)"),
    (lambda m: layer_rates(m, overrides={"hidden_9": 0.1}), "no masked layer named 'hidden_9'; known: hidden_1"),
    (lambda m: prune_masks(m, global_rate=-0.1), "global pruning rate=-0.1"),
    (lambda m: prune_masks(m, {"hidden_1": 0.2}, global_rate=0.2), "either per-layer rates or a global rate"),
    (lambda m: prune_masks(m, global_rate=0.2, skip=("fc",)), "no masked layer named 'fc'"),
])
def test_bad_rates_and_names_are_clear_errors(dense, call, message):
    with pytest.raises(ConfigError, match=message):
        call(dense)
