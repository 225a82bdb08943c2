"""The settings of a GTN's meta-training (seed 004); field names are runs.gtn's flags."""
from __future__ import annotations

import dataclasses

from tfrobust.config import Config, field
from tfrobust.errors import ConfigError
from tfrobust.gtn.inner import OUTER_LOSSES

ABLATIONS = ("none", "no_curriculum", "shuffled_batches", "real_data")


@dataclasses.dataclass(frozen=True)
class GTNConfig(Config):
    experiment: str = field("gtn", "Experiment name: the run directory is <base_dir>/<experiment>/<id>/.")
    dataset: str = field("mnist", "Dataset spec name[:option=value,...]; images' sides must be multiples of 4.")
    valid_size: int = field(10000, "Training examples held out for validation.", kind="size")
    seed: int = field(0, "Seed of the generator's and the curriculum's start, the learners and the real batches.",
                      kind="seed")
    learner: str = field("conv:width=32,layers=2,random_width=true",
                         "Learner spec the GTN teaches: linear, mlp (width=128, layers=1) or conv (width=32, "
                         "layers=2); random_width=true draws each learner's width from width/2, 3width/4, width.")
    inner_steps: int = field(64, "Inner-loop SGD steps a learner takes on generated batches.")
    inner_batch: int = field(128, "Generated examples per inner step (labels balanced: they run 0, 1, ..., classes - 1, "
                                  "0, ... through the steps' batches).", kind="size")
    noise_dim: int = field(128, "Length of the generator's noise vector.", kind="size")
    generator_hidden: int = field(1024, "Units of the generator's first dense layer.", kind="size")
    generator_channels: int = field(128, "Channels of the generator's first feature map (a quarter of the image's "
                                         "height and width); its second conv has half as many.", kind="size")
    inner_lr: float = field(0.02, "Initial learning rate of every inner step (learned; exp of a learned log).")
    inner_momentum: float = field(0.5, "Initial momentum of every inner step (learned; exp of a learned log).")
    outer_iters: int = field(2000, "Outer (meta-training) iterations.")
    outer_lr: float = field(0.02, "Adam learning rate of the outer loop, cosine-decayed to outer_lr * outer_lr_final.")
    outer_lr_final: float = field(0.1, "Fraction of --outer_lr the cosine decay ends at.")
    outer_batch: int = field(128, "Real training examples the outer loss is measured on, each outer iteration.",
                             kind="size")
    outer_loss: str = field("final", "When the outer loss is measured: final (after the last inner step) or "
                                     "every_step (averaged over the learner after each inner step).")
    ablation: str = field("none", "none (learned curriculum), no_curriculum (fresh noise every outer iteration), "
                                  "shuffled_batches (the curriculum's examples shuffled across steps every outer "
                                  "iteration) or real_data (inner steps on real training batches; only the learning "
                                  "rates and momenta are learned).")
    checkpointing: bool = field(True, "Recompute each inner step in the backward pass instead of keeping its "
                                      "intermediate tensors (memory: the learner states only; same gradient).")
    generator_chunk: int = field(0, "With --checkpointing, also recompute the generator in the backward pass, this many "
                                    "inner steps' batches at a time (0: keep its activations for all steps, one pass; "
                                    "they dominate memory at the paper's sizes).")
    few_steps: int = field(10, "Validation also reports a learner trained on only the first this many steps.")
    valid_every: int = field(100, "Validate (a fresh learner trained on generated data) every this many outer "
                                  "iterations.")
    checkpoint_every: int = field(20, "Save a checkpoint every this many outer iterations.")

    def __post_init__(self):
        self.check_bounds()
        self.check_integers(("valid_size", "inner_steps", "inner_batch", "noise_dim", "generator_hidden",
                             "generator_channels", "outer_iters", "outer_batch", "few_steps", "valid_every",
                             "checkpoint_every"), minimum=1)
        self.check_integers(("seed",), minimum=0)
        if self.generator_chunk and not self.checkpointing:
            self.bad("generator_chunk", "it recomputes the generator in the checkpointed backward pass: it needs "
                                        "--checkpointing")
        if not isinstance(self.generator_chunk, int) or isinstance(self.generator_chunk, bool) or not (
                0 <= self.generator_chunk <= self.inner_steps):
            self.bad("generator_chunk", f"it must be an integer in [0, --inner_steps={self.inner_steps}]")
        if self.few_steps > self.inner_steps:
            self.bad("few_steps", f"it must be at most --inner_steps={self.inner_steps}")
        for name in ("inner_lr", "inner_momentum", "outer_lr"):
            if not 0 < getattr(self, name) < float("inf"):
                self.bad(name, "it must be a positive number")
        if not 0 < self.outer_lr_final <= 1:
            self.bad("outer_lr_final", "it must be in (0, 1]")
        if self.outer_loss not in OUTER_LOSSES:
            self.bad("outer_loss", f"choose one of {', '.join(OUTER_LOSSES)}")
        if self.ablation not in ABLATIONS:
            self.bad("ablation", f"choose one of {', '.join(ABLATIONS)}")
        if not self.experiment or "/" in self.experiment:
            raise ConfigError(f"--experiment={self.experiment!r} must be a plain directory name")
        from tfrobust.gtn.learners import make_learner

        try:
            make_learner(self.learner)
        except ConfigError as e:
            raise ConfigError(f"--learner={self.learner}: {e}") from None

    def check_fits(self, input_shape, num_classes: int) -> None:
        """Refuses, naming the flags, settings whose big tensors need more than this machine's
        memory on images of ``input_shape`` (float32; a lower bound: the backward pass needs more)."""
        from tfrobust.gtn.learners import make_learner

        height, width, channels = input_shape
        n, k, half = self.inner_steps * self.inner_batch, num_classes, max(1, self.generator_channels // 2)
        weights, example = make_learner(self.learner).footprint(input_shape, num_classes)
        kept = self.inner_batch if self.checkpointing else n  # learner activations kept for the backward pass
        needs = [("the inner steps' images", n * height * width * channels, ("inner_steps", "inner_batch")),
                 ("the learner's states through the inner steps", 2 * (self.inner_steps + 1) * weights,
                  ("learner", "inner_steps")),
                 ("the learner's activations", (kept + self.outer_batch) * example,
                  ("learner", "inner_batch", "outer_batch"))]
        if self.ablation in ("none", "shuffled_batches"):  # the curriculum, its gradient and Adam's two moments
            needs.append(("the curriculum", 4 * n * self.noise_dim, ("inner_steps", "inner_batch", "noise_dim")))
        if self.ablation != "real_data":
            c, h, pixels = self.generator_channels, self.generator_hidden, height * width
            generator = (self.noise_dim + k) * h + h * pixels // 16 * c + 9 * c * half + 9 * half * channels
            needs.append(("the generator's weights", 4 * generator, ("noise_dim", "generator_hidden",
                                                                     "generator_channels")))
            per_example = self.noise_dim + k + h + pixels // 16 * c + pixels // 4 * (c + half) + pixels * half
            batch = self.inner_batch * (self.generator_chunk or self.inner_steps)
            needs.append(("the generator's activations", batch * per_example,
                          ("inner_steps", "inner_batch", "generator_hidden", "generator_channels")))
        self.check_memory([(what, 4 * floats, flags) for what, floats, flags in needs])
