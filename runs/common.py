"""What every command line shares: quiet TensorFlow logs, progress logging and one-line errors."""
from __future__ import annotations

import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

flags.DEFINE_bool("quiet", False, "Print only the final results, no progress lines.")


def run(main) -> None:
    """``absl.app.run(main)``, turning a user's mistake into one line on stderr and exit code 2."""
    from tfrobust.errors import TfrobustError

    def wrapped(argv):
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
        logging.getLogger("tfrobust").setLevel(logging.WARNING if flags.FLAGS.quiet else logging.INFO)
        try:
            return main(argv)
        except TfrobustError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)

    app.run(wrapped)


def say(text: str) -> None:
    """A progress line (suppressed by --quiet)."""
    if not flags.FLAGS.quiet:
        print(text, flush=True)


def parse_flag_spec(flag: str, value: str, registry, reserved=()):
    """``(name, options)`` from a ``name:key=value,...`` flag value; errors name the flag."""
    from tfrobust.errors import ConfigError
    from tfrobust.spec import parse_spec

    try:
        return parse_spec(value, registry, reserved=reserved)
    except ConfigError as e:
        raise ConfigError(f"--{flag}={value}: {e}") from None


def load_data(flag_value: str, **kwargs):
    """Loads the ``--dataset`` spec (``name[:option=value,...]``) into train/valid/test splits."""
    from tfrobust import data

    name, options = parse_flag_spec("dataset", flag_value, data.DATASETS, reserved=("data_dir",))
    return data.load(name, **kwargs, **options)
