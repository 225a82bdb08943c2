"""The width study's tables and plot, from its study.json (written by runs.admm_study).

    python -m runs.admm_report --base_dir=results/admm_width_quick [--output_dir=...]

Writes table.md (Table 2 for each method, and every pair with its compression rate) and
accuracy_vs_compression.png.
"""
from __future__ import annotations

from absl import flags

from . import common

FLAGS = flags.FLAGS
flags.DEFINE_string("base_dir", None, "The study's base directory (holding study.json).")
flags.DEFINE_string("output_dir", None, "Where the tables and plot go (default: --base_dir).")
flags.mark_flag_as_required("base_dir")


def main(argv):
    import json
    import os

    from tfrobust.analysis import admm as report
    from tfrobust import records
    from tfrobust.errors import DataError

    path = os.path.join(FLAGS.base_dir, "study.json")
    if not os.path.exists(path):
        raise DataError(f"{path} does not exist: run runs.admm_study with --base_dir={FLAGS.base_dir} first")
    try:
        with open(path) as f:
            study = json.load(f)
        if study.get("kind") != "admm_width_study":
            raise ValueError("not a width study record")
    except (ValueError, UnicodeDecodeError, AttributeError) as e:
        raise DataError(f"{path} is not a width study record ({e})") from None
    records.check_width_study(study, path,
                              f"; rerun runs.admm_study with --base_dir={FLAGS.base_dir} to write it again")
    out = FLAGS.output_dir or FLAGS.base_dir
    common.check_output_dir("output_dir", out)
    paths = report.write_study_report(study, out)
    print(open(paths["markdown"]).read(), end="")
    print(f"plot: {paths['plot']}")


if __name__ == "__main__":
    common.run(main)
