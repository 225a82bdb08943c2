"""A model file that carries code does not run it unless the user says they trust the file."""
import os
import shutil
import zipfile

import pytest
import tf_keras as keras

from tfrobust.errors import DataError
from tfrobust.saving import load_model, save_model


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
    shutil.copy(tmp_path / "m.h5", tmp_path / "h5.keras")  # H5 content under a .keras name
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


def test_the_renamed_payload_is_real(files):
    path, marker = files
    keras.models.load_model(str(path / "h5.keras"), compile=False)  # Keras goes by the content: legacy loader
    assert marker.exists()


def test_an_h5_file_named_keras_is_refused_without_trust(files):
    path, marker = files
    with pytest.raises(DataError, match=r"cannot load a model from .*h5\.keras.*: it is not a \.keras archive "
                                        r"\(H5 content\).*--trust_model_file is for files you made"):
        load_model(str(path / "h5.keras"))
    assert not marker.exists()
    assert load_model(str(path / "h5.keras"), trust=True).output_shape == (None, 2)
    assert marker.exists()


@pytest.mark.parametrize("content, fault", [
    (b"PK\x03\x04 this is not a zip archive", "unknown content"),
    (b"\x00" * 512 + b"\x89HDF\r\n\x1a\n" + b"\x00" * 64, "H5 content"),  # an HDF5 superblock at 512
    ("zip", "a zip archive without config.json and metadata.json"),
])
def test_only_a_keras_archive_passes_the_content_check(tmp_path, content, fault):
    path = tmp_path / "m.keras"
    if content == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("model.weights.h5", b"")
    else:
        path.write_bytes(content)
    with pytest.raises(DataError, match=rf"not a \.keras archive \({fault}\)"):
        load_model(str(path))


def test_a_failed_save_leaves_neither_its_temporary_file_nor_a_torn_model(tmp_path, monkeypatch):
    model = payload_model(tmp_path / "ran")
    save_model(model, str(tmp_path / "m.keras"))
    before = (tmp_path / "m.keras").read_bytes()

    def torn_save(self, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"PK\x03\x04 half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", torn_save)
    with pytest.raises(OSError, match="No space left"):
        save_model(model, str(tmp_path / "m.keras"))
    assert sorted(os.listdir(tmp_path)) == ["m.keras", "ran"]
    assert (tmp_path / "m.keras").read_bytes() == before
    os.mkdir(tmp_path / "d.keras")
    with pytest.raises(DataError, match="is a directory"):
        save_model(model, str(tmp_path / "d.keras"))
