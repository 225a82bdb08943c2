"""``name:key=value,key=value`` strings, the command line's way to name a registered thing.

``--attacks=pgd:eps=0.3,steps=40`` or ``--model=lenet:width=16``. Values are converted to the type
the factory declares (a dataclass field's annotation, or the type of a parameter's default).
"""
from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any, Dict, Tuple

from tfrobust.errors import ConfigError
from tfrobust.registry import Registry

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _declared_types(factory) -> Dict[str, Any]:
    if dataclasses.is_dataclass(factory):
        hints = typing.get_type_hints(factory)
        return {f.name: hints.get(f.name, str) for f in dataclasses.fields(factory) if f.init}
    types = {}
    for name, p in inspect.signature(factory).parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        types[name] = type(p.default) if p.default not in (inspect.Parameter.empty, None) else str
    return types


def _optional_of(kind):
    """``T`` for ``Optional[T]`` (a field that may be None), else None."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    return args[0] if typing.get_origin(kind) is typing.Union and len(args) == 1 else None


def _convert(kind, text: str, key: str, spec: str):
    if _optional_of(kind) is not None:  # Optional[float]: a number, or none
        kind = _optional_of(kind)
        if text.lower() == "none":
            return None
    try:
        if kind is bool:
            if text.lower() not in _TRUE + _FALSE:
                raise ValueError
            return text.lower() in _TRUE
        if kind in (int, float):
            return kind(text)
        if kind is tuple:
            return tuple(int(v) for v in text.split("x"))
        return text
    except ValueError:
        raise ConfigError(
            f"{spec!r}: {key}={text!r} is not a valid {getattr(kind, '__name__', kind)}"
        ) from None


def parse_spec(spec: str, registry: Registry, reserved=()) -> Tuple[str, Dict[str, Any]]:
    """Splits and converts ``spec``; ``reserved`` options are set by the caller, not the user."""
    if not isinstance(spec, str):
        raise ConfigError(f"{registry.kind} spec {spec!r} is not a string; write name[:key=value,...]")
    name, _, rest = spec.strip().partition(":")
    name = name.strip()
    types = {k: v for k, v in _declared_types(registry.get(name)).items() if k not in reserved}
    settings = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq:
            raise ConfigError(f"{spec!r}: expected key=value, got {item!r}")
        if key not in types:
            raise ConfigError(
                f"{spec!r}: {registry.kind} {name!r} has no option {key!r}; "
                f"its options: {', '.join(sorted(types)) or 'none'}"
            )
        settings[key] = _convert(types[key], value.strip(), key, spec)
    return name, settings


def format_spec(name: str, settings: Dict[str, Any]) -> str:
    """The inverse of :func:`parse_spec` (tuples are written as ``AxB``)."""
    def text(v):
        return "x".join(map(str, v)) if isinstance(v, tuple) else str(v).lower() if isinstance(v, bool) else str(v)

    items = ",".join(f"{k}={text(v)}" for k, v in settings.items())
    return f"{name}:{items}" if items else name


def parse_flag_spec(flag: str, value: str, registry: Registry, reserved=()) -> Tuple[str, Dict[str, Any]]:
    """:func:`parse_spec` of a flag's value; an error names the flag (``--model=...: ...``)."""
    try:
        return parse_spec(value, registry, reserved=reserved)
    except ConfigError as e:
        raise ConfigError(f"--{flag}={value}: {e}") from None
