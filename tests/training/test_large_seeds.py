"""Every seed a TrainConfig allows trains and evaluates: the evaluation's per-point seed
``seed * 1_000_003 + step`` is taken modulo 2**63 (an int64), unchanged wherever it already fit."""
from tfrobust.build import build
from tfrobust.config import SEED_MAX
from tfrobust.experiment import RunDir
from tfrobust.training import Trainer, hooks

from tiny_runs import tiny


def test_the_largest_seed_trains_and_evaluates(tmp_path, monkeypatch):
    seeds, evaluate = [], hooks.evaluate

    def spy(*args, **kwargs):
        seeds.append(kwargs["seed"])
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(hooks, "evaluate", spy)
    config = tiny(seed=SEED_MAX, train_iters=2, eval_every=2, attack="pgd:eps=0.1,step_size=0.05,steps=2")
    results = Trainer(build(config), RunDir.for_config(str(tmp_path), config.experiment, config)).run()
    assert seeds == [(SEED_MAX * 1_000_003 + 2) % 2 ** 63] * 2  # validation and test at step 2
    accuracies = [v["accuracy"] for v in results["final"]["test"].values() if isinstance(v, dict) and "accuracy" in v]
    assert len(accuracies) == 2 and all(0 <= a <= 1 for a in accuracies)  # natural and under PGD


class Results(dict):
    checks = None


def test_seeds_that_fit_keep_their_evaluation_seeds(tmp_path, monkeypatch):
    seeds = []
    monkeypatch.setattr(hooks, "evaluate", lambda *args, **kwargs: seeds.append(kwargs["seed"]) or Results())
    config = tiny(seed=7, train_iters=2, eval_every=1)
    hook = hooks.Evaluation(attacks={}, splits=("test",))
    trainer = type("Trainer", (), dict(setup=build(config), model=None))()
    monkeypatch.setattr(hooks, "count_weights", lambda model: {})
    for step in (1, 2):
        hook.after_eval(trainer, step, {})
    assert seeds == [7 * 1_000_003 + 1, 7 * 1_000_003 + 2]
