"""Running out of memory in any command is one ``error:`` line naming what ran out, exit status 2."""
import os
import subprocess
import sys

import pytest

from clitools import ROOT

SCRIPT = """
import sys
from runs import common

def main(argv):
    if sys.argv[1] == "tensorflow":
        import tensorflow as tf
        tf.random.stateless_normal([2 ** 20, 2 ** 20], [1, 2])  # 4 TiB of float32
    elif sys.argv[1] == "numpy":
        import numpy as np
        np.zeros([2 ** 20, 2 ** 20, 2 ** 4])  # 128 TiB of float64
    else:
        raise RuntimeError("a bug, not a user's mistake")

common.run(main, argv=["oom"])
"""


def _run(kind):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-c", SCRIPT, kind], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("kind, what", [
    ("tensorflow", "out of memory (ResourceExhaustedError): OOM when allocating tensor with shape[1048576,1048576] "
                   "and type float on /job:localhost/replica:0/task:0/device:CPU:0"),
    ("numpy", "out of memory (MemoryError): Unable to allocate 128. TiB for an array with shape "
              "(1048576, 1048576, 16)"),
])
def test_running_out_of_memory_is_one_error_line(kind, what):
    proc = _run(kind)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert len(errors) == 1 and errors[0].startswith(f"error: {what}"), errors
    assert errors[0].endswith("allowed: smaller sizes (batch sizes, examples, widths, the flags that shape the "
                              "largest tensors)")


def test_other_errors_keep_their_traceback():
    proc = _run("bug")
    assert proc.returncode == 1 and "RuntimeError: a bug, not a user's mistake" in proc.stderr
    assert "Traceback" in proc.stderr and "error: out of memory" not in proc.stderr
