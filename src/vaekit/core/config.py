"""Typed, frozen, strict configuration.

A run is fully described by one :class:`Config` (four sections: ``data``, ``model``,
``objective``, ``train``). Recipes are TOML files holding a partial config; ``--set
key=value`` overrides are applied on top. Unknown keys, wrong types and bad values raise a
one-line :class:`~vaekit.core.errors.ConfigError` naming the key and what is allowed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from vaekit.core.errors import ConfigError

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


class _Section(BaseModel):
    # strict=True: "3" is not an int, 1 is not a bool; extra="forbid": typos are errors.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DataConfig(_Section):
    name: str = "digits"
    """Dataset name or spec (``digits``, ``fashion-mnist``, ``npy:PATH`` ...); see ``vaekit datasets``."""
    binarize: Literal["none", "static", "dynamic"] = "dynamic"
    """``dynamic`` resamples binary pixels from the grey levels every epoch (Burda et al. 2015);
    evaluation always uses one fixed (seeded) binarisation of the evaluated split."""
    split_seed: int = 0
    val_fraction: float = Field(0.1, gt=0.0, lt=0.5)
    test_fraction: float = Field(0.1, gt=0.0, lt=0.5)
    image_size: int | None = Field(None, ge=4)
    limit: int | None = Field(None, ge=1)
    """Use at most this many training examples (quick experiments)."""
    missing: Literal["refuse", "mask"] = "refuse"
    """Missing cells (empty, NA, NaN ...) in a table: ``refuse`` (an error naming the cell) or
    ``mask``: fit the preprocessing on the observed cells, feed 0 for a missing cell and pass the
    observed mask in ``Batch.mask``, so the likelihood counts observed cells only (MIWAE, Mattei
    & Frellsen 2019; the ``miwae`` recipe). Tables only: other data with NaN stays refused."""


FORMAT_VERSION = 2
"""Version of the files a run directory holds (config.json, dataset.json, weights, checkpoint).
1: flat model/objective sections (vaekit 0.1); 2: part specs, named optimisation steps."""

DEFAULT_MODEL: dict[str, Any] = {"name": "vae"}
DEFAULT_OBJECTIVE: dict[str, Any] = {"name": "elbo"}


class StepSettings(_Section):
    """Optimiser settings of one named optimisation step (``train.steps.<name>``); unset fields
    fall back to the step's own defaults (declared by the objective) and then to ``train``."""

    optimizer: Literal["adam", "adamw"] | None = None
    lr: float | None = Field(None, gt=0.0)
    weight_decay: float | None = Field(None, ge=0.0)
    betas: tuple[float, float] | None = None
    schedule: Literal["cosine", "constant"] | None = None
    warmup_steps: int | None = Field(None, ge=0)
    clip_grad: float | None = Field(None, ge=0.0)


class ParentLink(_Section):
    """A second stage names the run it builds on; ``sha256`` pins the parent's weights
    (``model.safetensors``), so a changed parent is refused instead of silently used."""

    run: str
    sha256: str | None = None


