"""The quick lottery study end to end, its wall time split into training and evaluation.

    python -m benchmarks.lottery_end_to_end --flagfile=flags/lottery_fashion_pgd_quick.cfg --base_dir=/tmp/e2e

Runs ``runs.lottery`` with the flags given (any of its flags: add ``--compact_eval=false`` for
the evaluation that attacks every example), timing every evaluation point of every round, then
prints the wall time, the seconds spent evaluating (validation and test, natural and attacked) and
the rest (training, checkpoints, tables). Give a fresh ``--base_dir``: a finished run is only read.
"""
from __future__ import annotations

import time

from runs import common, lottery
from tfrobust.training import hooks


def main(argv):
    spent = [0.0]
    evaluate = hooks.evaluate

    def timed(*args, **kwargs):
        began = time.perf_counter()
        try:
            return evaluate(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - began

    hooks.evaluate = timed
    began = time.perf_counter()
    lottery.main(argv)
    wall = time.perf_counter() - began
    print(f"end to end {wall:.0f} s: evaluation {spent[0]:.0f} s, training and the rest {wall - spent[0]:.0f} s")


if __name__ == "__main__":
    common.run(main)
