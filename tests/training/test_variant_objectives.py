"""The adversarial-training variants of Stutz et al. (2021): MART, AWP, RWP, Entropy-SGD and
rotation prediction. Each loss equals its formula on a fixed tiny model and batch; the weights a
method moves inside the step are restored bit for bit; each trains through the real loop."""
import itertools
import re

import numpy as np
import pytest
import tensorflow as tf

from tfrobust import models
from tfrobust.build import build, check
from tfrobust.errors import ConfigError
from tfrobust.experiment import RunDir
from tfrobust.layers import compressible_layers, count_weights, get_masks, set_masks
from tfrobust.models.rotation import RotationHeadModel
from tfrobust.saving import load_model, save_model
from tfrobust.training import Trainer, TrainConfig, train
from tfrobust.training.rotation import rotate_quarters
from tfrobust.training.weight_perturbation import perturbed_kernels

DATA = "synthetic:image_shape=10x10x1,train_size=600,test_size=100,noise_std=0.6"
ATTACK = "pgd:eps=0.1,step_size=0.03,steps=3"
SEED = tf.constant([3, 4], tf.int64)


def objective(spec, **kw):
    if spec.startswith("rotation"):
        kw.setdefault("model", "dense-300-100:rotation_head=true")
    return check(TrainConfig(objective=spec, attack=ATTACK, **kw)).objective


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((8, 10, 10, 1)), tf.float32)
    y = tf.constant(rng.integers(0, 10, 8), tf.int64)
    return x, y


@pytest.fixture(scope="module")
def lenet():
    """lenet:width=1 (kernels and biases) with half of fc_1's kernel pruned."""
    model = models.build_model("lenet", (10, 10, 1), 10, seed=0)
    masks = get_masks(model)
    masks["fc_1"] = (np.random.default_rng(1).random(masks["fc_1"].shape) < 0.5).astype(np.float32)
    set_masks(model, masks)
    return model


def values(variables):
    return [v.numpy().copy() for v in variables]


def assert_same(a, b):
    assert len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


