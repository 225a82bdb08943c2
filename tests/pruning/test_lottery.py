"""The lottery search: resets, shrinking masks, resume, and the no-pruning baseline."""
import dataclasses
import os
import shutil

import numpy as np
import pytest

from tfrobust import models
from tfrobust.errors import ConfigError
from tfrobust.hparams import read_summary
from tfrobust.io import load_arrays
from tfrobust.pruning import LotteryConfig, LotterySearch, fresh_seed, lottery
from tfrobust.training import TrainConfig

DATASET = "synthetic:image_shape=10x10x1,train_size=400,test_size=100,noise_std=0.6"
TRAIN = TrainConfig(dataset=DATASET, valid_size=100, batch_size=50, train_iters=12, eval_every=6,
                    objective="mix", attack="fgsm:eps=0.1")
KERNELS = (0, 2, 4)  # dense-300-100's get_weights(): kernel, mask, kernel, mask, kernel, mask


def run(tmp_path, monkeypatch=None, **settings):
    """Runs a 1-trial search; returns (search, results, weights each round started from)."""
    starts = {}
    if monkeypatch is not None:
        original = lottery._RoundHook.before_train

        def spy(self, trainer, start_step):
            original(self, trainer, start_step)
            starts[(self.trial, self.round)] = trainer.model.get_weights()

        monkeypatch.setattr(lottery._RoundHook, "before_train", spy)
    settings.setdefault("train", TRAIN)
    config = LotteryConfig(trials=1, prune_iters=3, prune_rate=0.5, output_prune_rate=0.25, **settings)
    search = LotterySearch(config, str(tmp_path))
    return search, search.run(), starts


