"""What one robust-flatness measurement costs against one PGD robust-loss evaluation on the same
examples, as ratios taken in one run.

    python -m benchmarks.flatness_cost                 # lenet:width=6, 500 images, PGD-20 at eps 0.1

Times, interleaved (median of --repeats): one PGD-20 robust loss (the unit), average-case robust
flatness (--draws perturbed models, the attack rerun on each, plus the unperturbed loss), one
worst-case restart (the joint weight and input attack, then the attack rerun on w + nu*), the
clean average-case flatness, and the robust Hessian's extreme eigenvalues (Lanczos to eigsh's
tol 1e-2). The model is freshly initialised: the costs do not depend on the weights, except the
number of Lanczos iterations the Hessian needs.
"""
from __future__ import annotations

from absl import app, flags

from benchmarks import common

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "lenet:width=6", "Model spec.")
flags.DEFINE_integer("examples", 500, "Test images every measure sees.", lower_bound=1)
flags.DEFINE_integer("batch", 250, "Batch size.", lower_bound=1)
flags.DEFINE_string("attack", "pgd:eps=0.1,step_size=0.01,steps=20", "The robust loss's attack.")
flags.DEFINE_integer("draws", 10, "Average-case draws.", lower_bound=1)
flags.DEFINE_integer("repeats", 3, "Timed calls of each measure (median reported).", lower_bound=1)


def main(argv):
    from tfrobust import models
    from tfrobust.attacks import from_spec
    from tfrobust.flatness import average_flatness, extreme_eigenvalues, robust_loss, worst_flatness
    from tfrobust.spec import parse_spec

    x, y, source = common.image_batch(FLAGS.examples)
    name, options = parse_spec(FLAGS.model, models.MODELS)
    model = models.build_model(name, tuple(x.shape[1:]), 10, seed=0, **options)
    attack = from_spec(FLAGS.attack)
    data = (x, y)
    kw = dict(batch_size=FLAGS.batch, seed=0)
    seconds = common.time_interleaved({
        "one PGD robust loss": lambda: robust_loss(model, data, attack, **kw),
        f"average-case robust ({FLAGS.draws} draws)": lambda: average_flatness(model, data, attack, draws=FLAGS.draws, **kw),
        "worst-case robust (1 restart, 20 steps)": lambda: worst_flatness(model, data, attack, restarts=1, **kw),
        f"average-case clean ({FLAGS.draws} draws)": lambda: average_flatness(model, data, None, draws=FLAGS.draws, **kw),
        "Hessian extreme eigenvalues (robust)": lambda: extreme_eigenvalues(model, x, y, attack, **kw),
    }, FLAGS.repeats)
    unit = seconds["one PGD robust loss"]
    print(f"{FLAGS.model} on {FLAGS.examples} {source} images, {attack.label}, batch {FLAGS.batch}:")
    print("| measure | seconds | x one PGD robust loss |\n|---|---|---|")
    for label, s in seconds.items():
        print(f"| {label} | {s:.3f} | {s / unit:.2f} |")


if __name__ == "__main__":
    app.run(main)
