"""Config: strict validation with actionable messages, overrides, recipes, round-trips."""

from __future__ import annotations

import pydantic
import pytest

from vaekit.core.config import (
    Config, DataConfig, ModelConfig, ObjectiveConfig, TrainConfig, load_recipe, parse_overrides, read_recipe,
    recipe_names,
)
from vaekit.core.errors import ConfigError

SECTIONS = {"data": DataConfig, "model": ModelConfig, "objective": ObjectiveConfig, "train": TrainConfig}


# -- unknown keys ------------------------------------------------------------------------

@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_unknown_key_in_section_names_key_and_allowed_keys(section: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_dict({section: {"no_such_key": 1}})
    msg = str(info.value)
    assert f"{section}.no_such_key" in msg
    assert "allowed keys" in msg
    for field in SECTIONS[section].model_fields:
        assert field in msg, field


def test_unknown_top_level_key_names_key_and_sections() -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"trian": {"epochs": 3}})
    msg = str(info.value)
    assert "'trian'" in msg
    for section in SECTIONS:
        assert section in msg


def test_error_message_names_the_source() -> None:
    with pytest.raises(ConfigError, match=r"^recipe foo: "):
        Config.from_dict({"model": {"nett": "mlp"}}, source="recipe foo")


def test_several_problems_are_all_reported() -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"train": {"epochs": "3", "lr": "fast"}})
    assert "train.epochs" in str(info.value) and "train.lr" in str(info.value)


# -- wrong types -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"train": {"epochs": "3"}}, "train.epochs"),          # string for int
        ({"train": {"epochs": 3.0}}, "train.epochs"),          # float for int
        ({"train": {"epochs": 3.5}}, "train.epochs"),
        ({"train": {"batch_size": True}}, "train.batch_size"),  # bool for int
        ({"model": {"latent_dim": "8"}}, "model.latent_dim"),
        ({"train": {"lr": "1e-3"}}, "train.lr"),                # string for float
        ({"train": {"lr": True}}, "train.lr"),                  # bool for float
        ({"model": {"hidden": "64,32"}}, "model.hidden"),       # string for list
        ({"model": {"hidden": [64, "32"]}}, "model.hidden"),
        ({"data": {"name": 3}}, "data.name"),                   # int for str
        ({"train": "fast"}, "train"),                           # scalar for a section
    ],
)
def test_wrong_type_raises_config_error(raw: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        Config.from_dict(raw)


def test_int_is_accepted_for_float() -> None:
    assert Config.from_dict({"train": {"lr": 1}}).train.lr == 1.0


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"train": {"epochs": 0}}, "train.epochs"),
        ({"train": {"lr": 0.0}}, "train.lr"),
        ({"objective": {"beta": -1.0}}, "objective.beta"),
        ({"model": {"hidden": []}}, "model"),
        ({"model": {"hidden": [64, 0]}}, "model"),
        ({"data": {"val_fraction": 0.5}}, "data.val_fraction"),
    ],
)
def test_out_of_range_values_raise(raw: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        Config.from_dict(raw)


@pytest.mark.parametrize(
    ("section", "key", "bad", "allowed"),
    [
        ("model", "net", "cnn", ["mlp", "conv"]),
        ("model", "variance", "diag", ["per_pixel", "shared"]),
        ("model", "activation", "elu", ["relu", "gelu", "silu", "tanh"]),
        ("data", "binarize", "yes", ["none", "static", "dynamic"]),
        ("train", "optimizer", "sgd", ["adam", "adamw"]),
        ("train", "schedule", "step", ["cosine", "constant"]),
    ],
)
def test_literal_mismatch_lists_allowed_values(section: str, key: str, bad: str, allowed: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_dict({section: {key: bad}})
    msg = str(info.value)
    assert f"{section}.{key}" in msg
    assert repr(bad) in msg
    for value in allowed:
        assert f"'{value}'" in msg, value


# -- overrides ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("train.lr=1e-3", 1e-3),
        ("train.lr=0.5", 0.5),
        ("train.epochs=3", 3),
        ("train.epochs = 7 ", 7),
        ("objective.beta=-2", -2),
        ("data.limit=true", True),
        ("data.limit=false", False),
        ("model.hidden=[64,32]", [64, 32]),
        ("model.hidden=[]", []),
        ("model.net=conv", "conv"),
        ('model.net="conv"', "conv"),
        ("data.name=npy:/tmp/x.npy", "npy:/tmp/x.npy"),
        ("data.name=a=b", "a=b"),
    ],
)
def test_parse_overrides_values(item: str, expected) -> None:
    section, key = item.split("=", 1)[0].strip().split(".")
    value = parse_overrides([item])[section][key]
    assert value == expected and type(value) is type(expected)


