"""A damaged run directory gets one clear error naming the file and what to do, never a traceback
from deep inside json or TensorFlow; an unreadable checkpoint state restarts the run cleanly."""
import glob
import os

import pytest

from tfrobust.errors import DataError
from tfrobust.training import TrainConfig, train

DATA = "synthetic:image_shape=10x10x1,train_size=300,test_size=60,noise_std=0.6"
CONFIG = TrainConfig(dataset=DATA, valid_size=60, batch_size=20, train_iters=20, eval_every=10,
                     objective="mix", attack="fgsm:eps=0.1")


@pytest.fixture
def finished(tmp_path):
    results = train(CONFIG, str(tmp_path))
    return str(tmp_path), os.path.join(str(tmp_path), "train", results["id"]), results


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


@pytest.mark.parametrize("name,text,unfinish,fault", [
    ("config.json", "{not json", True, "config.json is not valid JSON"),
    ("config.json", "[1, 2]", True, "config.json does not hold a TrainConfig"),
    ("metrics.jsonl", '{"step": 10}\n<garbage>\n', True, "metrics.jsonl line 2 is not a metrics record"),
    ("results.json", "{not json", False, "results.json is not valid JSON"),
    ("results.json", '{"something": "else"}', False, "results.json is not a results record"),
])
def test_a_damaged_file_is_named_with_what_to_do(finished, name, text, unfinish, fault):
    base, path, _ = finished
    if unfinish:
        os.remove(os.path.join(path, "results.json"))
    write(os.path.join(path, name), text)
    with pytest.raises(DataError, match=f"{fault}.*the run directory is damaged; move .* away, or rerun with --force"):
        train(CONFIG, base)


def test_a_damaged_checkpoint_is_named(finished):
    base, path, _ = finished
    os.remove(os.path.join(path, "results.json"))
    for data in glob.glob(os.path.join(path, "checkpoints", "ckpt-20.data-*")):
        write(data, "garbage")
    with pytest.raises(DataError, match="ckpt-20 cannot be restored .*--force"):
        train(CONFIG, base)


def test_an_unreadable_checkpoint_state_restarts_from_zero_and_says_so(finished):
    base, path, first = finished
    os.remove(os.path.join(path, "results.json"))
    write(os.path.join(path, "checkpoints", "checkpoint"), "garbage state")
    lines = []
    again = train(CONFIG, base, progress=lines.append)
    assert any("names no readable checkpoint; starting from iteration 0" in l for l in lines)
    assert again["resumed_from"] == 0 and again["final"] == first["final"]
