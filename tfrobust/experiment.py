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

import contextlib
import errno
import json
import os
import shutil
import socket
import tempfile
import time
from typing import Callable, Dict, Iterator, List, Optional

from tfrobust.config import Config, legacy_run_id, run_id
from tfrobust.errors import ConfigError, DataError, TfrobustError
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
            if entry.startswith(".lock"):  # the lock, and a contender's lock being made
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

    def read_results(self, schema=None) -> Dict:
        """results.json, checked against ``schema`` (a :mod:`tfrobust.records` kind; default:
        ``records.RESULTS``); a damaged record names its file and the field that is wrong."""
        from tfrobust import records

        results = self._json(self.results_path)
        problem = records.fault(results, records.RESULTS if schema is None else schema)
        if problem:
            raise self.damaged(self.results_path, f"is not a results record ({problem})")
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

    The lock comes into being with its content (written to a temporary file beside it, then
    hard-linked to ``.lock``, which fails when the lock exists), so no process ever sees a live
    holder's lock empty: a lock that does not name a holder is damaged, and is taken over. A
    takeover first renames the lock aside and checks that it is still the one judged stale, so a
    lock that another process took meanwhile is put back, not removed.
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
            if self._create():
                return
            seen = self._read()
            holder = _holder_of(seen)
            if holder is not None and not self._gone(holder):
                if time.time() < deadline:
                    time.sleep(min(1.0, max(deadline - time.time(), 0.01)))
                    continue
                raise ConfigError(
                    f"{os.path.dirname(self.path)} is in use by process {holder.get('pid')} on "
                    f"{holder.get('host')}; wait for it to finish, or remove {self.path} if that process "
                    "is gone (or wait for it: --wait_for_lock=SECONDS)") from None
            takeovers += 1
            if seen is not None:  # a stale or damaged lock (None: it went away meanwhile)
                self._take_over(seen)
        raise ConfigError(f"cannot take the lock {self.path}: other processes keep taking it")

    def _create(self) -> bool:
        """Creates the lock, content and all, in one step; False when it exists."""
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(self.path), prefix=".lock.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, "w") as f:
                json.dump(self.me, f)
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
            return self._create_without_link()  # a file system without hard links
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)

    def _create_without_link(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            json.dump(self.me, f)
        return True

    def _read(self) -> Optional[bytes]:
        try:
            with open(self.path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None
        except OSError:
            return b""

    def _take_over(self, seen: bytes) -> None:
        """Removes the lock judged stale from its content ``seen``, unless another process replaced it meanwhile."""
        aside = f"{self.path}.{self.me['pid']}.{time.monotonic_ns()}.stale"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return  # released or taken over meanwhile: try again
        try:
            with open(aside, "rb") as f:
                moved = f.read()
            if moved != seen:  # another process's new lock: put it back (unless a third took the name)
                with contextlib.suppress(FileExistsError):
                    os.link(aside, self.path)
        finally:
            os.unlink(aside)

    def holder(self) -> Optional[dict]:
        return _holder_of(self._read())

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


@contextlib.contextmanager
def attempt(directory: str, wait: float = 0.0, chief: bool = True,
            start: Optional[Callable[[], None]] = None) -> Iterator[None]:
    """One attempt at the run (or stage) in ``directory``, under its lock (the chief's; other
    workers write nothing there). An attempt that fails with a :class:`~tfrobust.errors.TfrobustError`
    (a loss that diverged, a setting found bad late) removes what it created, so that the failure
    leaves the directory as it was, never a half-written run: the entries that were not there when
    it took the lock, then the directory and its parents if it made them. What was there stays (a
    resumed run's checkpoints, a damaged run the error names), and so does every finished run
    made inside it (a lottery's rounds before the one that failed). A kill, or an interrupt, leaves all
    of it, to resume from. ``start`` runs first under the lock (``RunDir.wipe`` for ``--force``)."""
    if not chief:
        yield
        return
    existing = os.path.abspath(directory)
    while not os.path.isdir(existing):
        existing = os.path.dirname(existing)
    lock = RunLock(directory, wait)
    lock.acquire()
    try:
        if start is not None:
            start()
    except BaseException:
        lock.release()
        raise
    before = set(os.listdir(directory))  # now: what a holder we waited for left is not ours to remove
    try:
        yield
    except TfrobustError:
        for entry in set(os.listdir(directory)) - before:
            path = os.path.join(directory, entry)
            if entry.startswith(".lock") or _holds_finished_run(path):  # finished work is kept
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
        lock.release()
        path = os.path.abspath(directory)
        while path != existing and len(path) > len(existing):
            try:
                os.rmdir(path)  # only when empty: another process may have come meanwhile
            except OSError:
                break
            path = os.path.dirname(path)
        raise
    except BaseException:
        lock.release()
        raise
    lock.release()


def _holds_finished_run(path: str) -> bool:
    """A directory with a finished run (its results.json) in it: a lottery round, a study's stage.
    Each of those ran under its own attempt, which removed whatever of it failed."""
    return os.path.isdir(path) and not os.path.islink(path) and any(
        "results.json" in files for _, _, files in os.walk(path))


def _holder_of(content: Optional[bytes]) -> Optional[dict]:
    """The holder a lock's content names (None: no lock, or a damaged one)."""
    try:
        holder = json.loads(content or b"")
    except ValueError:
        return None
    return holder if isinstance(holder, dict) else None


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
    results_schema = None  # the tfrobust.records kind of the root's results.json (None: records.RESULTS)

    def check(self) -> None:
        """Nothing to check by default: what can fail was checked when the run was built."""

    def run(self, force: bool = False) -> Dict:
        """Runs (or resumes, or returns) the stages under the root's lock; writes the root's
        results.json last. A stage that fails removes what it wrote, and so does the root
        (:func:`attempt`)."""
        self.force = force
        root = self.root
        if root.finished and not force:
            self.progress(f"{root.path} is finished; returning its results (use --force to redo)")
            return root.read_results(self.results_schema)
        self.check()
        t0 = time.time()
        with attempt(root.path, self.wait_for_lock, self.chief, root.wipe if force else None):
            if self.chief:  # a failure leaves the root as it was (or empty, with force)
                root.prepare()
            self.run_stages()
            results = self.results(time.time() - t0)
            if self.chief:
                root.write_results(results)
        return results
