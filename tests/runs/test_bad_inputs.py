"""The bad-input matrix (tests/runs/badinput.py): exit 2, one error line naming the culprit, no
traceback, nothing written. One process per command runs all its rows (about 30 s in all)."""
import os

import pytest

from badinput import BASE, DATASET, ROWS, run_rows
from clitools import ROOT

@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    root = tmp_path_factory.mktemp("badinput")
    from tfrobust import models
    from tfrobust.saving import save_model

    values = {"model": str(root / "model.keras"), "file": str(root / "plain.txt"),
              "garbage": str(root / "garbage.keras"), "garbage_dir": str(root / "garbage_run")}
    save_model(models.build_model("dense-300-100", (10, 10, 1), 10, seed=0), values["model"])
    (root / "plain.txt").write_text("not a model\n")
    (root / "garbage.keras").write_bytes(b"PK\x03\x04 this is not a zip archive")
    os.makedirs(values["garbage_dir"])
    (root / "garbage_run" / "results.json").write_text("{not json")
    values.update(audit_files(root))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_CONFIG", None)
    out = {"root": root}
    for command in BASE:
        indices = [i for i, row in enumerate(ROWS) if row[0] == command]
        results, dirs = run_rows(command, [ROWS[i][1] for i in indices], str(root / "runs"), values, ROOT, env)
        out.update({i: (r, d) for i, r, d in zip(indices, results, dirs)})
    return out


def audit_files(root):
    """``{h5model}``: an H5 model named .keras, whose Lambda layer creates ``payload_ran`` if loaded;
    ``{zoo_absolute}``, ``{zoo_dotdot}``: zoos whose zoo.json names a run outside them (the fixture's root)."""
    import json

    import tf_keras as keras

    from tfrobust.training import TrainConfig

    def payload(x, path=str(root / "payload_ran")):
        __import__("pathlib").Path(path).touch()
        return x

    inputs = keras.Input((10, 10, 1))
    keras.Model(inputs, keras.layers.Lambda(payload)(inputs)).save(str(root / "h5model.h5"))
    os.replace(root / "h5model.h5", root / "h5model.keras")
    os.remove(root / "payload_ran")  # building ran it; from here on only loading could
    template = TrainConfig(dataset=DATASET.split("=", 1)[1], model="dense-300-100", valid_size=100).to_dict()
    values = {"h5model": str(root / "h5model.keras")}
    for name, path in (("zoo_absolute", str(root)), ("zoo_dotdot", "..")):
        os.makedirs(root / name)
        (root / name / "zoo.json").write_text(json.dumps({"kind": "flatness_zoo", "template": template, "variants": ["at"],
                                                         "runs": [{"variant": "at", "path": path, "final": {"step": 4}}]}))
        values[name] = str(root / name)
    return values


def test_no_row_ran_a_model_files_code_or_followed_a_record_out_of_its_directory(matrix):
    assert not os.path.exists(matrix["root"] / "payload_ran")
    assert not os.path.exists(matrix["root"] / "flatness") and not os.path.exists(matrix["root"] / "report.json")


def row_id(row):
    return f"{row[0].split('.')[1]}:{' '.join(row[1]) or '(no args)'}"


def test_the_matrix_covers_every_command_and_is_large():
    from runs.cli import command_names

    assert {c.split(".")[1] for c in BASE} == set(command_names())
    assert len(ROWS) >= 80


@pytest.mark.parametrize("index", range(len(ROWS)), ids=[row_id(r) for r in ROWS])
def test_bad_input_gets_one_clean_error(matrix, index):
    command, args, message = ROWS[index]
    result, out = matrix[index]
    errors = [l for l in result["stderr"].splitlines() if l.startswith("error:")]
    written = [os.path.join(d, f) for d, _, files in os.walk(out) for f in files]
    assert "Traceback" not in result["stderr"], result["stderr"][-2000:]
    assert result["code"] == 2, result["stderr"][-2000:]
    assert len(errors) == 1 and message in errors[0], errors
    assert written == []
