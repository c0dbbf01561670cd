"""Registries are dicts plus a decorator (the CompressAI pattern).

Parts, models, objectives and datasets register themselves under a name; builders look names
up here instead of dispatching with ``if``/``elif`` on strings. Parts that take settings are
built from a spec (see :mod:`vaekit.core.specs`).
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Iterator, TypeVar

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

    def unregister(self, name: str) -> None:
        """Remove an entry (tests register toy parts and clean up after themselves)."""
        self._items.pop(name, None)

    def get(self, name: str, *, where: str | None = None) -> T:
        try:
            return self._items[name]
        except KeyError:
            prefix = f"{where}: " if where else ""
            raise ConfigError(
                f"{prefix}unknown {self.kind} {name!r}; choose one of: {', '.join(sorted(self._items))}"
            ) from None

    def resolve(self, spec: Any, where: str) -> dict[str, Any]:
        """The complete, validated spec (see :func:`vaekit.core.specs.resolve_spec`)."""
        from vaekit.core.specs import resolve_spec

        return resolve_spec(self, spec, where)

    def build(self, spec: Any, ctx: Any, where: str) -> Any:
        """Instantiate ``spec`` with the build context ``ctx``."""
        from vaekit.core.specs import build_spec

        return build_spec(self, spec, ctx, where)

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)