def ce(logits, y):
    logits = np.asarray(logits, np.float64)
    log_p = logits - logits.max(1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
    return -log_p[np.arange(len(y)), np.asarray(y)].mean()


def loss_and_grads(obj, model, x, y):
    with tf.GradientTape() as tape:
        loss, metrics = obj.loss(model, x, y, SEED)
    return loss, metrics, tape.gradient(loss, model.trainable_variables)


def assert_compiled_step_agrees(obj, model, x, y, loss, grads):
    """In one compiled graph (as the training step runs it) the loss and gradients are the eager
    ones, and the weights end as they started."""
    before = values(model.variables)
    compiled_loss, _, compiled_grads = tf.function(loss_and_grads)(obj, model, x, y)
    assert_same(values(model.variables), before)
    assert float(compiled_loss) == pytest.approx(float(loss), rel=1e-6)
    for c, e in zip(compiled_grads, grads):
        np.testing.assert_allclose(c.numpy(), e.numpy(), rtol=1e-4, atol=1e-7)


# ---- MART ------------------------------------------------------------------------------------

def test_mart_is_its_formula(batch):
    x, y = batch
    model = models.build_model("dense-300-100", (10, 10, 1), 10, seed=0)
    mart = objective("mart:beta=3")
    x_adv = mart.attack.perturb(model, x, y, SEED)
    loss, metrics = mart.loss(model, x, y, SEED)

    def softmax(z):
        z = np.asarray(z, np.float64)
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    p_adv, p = softmax(model(x_adv)), softmax(model(x))
    rows, yn = np.arange(8), y.numpy()
    other = np.where(np.eye(10)[yn] > 0, -1, p_adv).max(1)
    bce = -np.log(p_adv[rows, yn]).mean() - np.log(1.0001 - other + 1e-12).mean()
    kl = (p * (np.log(p) - np.log(p_adv + 1e-12))).sum(1)
    expected = bce + 3 * (kl * (1.0000001 - p[rows, yn])).mean()
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(metrics["bce"]) == pytest.approx(bce, rel=1e-5)
    assert float(metrics["adv_loss"]) == pytest.approx(ce(model(x_adv), y), rel=1e-5)
    assert float(objective("mart:beta=0").loss(model, x, y, SEED)[0]) == pytest.approx(bce, rel=1e-5)


# ---- AWP and RWP -----------------------------------------------------------------------------

def test_weight_perturbations_move_only_kernels_on_their_support_by_xi_times_their_norm(lenet, batch):
    x, y = batch
    kernels = perturbed_kernels(lenet)
    assert [w.name for w, _ in kernels] == [f"{n}/kernel:0" for n in ("conv_1", "conv_2", "fc_1", "fc_2")]
    assert all(mask is not None for _, mask in kernels)
    resnet = models.build_model("resnet18", (10, 10, 1), 10, seed=0, width=1)
    moved = {w.name for w, _ in perturbed_kernels(resnet)}
    assert moved and all(re.search(r"(conv_\d|shortcut|stem_conv|fc)/kernel:0$", n) for n in moved)
    assert len(moved) == sum(v.shape.rank >= 2 for v in resnet.trainable_variables)  # no bias, no BN

    for spec, xi in (("awp:xi=0.01", 0.01), ("rwp:xi=0.5", 0.5)):
        obj = objective(spec)
        x_adv = obj.adversarial(lenet, x, y, SEED)
        v = obj.perturbation(lenet, kernels, x_adv, y, SEED)
        for (w, mask), d in zip(kernels, v):
            d, mask = d.numpy(), mask.numpy()
            assert np.all(d[mask == 0] == 0)
            assert np.linalg.norm(d) == pytest.approx(xi * np.linalg.norm(w.numpy()[mask == 1]), rel=1e-5)


@pytest.mark.parametrize("spec", ["awp:xi=0.02", "rwp:xi=0.3"])
def test_weight_perturbed_loss_is_the_adversarial_loss_at_w_plus_v_and_restores_w(lenet, batch, spec):
    x, y = batch
    obj = objective(spec)
    before = values(lenet.variables)
    loss, metrics, grads = loss_and_grads(obj, lenet, x, y)
    assert_same(values(lenet.variables), before)  # bit for bit, masks included

    kernels = perturbed_kernels(lenet)
    x_adv = obj.adversarial(lenet, x, y, SEED)
    v = obj.perturbation(lenet, kernels, x_adv, y, SEED)
    for (w, _), d in zip(kernels, v):
        w.assign_add(d)
    with tf.GradientTape() as tape:
        expected = obj.cross_entropy(lenet(x_adv, training=True), y)
    expected_grads = tape.gradient(expected, lenet.trainable_variables)
    for variable, value in zip(lenet.variables, before):
        variable.assign(value)
    assert float(loss) == pytest.approx(float(expected), rel=1e-6) and float(metrics["adv_loss"]) == float(loss)
    assert float(loss) != pytest.approx(float(objective("madry").loss(lenet, x, y, SEED)[0]), rel=1e-4)
    for g, e in zip(grads, expected_grads):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-4, atol=1e-7)
    assert_compiled_step_agrees(obj, lenet, x, y, loss, grads)


def test_awp_with_xi_zero_is_madry_exactly(lenet, batch):
    x, y = batch
    awp, madry = loss_and_grads(objective("awp:xi=0"), lenet, x, y), loss_and_grads(objective("madry"), lenet, x, y)
    assert float(awp[0]) == float(madry[0])
    for a, b in zip(awp[2], madry[2]):
        assert np.array_equal(a.numpy(), b.numpy())


