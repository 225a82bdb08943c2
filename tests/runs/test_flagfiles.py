"""Every flagfile in flags/ parses into a valid config of the command its first line names, and
every quick flagfile includes a full one and overrides it.

Each command's flags live in absl's global FLAGS, and two commands define flags of the same name,
so each command parses its flagfiles in a process of its own (one per command, not per file).
"""
import glob
import json
import os
import re
import subprocess
import sys

import pytest

from clitools import ROOT

FLAGFILES = sorted(glob.glob(os.path.join(ROOT, "flags", "*.cfg")))
COMMAND = re.compile(r"python -m (runs\.\w+) --flagfile=(flags/[\w.]+\.cfg)")

PARSE = """
import importlib, json, sys
from absl import flags
module = importlib.import_module(sys.argv[1])
out = {}
for path in sys.argv[2:]:
    flags.FLAGS.unparse_flags()
    flags.FLAGS([sys.argv[1], "--flagfile=" + path])
    config = module.config_from_flags()
    if hasattr(config, "train") or type(config).__name__ == "TrainConfig":
        from tfrobust.build import check
        check(getattr(config, "train", config))  # every spec builds
    out[path] = config.to_dict() if hasattr(config, "to_dict") else repr(config)
print(json.dumps(out))
"""


def first_lines():
    return {path: open(path).readline() for path in FLAGFILES}


def test_there_are_flagfiles_and_each_first_line_names_its_command_and_itself():
    assert len(FLAGFILES) >= 10
    for path, line in first_lines().items():
        match = COMMAND.search(line)
        assert line.startswith("# ") and match, f"{path}: first line must name its command: {line}"
        assert match.group(2) == os.path.relpath(path, ROOT), path


def test_quick_flagfiles_include_a_full_flagfile_and_override_it():
    quick = [p for p in FLAGFILES if "quick" in os.path.basename(p)]
    assert quick
    for path in quick:
        lines = [l.strip() for l in open(path) if l.strip() and not l.startswith("#")]
        assert lines[0].startswith("--flagfile=flags/"), f"{path} must start by including its full flagfile"
        full = os.path.join(ROOT, lines[0].split("=", 1)[1])
        assert os.path.exists(full) and "quick" not in os.path.basename(full), path
        assert len(lines) > 1, f"{path} overrides nothing"


@pytest.mark.parametrize("module", sorted({COMMAND.search(l).group(1) for l in first_lines().values()}))
def test_every_flagfile_parses_into_a_valid_config(module):
    paths = [os.path.relpath(p, ROOT) for p, l in first_lines().items() if COMMAND.search(l).group(1) == module]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", PARSE, module, *paths], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    configs = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sorted(configs) == sorted(paths)
    for path, config in configs.items():
        full = path.replace("_quick", "")
        if full != path and full in configs:
            assert config != configs[full], f"{path} changes nothing"
