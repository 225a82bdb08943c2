"""Short, stable TensorBoard tag names for evaluation entries.

An evaluation entry is named by its attack's spec string (``pgd:step_size=0.05,steps=10``), which
the run's config.json keeps in full. Its tag is the attack's name with its step count, then its
other settings as ``<key><value>`` in alphabetical order, less the step size::

    pgd:step_size=0.05,steps=10         -> pgd10
    pgd                                 -> pgd40          (the default steps, made explicit)
    pgd:eps=0.1,norm=l2,steps=20        -> pgd20_eps0.1_norml2
    pgd:steps=10,keep_best=false        -> pgd10_nokeep_best
    autoattack:eps=0.03                 -> autoattack100_eps0.03   (its stages' steps)
    natural                             -> natural

The tag depends only on the attack the spec makes: not on the order of its settings, nor on
settings written at their defaults (``pgd:eps=0.3,steps=40`` is ``pgd40`` too). Where two
entries of one evaluation would get the same tag (they differ only in step size), both keep their
step size (``pgd10_step_size0.02``): :func:`short_names` names a whole evaluation at once.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Dict, Iterable, Tuple

_DROPPED = ("step_size",)


def _setting(key: str, value: str) -> str:
    if value.lower() == "true":
        return key
    if value.lower() == "false":
        return f"no{key}"
    return f"{key}{value}"


def _canonical(spec: str) -> Tuple[str, Dict[str, str]]:
    """(name, settings) of ``spec``: an attack's as its label lists them (the non-default
    settings; ``steps`` always), anything else as written."""
    from tfrobust.attacks.registry import ATTACKS
    from tfrobust.errors import ConfigError
    from tfrobust.spec import parse_spec

    try:
        attack_name, options = parse_spec(spec, ATTACKS)
        attack = ATTACKS.build(attack_name, **options)
    except ConfigError:  # not an attack: a name of the caller's own
        attack = None
    name, _, rest = (attack.label if attack else spec.strip()).partition(":")
    settings = dict(item.strip().partition("=")[::2] for item in rest.split(",") if item.strip())
    if hasattr(attack, "steps"):
        settings["steps"] = str(attack.steps)
    return name, settings


def short_name(spec: str, dropped: Iterable[str] = _DROPPED) -> str:
    """The tag of the entry named ``spec`` (see the module docstring)."""
    name, settings = _canonical(spec)
    steps = settings.pop("steps", "")
    parts = [f"{name}{steps}"]
    parts += [_setting(key, value) for key, value in sorted(settings.items()) if key not in dropped]
    return re.sub(r"[^A-Za-z0-9_.\-]", "-", "_".join(parts))


def short_names(specs: Iterable[str]) -> Dict[str, str]:
    """``{spec: tag}`` for the entries of one evaluation, each tag distinct: tags that would collide
    keep every setting, and names that still collide (``a b`` and ``a/b`` are both ``a-b``) get
    ``_2``, ``_3``, ... in the order given."""
    specs = list(dict.fromkeys(specs))
    tags = {spec: short_name(spec) or "unnamed" for spec in specs}
    counts = Counter(tags.values())
    tags = {spec: tag if counts[tag] == 1 else short_name(spec, dropped=()) or "unnamed" for spec, tag in tags.items()}
    counts, seen = Counter(tags.values()), Counter()
    for spec, tag in tags.items():
        if counts[tag] > 1:
            seen[tag] += 1
            tags[spec] = tag if seen[tag] == 1 else f"{tag}_{seen[tag]}"
    return tags