def test_parse_overrides_nests_several_items() -> None:
    assert parse_overrides(["train.lr=1e-3", "train.epochs=2", "model.net=conv"]) == {
        "train": {"lr": 1e-3, "epochs": 2}, "model": {"net": "conv"},
    }


@pytest.mark.parametrize("item", ["noequals", "a.b.c=1", "train=1", ".lr=1", "train.=1", "=1"])
def test_parse_overrides_bad_forms(item: str) -> None:
    with pytest.raises(ConfigError):
        parse_overrides([item])


def test_overrides_apply_and_validate() -> None:
    cfg = Config().with_overrides(parse_overrides(["train.lr=1e-3", "model.hidden=[64,32]", "train.threads=none"]))
    assert cfg.train.lr == 1e-3 and cfg.model.hidden == (64, 32) and cfg.train.threads is None
    assert cfg.model.net == Config().model.net  # untouched keys keep their values
    with pytest.raises(ConfigError, match="train.epochs"):
        Config().with_overrides(parse_overrides(["train.epochs=1.5"]))
    with pytest.raises(ConfigError, match="no_such"):
        Config().with_overrides(parse_overrides(["train.no_such=1"]))


# -- recipes -----------------------------------------------------------------------------

def test_there_are_recipes() -> None:
    assert {"vae", "iwae"} <= set(recipe_names())


@pytest.mark.parametrize("name", recipe_names())
def test_every_recipe_loads(name: str) -> None:
    cfg = load_recipe(name)
    assert isinstance(cfg, Config)
    raw, description = read_recipe(name)
    assert description, f"recipe {name} has no description"
    for section, values in raw.items():  # the recipe's values are the ones in force
        for key, value in values.items():
            got = getattr(getattr(cfg, section), key)
            assert got == (tuple(value) if isinstance(value, list) else value), f"{section}.{key}"


def test_unknown_recipe_lists_recipes() -> None:
    with pytest.raises(ConfigError) as info:
        load_recipe("no-such-recipe")
    for name in recipe_names():
        assert name in str(info.value)


def test_recipe_file_with_bad_key(tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('description = "x"\n[model]\nlatent = 3\n')
    with pytest.raises(ConfigError, match="model.latent"):
        load_recipe(str(path))


# -- round trip and immutability ---------------------------------------------------------

CONFIGS = [
    Config(),
    *[load_recipe(n) for n in recipe_names()],
    Config.from_dict({
        "data": {"name": "npy:/x.npy", "binarize": "none", "image_size": 16, "limit": 100},
        "model": {"net": "conv", "hidden": [8, 16, 32], "likelihood": "gaussian", "variance": "shared"},
        "objective": {"beta": 0.5, "warmup_epochs": 2.5, "free_bits": 0.25},
        "train": {"clip_grad": None, "early_stopping": 3, "threads": 2, "optimizer": "adamw"},
    }),
]


@pytest.mark.parametrize("cfg", CONFIGS)
def test_config_round_trips(cfg: Config) -> None:
    again = Config.from_dict(cfg.to_dict())
    assert again == cfg
    assert again.to_dict() == cfg.to_dict()
    import json

    assert Config.from_dict(json.loads(cfg.to_json())) == cfg


def test_partial_dict_fills_defaults() -> None:
    cfg = Config.from_dict({"train": {"epochs": 2}})
    assert cfg.train.epochs == 2
    assert cfg.model == ModelConfig() and cfg.train.lr == TrainConfig().lr


@pytest.mark.parametrize(("obj", "field", "value"), [
    (Config(), "train", TrainConfig()),
    (Config().train, "lr", 1.0),
    (Config().model, "hidden", (1,)),
    (Config().data, "name", "x"),
    (Config().objective, "beta", 2.0),
])
def test_config_objects_are_frozen(obj, field: str, value) -> None:
    before = getattr(obj, field)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        setattr(obj, field, value)
    assert getattr(obj, field) == before


def test_configs_are_hashable_values() -> None:
    assert hash(Config()) == hash(Config())
    assert Config() == Config.from_dict({})


@pytest.mark.parametrize("word", ["none", "None", "null"])
def test_none_word_clears_optional_fields(word: str) -> None:
    cfg = Config().with_overrides(parse_overrides([f"train.threads={word}", f"train.clip_grad={word}"]))
    assert cfg.train.threads is None and cfg.train.clip_grad is None


def test_override_can_set_literal_none_string() -> None:
    cfg = Config().with_overrides(parse_overrides(["data.binarize=none"]))
    assert cfg.data.binarize == "none"


def test_override_quoted_none_string_works() -> None:
    cfg = Config().with_overrides(parse_overrides(['data.binarize="none"']))
    assert cfg.data.binarize == "none"
