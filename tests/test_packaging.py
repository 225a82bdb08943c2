"""The package as a user installs it: a wheel built from the checkout, installed into a fresh
virtual environment that cannot see the checkout, whose console scripts run.

The fresh environment reuses the dependencies already in this test's environment (a ``.pth`` file
points at its site-packages), so the test is offline and does not install TensorFlow again;
``pip check`` then proves that those pinned versions satisfy the wheel's declared ranges."""
import glob
import importlib
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = ("tfrobust", "runs", "analysis", "pyproject.toml", "setup.py", "README.md")
DATASET = "--dataset=synthetic:image_shape=8x8x1,train_size=200,test_size=50,noise_std=0.6"


def _commands():
    from runs.cli import command_names

    return command_names()


def _scripts():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]["scripts"]


def test_every_command_line_has_a_console_script():
    commands = _commands()
    assert len(commands) >= 17
    for command in commands:  # read, not imported: two commands define flags of the same name
        with open(os.path.join(ROOT, "runs", f"{command}.py")) as f:
            assert "\ndef main(argv" in f.read(), command
    assert _scripts() == {f"tfrobust-{c.replace('_', '-')}": f"tfrobust.runs.cli:{c}" for c in commands}


def test_console_script_targets_resolve_and_nothing_else_does():
    cli = importlib.import_module("runs.cli")
    for command in _commands():
        assert callable(getattr(cli, command))
    for name in ("common", "cli", "no_such_command", "_run_private"):
        with pytest.raises(AttributeError):
            getattr(cli, name)


def test_a_checkout_on_the_path_serves_runs_and_analysis_under_tfrobust_without_an_install():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import tfrobust.runs, tfrobust.analysis; "
            "print(tfrobust.runs.__file__); print(tfrobust.analysis.__file__)")
    proc = subprocess.run([sys.executable, "-S", "-c", code, ROOT], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr  # -S: no site-packages, so no installed or editable tfrobust
    assert proc.stdout.split() == [os.path.join(ROOT, "runs", "__init__.py"), os.path.join(ROOT, "analysis", "__init__.py")]


def _run(args, cwd, status=0, **kwargs):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    proc = subprocess.run(args, cwd=cwd, env={**env, "TF_CPP_MIN_LOG_LEVEL": "2"}, capture_output=True,
                          text=True, timeout=600, **kwargs)
    assert proc.returncode == status, f"{' '.join(map(str, args))} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_the_wheel_installs_into_a_fresh_environment_and_its_scripts_run(tmp_path):
    began = time.time()
    source, dist, env, work = (tmp_path / name for name in ("source", "dist", "env", "work"))
    source.mkdir(), work.mkdir()
    for name in SOURCES:  # a copy, so that the build's own files (build/, *.egg-info) stay out of the checkout
        copy = shutil.copytree if os.path.isdir(os.path.join(ROOT, name)) else shutil.copy
        copy(os.path.join(ROOT, name), source / name,
             **({"ignore": shutil.ignore_patterns("__pycache__")} if copy is shutil.copytree else {}))
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
          "-w", str(dist), str(source)], cwd=work)
    wheels = glob.glob(str(dist / "tfrobust-*.whl"))
    assert len(wheels) == 1
    with zipfile.ZipFile(wheels[0]) as whl:
        top = {name.split("/")[0] for name in whl.namelist()}
        assert top == {"tfrobust", "tfrobust-0.1.0.dist-info"}, top  # nothing generic in site-packages
        names = set(whl.namelist())
        for folder, package in (("tfrobust", "tfrobust"), ("runs", "tfrobust/runs"), ("analysis", "tfrobust/analysis")):
            for path in glob.glob(os.path.join(ROOT, folder, "**", "*.py"), recursive=True):
                inside = os.path.relpath(path, os.path.join(ROOT, folder)).replace(os.sep, "/")
                assert f"{package}/{inside}" in names, f"the wheel lacks {folder}/{inside}"  # a folder without __init__.py
        scripts = whl.read("tfrobust-0.1.0.dist-info/entry_points.txt").decode()
        assert all(f"{script} = {target}" in scripts for script, target in _scripts().items())

    _run([sys.executable, "-m", "venv", "--without-pip", str(env)], cwd=work)
    python = str(env / "bin" / "python")
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=work).stdout.strip()
    with open(os.path.join(site, "tfrobust_test_dependencies.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")  # this environment's packages; not the checkout
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheels[0]], cwd=work)
    _run([python, "-m", "pip", "check"], cwd=work)

    where = _run([python, "-c", "import tfrobust, tfrobust.runs.train, tfrobust.analysis.tables as t; "
                                "print(tfrobust.__file__); print(t.__file__)"], cwd=work).stdout.split()
    assert all(path.startswith(site) for path in where), where
    for generic in ("runs", "analysis"):
        assert not os.path.exists(os.path.join(site, generic))

    helped = _run([str(env / "bin" / "tfrobust-train"), "--help"], cwd=work, status=1).stdout  # absl's --help exits 1
    assert "Trains any registered model" in helped and "--attack:" in helped and "--train_iters:" in helped
    helped = _run([str(env / "bin" / "tfrobust-gtn"), "--help"], cwd=work, status=1).stdout  # a subpackage's command
    assert "--outer_iters:" in helped
    _run([str(env / "bin" / "tfrobust-train"), DATASET, "--valid_size=50", "--batch_size=20", "--train_iters=3",
          "--eval_every=3", "--eval_attacks=fgsm:eps=0.1", "--base_dir=out", "--quiet"], cwd=work)
    bad = _run([str(env / "bin" / "tfrobust-train"), "--train_iters=0", "--base_dir=bad"], cwd=work, status=2)
    assert [line for line in bad.stderr.splitlines() if line.startswith("error:")] == [
        "error: --train_iters=0 is not allowed; it must be >= 1"], bad.stderr
    assert "Traceback" not in bad.stderr and not os.path.exists(work / "bad")
    finished = glob.glob(str(work / "out" / "train" / "*" / "results.json"))
    assert len(finished) == 1 and os.path.isfile(os.path.join(os.path.dirname(finished[0]), "table.md"))
    print(f"\nwheel {os.path.getsize(wheels[0]) / 1024:.0f} KiB; build, install and scripts in {time.time() - began:.1f} s")


def test_every_pin_of_requirements_falls_in_its_declared_range():
    from packaging.requirements import Requirement

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    declared = [Requirement(r) for r in project["dependencies"]]
    declared += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra
                 if not r.startswith("tfrobust")]
    with open(os.path.join(ROOT, "requirements.txt")) as f:
        pins = {r.name: next(iter(r.specifier)).version
                for r in (Requirement(line.split("#")[0].strip()) for line in f if line.split("#")[0].strip())}
    assert len(declared) >= 11
    for requirement in declared:
        assert requirement.name in pins, f"{requirement.name} is declared but not pinned in requirements.txt"
        assert pins[requirement.name] in requirement.specifier, (requirement, pins[requirement.name])
