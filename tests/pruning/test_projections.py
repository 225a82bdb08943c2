"""ADMM's sparsity projections: exact counts, whole units, nearest point, determinism."""
import itertools

import numpy as np
import pytest

from tfrobust.errors import ConfigError
from tfrobust.pruning.projections import SPARSITY, project, removed_count

rng = np.random.default_rng(0)
CONV = rng.normal(size=(3, 3, 4, 6)).astype(np.float32)
DENSE = rng.normal(size=(20, 7)).astype(np.float32)


@pytest.mark.parametrize("kind", SPARSITY)
@pytest.mark.parametrize("weights", [CONV, DENSE], ids=["conv", "dense"])
@pytest.mark.parametrize("ratio", [0.0, 0.3, 0.5, 0.9])
def test_projection_removes_exactly_round_ratio_units_whole(kind, weights, ratio):
    z, mask = project(weights, kind, ratio)
    assert z.shape == mask.shape == weights.shape and set(np.unique(mask)) <= {0.0, 1.0}
    np.testing.assert_array_equal(z, weights * mask)
    if kind == "irregular":
        units = mask.reshape(-1, 1)
    elif kind == "filter":
        units = np.moveaxis(mask, -1, 0).reshape(weights.shape[-1], -1)
    else:
        units = mask.reshape(-1, weights.shape[-1])
    assert all(len(set(row)) == 1 for row in units)  # every unit is kept or removed whole
    assert int((units[:, 0] == 0).sum()) == removed_count(len(units), ratio)
    # idempotent: the projection of a projection changes nothing
    np.testing.assert_array_equal(project(z, kind, 0.0)[0], z)


@pytest.mark.parametrize("kind", SPARSITY)
def test_projection_is_the_nearest_point_with_that_many_units_removed(kind):
    w = rng.normal(size=(2, 2, 3)).astype(np.float64)
    z, _ = project(w, kind, 0.5)
    units = {"irregular": w.reshape(-1, 1), "filter": np.moveaxis(w, -1, 0).reshape(3, -1),
             "column": w.reshape(-1, 3)}[kind]
    k = removed_count(len(units), 0.5)
    best = min(sum(np.sum(units[i] ** 2) for i in removed)
               for removed in itertools.combinations(range(len(units)), k))
    assert np.sum((w - z) ** 2) == pytest.approx(best, rel=1e-12)


def test_filter_and_column_mean_what_the_reference_means():
    w = np.ones((2, 2, 3, 5), np.float32)
    w[..., 1] *= 0.1  # output channel 1 is the weakest filter
    w[0, 1, 2, :] *= 0.01  # input channel 2 at kernel position (0, 1) is the weakest column
    z, _ = project(w, "filter", 0.2)
    assert np.all(z[..., 1] == 0) and np.count_nonzero(z) == 2 * 2 * 3 * 4
    z, _ = project(w, "column", 1 / 12)
    assert np.all(z[0, 1, 2, :] == 0) and np.count_nonzero(z) == (12 - 1) * 5


def test_ties_go_by_position_so_the_result_is_deterministic():
    z, mask = project(np.ones(6, np.float32), "irregular", 0.5)
    np.testing.assert_array_equal(mask, [0, 0, 0, 1, 1, 1])


@pytest.mark.parametrize("kind,ratio,shape,message", [
    ("blocks", 0.5, (4, 4), "sparsity 'blocks' is not allowed; allowed: irregular, filter, column"),
    ("irregular", 1.0, (4, 4), "prune ratio 1.0 is not allowed; it must be in \\[0, 1\\)"),
    ("irregular", -0.1, (4, 4), "prune ratio -0.1 is not allowed"),
    ("filter", 0.5, (4,), "sparsity 'filter' needs a kernel of rank 2 or more"),
])
def test_bad_settings_are_named(kind, ratio, shape, message):
    with pytest.raises(ConfigError, match=message):
        project(np.ones(shape, np.float32), kind, ratio)
