"""What every command line shares: quiet TensorFlow logs, progress logging and one-line errors."""
from __future__ import annotations

import logging
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

flags.DEFINE_bool("quiet", False, "Print only the final results, no progress lines.")
flags.disclaim_key_flags()  # flags define_config_flags makes belong to the command that asks: its --help lists them


PATH_FLAGS = ("base_dir", "data_dir", "output_dir", "model_path", "output")


def fail(message: str) -> None:
    """The one line a user's mistake gets: ``error: ...`` on stderr, exit status 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_flags(argv):
    """absl's parse, with a bad flag as one ``error:`` line and exit status 2 (absl's own is 1),
    and ``~`` expanded in every path flag (a flagfile's shell does not expand it)."""
    try:
        rest = flags.FLAGS(argv)
    except flags.Error as e:
        fail(str(e))
    if len(rest) > 1:
        fail(f"unexpected arguments: {' '.join(rest[1:])} (flags are written --name=value)")
    for name in PATH_FLAGS:
        if name in flags.FLAGS and isinstance(flags.FLAGS[name].value, str):
            flags.FLAGS[name].value = os.path.expanduser(flags.FLAGS[name].value)
    return rest


def run(main, argv=None) -> None:
    """``absl.app.run(main)``, turning a user's mistake into one line on stderr and exit code 2:
    bad flags, tfrobust's own errors, OS errors (a path that is a file, no permission), and running
    out of memory (sizes too large for the machine: :func:`out_of_memory`)."""
    from tfrobust.errors import TfrobustError

    def wrapped(argv):
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.WARNING)  # TensorFlow's own INFO lines are noise here
        logger = logging.getLogger("tfrobust")
        logger.setLevel(logging.WARNING if flags.FLAGS.quiet else logging.INFO)
        if not logger.handlers:
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(handler)
            logger.propagate = False
        try:
            return main(argv)
        except TfrobustError as e:
            fail(str(e))
        except OSError as e:
            fail(f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e))
        except Exception as e:
            message = out_of_memory(e)
            if not message:
                raise
            fail(message)

    app.run(wrapped, argv=argv, flags_parser=parse_flags)


def out_of_memory(e: BaseException):
    """The one line of a MemoryError or TensorFlow's ResourceExhaustedError (what was allocated,
    on which device), or None for any other error."""
    tf = sys.modules.get("tensorflow")
    if isinstance(e, MemoryError):
        what = str(e) or "an allocation failed"
    elif tf is not None and isinstance(e, tf.errors.ResourceExhaustedError):
        first = (str(e.message).strip().splitlines() or [""])[0]
        what = re.sub(r"^\{\{[^}]*\}\}\s*|\s*name:\s*$", "", first) or "an allocation failed"
    else:
        return None
    return (f"out of memory ({type(e).__name__}): {what}; allowed: smaller sizes (batch sizes, examples, widths, "
            "the flags that shape the largest tensors)")


def invocation(command: str) -> str:
    """How this process was started: ``tfrobust-<command>`` (a console script) or ``python -m
    runs.<command>``."""
    script = os.path.basename(sys.argv[0])
    return script if script.startswith("tfrobust-") else f"python -m runs.{command}"


def check_output_dir(flag: str, path: str) -> None:
    """Fails now, not after the work, when ``--flag=path`` cannot hold output: a file is in the
    way, or the nearest existing directory is not writable."""
    from tfrobust.errors import ConfigError

    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(f"--{flag}={path} is a file; it must be a directory")
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ConfigError(f"--{flag}={path}: {existing} is a file, so the directory cannot be made")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"--{flag}={path}: {existing} is not writable")


def say(text: str) -> None:
    """A progress line (suppressed by --quiet)."""
    if not flags.FLAGS.quiet:
        print(text, flush=True)


def load_data(flag_value: str, **kwargs):
    """Loads the ``--dataset`` spec (``name[:option=value,...]``) into train/valid/test splits."""
    from tfrobust import data
    from tfrobust.spec import parse_flag_spec

    name, options = parse_flag_spec("dataset", flag_value, data.DATASETS, reserved=("data_dir",))
    return data.load(name, **kwargs, **options)


def define_integer(name: str, default, help_text: str, kind: str = "count", lower_bound=None) -> None:
    """An integer flag outside any config, bounded like a config's field of ``kind``
    (:data:`tfrobust.config.INTEGER_KINDS`: count, size or seed)."""
    from tfrobust.config import INTEGER_KINDS

    flags.DEFINE_integer(name, default, help_text, lower_bound=lower_bound, upper_bound=INTEGER_KINDS[kind][0])


def _fields(cls, only=None, exclude=()):
    import dataclasses

    return [f for f in dataclasses.fields(cls)  # nested configs (default_factory) get no flags
            if (only is None or f.name in only) and f.name not in exclude
            and f.default is not dataclasses.MISSING]


def define_config_flags(cls, only=None, exclude=(), defaults=None, help=None) -> None:
    """One flag per field of the frozen dataclass ``cls`` (or the fields named in ``only``, less
    ``exclude``), with the field's help text and default; ``defaults`` and ``help`` override them
    by name (a command line whose document has other defaults). Nested configs get no flags."""
    defaults, help = defaults or {}, help or {}
    for f in _fields(cls, only, exclude):
        help_text = help.get(f.name, f.metadata.get("help", f.name))
        default = defaults.get(f.name, f.default)
        if isinstance(f.default, bool):
            flags.DEFINE_bool(f.name, default, help_text)
        elif isinstance(f.default, int):
            flags.DEFINE_integer(f.name, default, help_text)
        elif isinstance(f.default, float):
            flags.DEFINE_float(f.name, default, help_text)
        elif isinstance(f.default, tuple) and "str" in str(f.type):  # specs hold commas: repeat the flag
            flags.DEFINE_multi_string(f.name, list(default), help_text + " (repeat the flag for several)")
        elif isinstance(f.default, tuple):
            flags.DEFINE_list(f.name, list(map(str, default)), help_text + " (comma-separated)")
        else:
            flags.DEFINE_string(f.name, default, help_text)


def config_from_flags(cls):
    """Builds ``cls`` from the flags ``define_config_flags(cls)`` made; errors name the flag."""
    return cls(**config_values(cls))


def config_values(cls, only=None, exclude=()) -> dict:
    """Field name -> value (tuples for list fields) from the flags ``define_config_flags`` made."""
    from tfrobust.errors import ConfigError

    values = {}
    for f in _fields(cls, only, exclude):
        value = getattr(flags.FLAGS, f.name)
        if isinstance(f.default, tuple):
            hint = str(f.type)  # e.g. "Tuple[int, ...]"
            kind = int if "int" in hint else float if "float" in hint else str
            try:
                value = tuple(kind(v) for v in (value or ()))
            except ValueError:
                raise ConfigError(f"--{f.name}={','.join(value)}: each item must be a {kind.__name__}") from None
        values[f.name] = value
    return values
