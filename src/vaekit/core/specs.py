"""Part specs: a config section names a registered part and its arguments.

    prior = "normal"                                   # a bare name: the part with its defaults
    posterior = { name = "gaussian", flows = [{ name = "affine" }] }

A spec is validated against the *constructor* of the part it names: every keyword argument
after ``ctx`` is a setting, with its type hint and default. Unknown arguments name the part and
list what it accepts; wrong types name the dotted key. An argument annotated
``Annotated[Spec, Nested(REGISTRY)]`` (or a tuple of them) is itself a spec, resolved
recursively, so ``--set model.posterior.flows=[...]`` works at any depth.

:func:`resolve_spec` returns the complete spec (every default filled in, JSON-ready), which is
what ``config.json`` records; :meth:`Registry.build` instantiates a resolved spec.
"""

from __future__ import annotations

import functools
import inspect
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from vaekit.core.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from vaekit.core.registry import Registry

Spec = Union[str, dict[str, Any]]
"""A part spec as written by a user: a bare name, or a table with ``name`` and arguments."""

NONE_WORDS = {"none", "null"}


@dataclass(frozen=True)
class Nested:
    """Marks a constructor argument as a sub-part spec of ``registry`` (``many``: a tuple of them)."""

    registry: "Registry"
    many: bool = False


@dataclass(frozen=True)
class _Arg:
    annotation: Any
    default: Any
    nested: Nested | None


@functools.lru_cache(maxsize=None)
def constructor_args(cls: type) -> dict[str, _Arg]:
    """The settings a part accepts: keyword arguments of ``__init__`` after ``self`` and ``ctx``."""
    init = cls.__init__
    hints = typing.get_type_hints(init, include_extras=True)
    args: dict[str, _Arg] = {}
    for name, param in inspect.signature(init).parameters.items():
        if name in {"self", "ctx"} or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = hints.get(name, Any)
        nested = None
        if typing.get_origin(annotation) is typing.Annotated:
            base, *meta = typing.get_args(annotation)
            nested = next((m for m in meta if isinstance(m, Nested)), None)
            annotation = base
        default = param.default if param.default is not inspect.Parameter.empty else ...
        args[name] = _Arg(annotation, default, nested)
    return args


@functools.lru_cache(maxsize=None)
def _validator(cls: type) -> type[BaseModel]:
    fields = {
        name: ((Any if arg.nested else arg.annotation), arg.default)
        for name, arg in constructor_args(cls).items()
    }
    # strict: "3" is not an int and 1 is not a bool; extra="forbid": a typo is an error.
    config = ConfigDict(extra="forbid", strict=True, arbitrary_types_allowed=True)
    return create_model(f"{cls.__name__}Settings", __config__=config, **fields)  # type: ignore[call-overload]


def as_table(spec: Any, where: str) -> dict[str, Any]:
    """``"name"`` -> ``{"name": "name"}``; a table must carry a string ``name``."""
    if isinstance(spec, str):
        return {"name": spec}
    if isinstance(spec, dict):
        if not isinstance(spec.get("name"), str):
            raise ConfigError(f"{where} needs a part name, e.g. {where}.name = \"...\"; got {spec!r}")
        return dict(spec)
    raise ConfigError(f"{where} must be a part name or a table with a name; got {spec!r}")


def _tuples(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_tuples(v) for v in value)
    return value


def _json(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value


def _accepts_none(annotation: Any) -> bool:
    return annotation is None or type(None) in typing.get_args(annotation)


def _literal_words(annotation: Any) -> set[Any]:
    if typing.get_origin(annotation) is typing.Literal:
        return set(typing.get_args(annotation))
    return {w for a in typing.get_args(annotation) for w in _literal_words(a)}


def _named(value: Any, default: Any) -> Any:
    """A nested table without ``name`` (``--set model.prior.k=5`` on a config that never named
    the prior) means the default part with those settings."""
    if isinstance(value, dict) and "name" not in value and default is not ...:
        base = as_table(default, "") if isinstance(default, (str, dict)) else {}
        return {**base, **value}
    return value


def _settings(registry: "Registry", table: dict[str, Any], where: str) -> tuple[type, dict[str, Any]]:
    """Validate the arguments of one spec table; nested specs stay raw here."""
    cls = registry.get(table["name"], where=where)
    accepted = constructor_args(cls)
    raw = {k: v for k, v in table.items() if k != "name"}
    unknown = [k for k in raw if k not in accepted]
    if unknown:
        hint = getattr(cls, "MOVED_SETTINGS", {}).get(unknown[0])
        raise ConfigError(
            f"{where}: unknown argument {unknown[0]!r} for {registry.kind} {table['name']!r}; it accepts: "
            f"{', '.join(accepted) or '(no arguments)'}" + (f" ({hint})" if hint else "")
        )
    for key, value in list(raw.items()):
        arg = accepted[key]
        if isinstance(value, str) and value.lower() in NONE_WORDS and arg.nested is None:
            if _accepts_none(arg.annotation) and value not in _literal_words(arg.annotation):
                raw[key] = None
    try:
        validated = _validator(cls).model_validate({k: (v if accepted[k].nested else _tuples(v)) for k, v in raw.items()})
    except ValidationError as err:
        lines = []
        for e in err.errors():
            key = ".".join(str(p) for p in e["loc"])
            lines.append(f"{where}.{key}: {e['msg']}; got {e.get('input')!r}")
        raise ConfigError("; ".join(lines)) from None
    values = {k: getattr(validated, k) for k in accepted}
    return cls, values


def resolve_spec(registry: "Registry", spec: Any, where: str) -> dict[str, Any]:
    """The complete, validated spec: ``{"name": ..., every argument with its default}`` (JSON-ready)."""
    table = as_table(spec, where)
    _, values = _settings(registry, table, where)
    out: dict[str, Any] = {"name": table["name"]}
    for key, arg in constructor_args(registry.get(table["name"], where=where)).items():
        value = values[key]
        if arg.nested is not None and not arg.nested.many:
            value = _named(value, arg.default)
        if arg.nested is not None:
            if arg.nested.many:
                items = value if isinstance(value, (list, tuple)) else [value]
                value = [resolve_spec(arg.nested.registry, v, f"{where}.{key}[{i}]") for i, v in enumerate(items)]
            else:
                value = resolve_spec(arg.nested.registry, value, f"{where}.{key}")
        out[key] = _json(value)
    return out


def build_spec(registry: "Registry", spec: Any, ctx: Any, where: str) -> Any:
    """Instantiate a spec: ``cls(ctx, **settings)``; nested specs are passed resolved, and the part
    builds its own children (it knows what context they need, e.g. its feature size)."""
    table = as_table(spec, where)
    cls, values = _settings(registry, table, where)
    for key, arg in constructor_args(cls).items():
        if arg.nested is not None:
            if arg.nested.many:
                items = values[key] if isinstance(values[key], (list, tuple)) else [values[key]]
                values[key] = tuple(resolve_spec(arg.nested.registry, v, f"{where}.{key}[{i}]") for i, v in enumerate(items))
            else:
                values[key] = resolve_spec(arg.nested.registry, _named(values[key], arg.default), f"{where}.{key}")
    return cls(ctx, **values)


def describe_settings(cls: type) -> list[tuple[str, str, Any]]:
    """(name, type, default) of every setting, for ``vaekit parts``-style listings."""
    rows = []
    for name, arg in constructor_args(cls).items():
        kind = f"{arg.nested.registry.kind} spec" if arg.nested else getattr(arg.annotation, "__name__", str(arg.annotation))
        rows.append((name, kind, None if arg.default is ... else arg.default))
    return rows
