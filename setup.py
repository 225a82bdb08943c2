"""The packages, which pyproject.toml cannot list: tfrobust with every subpackage, and the checkout's
top-level runs/ and analysis/ folders installed as tfrobust.runs and tfrobust.analysis, so that
nothing generic lands in site-packages. Everything else is in pyproject.toml."""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["tfrobust", "tfrobust.*"]) + ["tfrobust.runs", "tfrobust.analysis"],
    package_dir={"tfrobust.runs": "runs", "tfrobust.analysis": "analysis"},
)
