"""The shapes of the records that runs leave on disk, checked where they are read, so that a damaged
record is one error naming its file and the field that is wrong, never a KeyError deep in a report.

A schema is a type (``int``, ``float``: any number, ``str``, ``bool``, ``dict``, ``list``) or a
tuple of them; ``[schema]``: a list of such items; ``{key: schema}``: an object with those keys
(a key ending in ``?`` may be missing; other keys are allowed); ``Each(schema)``: an object whose
every value is of that schema; ``Maybe(schema)``: that, or null. ``int`` and ``float`` never
accept true or false.

    problem = fault(record, ZOO)          # None, or "runs[2].final.step is missing"
    check(record, ZOO, path, "a zoo record", "; rerun ...")   # or a DataError naming path and field
"""
from __future__ import annotations

from typing import Any, Optional

from tfrobust.errors import DataError


class Each:
    """An object (a JSON dict) with any keys, each value of ``schema``."""

    def __init__(self, schema):
        self.schema = schema


class Maybe:
    """``schema`` or null."""

    def __init__(self, schema):
        self.schema = schema


_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "an object",
          list: "a list", type(None): "null"}


def _is(value, kind) -> bool:
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


def _describe(value) -> str:
    text = repr(value)
    return f"{text[:40]}{'...' if len(text) > 40 else ''} ({_NAMES.get(type(value), type(value).__name__)})"


def fault(value: Any, schema, where: str = "") -> Optional[str]:
    """What is wrong with ``value`` under ``schema`` (the first fault, naming its field), or None."""
    field = where or "the record"
    if isinstance(schema, Maybe):
        return None if value is None else fault(value, schema.schema, where)
    if isinstance(schema, (dict, Each)) and not _is(value, dict):
        return f"{field} is {_describe(value)}; it must be an object"
    if isinstance(schema, Each):
        for key, item in value.items():
            problem = fault(item, schema.schema, f"{where}.{key}" if where else str(key))
            if problem:
                return problem
        return None
    if isinstance(schema, dict):
        for key, sub in schema.items():
            name = key[:-1] if key.endswith("?") else key
            path = f"{where}.{name}" if where else name
            if name not in value:
                if key.endswith("?"):
                    continue
                return f"{path} is missing"
            problem = fault(value[name], sub, path)
            if problem:
                return problem
        return None
    if isinstance(schema, list):
        if not _is(value, list):
            return f"{field} is {_describe(value)}; it must be a list"
        for i, item in enumerate(value):
            problem = fault(item, schema[0], f"{where}[{i}]")
            if problem:
                return problem
        return None
    kinds = schema if isinstance(schema, tuple) else (schema,)
    if not any(_is(value, kind) for kind in kinds):
        return f"{field} is {_describe(value)}; it must be {' or '.join(_NAMES[k] for k in kinds)}"
    return None


def check(record: Any, schema, path: str, what: str, hint: str = "") -> Any:
    """``record``, or a DataError: ``<path> is not <what>: <field> ...<hint>``."""
    problem = fault(record, schema)
    if problem:
        raise DataError(f"{path} is not {what}: {problem}{hint}")
    return record


def read_cache(path: str, schema) -> tuple:
    """A kept measurement (derived data, made again when damaged): ``(record, None)``; ``(None,
    None)`` when there is none; ``(None, what is wrong with it)`` when it is damaged."""
    import json
    import os

    if not os.path.exists(path):
        return None, None
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError) as e:
        return None, f"cannot be read ({type(e).__name__})"
    problem = fault(record, schema)
    return (None, f"is not a measurement: {problem}") if problem else (record, None)


# ---- the record kinds ---------------------------------------------------------------------------
SPLIT = Each({"accuracy": float})  # evaluation name -> its result
WEIGHTS = Each({"total": int, "remaining": int, "fraction": float})  # layer (and "total") -> counts
METRICS = {"step": int, "valid?": SPLIT, "test?": SPLIT, "weights?": WEIGHTS}  # an evaluation point
SNAPSHOTS = [{"path": str, "step": int}]
FINAL_EVAL = {"results": SPLIT, "checks": Maybe(dict), "examples": int}  # <run>/final_<hash>.json
# the GTN robustness study's kept accuracies: clean/<learner>.json (mode -> one per seed) and
# tests/<learner>/<mode>_seed<k>.json (the clean accuracy, one per beta of each test, AutoAttack's)
GTN_CLEAN = {mode: [float] for mode in ("vanilla", "gtn_few", "gtn_all")}  # robustness.MODES
GTN_TESTS = {"clean": float, **{test: [float] for test in ("noise", "blur", "ifgsm", "lbfgs")}, "autoattack?": float}