class TrainConfig(_Section):
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(128, ge=1)
    optimizer: Literal["adam", "adamw"] = "adam"
    lr: float = Field(2e-3, gt=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_steps: int = Field(100, ge=0)
    """Linear learning-rate warm-up steps before the cosine decay."""
    min_lr_ratio: float = Field(0.05, ge=0.0, le=1.0)
    clip_grad: float | None = Field(5.0, ge=0.0)
    """Clip the global gradient norm at this value; 0 or ``None`` turns clipping off."""
    early_stopping: int | None = Field(None, ge=1)
    """Stop after this many epochs without a better validation loss; ``None`` = never."""
    time_budget: float | None = Field(None, gt=0.0)
    """Stop once this many seconds of training (epochs with their validation, summed across
    resumes) are spent: the epoch in progress is cut after the step that crosses the budget, then
    validated and saved (under torchrun: at the first epoch end instead, so ranks agree); the run
    is then finished. ``None`` = no limit.
    After the first epoch the schedules (learning rate, capacity annealing) are fitted to the
    epochs the budget will hold at that pace (at most ``epochs``), so they complete in time."""
    seed: int = 0
    max_bad_steps: int = Field(50, ge=1)
    """Stop after this many non-finite steps in a row."""
    device: str = Field("auto", pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$")
    """``auto`` picks CUDA, then Apple MPS, then the CPU."""
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    """Mixed precision: ``bf16`` autocast, or ``fp16`` autocast with a gradient scaler (meant for
    GPUs; it runs on the CPU but slowly). Likelihoods and KL are always computed in fp32."""
    compile: bool = False
    """Compile the encoder and decoder nets with ``torch.compile`` (opt-in; see docs/benchmarks.md)."""
    steps: dict[str, StepSettings] = {}
    """Per-step optimiser overrides for objectives with several steps, e.g. ``train.steps.disc.lr``."""
    threads: int | None = Field(None, ge=1)
    """Intra-op CPU threads; ``None`` = automatic: 1 for small models (a second thread only adds
    synchronisation there), torch's default (one per core) otherwise."""


class Config(_Section):
    format_version: int = FORMAT_VERSION
    data: DataConfig = DataConfig()
    model: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_MODEL))
    """A model spec (``name`` + the model's settings), validated against the model's constructor
    when the config is completed (:func:`vaekit.artifacts.complete.complete_config`)."""
    objective: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_OBJECTIVE))
    """An objective spec, validated the same way."""
    train: TrainConfig = TrainConfig()
    parent: ParentLink | None = None

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, source: str = "config") -> "Config":
        """Validate a (possibly partial) nested dict; JSON/TOML lists become tuples (the model and
        objective specs are kept as given: their parts validate them)."""
        raw = migrate(dict(raw))
        version = raw.get("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ConfigError(
                f"{source} has format_version {version!r}, newer than this vaekit understands "
                f"({FORMAT_VERSION}); upgrade vaekit to use it"
            )
        for key in ("model", "objective"):
            if key in raw and isinstance(raw[key], str):
                raw[key] = {"name": raw[key]}
            if key in raw and not isinstance(raw[key], dict):
                raise ConfigError(f"{source}: {key} must be a table with a name; got {raw[key]!r}")
            if key in raw and "name" not in raw[key]:  # a partial section: the default part
                raw[key] = {**(DEFAULT_MODEL if key == "model" else DEFAULT_OBJECTIVE), **raw[key]}
        try:
            return cls.model_validate({k: (v if k in ("model", "objective") else _lists_to_tuples(v)) for k, v in raw.items()})
        except ValidationError as err:
            raise ConfigError(_describe(err, source)) from None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def with_overrides(self, overrides: dict[str, Any], *, source: str = "--set") -> "Config":
        """Merge overrides in; changing a part's ``name`` drops the old part's settings (a conv
        net must not inherit an MLP's widths)."""
        merged = _deep_merge(self.to_dict(), _resolve_none_words(overrides))
        return Config.from_dict(merged, source=source)


