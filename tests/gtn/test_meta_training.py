"""Meta-training: it teaches, its learned rates stay positive, its ablations run, and a bad
setting or a diverging loop fails clearly."""
import os

import numpy as np
import pytest
import tensorflow as tf

from gtn_helpers import splits, tiny
from tfrobust.errors import TfrobustError
from tfrobust.gtn import learning
from tfrobust.gtn.meta import MetaTraining, VALID_SALT, seed_of
from tfrobust.hparams import read_summary


@pytest.fixture(scope="module")
def data():
    return splits()


def test_a_short_meta_training_teaches_a_learner(data, tmp_path):
    """After 30 outer iterations the generated batches teach a fresh learner well above an
    untrained one (and above chance), on held-out validation data."""
    config = tiny(outer_iters=30, valid_every=30, checkpoint_every=30, inner_steps=6, inner_lr=0.5, outer_lr=0.05,
                  outer_batch=50)
    training = MetaTraining(config, data, str(tmp_path))
    x, y = training.split_arrays("valid")
    arch = training.valid_arch
    params, means = arch.init(seed_of(config.seed, VALID_SALT), data.input_shape, data.num_classes)
    untrained = learning.accuracy(arch, (params, None, means), x, y)
    before = training.validate()["valid"]["all_6"]
    results = training.run()
    after = results["final"]["valid"]["all_6"]
    assert after >= 0.75, (untrained, before, after)  # measured 0.93 (4 classes)
    assert after > untrained + 0.3 and after > before + 0.3, (untrained, before, after)
    run = training.run_dir.path
    for name in ("checkpoints", "samples.png", "metrics.jsonl", "results.json"):
        assert os.path.exists(os.path.join(run, name)), name
    summary = read_summary(training.run_dir.tb_dir)  # TensorBoard's HParams dashboard
    assert summary["hparams"]["outer_iters"] == 30 and summary["hparams"]["run_id"] == training.run_dir.id
    assert summary["scalars"]["final/valid/all_6/accuracy"] == pytest.approx(after)


def test_learned_rates_move_and_stay_positive(data, tmp_path):
    config = tiny(outer_iters=6, outer_lr=0.5, outer_lr_final=1.0)
    training = MetaTraining(config, data, str(tmp_path))
    start = training.teacher.log_lr.numpy().copy(), training.teacher.log_momentum.numpy().copy()
    for k in range(config.outer_iters):
        training.outer_step(k)
    log_lr, log_mom = training.teacher.log_lr.numpy(), training.teacher.log_momentum.numpy()
    assert max(np.abs(log_lr - start[0]).max(), np.abs(log_mom - start[1]).max()) > 1.0
    assert np.all(np.exp(log_lr) > 0) and np.all(np.exp(log_mom) > 0)
    assert np.all(np.isfinite(np.exp(log_lr))) and np.all(np.isfinite(np.exp(log_mom)))


@pytest.mark.parametrize("ablation", ["no_curriculum", "shuffled_batches", "real_data"])
def test_ablations_train(data, tmp_path, ablation):
    config = tiny(ablation=ablation, outer_iters=2, valid_every=2)
    training = MetaTraining(config, data, str(tmp_path))
    learned = [v.numpy().copy() for v in training.teacher.learned]
    loss = training.outer_step(0)
    assert np.isfinite(loss)
    assert all(not np.array_equal(a, v.numpy()) for a, v in zip(learned, training.teacher.learned))
    if ablation == "real_data":
        assert training.teacher.generator is None and len(training.teacher.learned) == 2
    if ablation == "no_curriculum":
        assert training.teacher.curriculum is None


def test_shuffled_batches_keep_each_noise_with_its_label(data, tmp_path):
    training = MetaTraining(tiny(ablation="shuffled_batches"), data, str(tmp_path))
    noise, labels = training.teacher.noise(tf.constant([3, 4], tf.int64))
    flat_noise = training.teacher.curriculum.numpy().reshape(-1, training.config.noise_dim)
    flat_labels = training.teacher.labels.numpy().reshape(-1)
    for z, label in zip(noise.numpy().reshape(-1, training.config.noise_dim), labels.numpy().reshape(-1)):
        i = int(np.argmin(np.abs(flat_noise - z).sum(1)))
        assert np.array_equal(flat_noise[i], z) and flat_labels[i] == label
    assert not np.array_equal(labels.numpy(), training.teacher.labels.numpy())


def test_checkpointing_does_not_change_the_gradients(data, tmp_path):
    """The whole outer gradient (generator, curriculum, rates) with and without checkpointing."""
    loss, grads = MetaTraining(tiny(checkpointing=False), data, str(tmp_path / "a")).gradients(0)
    for other in (tiny(checkpointing=True), tiny(checkpointing=True, generator_chunk=3)):  # 4 steps: chunks 3 + 1
        other_loss, other_grads = MetaTraining(other, data, str(tmp_path / "b")).gradients(0)
        assert float(other_loss) == pytest.approx(float(loss), rel=1e-6)
        for x, y in zip(other_grads, grads):
            np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-5, atol=1e-8)


def test_a_diverging_inner_loop_fails_in_one_line(data, tmp_path):
    training = MetaTraining(tiny(inner_lr=1e30), data, str(tmp_path))
    with pytest.raises(TfrobustError, match="not finite at outer iteration 1.*lower --outer_lr or --inner_lr"):
        training.outer_step(0)


class _Killed(Exception):
    pass


def test_an_interrupted_run_resumes_to_the_uninterrupted_one(data, tmp_path, monkeypatch):
    """Interrupted at outer iteration 3 (after the checkpoint at 2), then rerun: the same metrics,
    results and teacher as a run never interrupted (the kill harness does this with real kills)."""
    whole = MetaTraining(tiny(), data, str(tmp_path / "whole")).run()
    original = MetaTraining.outer_step

    def dies_at_3(self, k):
        if k == 3:
            raise _Killed
        return original(self, k)

    monkeypatch.setattr(MetaTraining, "outer_step", dies_at_3)
    with pytest.raises(_Killed):
        MetaTraining(tiny(), data, str(tmp_path / "parts")).run()
    monkeypatch.setattr(MetaTraining, "outer_step", original)
    parts = MetaTraining(tiny(), data, str(tmp_path / "parts"))
    assert not parts.run_dir.finished and len(parts.run_dir.read_metrics()) == 1
    resumed = parts.run()
    for key in ("final", "learned_lr", "learned_momentum", "teacher_sha256"):
        assert resumed[key] == whole[key], key
    whole_dir = MetaTraining(tiny(), data, str(tmp_path / "whole")).run_dir
    assert parts.run_dir.read_metrics() == whole_dir.read_metrics()