def test_awp_updates_batch_norm_statistics_once_at_the_perturbed_weights(batch):
    x, y = batch
    model = models.build_model("resnet18", (10, 10, 1), 10, seed=0, width=1)
    awp = objective("awp:xi=0.05")
    initial, initial_statistics = values(model.variables), values(model.non_trainable_variables)
    awp.loss(model, x, y, SEED)
    after = values(model.non_trainable_variables)
    for variable, value in zip(model.variables, initial):
        variable.assign(value)
    x_adv = awp.adversarial(model, x, y, SEED)
    kernels = perturbed_kernels(model)
    v = awp.perturbation(model, kernels, x_adv, y, SEED)
    assert_same(values(model.variables), initial)  # the ascent pass put the statistics back
    for (w, _), d in zip(kernels, v):
        w.assign_add(d)
    model(x_adv, training=True)
    assert_same(values(model.non_trainable_variables), after)
    assert not all(np.array_equal(a, b) for a, b in zip(after, initial_statistics))  # they did move


# ---- Entropy-SGD -----------------------------------------------------------------------------

def test_entropy_sgd_restores_w_and_its_gradient_is_w_minus_the_chain_average(lenet, batch):
    x, y = batch
    esgd = objective("entropy_sgd:inner_steps=3,gamma=0.03,noise=0.001")
    everything, before = values(lenet.variables), values(lenet.trainable_variables)
    mu, adv_loss = esgd.local_average(lenet, x, y, SEED)
    assert_same(values(lenet.variables), everything)
    loss, metrics, grads = loss_and_grads(esgd, lenet, x, y)
    assert_same(values(lenet.variables), everything)
    assert len(grads) == len(mu) == len(before)
    for g, w, m in zip(grads, before, mu):
        np.testing.assert_allclose(g.numpy(), w - m.numpy(), rtol=1e-5, atol=1e-9)
    fc_1 = [v.name for v in lenet.trainable_variables].index("fc_1/kernel:0")
    pruned = get_masks(lenet)["fc_1"] == 0
    assert np.all(mu[fc_1].numpy()[pruned] == 0)  # the noise stays on the support
    distance = sum(float(np.sum((w - m.numpy()) ** 2)) for w, m in zip(before, mu))
    assert float(metrics["distance"]) == pytest.approx(distance, rel=1e-5) and distance > 0
    madry = float(objective("madry").loss(lenet, x, y, SEED)[0])
    assert float(metrics["adv_loss"]) == float(adv_loss) == madry  # the chain's first step is at w
    assert float(loss) == pytest.approx(madry, rel=1e-6)  # its value; its gradient is w - mu
    assert_compiled_step_agrees(esgd, lenet, x, y, loss, grads)


def test_one_noiseless_entropy_sgd_step_is_a_scaled_madry_gradient(lenet, batch):
    """L=1, no noise: mu = alpha w + (1 - alpha)(w - lr g), so the gradient is (1 - alpha) lr g."""
    x, y = batch
    esgd = loss_and_grads(objective("entropy_sgd:inner_steps=1,noise=0,alpha=0.5,inner_lr=0.2"), lenet, x, y)[2]
    madry = loss_and_grads(objective("madry"), lenet, x, y)[2]
    for e, m in zip(esgd, madry):
        np.testing.assert_allclose(e.numpy(), 0.1 * m.numpy(), rtol=1e-3, atol=1e-7)  # roundoff of w - mu


# ---- rotation prediction ---------------------------------------------------------------------

