"""A model file that carries code does not run it unless the user says they trust the file."""
import os

import pytest
import tf_keras as keras

from tfrobust.errors import DataError
from tfrobust.saving import load_model


def payload_model(marker):
    """A model whose Lambda layer creates ``marker`` whenever Keras rebuilds or calls it."""
    def touch(x, path=str(marker)):
        __import__("pathlib").Path(path).touch()
        return x

    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Lambda(touch)(inputs)))


@pytest.fixture
def files(tmp_path):
    marker = tmp_path / "ran"
    model = payload_model(marker)
    model.save(str(tmp_path / "m.h5"))
    model.save(str(tmp_path / "m.keras"))
    os.remove(marker)  # building and saving ran it; from here on only loading could
    return tmp_path, marker


def test_the_payload_is_real(files):
    path, marker = files
    keras.models.load_model(str(path / "m.h5"), compile=False)  # the legacy loader runs it
    assert marker.exists()


def test_h5_files_are_refused_without_trust(files):
    path, marker = files
    with pytest.raises(DataError, match=r"is not a \.keras file: .*--trust_model_file"):
        load_model(str(path / "m.h5"))
    assert not marker.exists()


def test_keras_files_load_in_safe_mode(files):
    path, marker = files
    with pytest.raises(DataError, match="cannot load a model from .*Lambda"):
        load_model(str(path / "m.keras"))
    assert not marker.exists()


def test_trust_loads_what_the_user_vouches_for(files):
    path, marker = files
    assert load_model(str(path / "m.h5"), trust=True).output_shape == (None, 2)
