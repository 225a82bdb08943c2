"""Loss-landscape slices: the unperturbed point, layer-normalised directions, and the PNGs."""
import numpy as np
import pytest

from tfrobust.analysis.landscape import plot_slice_1d, plot_slice_2d
from flatness_helpers import snapshot, unchanged
from tfrobust.errors import ConfigError
from tfrobust.flatness import (adversarial_direction, clean_loss, loss_slice_1d, loss_slice_2d,
                               perturbable, random_direction, relative_norms, robust_loss)

FAST = dict(batch_size=20)
ALPHAS = [-0.2, 0.0, 0.2]


def test_directions_are_layer_normalised_and_on_the_support(masked_model, data, pgd):
    entries = perturbable(masked_model)
    for d in (random_direction(masked_model, 3), adversarial_direction(masked_model, data, pgd, **FAST),
              adversarial_direction(masked_model, data, None, **FAST)):
        np.testing.assert_allclose(relative_norms(entries, d), 1.0, rtol=1e-5)
        assert np.all(d[0].numpy()[entries[0].mask.numpy() == 0] == 0)


@pytest.mark.parametrize("robust", [True, False])
def test_alpha_zero_is_the_unperturbed_loss_and_weights_are_restored(masked_model, data, pgd, robust):
    attack = pgd if robust else None
    before = snapshot(masked_model)
    loss = robust_loss(masked_model, data, pgd, seed=2, **FAST) if robust else clean_loss(masked_model, data, **FAST)
    alphas, random = loss_slice_1d(masked_model, data, ALPHAS, attack, directions=2, seed=2, **FAST)
    _, adversarial = loss_slice_1d(masked_model, data, ALPHAS, attack, direction="adversarial", seed=2, **FAST)
    assert list(alphas) == ALPHAS and random.shape == (3,)
    assert random[1] == loss and adversarial[1] == loss
    assert adversarial[2] > loss  # uphill along the gradient
    a, b, grid = loss_slice_2d(masked_model, data, ALPHAS, [0.0, 0.1], attack, seed=2, **FAST)
    assert grid.shape == (3, 2) and grid[1, 0] == loss and list(b) == [0.0, 0.1]
    assert unchanged(masked_model, before)


def test_pngs_are_written(tmp_path, masked_model, data, pgd):
    random = loss_slice_1d(masked_model, data, ALPHAS, pgd, **FAST)
    adversarial = loss_slice_1d(masked_model, data, ALPHAS, pgd, direction="adversarial", **FAST)
    one = tmp_path / "slice1d.png"
    plot_slice_1d({"random": random, "adversarial": adversarial}, str(one), title="robust loss")
    two = tmp_path / "slice2d.png"
    alphas, betas, grid = loss_slice_2d(masked_model, data, ALPHAS, attack=None, direction="adversarial", **FAST)
    plot_slice_2d(alphas, betas, grid, str(two))
    single = tmp_path / "single.png"
    plot_slice_1d(random, str(single))
    for path in (one, two, single):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["single.png", "slice1d.png", "slice2d.png"]
    with pytest.raises(ConfigError, match="losses has shape"):
        plot_slice_2d(alphas, betas, grid[:2], str(two))


@pytest.mark.parametrize("kwargs, name", [
    ({"direction": "adversarial", "directions": 2}, "directions"),
    ({"directions": 0}, "directions"),
    ({"direction": "sideways"}, "direction"),
    ({"direction": [np.zeros(3)]}, "direction"),
    ({"alphas": []}, "alphas"),
    ({"alphas": [0.0, float("inf")]}, "alphas"),
    ({"seed": -3}, "seed"),
])
def test_bad_arguments_name_the_argument(masked_model, data, kwargs, name):
    with pytest.raises(ConfigError, match=rf"^{name}"):
        loss_slice_1d(masked_model, data, **{"alphas": ALPHAS, **kwargs})
