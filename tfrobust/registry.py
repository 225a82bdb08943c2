"""A name -> factory registry, one per concept (datasets, models, attacks, ...)."""
from __future__ import annotations

from typing import Callable, Dict, Generic, Iterator, TypeVar

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

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
