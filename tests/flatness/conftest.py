"""Tiny models and data for the flatness tests."""
import numpy as np
import pytest

from flatness_helpers import small_masked_model
from tfrobust import models
from tfrobust.attacks import from_spec


@pytest.fixture(scope="module")
def masked_model():
    return small_masked_model()


@pytest.fixture(scope="module")
def dense():
    return models.build_model("dense-300-100", (6, 6, 1), 10, seed=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(40, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 10, size=40).astype(np.int64)
    return x, y


@pytest.fixture(scope="module")
def pgd():
    return from_spec("pgd:eps=0.1,step_size=0.04,steps=3")