def masked(weights, masks):
    out = list(weights)
    for k, mask in zip(KERNELS, masks):
        out[k] = weights[k] * mask
        out[k + 1] = mask
    return out


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def orig(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    try:
        yield run(tmp_path_factory.mktemp("orig"), mp, reset="reinit_orig")
    finally:
        mp.undo()


def test_reinit_orig_restores_the_initial_weights_times_the_mask_exactly(orig):
    search, _, starts = orig
    initial = models.build_model("dense-300-100", (10, 10, 1), 10, seed=0).get_weights()
    assert_same(load_arrays(search.path(0, None, "rewind.npz")), initial)
    for r in (1, 2):
        masks = load_arrays(search.path(0, r - 1, "next_masks.npz"))
        assert_same(starts[(0, r)], masked(initial, masks))


def test_masks_only_shrink_by_the_requested_fraction(orig):
    search, results, _ = orig
    previous = [np.ones(s) for s in ((100, 300), (300, 100), (100, 10))]
    for r in (0, 1):
        masks = load_arrays(search.path(0, r, "next_masks.npz"))
        for old, new, rate in zip(previous, masks, (0.5, 0.5, 0.25)):
            assert np.all(new <= old)
            assert np.count_nonzero(new) == np.count_nonzero(old) - round(rate * np.count_nonzero(old))
        previous = masks
    remaining = [rec["weights"]["hidden_1"]["remaining"] for rec in results["rounds"]]
    assert remaining == [30000, 15000, 7500]
    assert [rec["round"] for rec in results["rounds"]] == [0, 1, 2]


def test_round_records_hold_final_early_stopping_and_curve(orig):
    rec = orig[1]["rounds"][1]
    assert set(rec["final"]["test"]) == {"natural", "fgsm:eps=0.1"}
    assert rec["early_stop"]["step"] in (6, 12) and rec["early_stop"]["split"] == "valid"
    assert [p["step"] for p in rec["curve"]] == [6, 12]
    assert 0.4 < rec["remaining"] < 0.6


def test_each_round_is_a_row_of_the_hparams_dashboard(orig):
    search, results, _ = orig
    summaries = [read_summary(os.path.join(search.path(0, r), "tb")) for r in range(3)]
    assert [s["hparams"]["round"] for s in summaries] == [0, 1, 2]
    assert all(s["hparams"]["trial"] == 0 and s["hparams"]["lottery/reset"] == "reinit_orig" for s in summaries)
    kept = [s["scalars"]["final/weights_kept"] for s in summaries]
    assert kept == pytest.approx([rec["remaining"] for rec in results["rounds"]])
    assert len({s["group"] for s in summaries}) == 3  # three rows, not one


def test_reinit_rand_draws_fresh_weights_unlike_both_original_and_trained(tmp_path, monkeypatch):
    search, _, starts = run(tmp_path, monkeypatch, reset="reinit_rand")
    masks = load_arrays(search.path(0, 0, "next_masks.npz"))
    initial = load_arrays(search.path(0, None, "rewind.npz"))
    trained = load_arrays(search.path(0, 0, "trained.npz"))
    fresh = models.build_model("dense-300-100", (10, 10, 1), 10, seed=fresh_seed(0, 1)).get_weights()
    start = starts[(0, 1)]
    assert_same(start, masked(fresh, masks))
    for other in (initial, trained):
        kept = masks[0] == 1
        assert not np.allclose(start[0][kept], other[0][kept])


def test_reinit_none_continues_from_the_trained_weights(tmp_path, monkeypatch):
    search, _, starts = run(tmp_path, monkeypatch, reset="reinit_none")
    masks = load_arrays(search.path(0, 0, "next_masks.npz"))
    assert_same(starts[(0, 1)], masked(load_arrays(search.path(0, 0, "trained.npz")), masks))


def test_reference_quirk_rewinds_to_round_0_trained_weights(tmp_path, monkeypatch):
    search, _, starts = run(tmp_path, monkeypatch, reset="reinit_orig", orig_reset_source="trained")
    masks = load_arrays(search.path(0, 0, "next_masks.npz"))
    assert_same(starts[(0, 1)], masked(load_arrays(search.path(0, 0, "trained.npz")), masks))


def test_rewind_iter_saves_the_weights_after_that_iteration(tmp_path):
    train = dataclasses.replace(TRAIN, eval_every=12)
    search, _, _ = run(tmp_path, train=train, rewind_iter=12)
    assert_same(load_arrays(search.path(0, None, "rewind.npz")), load_arrays(search.path(0, 0, "trained.npz")))


def test_no_pruning_trains_one_full_round_per_trial(tmp_path):
    _, results, _ = run(tmp_path, reset="no_pruning")
    assert len(results["rounds"]) == 1 and results["rounds"][0]["remaining"] == 1.0


def test_a_killed_search_resumes_from_its_last_round(orig, tmp_path):
    search, results, _ = orig
    copy = str(tmp_path / "copy")
    shutil.copytree(os.path.dirname(os.path.dirname(search.root.path)), copy)
    run_path = os.path.join(copy, "reinit_orig", search.root.id)
    os.remove(os.path.join(run_path, "results.json"))  # as if killed early in round 2
    shutil.rmtree(os.path.join(run_path, "trial_0", "round_02"))
    messages = []
    again = LotterySearch(search.config, copy, progress=messages.append).run()
    assert not any("round 1/3] training" in m or "round 2/3] training" in m for m in messages)
    assert any("round 3/3] training" in m for m in messages)
    for a, b in zip(again["rounds"], results["rounds"]):
        assert a["final"] == b["final"] and a["weights"] == b["weights"]


@pytest.mark.parametrize("settings, message", [
    ({"reset": "reinit_magic"}, "--reset='reinit_magic' is not allowed; allowed: reinit_orig, reinit_rand"),
    ({"prune_rate": 1.0}, "--prune_rate=1.0 is not allowed; a pruning rate must be in \\[0, 1\\)"),
    ({"rewind_iter": 13}, "--rewind_iter=13 is not allowed; it must be in \\[0, --train_iters=12\\]"),
    ({"reset": "reinit_rand", "rewind_iter": 3}, "only --reset=reinit_orig"),
    ({"layer_prune_rates": ("hidden_1:0.3",)}, "--layer_prune_rates='hidden_1:0.3' is not allowed; write layer=rate"),
])
def test_bad_settings_name_the_flag(settings, message):
    with pytest.raises(ConfigError, match=message):
        LotteryConfig(train=TRAIN, **settings)


def test_unknown_layer_fails_before_anything_is_written(tmp_path):
    config = LotteryConfig(train=TRAIN, layer_prune_rates=("fc_9=0.3",))
    with pytest.raises(ConfigError, match="no masked layer named 'fc_9'"):
        LotterySearch(config, str(tmp_path)).run()
    assert os.listdir(tmp_path) == []



def test_mirrored_search_matches_the_single_device_search(orig, tmp_path):
    """Two logical CPUs (tests/conftest.py): the resets and masks work on mirrored variables."""
    search, results, _ = orig
    train = dataclasses.replace(TRAIN, strategy="mirrored", devices=("CPU:0", "CPU:1"))
    mirrored = LotterySearch(dataclasses.replace(search.config, train=train), str(tmp_path)).run()
    for a, b in zip(mirrored["rounds"], results["rounds"]):
        assert a["weights"] == b["weights"]
        for name, r in b["final"]["test"].items():
            assert a["final"]["test"][name]["loss"] == pytest.approx(r["loss"], rel=1e-3, abs=1e-3)


def test_autoattack_evaluates_the_end_of_each_round_with_its_sanity_report(tmp_path):
    aa = "autoattack:eps=0.1,version=custom,attacks=apgd-ce+apgd-t"
    train = dataclasses.replace(TRAIN, eval_attacks=("pgd:eps=0.1,step_size=0.025,steps=5", aa), eval_examples=50,
                                costly_eval_examples=40)
    config = LotteryConfig(trials=1, prune_iters=2, prune_rate=0.5, output_prune_rate=0.25, train=train)
    results = LotterySearch(config, str(tmp_path)).run()
    for rec in results["rounds"]:
        final = rec["final"]["test"]
        assert set(final) == {"natural", "pgd:eps=0.1,step_size=0.025,steps=5", aa}
        assert [s["stage"] for s in final[aa]["stages"]] == ["apgd-ce", "apgd-t"]
        assert final[aa]["examples"] == 40 and final["natural"]["examples"] == 50  # the costly one on fewer
        assert {c["attack"].split(",")[0] for c in rec["checks"]["checks"]} >= {"", "pgd:eps=0.1", "autoattack:eps=0.1"}
        assert all(aa not in point["test"] for point in rec["curve"][:-1])  # only where the round ends
        assert rec["checks"]["examples"] == 50 and {c["check"] for c in rec["checks"]["checks"]} >= {"logits", "monotone"}
    from tfrobust.analysis import lottery as report

    row = report.table_rows(report.load_runs(str(tmp_path)))[0]
    columns = [c for c in row if c.startswith("test ")]
    assert columns == ["test natural", "test pgd:eps=0.1,step_size=0.025,steps=5", f"test {aa}"]  # side by side
    paths = report.write_report(report.load_runs(str(tmp_path)), str(tmp_path / "report"))
    header = [c.strip() for c in open(paths["markdown"]).readline().split("|")]
    assert header.index(f"test {aa}") == header.index("test pgd:eps=0.1,step_size=0.025,steps=5") + 1


def test_a_round_that_fails_leaves_the_rounds_before_it_to_resume_from(tmp_path, monkeypatch):
    from tfrobust.errors import TfrobustError

    original = LotterySearch.run_round

    def fails_in_round_1(self, trial, r):
        if r == 1:
            raise TfrobustError("the training loss diverged (injected)")
        return original(self, trial, r)

    monkeypatch.setattr(LotterySearch, "run_round", fails_in_round_1)
    config = LotteryConfig(trials=1, prune_iters=2, prune_rate=0.5, output_prune_rate=0.25, train=TRAIN)
    search = LotterySearch(config, str(tmp_path))
    with pytest.raises(TfrobustError, match="injected"):
        search.run()
    assert os.path.exists(os.path.join(search.path(0, 0), "results.json"))  # round 0 is kept
    monkeypatch.setattr(LotterySearch, "run_round", original)
    messages = []
    results = LotterySearch(config, str(tmp_path), progress=messages.append).run()
    assert [r["round"] for r in results["rounds"]] == [0, 1]
    assert any("finished" in m for m in messages), messages  # round 0 was not trained again
