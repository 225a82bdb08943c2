"""Kill anywhere, resume, and get the uninterrupted run's files: every resumable command under
the harness of tests/killresume.py. KILL_POINTS=n (environment) tries n points after files and n
at random times per command instead of the suite's few."""
import os

import pytest

from killresume import kill_points, run_killed, run_whole, snapshot

DATASET = "--dataset=synthetic:image_shape=10x10x1,train_size=300,test_size=60,noise_std=0.6"
COMMANDS = {
    "runs.train": lambda out: ["runs.train", DATASET, "--valid_size=60", "--batch_size=20", "--train_iters=30",
                               "--eval_every=10", "--objective=mix", "--attack=pgd:eps=0.1,step_size=0.03,steps=3",
                               f"--base_dir={out}", "--quiet"],
    "runs.lottery": lambda out: ["runs.lottery", DATASET, "--valid_size=60", "--batch_size=20", "--train_iters=10",
                                 "--eval_every=5", "--trials=2", "--prune_iters=2", "--adv_train",
                                 "--attack=fgsm:eps=0.1", f"--base_dir={out}", "--quiet"],
    "runs.admm": lambda out: ["runs.admm", DATASET, "--valid_size=60", "--batch_size=20", "--model=dense-300-100",
                              "--prune_ratios=hidden_1:0.9,hidden_2:0.5", "--pretrain_iters=10", "--admm_iters=20",
                              "--admm_every=5", "--retrain_iters=10", "--eval_every=5", "--attack=fgsm:eps=0.1",
                              f"--base_dir={out}", "--quiet"],
    "runs.admm_study": lambda out: ["runs.admm_study", DATASET, "--valid_size=60", "--batch_size=20", "--widths=1,2",
                                    "--methods=admm,oneshot", "--pretrain_iters=6", "--admm_iters=6", "--admm_every=3",
                                    "--retrain_iters=4", "--eval_every=3", "--attack=fgsm:eps=0.1",
                                    f"--base_dir={out}", "--quiet"],
    "runs.atmc": lambda out: ["runs.atmc", DATASET, "--valid_size=60", "--batch_size=20", "--model=dense-300-100",
                              "--keep=0.1", "--bits=4", "--quant_every=2", "--dense_iters=6", "--compress_iters=6",
                              "--quant_iters=6", "--eval_every=3", "--attack=fgsm:eps=0.1", "--eval_attacks=fgsm:eps=0.1",
                              f"--base_dir={out}", "--quiet"],
    "runs.atmc_study": lambda out: ["runs.atmc_study", DATASET, "--valid_size=60", "--batch_size=20",
                                    "--model=dense-300-100", "--methods=ap,al0", "--keeps=0.1,0.3", "--dense_iters=4",
                                    "--compress_iters=4", "--eval_every=2", "--attack=fgsm:eps=0.1",
                                    "--eval_attacks=fgsm:eps=0.1", f"--base_dir={out}", "--quiet"],
    "runs.tune_prune": lambda out: ["runs.tune_prune", DATASET, "--valid_size=60", "--batch_size=20",
                                    "--model=dense-300-100", "--pretrain_iters=6", "--admm_iters=4", "--admm_every=2",
                                    "--retrain_iters=4", "--eval_every=2", "--attack=fgsm:eps=0.1", "--oracle=random",
                                    "--max_trials=4", "--target_compression=3", "--max_ratio=0.95", "--compare_uniform=false",
                                    f"--base_dir={out}", "--quiet"],
}
FLATNESS_TRAIN = [DATASET, "--valid_size=60", "--batch_size=20", "--model=lenet:width=1", "--train_iters=6",
                  "--eval_every=3", "--attack=pgd:eps=0.1,step_size=0.05,steps=2"]
COMMANDS["runs.flatness"] = lambda out: ["runs.flatness", *FLATNESS_TRAIN, "--variants=at trades:beta=1 label_noise:p=0.2",
                                         f"--base_dir={out}", "--quiet"]
COMMANDS["runs.flatness_report"] = lambda out: ["runs.flatness_report", f"--base_dir={_with_zoo(out)}", "--examples=40",
                                                "--rloss_attack=pgd:eps=0.1,step_size=0.05,steps=2",
                                                "--final_attack=fgsm:eps=0.1", "--final_examples=40",
                                                "--flatness_examples=40", "--avg_draws=2", "--worst_steps=2",
                                                "--worst_restarts=2", "--hessian_examples=20", "--landscape_points=4",
                                                "--landscape_directions=1", "--landscape_examples=20",
                                                "--batch_size=20", "--quiet"]