def test_rotation_head_model_saves_loads_and_is_seen_through_by_the_mask_helpers(tmp_path, batch):
    x, _ = batch
    model = models.build_model("lenet", (10, 10, 1), 10, seed=0, rotation_head=True)
    base = models.build_model("lenet", (10, 10, 1), 10, seed=0)
    assert isinstance(model, RotationHeadModel)
    np.testing.assert_array_equal(model(x).numpy(), base(x).numpy())  # call: the class logits only
    head = [v for v in model.trainable_variables if v.name.startswith("rotation_head/")]
    assert [v.shape.as_list() for v in head] == [[64, 4], [4]]
    assert [layer.name for layer in compressible_layers(model)] == [layer.name for layer in compressible_layers(base)]
    assert count_weights(model) == count_weights(base)  # the head is not prunable
    masks = get_masks(model)
    masks["fc_2"][:, 0] = 0
    set_masks(model, masks)
    assert model.rotation_logits(x).shape == (8, 4)

    save_model(model, str(tmp_path / "m.keras"))
    loaded = load_model(str(tmp_path / "m.keras"))
    assert isinstance(loaded, RotationHeadModel)
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
    np.testing.assert_array_equal(loaded.rotation_logits(x).numpy(), model.rotation_logits(x).numpy())
    assert_same(values(loaded.weights), values(model.weights))
    np.testing.assert_array_equal(get_masks(loaded)["fc_2"], masks["fc_2"])

    checkpoint = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    stored = {name for name, _ in tf.train.list_variables(checkpoint)}
    assert {f"model/rotation_head/{v}/.ATTRIBUTES/VARIABLE_VALUE" for v in ("kernel", "bias")} <= stored


def test_rotate_quarters_turns_each_image_counter_clockwise():
    x = np.arange(2 * 3 * 3).reshape(2, 3, 3, 1).astype(np.float32)
    turned = rotate_quarters(tf.constant(x), tf.constant([1, 3])).numpy()
    np.testing.assert_array_equal(turned[0, ..., 0], np.rot90(x[0, ..., 0], 1))
    np.testing.assert_array_equal(turned[1, ..., 0], np.rot90(x[1, ..., 0], 3))


def test_rotation_objective_is_madry_plus_weighted_rotation_loss(batch):
    x, y = batch
    model = models.build_model("dense-300-100", (10, 10, 1), 10, seed=0, rotation_head=True)
    madry = float(objective("madry").loss(model, x, y, SEED)[0])
    assert float(objective("rotation:weight=0").loss(model, x, y, SEED)[0]) == madry
    for spec in ("rotation:weight=2", "rotation:weight=2,adversarial_rotations=false"):
        loss, metrics, grads = loss_and_grads(objective(spec), model, x, y)
        assert float(metrics["adv_loss"]) == pytest.approx(madry, rel=1e-6)  # no batch norm here
        assert float(loss) == pytest.approx(madry + 2 * float(metrics["rotation_loss"]), rel=1e-6)
        assert all(g is not None and np.any(g.numpy() != 0) for g in grads)  # the head trains too
    adversarial = float(objective("rotation").loss(model, x, y, SEED)[1]["rotation_loss"])
    clean = float(objective("rotation:adversarial_rotations=false").loss(model, x, y, SEED)[1]["rotation_loss"])
    assert adversarial > clean
    plain = models.build_model("dense-300-100", (10, 10, 1), 10, seed=0)
    with pytest.raises(ConfigError, match="add rotation_head=true to --model"):
        objective("rotation").loss(plain, x, y, SEED)


def test_rotation_objective_checks_the_model_options_and_the_input_shape():
    rotation = objective("rotation")
    with pytest.raises(ConfigError, match=re.escape("objective rotation needs a model with a rotation head: add "
                                                    "rotation_head=true to --model")):
        rotation.check_model_options({"width": 2})
    rotation.check_model_options({"width": 2, "rotation_head": True})
    rotation.check_input((10, 10, 1))
    with pytest.raises(ConfigError, match="needs square images; got 10x8"):
        rotation.check_input((10, 8, 1))
    objective("rotation:weight=0").check_input((10, 8, 1))
    objective("madry").check_model_options({})  # the default: no requirement
    with pytest.raises(ConfigError, match=re.escape("--objective=rotation: objective rotation needs a model with a "
                                                    "rotation head")):
        check(TrainConfig(objective="rotation", attack=ATTACK))  # the build step refuses it before training


# ---- through the training loop ---------------------------------------------------------------

