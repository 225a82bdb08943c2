"""Layer-wise relative weight perturbations: norms, masks, batch norm excluded, exact restore."""
import numpy as np
import pytest
import tensorflow as tf

from flatness_helpers import snapshot, unchanged
from tfrobust.errors import ConfigError
from tfrobust.flatness import (layer_norms, normalize_gradient, perturbable, perturbed, project, random_in_ball,
                               random_sphere, relative_norms)


def norm(t):
    return float(np.linalg.norm(np.asarray(t).reshape(-1).astype(np.float64)))


def test_batch_norm_and_non_trainable_variables_are_excluded_masks_attached(masked_model):
    entries = perturbable(masked_model)
    names = [e.name for e in entries]
    assert names == ["hidden/kernel:0", "hidden/bias:0", "out/kernel:0", "out/bias:0"]
    assert not any("bn" in n for n in names)
    bn = masked_model.get_layer("bn")
    assert {id(v) for v in bn.trainable_weights}.isdisjoint({id(e.variable) for e in entries})
    assert entries[0].mask is masked_model.get_layer("hidden").mask and entries[1].mask is None
    # ||w_l|| is measured on the support only
    hidden = masked_model.get_layer("hidden")
    support = hidden.kernel.numpy() * hidden.mask.numpy()
    assert float(layer_norms(entries)[0]) == pytest.approx(norm(support), rel=1e-6)


@pytest.mark.parametrize("xi", [0.5, 0.01, 2.0])
def test_random_sphere_has_exactly_the_layer_wise_radius_and_respects_masks(masked_model, xi):
    entries = perturbable(masked_model)
    nu = random_sphere(entries, xi, seed=3)
    for e, d in zip(entries, nu):
        assert norm(d) == pytest.approx(xi * norm(e.weight()), rel=1e-5)
    mask = entries[0].mask.numpy()
    assert np.all(nu[0].numpy()[mask == 0] == 0) and np.count_nonzero(nu[0].numpy()) == np.count_nonzero(mask)
    np.testing.assert_allclose(relative_norms(entries, nu), xi, rtol=1e-5)


def test_draws_are_seeded_and_differ_across_seeds_and_variables(masked_model):
    entries = perturbable(masked_model)
    a, b, c = (random_sphere(entries, 0.5, seed=s) for s in (1, 1, 2))
    assert all(np.array_equal(x.numpy(), y.numpy()) for x, y in zip(a, b))
    assert not np.array_equal(a[0].numpy(), c[0].numpy())


def test_random_in_ball_stays_inside_and_on_the_support(masked_model):
    entries = perturbable(masked_model)
    for seed in range(5):
        rel = relative_norms(entries, random_in_ball(entries, 0.3, seed))
        assert np.all(rel <= 0.3 * (1 + 1e-5)) and np.all(rel >= 0)
    nu = random_in_ball(entries, 0.3, 0)
    assert np.all(nu[0].numpy()[entries[0].mask.numpy() == 0] == 0)


def test_projection_scales_only_what_lies_outside_and_zeroes_off_support(masked_model):
    entries = perturbable(masked_model)
    rng = np.random.default_rng(0)
    big = [rng.normal(size=e.variable.shape).astype(np.float32) * 10 for e in entries]
    projected = project(entries, big, 0.1)
    np.testing.assert_allclose(relative_norms(entries, projected), 0.1, rtol=1e-5)
    assert np.all(projected[0].numpy()[entries[0].mask.numpy() == 0] == 0)
    small = random_in_ball(entries, 0.05, 1)
    for s, p in zip(small, project(entries, small, 0.1)):
        np.testing.assert_array_equal(s.numpy(), p.numpy())
    assert all(np.all(p.numpy() == 0) for p in project(entries, big, 0.0))


def test_gradient_is_normalised_per_layer_to_the_weight_norm(masked_model):
    entries = perturbable(masked_model)
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=e.variable.shape).astype(np.float32) for e in entries]
    grads[3] = np.zeros_like(grads[3])  # a zero gradient stays zero
    out = normalize_gradient(entries, grads)
    for e, g in list(zip(entries, out))[:3]:
        assert norm(g) == pytest.approx(norm(e.weight()), rel=1e-5)
    assert np.all(out[3].numpy() == 0)
    assert np.all(out[0].numpy()[entries[0].mask.numpy() == 0] == 0)


def test_perturbed_adds_in_place_and_restores_bit_for_bit(masked_model):
    before = snapshot(masked_model)
    entries = perturbable(masked_model)
    nu = random_sphere(entries, 0.5, 4)
    with perturbed(masked_model, nu):
        hidden = masked_model.get_layer("hidden")
        expected = before[0] + nu[0].numpy()
        np.testing.assert_array_equal(hidden.kernel.numpy(), expected)
        assert np.all(hidden.kernel.numpy()[hidden.mask.numpy() == 0] == 0)
        assert not unchanged(masked_model, before)
        entries[2].variable.assign(entries[2].variable * 3.0)  # code inside may assign freely
    assert unchanged(masked_model, before)
    with pytest.raises(RuntimeError, match="boom"):
        with perturbed(masked_model, nu):
            raise RuntimeError("boom")
    assert unchanged(masked_model, before)


def test_a_model_of_only_normalisation_has_nothing_to_perturb():
    import tf_keras as keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.LayerNormalization()(keras.layers.BatchNormalization()(inputs)))
    with pytest.raises(ConfigError, match="no trainable variables"):
        perturbable(model)


@pytest.mark.parametrize("xi", [-0.1, float("nan"), float("inf"), "0.5", None, True])
def test_bad_xi_names_xi(masked_model, xi):
    entries = perturbable(masked_model)
    for call in (lambda: random_sphere(entries, xi, 0), lambda: random_in_ball(entries, xi, 0),
                 lambda: project(entries, [e.variable for e in entries], xi)):
        with pytest.raises(ConfigError, match=r"^xi=.*xi must be"):
            call()


def test_bad_deltas_and_seed_name_the_argument(masked_model):
    entries = perturbable(masked_model)
    with pytest.raises(ConfigError, match="deltas has 1 entries"):
        with perturbed(masked_model, [tf.zeros(3)]):
            pass
    with pytest.raises(ConfigError, match="deltas for hidden/kernel:0 has shape"):
        project(entries, [tf.zeros(3)] * 4, 0.1)
    with pytest.raises(ConfigError, match="^seed=-1"):
        random_sphere(entries, 0.1, -1)
