"""Tables and graphs comparing every finished lottery run under a base directory.

    python -m runs.lottery_report --base_dir=results/lottery [--output_dir=results/lottery]

Writes table.md, table.csv, accuracy_vs_weights.png, curves.png and early_stopping.png (see
analysis/lottery.py) and prints the table.
"""
from __future__ import annotations

from absl import flags

from . import common

FLAGS = flags.FLAGS
flags.DEFINE_string("base_dir", "results/lottery", "A lottery base directory (or one run's directory).")
flags.DEFINE_string("output_dir", None, "Where to write the report (default: --base_dir).")


def main(argv):
    from tfrobust.analysis import lottery

    common.check_output_dir("output_dir" if FLAGS.output_dir else "base_dir", FLAGS.output_dir or FLAGS.base_dir)
    runs = lottery.load_runs(FLAGS.base_dir)
    paths = lottery.write_report(runs, FLAGS.output_dir or FLAGS.base_dir)
    print(f"{len(runs)} lottery runs; wrote " + ", ".join(paths.values()))
    print(open(paths["markdown"]).read(), end="")


if __name__ == "__main__":
    common.run(main)