@pytest.mark.parametrize("spec,model", [
    ("mart", "dense-300-100"),
    ("awp", "dense-300-100"),
    ("rwp:xi=0.1", "dense-300-100"),
    ("entropy_sgd:inner_steps=2,inner_lr=0.5", "dense-300-100"),
    ("rotation", "dense-300-100:rotation_head=true"),
])
def test_each_variant_trains_through_the_loop(tmp_path, spec, model):
    config = TrainConfig(dataset=DATA, model=model, valid_size=100, batch_size=20, train_iters=60, eval_every=60,
                         eval_examples=100, objective=spec, attack=ATTACK)
    results = train(config, str(tmp_path))
    assert results["final"]["test"]["natural"]["accuracy"] > 0.3  # chance: 0.1
    if spec == "rotation":
        assert isinstance(load_model(str(tmp_path / "train" / results["id"] / "model.keras")), RotationHeadModel)


_KEY_BASES = itertools.count(start=7)


def mirrored_strategy():
    """A two-CPU MirroredStrategy whose collective keys no other strategy in this process uses:
    TensorFlow starts every MirroredStrategy at group key 1, and the steps of two of them in one
    process abort ("Shape mismatch in the collective instance") once their collectives differ in
    shape, as these objectives' all-reduces make them."""
    keyed = type("KeyedMirroredStrategy", (tf.distribute.MirroredStrategy,),
                 {"_collective_key_base": 1000 * next(_KEY_BASES)})
    return keyed(["/cpu:0", "/cpu:1"])


@pytest.mark.parametrize("spec", ["awp:xi=0.05", "entropy_sgd:inner_steps=2,noise=0"])
def test_weight_moving_objectives_under_a_mirrored_strategy_match_one_device(tmp_path, spec):
    """The replicas apply one perturbation (one chain) computed from the global batch."""
    common = dict(dataset=DATA, valid_size=100, batch_size=20, train_iters=4, eval_every=4, eval_examples=20,
                  objective=spec, attack=ATTACK + ",random_start=false")  # the same attack on every replica
    trained = []
    for name, extra, strategy in (("a", {}, None),
                                  ("b", dict(strategy="mirrored", devices=("/cpu:0", "/cpu:1")), mirrored_strategy())):
        config = TrainConfig(**common, **extra)
        run_dir = RunDir.for_config(str(tmp_path / name), config.experiment, config)
        t = Trainer(build(config, strategy=strategy), run_dir)
        t.run()
        trained.append(t.model.trainable_variables)
    assert t.setup.strategy.num_replicas_in_sync == 2
    for a, b in zip(*trained):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


# ---- bad settings ----------------------------------------------------------------------------

@pytest.mark.parametrize("spec,message", [
    ("mart:beta=-1", "objective 'mart': beta=-1.0 is not allowed; it must be a finite number >= 0"),
    ("mart:beta=inf", "objective 'mart': beta=inf is not allowed"),
    ("awp:xi=-0.1", "objective 'awp': xi=-0.1 is not allowed; it must be a finite number >= 0"),
    ("rwp:xi=nan", "objective 'rwp': xi=nan is not allowed"),
    ("entropy_sgd:inner_steps=0", "objective 'entropy_sgd': inner_steps=0 is not allowed; it must be an integer in "
                                  "1..100"),
    ("entropy_sgd:alpha=1", "objective 'entropy_sgd': alpha=1.0 is not allowed; it must be a number in [0, 1)"),
    ("entropy_sgd:inner_lr=0", "inner_lr=0.0 is not allowed; it must be a finite number > 0"),
    ("rotation:weight=-0.5", "objective 'rotation': weight=-0.5 is not allowed; it must be a finite number >= 0"),
    ("awp:gamma=0.1", "training objective 'awp' has no option 'gamma'; its options: xi"),
])
def test_bad_options_name_the_option_and_the_allowed_range(spec, message):
    with pytest.raises(ConfigError, match=re.escape(f"--objective={spec}: ") + ".*" + re.escape(message)):
        check(TrainConfig(objective=spec))
