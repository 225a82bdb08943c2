"""Kill and resume: run a resumable command whole, then kill copies of it (SIGKILL) at many points,
resume each, and compare every output file with the whole run's.

    whole = run_whole(command, out)                   # the reference, and the order its files appeared
    for point in kill_points(whole, n_files=4, n_random=2, seed=0):
        killed = run_killed(command, out2, point)     # dies at the point, then runs again to the end
        assert snapshot(out2) == whole.snapshot

A point is "just after the k-th file the run writes appeared" or "after t seconds". ``command`` is
a function of the output directory giving the argv. Files are compared by content, less what a
kill may change legitimately: checkpoints and TensorBoard events (which checkpoint a run resumed
from), keras-tuner's state files (their timestamps), timings and ``resumed_from`` in results records, and the bytes of ``.keras`` zips (their
timestamps); arrays in ``.npz`` files are compared exactly.
"""
from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOLATILE_KEYS = {"train_seconds", "seconds", "resumed_from"}
SKIPPED_DIRS = {"checkpoints", "tb", "hparams", "tuner"}  # tuner/: keras-tuner's own state (timestamps)


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def output_files(root: str) -> List[str]:
    """Final files under ``root`` (relative paths), skipping temporaries of atomic writes."""
    out = []
    for directory, _, files in os.walk(root):
        for name in files:
            if name.startswith(".") or ".tmp" in name:
                continue
            out.append(os.path.relpath(os.path.join(directory, name), root))
    return sorted(out)


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def snapshot(root: str) -> Dict[str, object]:
    """Relative path -> comparable content of every output file."""
    out = {}
    for rel in output_files(root):
        parts = rel.split(os.sep)
        if SKIPPED_DIRS & set(parts):
            continue
        path = os.path.join(root, rel)
        if rel.endswith(".json"):
            with open(path) as f:
                out[rel] = _strip(json.load(f))
        elif rel.endswith(".npz"):
            with np.load(path) as f:
                out[rel] = {k: f[k].tobytes() for k in sorted(f.files)}
        elif rel.endswith(".keras"):
            out[rel] = "present"
        else:
            with open(path, "rb") as f:
                out[rel] = f.read()
    return out


@dataclasses.dataclass
class Whole:
    order: List[str]  # output files in the order they appeared
    times: List[float]  # seconds from the start at which each appeared
    snapshot: Dict[str, object]


def _watch(proc, root: str, stop: Callable[[List[str], float], bool]):
    """Polls ``root`` until ``proc`` exits or ``stop(files seen in order, seconds)`` says kill;
    returns the files in the order they appeared and when."""
    seen, times, start = [], [], time.time()
    while proc.poll() is None:
        if os.path.isdir(root):
            for rel in output_files(root):
                if rel not in seen:
                    seen.append(rel)
                    times.append(time.time() - start)
        if stop(seen, time.time() - start):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            break
        time.sleep(0.002)
    return seen, times


def _start(argv):
    return subprocess.Popen([sys.executable, "-m", *argv], cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def run_whole(command: Callable[[str], List[str]], root: str) -> Whole:
    proc = _start(command(root))
    order, times = _watch(proc, root, lambda seen, t: False)
    _, err = proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    for rel in output_files(root):  # written after the last poll
        if rel not in order:
            order.append(rel)
            times.append(times[-1] if times else 0.0)
    return Whole(order, times, snapshot(root))


@dataclasses.dataclass(frozen=True)
class KillPoint:
    after_file: Optional[str] = None  # kill once this file has appeared
    after_seconds: Optional[float] = None

    def __str__(self):
        return f"after {self.after_file}" if self.after_file else f"after {self.after_seconds:.2f}s"


def kill_points(whole: Whole, n_files: int, n_random: int, seed: int = 0) -> List[KillPoint]:
    """``n_files`` points just after files appeared (spread over the run, the last file's excluded:
    the run is over then), and ``n_random`` points at random times between the first file and the
    last."""
    candidates = whole.order[:-1]
    step = max(1, len(candidates) // max(n_files, 1))
    points = [KillPoint(after_file=f) for f in candidates[step - 1::step][:n_files]]
    rng = random.Random(seed)
    points += [KillPoint(after_seconds=rng.uniform(whole.times[0], whole.times[-1])) for _ in range(n_random)]
    return points


def run_killed(command: Callable[[str], List[str]], root: str, point: KillPoint) -> bool:
    """Runs ``command`` until ``point`` (SIGKILL), then again to the end; whether the kill landed
    before the run finished on its own."""
    proc = _start(command(root))

    def stop(seen, seconds):
        if point.after_file is not None:
            return point.after_file in seen
        return seconds >= point.after_seconds

    _watch(proc, root, stop)
    killed = proc.poll() == -signal.SIGKILL
    if not killed:
        proc.communicate()
    resumed = _start(command(root))
    _, err = resumed.communicate()
    assert resumed.returncode == 0, f"resume after a kill {point} failed:\n{err[-3000:]}"
    return killed
