"""tfrobust: one TensorFlow 2 core for research where adversarial robustness meets compression.

Subpackages: ``data`` (dataset registry), ``layers`` (masked layers), ``models`` (model
registry), ``attacks`` (attack registry), ``evaluation`` (accuracy/loss under attacks),
``theory`` (cross-generalization-gap models); ``runs`` (the command lines) and ``analysis``
(tables and graphs), which a checkout keeps as the top-level folders ``runs/`` and ``analysis/``.
"""
import importlib.abc
import importlib.util
import os
import sys

__version__ = "0.1.0"


class _CheckoutFolders(importlib.abc.MetaPathFinder):
    """``tfrobust.runs`` and ``tfrobust.analysis`` in a checkout that is on the path but not
    installed (``PYTHONPATH=.``): the folders ``runs/`` and ``analysis/`` beside this package. An
    installed tfrobust (wheel or editable) finds them before this finder is asked."""

    def __init__(self, root: str):
        self.folders = {f"{__name__}.{name}": os.path.join(root, name) for name in ("runs", "analysis")}

    def find_spec(self, fullname, path=None, target=None):
        folder = self.folders.get(fullname)
        if folder is None:
            return None
        return importlib.util.spec_from_file_location(fullname, os.path.join(folder, "__init__.py"),
                                                      submodule_search_locations=[folder])


def _in_checkout(root: str) -> bool:
    return all(os.path.isfile(os.path.join(root, *parts))
               for parts in (("pyproject.toml",), ("runs", "__init__.py"), ("analysis", "__init__.py")))


_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _in_checkout(_root) and not any(isinstance(f, _CheckoutFolders) for f in sys.meta_path):
    sys.meta_path.append(_CheckoutFolders(_root))
