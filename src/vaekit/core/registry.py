"""Registries are dicts plus a decorator (the CompressAI pattern).

Parts, objectives and datasets register themselves under a name; builders look names up
here instead of dispatching with ``if``/``elif`` on strings.
"""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from vaekit.core.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named mapping ``name -> factory`` with a ``@register("name")`` decorator."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = item
            return item

        return decorator

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; choose one of: {', '.join(sorted(self._items))}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)
