"""Measures the zoo that runs.flatness trained (seed 001): robust generalization against robust
flatness, with the paper's table, scatter plots (Kendall's tau), overfitting curves and loss
landscapes.

    python -m runs.flatness_report --flagfile=flags/flatness_quick.cfg
    python -m runs.flatness_report --base_dir=results/flatness --final_attack=autoattack:eps=0.1

Reads <base_dir>/zoo.json. Per final model (and per snapshot of --curve_variants): clean and PGD
test error, the final attack's (AutoAttack's) test error, the robust loss on train and test and
its gap, average- and worst-case robust flatness and their clean versions, the robust loss's
largest and smallest Hessian eigenvalues. Each model's measurement is kept in its run directory,
so a rerun resumes. Writes <base_dir>/report.json, table.md, flatness_scatter.png,
overfitting.png, landscape.png and landscape_2d.png.
"""
from __future__ import annotations

from absl import flags

from . import common
from tfrobust.flatness.study import MeasureConfig

FLAGS = flags.FLAGS
common.define_config_flags(MeasureConfig)
flags.DEFINE_string("base_dir", "results/flatness", "The zoo's base directory (runs.flatness --base_dir).")
flags.DEFINE_string("data_dir", None, "Directory with the dataset's original files (optional).")


def config_from_flags() -> MeasureConfig:
    return common.config_from_flags(MeasureConfig)


def main(argv):
    from tfrobust.analysis import flatness as report
    from tfrobust.analysis import tables
    from tfrobust.flatness.study import FlatnessStudy

    config = config_from_flags()
    study = FlatnessStudy(config, FLAGS.base_dir, FLAGS.data_dir, progress=common.say)
    record = study.run()
    if not study.setup.chief:
        return
    paths = report.write_report(record, FLAGS.base_dir)
    print(f"report: {FLAGS.base_dir}/report.json  table: {paths['markdown']}  plots: {paths['scatter']}, "
          f"{paths['curves']}")
    print(tables.to_markdown(report.final_rows(record)), end="")
    print(tables.to_markdown(report.correlation_rows(record)), end="")
    if record.get("seconds"):
        print("cost (median over the models): " + ", ".join(f"{k} {v:.3g}" for k, v in record["seconds"].items()))


if __name__ == "__main__":
    common.run(main)