GTN_TRAIN = ["--dataset=synthetic:image_shape=8x8x1,train_size=300,test_size=60,noise_std=0.6", "--valid_size=60",
             "--learner=conv:width=4,random_width=true", "--inner_steps=4", "--few_steps=2", "--inner_batch=20",
             "--generator_hidden=16", "--generator_channels=8", "--outer_batch=20"]
COMMANDS["runs.gtn"] = lambda out: ["runs.gtn", *GTN_TRAIN, "--outer_iters=12", "--valid_every=4", "--checkpoint_every=2",
                                    f"--base_dir={out}", "--quiet"]
COMMANDS["runs.gtn_robustness"] = lambda out: ["runs.gtn_robustness", f"--gtn_dir={_with_gtn(out)}/gtn",
                                               "--learners=linear mlp:width=8", "--seeds=2",
                                               "--threshold=0", "--vanilla_epochs=1", "--noise_betas=0,0.5",
                                               "--blur_betas=0,1", "--ifgsm_betas=0.01", "--lbfgs_betas=100",
                                               "--ifgsm_steps=3", "--lbfgs_steps=3", "--corruption_examples=40",
                                               "--attack_examples=20",
                                               "--autoattack=autoattack:eps=0.05,version=custom,attacks=apgd-ce", "--quiet"]
_ZOO = {}


def _with_gtn(out: str) -> str:
    """``out``, holding (a copy of) one small trained GTN: what runs.gtn_robustness tests."""
    import shutil
    import subprocess
    import sys
    import tempfile

    if "gtn" not in _ZOO:
        _ZOO["gtn"] = os.path.join(tempfile.mkdtemp(prefix="tfrobust-gtn-"), "gtn")
        argv = ["runs.gtn", *GTN_TRAIN, "--outer_iters=2", "--valid_every=2", f"--base_dir={_ZOO['gtn']}", "--quiet"]
        subprocess.run([sys.executable, "-m", *argv], cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       check=True, capture_output=True)
    if not os.path.exists(out):
        shutil.copytree(_ZOO["gtn"], out)
    return out


def _with_zoo(out: str) -> str:
    """``out``, holding (a copy of) one small trained zoo: what runs.flatness_report measures."""
    import shutil
    import subprocess
    import sys
    import tempfile

    if "path" not in _ZOO:
        _ZOO["path"] = os.path.join(tempfile.mkdtemp(prefix="tfrobust-zoo-"), "zoo")
        argv = ["runs.flatness", *FLATNESS_TRAIN, "--variants=at trades:beta=1", f"--base_dir={_ZOO['path']}", "--quiet"]
        subprocess.run([sys.executable, "-m", *argv], cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       check=True, capture_output=True)
    if not os.path.exists(out):
        shutil.copytree(_ZOO["path"], out)
    return out


N = int(os.environ.get("KILL_POINTS", "0"))
# The suite's kill points per command (file points, random points), fewer for the ADMM commands to
# keep the suite short (their pipelines are one code path; so for ATMC's); KILL_POINTS=n tries many more.
FEW = {"runs.admm": (2, 0), "runs.admm_study": (1, 0), "runs.tune_prune": (1, 1), "runs.atmc": (1, 0),
       "runs.atmc_study": (1, 0), "runs.flatness": (1, 0), "runs.flatness_report": (1, 0),
       "runs.gtn": (1, 1), "runs.gtn_robustness": (1, 0)}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_killed_anywhere_the_run_resumes_to_the_same_files(command, tmp_path):
    make = COMMANDS[command]
    whole = run_whole(make, str(tmp_path / "whole"))
    assert len(whole.order) >= 8 and any(f.endswith("results.json") for f in whole.snapshot)
    n_files, n_random = FEW.get(command, (3, 1))
    points = kill_points(whole, n_files=N or n_files, n_random=N or n_random, seed=len(command))
    landed = 0
    for i, point in enumerate(points):
        out = str(tmp_path / f"killed_{i}")
        landed += run_killed(make, out, point)
        assert snapshot(out) == whole.snapshot, f"{command} killed {point}"
    print(f"{command}: {len(points)} kill points, {landed} killed before the end, all resumed identically")
    assert landed >= len(points) // 2 and landed >= 1
