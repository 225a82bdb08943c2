"""tfrobust: adversarial robustness meets model compression, in TensorFlow 2."""
from setuptools import find_packages, setup

setup(
    name="tfrobust",
    version="0.1.0",
    description="Adversarial robustness and model compression research toolkit (TensorFlow 2).",
    packages=find_packages(include=["tfrobust", "tfrobust.*", "analysis", "analysis.*", "runs"]),
    python_requires=">=3.10",
    install_requires=[],  # pinned in requirements.txt; installed by scripts/setup.sh
)
