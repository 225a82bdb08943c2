"""A name -> factory registry, one per concept (datasets, models, attacks, ...)."""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Generic, Iterator, TypeVar

from tfrobust.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps the short names used on the command line to factories.

    ``kind`` names the concept in error messages ("dataset", "model", ...).
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: Dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._entries))}"
            ) from None

    def build(self, name: str, **options: Any):
        """Calls the factory registered as ``name`` with ``options``.

        An option the factory does not take is a :class:`ConfigError` that lists the ones it does.
        """
        factory = self.get(name)
        params = inspect.signature(factory).parameters
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            allowed = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
            unknown = sorted(set(options) - set(allowed))
            if unknown:
                raise ConfigError(
                    f"{self.kind} {name!r} takes no option {', '.join(map(repr, unknown))}; "
                    f"its options: {', '.join(allowed) or 'none'}"
                )
        return factory(**options)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
