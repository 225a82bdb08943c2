"""Config -> run id -> run directory, and the records a run directory holds.

``<base_dir>/<name>/<id>/`` holds ``config.json``, ``metrics.jsonl`` (one line per evaluation
point), ``results.json`` (written last: its presence means the run finished), ``checkpoints/`` and
``tb/`` (TensorBoard events). The id is :func:`tfrobust.config.run_id`: a hash of the fields that
differ from their defaults, so the same config always finds the same directory, two configs never
share one, and a new field with a default moves no existing run.

Runs made before ids left out defaults live under the hash of their whole config.json. When the
new path does not exist, :meth:`RunDir.for_config` looks for such a run of the same config beside
it and moves it to the new path (a rename, nothing retrained, nothing lost).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import time
from typing import Callable, Dict, List, Optional

from tfrobust.config import Config, legacy_run_id, run_id
from tfrobust.errors import ConfigError, DataError
from tfrobust.io import write_json_atomic, write_text_atomic


class RunDir:
    """The directory of one run of ``config`` and its files."""

    def __init__(self, path: str, config: Config):
        self.config = config
        self.path = path
        self.id = os.path.basename(os.path.normpath(path))
        self.config_path = os.path.join(self.path, "config.json")
        self.metrics_path = os.path.join(self.path, "metrics.jsonl")
        self.results_path = os.path.join(self.path, "results.json")
        self.checkpoint_dir = os.path.join(self.path, "checkpoints")
        self.tb_dir = os.path.join(self.path, "tb")

    @classmethod
    def for_config(cls, base_dir: str, name: str, config: Config,
                   progress: Optional[Callable[[str], None]] = None, chief: bool = True) -> "RunDir":
        """``<base_dir>/<name>/<run_id(config)>``; the chief adopts a legacy run of the same config
        (other workers of a multi-worker run only compute the path)."""
        if not name or os.sep in name or name.startswith("."):
            raise ConfigError(f"--experiment={name!r} must be a plain directory name")
        path = os.path.join(base_dir, name, run_id(config))
        if chief and not os.path.exists(path):
            legacy = find_legacy_run(os.path.dirname(path), config)
            if legacy:
                try:
                    os.replace(legacy, path)
                except OSError as e:
                    raise ConfigError(f"cannot move the run {legacy} of this config (made before run ids "
                                      f"left out defaults) to {path}: {e.strerror}; move it by hand") from None
                (progress or (lambda text: None))(
                    f"moved {legacy} (a run of this config made before run ids left out defaults) to {path}")
        return cls(path, config)

    @property
    def finished(self) -> bool:
        return os.path.exists(self.results_path)

    def wipe(self) -> None:
        """Deletes what the run directory holds (``--force``), but its lock."""
        if not os.path.isdir(self.path):
            return
        for entry in os.listdir(self.path):
            path = os.path.join(self.path, entry)
            if entry == ".lock":
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)

    def damaged(self, path: str, fault: str) -> DataError:
        """The error for a file of this run that cannot be read."""
        return DataError(f"{path} {fault}: the run directory is damaged; move {self.path} away, or rerun "
                         "with --force to start this run again")

    def _json(self, path: str):
        try:
            with open(path) as f:
                return json.load(f)
        except (ValueError, UnicodeDecodeError) as e:
            raise self.damaged(path, f"is not valid JSON ({e})") from None

    def prepare(self) -> None:
        """Creates the directory and checks or writes config.json."""
        os.makedirs(self.path, exist_ok=True)
        if os.path.exists(self.config_path):
            try:
                stored = type(self.config).from_dict(self._json(self.config_path))
            except (ValueError, TypeError, AttributeError) as e:
                raise self.damaged(self.config_path, f"does not hold a {type(self.config).__name__} ({e})") from None
            if stored != self.config:
                raise ConfigError(f"{self.config_path} holds a different config (a changed default or a "
                                  "hash collision); move that directory away or rerun with --force")
        else:
            write_json_atomic(self.config_path, self.config.to_dict())

    def last_metrics(self) -> Optional[Dict]:
        """The last record of metrics.jsonl, or None when there is none."""
        return (self.read_metrics() or [None])[-1]

    def read_metrics(self) -> List[Dict]:
        if not os.path.exists(self.metrics_path):
            return []
        records = []
        with open(self.metrics_path, errors="replace") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    record = None
                if not isinstance(record, dict) or not isinstance(record.get("step"), int):
                    raise self.damaged(self.metrics_path, f"line {number} is not a metrics record")
                records.append(record)
        return records

    def append_metrics(self, record: Dict) -> None:
        """Appends one line; the whole file is rewritten atomically so a kill never tears it."""
        lines = [json.dumps(r, sort_keys=True) for r in self.read_metrics()]
        lines.append(json.dumps(record, sort_keys=True))
        write_text_atomic(self.metrics_path, "\n".join(lines) + "\n")

    def truncate_metrics(self, last_step: int) -> None:
        """Drops records after ``last_step`` (written after the checkpoint a resumed run restarts from)."""
        if not os.path.exists(self.metrics_path):
            return
        kept = [r for r in self.read_metrics() if r["step"] <= last_step]
        write_text_atomic(self.metrics_path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))

    def write_results(self, results: Dict) -> None:
        write_json_atomic(self.results_path, results)

    def read_results(self) -> Dict:
        results = self._json(self.results_path)
        if not isinstance(results, dict) or "final" not in results and "rounds" not in results:
            raise self.damaged(self.results_path, "is not a results record")
        return results


def find_legacy_run(parent: str, config: Config) -> Optional[str]:
    """A directory in ``parent`` named by the legacy id of its config.json whose config is ``config``."""
    if not os.path.isdir(parent):
        return None
    for entry in sorted(os.listdir(parent)):
        config_path = os.path.join(parent, entry, "config.json")
        try:
            with open(config_path) as f:
                stored = json.load(f)
            if entry == legacy_run_id(stored) and type(config).from_dict(stored) == config:
                return os.path.join(parent, entry)
        except (OSError, ValueError, TypeError):  # unreadable or foreign: not a legacy run of ours
            continue
    return None


class RunLock:
    """``<run directory>/.lock``: one process works in a run directory at a time.

    The lock file holds the host and pid of its holder. A second process gets a clear error naming
    them; a lock whose holder is gone (same host, no such pid) is taken over, so a killed run
    resumes without help. A lock from another host cannot be checked and is respected.
    """

    def __init__(self, directory: str, wait: float = 0.0):
        """``wait``: seconds to wait for a held lock before giving up (0: give up at once)."""
        self.path = os.path.join(directory, ".lock")
        self.me = {"host": socket.gethostname(), "pid": os.getpid()}
        self.wait = wait

    def acquire(self) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        deadline, takeovers = time.time() + self.wait, 0
        while takeovers < 10:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self.holder()
                if holder is not None and not self._gone(holder):
                    if time.time() < deadline:
                        time.sleep(min(1.0, max(deadline - time.time(), 0.01)))
                        continue
                    raise ConfigError(
                        f"{os.path.dirname(self.path)} is in use by process {holder.get('pid')} on "
                        f"{holder.get('host')}; wait for it to finish, or remove {self.path} if that process "
                        "is gone (or wait for it: --wait_for_lock=SECONDS)") from None
                takeovers += 1
                try:  # a stale or unreadable lock: take it over
                    os.remove(self.path)
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(self.me, f)
            return
        raise ConfigError(f"cannot take the lock {self.path}: other processes keep taking it")

    def holder(self) -> Optional[dict]:
        try:
            with open(self.path) as f:
                holder = json.load(f)
            return holder if isinstance(holder, dict) else None
        except (OSError, ValueError):
            return None

    def _gone(self, holder: dict) -> bool:
        if holder.get("host") != self.me["host"] or not isinstance(holder.get("pid"), int):
            return False
        if holder["pid"] == self.me["pid"]:
            return False  # this very process: a second trainer on the same directory
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def release(self) -> None:
        if self.holder() == self.me:
            os.remove(self.path)

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


class StagedRun:
    """A run made of stages, each its own run directory, under one root run directory (the ADMM
    and ATMC pipelines; the GTN's meta-training and robustness study, one stage each). A subclass
    sets ``root`` (a :class:`RunDir`) and ``progress``, and ``chief`` and ``wait_for_lock`` where a
    worker or a wait differ from the defaults below; it defines ``run_stages()`` (runs or resumes
    every stage; ``self.force`` says whether to redo them) and ``results(seconds)`` (the record,
    read from the stages), and overrides ``check()`` where settings can still fail after
    construction (it must fail before anything is written)."""

    chief = True
    wait_for_lock = 0.0

    def check(self) -> None:
        """Nothing to check by default: what can fail was checked when the run was built."""

    def run(self, force: bool = False) -> Dict:
        """Runs (or resumes, or returns) the stages under the root's lock; writes the root's
        results.json last."""
        import contextlib

        self.force = force
        root = self.root
        if root.finished and not force:
            self.progress(f"{root.path} is finished; returning its results (use --force to redo)")
            return root.read_results()
        self.check()
        t0 = time.time()
        with RunLock(root.path, self.wait_for_lock) if self.chief else contextlib.nullcontext():
            if self.chief:
                if force:
                    root.wipe()
                root.prepare()
            self.run_stages()
            results = self.results(time.time() - t0)
            if self.chief:
                root.write_results(results)
        return results
