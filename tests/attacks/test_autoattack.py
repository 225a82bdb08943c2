"""AutoAttack: its versions, its stages on the examples still robust, and its records."""
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.attacks import from_spec
from tfrobust.attacks.autoattack import AutoAttack
from tfrobust.errors import ConfigError
from tfrobust.evaluation import evaluate

SEED = tf.constant([3, 0], tf.int64)


def correct(model, x, y):
    return np.argmax(model(x).numpy(), -1) == y.numpy()


def distance(x_adv, x, norm):
    d = (x_adv - x).numpy().reshape(len(x), -1)
    return np.abs(d).max(1) if norm == "linf" else np.sqrt((d ** 2).sum(1))


def test_versions_run_the_references_stages_with_its_settings():
    standard = AutoAttack(eps=0.1).stages()
    assert [s for s, _ in standard] == ["apgd-ce", "apgd-t", "fab-t", "square"]
    apgd, apgd_t, fab_t, square = (a for _, a in standard)
    assert (apgd.loss, apgd.restarts, apgd.steps, apgd.eps, apgd.norm) == ("ce", 1, 100, 0.1, "linf")
    assert (apgd_t.target_classes, apgd_t.restarts, apgd_t.steps) == (9, 1, 100)
    assert (fab_t.name, fab_t.target_classes, fab_t.restarts, fab_t.steps) == ("fab_t", 9, 1, 100)
    assert (square.queries, square.p_init, square.restarts) == (5000, 0.8, 1)
    plus = AutoAttack(version="plus", norm="l2", eps=0.5).stages()
    assert [s for s, _ in plus] == ["apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"]
    assert [a.restarts for _, a in plus] == [5, 5, 5, 1, 1, 1] and {a.norm for _, a in plus} == {"l2"}
    rand = AutoAttack(version="rand").stages()
    assert [(s, a.eot_iter) for s, a in rand] == [("apgd-ce", 20), ("apgd-dlr", 20)]
    custom = from_spec("autoattack:version=custom,attacks=square+apgd-dlr").stages()
    assert [s for s, _ in custom] == ["square", "apgd-dlr"]


@pytest.mark.parametrize("spec,message", [
    ("autoattack:version=extra", "version='extra' is not allowed"),
    ("autoattack:eps=0", "eps=0.0 is not allowed"),
    ("autoattack:norm=l1", "norm='l1' is not allowed"),
    ("autoattack:version=custom", "attacks='' is not allowed"),
    ("autoattack:version=custom,attacks=apgd-ce+apgd-ce", "distinct stages"),
    ("autoattack:attacks=apgd-ce", "empty unless version=custom"),
])
def test_bad_settings_are_refused(spec, message):
    with pytest.raises(ConfigError, match=message):
        from_spec(spec)


def test_stage_class_checks_name_the_stage():
    with pytest.raises(ConfigError, match="stage apgd-t: attack 'apgd_t': the targeted DLR loss needs 4"):
        AutoAttack().check_classes(3)
    AutoAttack(version="rand").check_classes(3)


@pytest.fixture(scope="module")
def standard_run(trained_model, test_batch):
    x, y = test_batch
    x, y = x[:100], y[:100]
    attack = AutoAttack(eps=0.1)
    x_adv, records = attack.run_stages(trained_model, x, y, seed=SEED)
    return attack, x, y, x_adv, records


def test_standard_autoattack_stays_in_the_ball_and_box(standard_run):
    _, x, _, x_adv, _ = standard_run
    assert 0.0 <= float(tf.reduce_min(x_adv)) and float(tf.reduce_max(x_adv)) <= 1.0
    assert distance(x_adv, x, "linf").max() <= 0.1 + 1e-6


def test_no_stage_leaves_more_examples_robust_than_the_one_before(trained_model, standard_run):
    attack, x, y, x_adv, records = standard_run
    robust = [r["robust"] for r in records]
    attacked = [r["attacked"] for r in records]
    assert robust == sorted(robust, reverse=True)
    assert attacked[1:] == robust[:-1]  # each stage runs on what the last one left
    assert attacked[0] == int(correct(trained_model, x, y).sum())
    assert int(correct(trained_model, x_adv, y).sum()) == robust[-1]
    assert robust[0] < attacked[0]  # APGD-CE fools some at eps 0.1


def test_autoattack_is_never_above_any_of_its_stages_run_alone(trained_model, standard_run):
    attack, x, y, x_adv, _ = standard_run
    together = correct(trained_model, x_adv, y).mean()
    for k, (stage, alone) in enumerate(attack.stages()):
        seed = tf.random.experimental.stateless_fold_in(SEED, k)
        assert together <= correct(trained_model, alone(trained_model, x, y, seed=seed), y).mean(), stage


def test_one_graph_gives_the_stagewise_result_and_counts_every_pass(trained_model, test_batch):
    x, y = test_batch
    attack = from_spec("autoattack:eps=0.1,version=custom,attacks=apgd-ce+apgd-t")
    x_stages, records = attack.run_stages(trained_model, x, y, seed=SEED)
    x_graph, passes = attack.run(trained_model, x, y, seed=SEED)
    np.testing.assert_array_equal(x_graph.numpy(), x_stages.numpy())
    assert passes.numpy().tolist() == [len(x) + sum(r["forward"] for r in records),
                                       sum(r["backward"] for r in records)]


def test_evaluate_records_accuracy_time_and_passes_per_stage(trained_model, synthetic_splits):
    spec = "autoattack:eps=0.1,version=custom,attacks=apgd-ce+apgd-dlr"
    results = evaluate(trained_model, synthetic_splits.test, [spec], max_examples=120, seed=0, checks=False)
    entry = results[spec]
    assert [s["stage"] for s in entry["stages"]] == ["apgd-ce", "apgd-dlr"]
    assert entry["stages"][-1]["accuracy"] == entry["accuracy"] <= entry["stages"][0]["accuracy"]
    assert entry["forward"] == sum(s["forward"] for s in entry["stages"]) > 0
    assert all(s["seconds"] > 0 for s in entry["stages"])


def test_steps_and_queries_reach_every_stage():
    attack = from_spec("autoattack:version=plus,steps=7,queries=33")
    stages = dict(attack.stages())
    assert {stages[s].steps for s in ("apgd-ce", "apgd-dlr", "apgd-t", "fab", "fab-t")} == {7}
    assert stages["square"].queries == 33
    assert AutoAttack().stages()[0][1].steps == 100 and dict(AutoAttack().stages())["square"].queries == 5000
    assert AutoAttack().label == "autoattack"  # the defaults add nothing to a label (run ids stay)
    with pytest.raises(ConfigError, match="steps=0 is not allowed"):
        from_spec("autoattack:steps=0")
