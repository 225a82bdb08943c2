"""One process per run directory: a second gets a clear error; a dead holder's lock is taken over."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tfrobust.errors import ConfigError
from tfrobust.experiment import RunLock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--dataset=synthetic:image_shape=10x10x1,train_size=300,test_size=60,noise_std=0.6", "--valid_size=60",
        "--batch_size=20", "--eval_every=50", "--objective=mix", "--attack=pgd:eps=0.1,step_size=0.01,steps=40"]


def test_a_second_holder_is_refused_and_a_released_lock_is_free(tmp_path):
    with RunLock(str(tmp_path)):
        other = RunLock(str(tmp_path))
        with pytest.raises(ConfigError, match=f"{tmp_path} is in use by process {os.getpid()}"):
            other.acquire()
    with RunLock(str(tmp_path)):
        pass
    assert not os.path.exists(tmp_path / ".lock")


def test_a_lock_whose_process_is_gone_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / ".lock").write_text(json.dumps({"host": RunLock(str(tmp_path)).me["host"], "pid": dead.pid}))
    with RunLock(str(tmp_path)) as lock:
        assert lock.holder() == lock.me
    (tmp_path / ".lock").write_text("garbage")
    with RunLock(str(tmp_path)):
        pass


def test_a_lock_from_another_host_is_respected(tmp_path):
    (tmp_path / ".lock").write_text(json.dumps({"host": "elsewhere", "pid": 1}))
    with pytest.raises(ConfigError, match="in use by process 1 on elsewhere"):
        RunLock(str(tmp_path)).acquire()


def test_two_processes_on_one_run_directory(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-m", "runs.train", *ARGS, f"--base_dir={tmp_path}", "--quiet"]
    first = subprocess.Popen(command + ["--train_iters=400"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not any(".lock" in files for _, _, files in os.walk(tmp_path)):
        assert first.poll() is None and time.time() < deadline, first.stderr.read()
        time.sleep(0.05)
    second = subprocess.run(command + ["--train_iters=400"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert second.returncode == 2 and "is in use by process" in second.stderr, second.stderr[-2000:]
    assert first.poll() is None  # the first was still training all along
    first.send_signal(signal.SIGKILL)  # its lock stays behind
    first.wait()
    resumed = subprocess.run(command + ["--train_iters=400"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    (run_id,) = os.listdir(tmp_path / "train")
    steps = [json.loads(l)["step"] for l in open(tmp_path / "train" / run_id / "metrics.jsonl")]
    assert steps == list(range(50, 401, 50))
    assert not os.path.exists(tmp_path / "train" / run_id / ".lock")


def test_a_waiting_process_gets_the_lock_when_the_holder_releases_it(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; sys.path.insert(0, %r); from tfrobust.experiment import RunLock\n"
        "with RunLock(%r):\n    print('held', flush=True); time.sleep(1.5)") % (ROOT, str(tmp_path))],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(ConfigError, match="--wait_for_lock"):
        RunLock(str(tmp_path)).acquire()
    start = time.time()
    with RunLock(str(tmp_path), wait=30) as lock:
        assert lock.holder() == lock.me and time.time() - start > 0.5
    holder.wait()


@pytest.fixture
def live_pid():
    """The pid of a live process on this host (not this one)."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield sleeper.pid
    sleeper.kill()
    sleeper.wait()


def test_a_lock_is_never_seen_empty_so_a_contender_at_that_instant_cannot_take_it(tmp_path, monkeypatch, live_pid):
    """A contender comes at the instant the first process writes its host and pid: the lock path
    must not exist yet, or already hold them; either way exactly one of the two holds the lock."""
    import tfrobust.experiment as experiment

    first, contender = RunLock(str(tmp_path)), RunLock(str(tmp_path))
    contender.me = {**contender.me, "pid": live_pid}  # another live process on this host
    seen, real_dump = [], json.dump

    class Json:
        def __getattr__(self, name):
            return getattr(json, name)

        def dump(self, obj, f):
            if obj == first.me and not seen:
                lock = tmp_path / ".lock"
                seen.append(lock.read_bytes() if lock.exists() else None)
                try:
                    contender.acquire()
                    seen.append("contender holds it")
                except ConfigError:
                    seen.append("contender refused")
            return real_dump(obj, f)

    monkeypatch.setattr(experiment, "json", Json())
    try:
        first.acquire()
        first_holds = True
    except ConfigError as e:
        assert f"in use by process {live_pid}" in str(e)
        first_holds = False
    monkeypatch.undo()
    assert seen and seen[0] != b"", "the lock existed, empty, while its holder was writing it"
    assert first_holds != (seen[1] == "contender holds it")  # one holder, never two
    assert first.holder() == (first.me if first_holds else contender.me)
    assert [p.name for p in tmp_path.iterdir()] == [".lock"]  # no temporary file left


@pytest.mark.parametrize("content", ["", "{\"host\": ", "[1, 2]"])
def test_a_damaged_lock_names_no_holder_and_is_taken_over(tmp_path, content):
    (tmp_path / ".lock").write_text(content)
    with RunLock(str(tmp_path)) as lock:
        assert lock.holder() == lock.me
    assert list(tmp_path.iterdir()) == []


def test_a_takeover_does_not_remove_a_lock_another_process_took_meanwhile(tmp_path, monkeypatch, live_pid):
    """Between judging a lock stale and removing it, another process takes it over: its lock stays."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    me = RunLock(str(tmp_path))
    (tmp_path / ".lock").write_text(json.dumps({"host": me.me["host"], "pid": dead.pid}))
    fresh = json.dumps({"host": me.me["host"], "pid": live_pid})
    original = RunLock._gone

    def gone_then_taken(self, holder):
        result = original(self, holder)
        if holder["pid"] == dead.pid:  # the other process removes the stale lock and takes its own
            os.remove(tmp_path / ".lock")
            (tmp_path / ".lock").write_text(fresh)
        return result

    monkeypatch.setattr(RunLock, "_gone", gone_then_taken)
    with pytest.raises(ConfigError, match=f"in use by process {live_pid}"):
        me.acquire()
    assert (tmp_path / ".lock").read_text() == fresh
    assert [p.name for p in tmp_path.iterdir()] == [".lock"]
