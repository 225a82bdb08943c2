"""Training across processes: a run killed mid-way and resumed, and two MultiWorkerMirrored workers."""
import json
import os
import signal
import socket
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARGS = ["--dataset=synthetic:image_shape=10x10x1,train_size=600,test_size=100,noise_std=0.6",
        "--valid_size=100", "--batch_size=20", "--train_iters=60", "--eval_every=10", "--log_every=10",
        "--objective=mix", "--attack=pgd:eps=0.1,step_size=0.03,steps=3"]


def command(base_dir, *extra):
    return [sys.executable, "-m", "runs.train", *ARGS, f"--base_dir={base_dir}", *extra]


def env(**extra):
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **extra)


def final_results(base_dir):
    (run_id,) = os.listdir(os.path.join(base_dir, "train"))
    with open(os.path.join(base_dir, "train", run_id, "results.json")) as f:
        return json.load(f)


def test_a_killed_run_resumes_to_the_same_final_metrics(tmp_path):
    whole = str(tmp_path / "whole")
    assert subprocess.run(command(whole), cwd=ROOT, env=env(), capture_output=True, timeout=300).returncode == 0

    killed = str(tmp_path / "killed")
    proc = subprocess.Popen(command(killed), cwd=ROOT, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith("iter 40/60"):  # checkpoints exist at 10, 20 and 30 by now
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    (run_id,) = os.listdir(os.path.join(killed, "train"))
    assert not os.path.exists(os.path.join(killed, "train", run_id, "results.json"))

    resumed = subprocess.run(command(killed), cwd=ROOT, env=env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout
    a, b = final_results(whole), final_results(killed)
    assert b["resumed_from"] >= 30 and a["resumed_from"] == 0
    assert a["final"] == b["final"]
    metrics = [json.loads(l) for l in open(os.path.join(killed, "train", run_id, "metrics.jsonl"))]
    assert [m["step"] for m in metrics] == [10, 20, 30, 40, 50, 60]


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_multi_worker_processes_train_together(tmp_path):
    workers = [f"localhost:{free_port()}", f"localhost:{free_port()}"]
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        procs.append(subprocess.Popen(
            command(str(tmp_path / "out"), "--strategy=multi_worker", "--train_iters=20", "--quiet"),
            cwd=ROOT, env=env(TF_CONFIG=tf_config), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    results = final_results(str(tmp_path / "out"))  # only the chief (worker 0) writes
    assert results["final"]["step"] == 20
    assert results["final"]["test"]["natural"]["accuracy"] > 0.3
    assert results["final"]["train_loss"] < 2.3