# results.json of anything a StagedRun finishes (its own kinds add to it)
RESULTS = {"final": dict}
# results.json of one training run (the Trainer's)
RUN = {"final": METRICS, "id?": str, "best?": Maybe({"step": int}), "snapshots?": SNAPSHOTS}
# results.json of a lottery round's training run: its weights are counted
ROUND_RUN = {**RUN, "final": {"step": int, "valid?": SPLIT, "test?": SPLIT, "weights": WEIGHTS}}
LOTTERY = {"kind": str, "config": dict, "rounds": [{
    "trial": int, "round": int, "remaining": float, "final": {"test": SPLIT, "valid?": SPLIT},
    "early_stop": {"step": int, "test": SPLIT}, "curve?": [{"step": int}]}]}
ADMM = {"kind": str, "final": METRICS, "ratios": Each(float), "compression": float,
        "layers": Each({"total": int, "remaining": int}), "stages": Each({"path": str, "final": METRICS}),
        "residual_curve?": [{"step": int, "relative_residual": float, "relative_residual_before": float,
                             "rho": float}]}
ATMC = {"kind": str, "method": str, "keep": float, "final": METRICS, "dense": {"path": str, "export": dict},
        "models": [{"label": str, "stage": str, "path": str, "final": METRICS, "export": dict,
                    "size": {"kept": int, "bits": int, "dense_weights": int, "ratio": float}}]}

# study.json of the ADMM width study (runs.admm_study)
_WIDTH_RUN = {"path": str, "final_attacks?": FINAL_EVAL}
WIDTH_STUDY = {"kind": str, "attack": str, "widths": [int], "methods": [str], "final_attacks?": [str],
               "final_examples?": int, "weights": Each(int),
               "baselines": {kind: Each({**_WIDTH_RUN, **METRICS}) for kind in ("natural", "adversarial")},
               "pruned": Each(Each({**_WIDTH_RUN, "compression": float, "final": METRICS, "ratios": Each(float)}))}


def check_width_study(study, path: str, hint: str = ""):
    """:data:`WIDTH_STUDY`, and the results the tables read are there: every run's test results
    hold ``natural`` and the study's attack, and its final evaluation, if any, every final attack."""
    check(study, WIDTH_STUDY, path, "a width study record", hint)

    def need(results, names, where):
        missing = [name for name in names if name not in results]
        if missing:
            raise DataError(f"{path} is not a width study record: {where}.{missing[0]} is missing{hint}")

    widths = study["baselines"]["adversarial"]
    names = [f"baselines.adversarial.{w}" for w in widths if not w.isdigit()]
    names += [f"pruned.{m}.{pair}" for m, pairs in study["pruned"].items() for pair in pairs
              if not (pair.count("->") == 1 and all(part.isdigit() for part in pair.split("->")))]
    if names:
        raise DataError(f"{path} is not a width study record: {names[0]} is not named by a width (or source->target)"
                        f"{hint}")
    need(study["baselines"]["natural"], widths, "baselines.natural")
    need(study["weights"], widths, "weights")
    runs = [(f"baselines.{kind}.{w}", run, run) for kind in ("natural", "adversarial")
            for w, run in study["baselines"][kind].items()]
    runs += [(f"pruned.{m}.{pair}", run, run["final"]) for m, pairs in study["pruned"].items()
             for pair, run in pairs.items()]
    for where, run, final in runs:
        need(final.get("test", {}), ("natural", study["attack"]), f"{where}{'' if final is run else '.final'}.test")
        if "final_attacks" in run:
            need(run["final_attacks"]["results"], ("natural", *study.get("final_attacks", [])),
                 f"{where}.final_attacks.results")
    return study


# zoo.json of the flatness zoo (runs.flatness)
ZOO = {"template": dict, "runs": [{"variant": str, "path": str, "final": METRICS, "best?": Maybe({"step": int}),
                                   "snapshots?": SNAPSHOTS}]}

# <run>/flatness/<key>/step_<N>.json: one model's measurement by the flatness report
MEASUREMENT = {"variant": str, "path": str, "step": int, "final": bool, "best_step?": Maybe(int),
               **{name: float for name in ("clean_error", "pgd_error", "rloss_test", "rloss_train", "rloss_gap",
                                           "avg_flatness", "avg_flatness_clean", "worst_flatness",
                                           "worst_flatness_clean")},
               **{f"{name}?": float for name in ("aa_error", "worst_flatness_joint", "lambda_max", "lambda_min")},
               "seconds": Each(float)}