def migrate(raw: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a format-1 config (flat ``model``/``objective`` sections, vaekit 0.1) as format 2.

    The module names inside the model did not change, so format-1 weights still load."""
    model = raw.get("model")
    # A format-1 config.json always spelled out the flat model section (hidden and variance).
    if "format_version" in raw or not isinstance(model, dict) or "name" in model or not {"hidden", "variance"} <= set(model):
        return raw
    likelihood: dict[str, Any] = {"name": model.get("likelihood", "bernoulli")}
    if likelihood["name"] == "gaussian":
        likelihood["variance"] = model.get("variance", "per_pixel")
    raw["model"] = {
        "name": "vae", "latent_dim": model.get("latent_dim", 8),
        "net": {"name": model.get("net", "mlp"), "hidden": model.get("hidden", [256, 128]),
                "activation": model.get("activation", "relu")},
        "posterior": model.get("posterior", "gaussian"), "prior": model.get("prior", "normal"),
        "likelihood": likelihood,
    }
    objective = dict(raw.get("objective", {}))
    name = objective.get("name", "elbo")
    keep = ("k",) if name == "iwae" else ("beta", "warmup_epochs", "free_bits")
    raw["objective"] = {"name": name, **{k: v for k, v in objective.items() if k in keep}}
    raw["format_version"] = FORMAT_VERSION
    return raw


# -- recipes and overrides ---------------------------------------------------------------

RECIPE_DIR = Path(__file__).resolve().parent.parent / "recipes"


def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPE_DIR.glob("*.toml"))


def recipe_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml":
        if not path.is_file():
            raise ConfigError(f"recipe file {name_or_path!r} does not exist")
        return path
    candidate = RECIPE_DIR / f"{name_or_path}.toml"
    if not candidate.is_file():
        raise ConfigError(
            f"unknown recipe {name_or_path!r}; choose one of: {', '.join(recipe_names())} "
            "(or give a path to a .toml file)"
        )
    return candidate


def read_recipe(name_or_path: str) -> tuple[dict[str, Any], str]:
    """Return (raw nested dict without metadata, description)."""
    path = recipe_path(name_or_path)
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"recipe {path} is not valid TOML: {err}") from None
    description = str(raw.pop("description", ""))
    return raw, description


def load_recipe(name_or_path: str) -> Config:
    raw, _ = read_recipe(name_or_path)
    return Config().with_overrides(raw, source=f"recipe {name_or_path}")


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """Turn ``["train.lr=1e-3", "model.hidden=[64,32]"]`` into a nested dict.

    Values are parsed as TOML values (so ``1e-3`` is a float, ``true`` a bool, ``[64,32]`` a
    list, ``"x"`` a string); a bare word that is not valid TOML is taken as a string.
    """
    nested: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value (e.g. train.lr=1e-3), got {item!r}")
        key, text = item.split("=", 1)
        key = key.strip()
        parts = key.split(".")
        if len(parts) < 2 or not all(parts) or parts[0] not in SECTIONS:
            raise ConfigError(
                f"--set key {key!r} must be section.field[.field...] with section one of: {', '.join(SECTIONS)} "
                "(e.g. model.prior.name=normal, train.lr=1e-3)"
            )
        value = _parse_value(text.strip())
        node = nested
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if isinstance(child, str):
                # `--set model.prior=vamp --set model.prior.components=20`: a part named by a
                # string earlier becomes its table, so its settings can follow.
                child = node[part] = {"name": child}
            if not isinstance(child, dict):
                raise ConfigError(f"--set key {key!r} conflicts with another override")
            node = child
        node[parts[-1]] = value
    return nested


SECTIONS = ("data", "model", "objective", "train", "parent")
SPEC_SECTIONS = ("model", "objective")


NONE_WORDS = {"none", "null"}


def _parse_value(text: str) -> Any:
    # A bare `none` stays a string here: it may be a legal literal (data.binarize=none);
    # Config.with_overrides turns it into None only for fields that take None.
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _resolve_none_words(overrides: dict[str, Any]) -> dict[str, Any]:
    """``section.key=none`` means None for optional fields, the string for Literal fields."""
    out: dict[str, Any] = {}
    for section, values in overrides.items():
        field = Config.model_fields.get(section)
        sub = field.annotation if field is not None else None
        if not isinstance(values, dict) or not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            out[section] = values
            continue
        resolved = {}
        for key, value in values.items():
            info = sub.model_fields.get(key)
            if isinstance(value, str) and value.lower() in NONE_WORDS and info is not None:
                accepts_word = value in getattr(info.annotation, "__args__", ())
                resolved[key] = value if accepts_word else None
            else:
                resolved[key] = value
        out[section] = resolved
    return out


def _lists_to_tuples(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lists_to_tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_lists_to_tuples(v) for v in value)
    return value


def _deep_merge(base: dict[str, Any], extra: dict[str, Any], parts: bool = False) -> dict[str, Any]:
    """Nested merge. A part spec (a table with ``name``) given a new name by a bare string or a
    table is replaced, not merged: the old part's settings do not fit the new part."""
    out = dict(base)
    for key, value in extra.items():
        old = out.get(key)
        # Only the model and objective subtrees hold part specs (data.name is just a setting).
        is_spec = (parts or key in SPEC_SECTIONS) and isinstance(old, dict) and "name" in old
        if is_spec and isinstance(value, str):
            out[key] = {"name": value} if value != old["name"] else old
        elif is_spec and isinstance(value, dict) and value.get("name", old["name"]) != old["name"]:
            out[key] = dict(value)
        elif isinstance(value, dict) and isinstance(old, dict):
            out[key] = _deep_merge(old, value, parts=parts or key in SPEC_SECTIONS)
        else:
            out[key] = value
    return out


def _allowed_fields(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return []
        model = field.annotation
    return list(model.model_fields)


def _describe(err: ValidationError, source: str) -> str:
    """One line per problem: the dotted key, what was wrong and what is allowed."""
    lines = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not isinstance(p, int))
        key = ".".join(str(p) for p in loc) or "(top level)"
        if e["type"] == "extra_forbidden":
            allowed = _allowed_fields(loc)
            lines.append(f"{source}: unknown key {key!r}; allowed keys here: {', '.join(allowed)}")
        elif e["type"] == "literal_error":
            lines.append(f"{source}: bad value for {key!r}: {e['msg']}; got {e.get('input')!r}")
        else:
            lines.append(f"{source}: bad value for {key!r}: {e['msg']}; got {e.get('input')!r}")
    return "; ".join(lines)
