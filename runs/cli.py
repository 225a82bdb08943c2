"""The console scripts: ``tfrobust-<command>`` (pyproject.toml) is ``python -m runs.<command>``.

Each script is this module's attribute ``<command>``, a function of no arguments that runs the
command's ``main`` under :func:`runs.common.run`, with ``sys.argv``. ``--help`` lists the
command's own flags and its docstring, as under ``python -m``.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import sys
from typing import Callable, List

from absl import flags

from . import common as _common  # private: only commands are this module's public names


def command_names() -> List[str]:
    """The command lines: every module of this package but the shared ``common`` and this one."""
    here = os.path.dirname(os.path.abspath(__file__))
    return sorted(m.name for m in pkgutil.iter_modules([here]) if m.name not in ("common", "cli"))


def _run(command: str) -> None:
    module = importlib.import_module(f"{__package__}.{command}")
    # absl's --help shows the docstring of __main__ and the key flags of the module named by
    # sys.argv[0]: under a console script those are the script's, so point both at the command.
    sys.modules["__main__"].__doc__ = module.__doc__
    for flag in flags.FLAGS.get_key_flags_for_module(module.__name__):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    _common.run(module.main)


def __getattr__(command: str) -> Callable[[], None]:
    """The console script of ``runs/<command>.py``; other names are not attributes."""
    if command not in command_names():
        raise AttributeError(f"module {__name__!r} has no command {command!r}")
    return lambda: _run(command)
