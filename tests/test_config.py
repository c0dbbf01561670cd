"""Config: strict validation with actionable messages, overrides, recipes, round-trips."""

from __future__ import annotations

import pydantic
import pytest

from vaekit.artifacts.complete import complete_config
from vaekit.core.config import (
    Config, DataConfig, TrainConfig, load_recipe, parse_overrides, read_recipe, recipe_names,
)
from vaekit.core.errors import ConfigError

SECTIONS = {"data": DataConfig, "train": TrainConfig}
ALL_SECTIONS = ["data", "model", "objective", "train"]


def resolved(raw: dict, source: str = "config") -> Config:
    """Validate a raw config the way training does: sections, then every part spec."""
    return complete_config(Config.from_dict(raw, source=source))


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


@pytest.mark.parametrize(("section", "accepted"), [
    ("model", ["latent_dim", "net", "posterior", "prior", "likelihood", "conditional"]),
    ("objective", ["beta", "warmup_epochs", "free_bits"]),
])
def test_unknown_argument_of_a_part_names_the_part_and_what_it_accepts(section: str, accepted: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        resolved({section: {"no_such_key": 1}})
    msg = str(info.value)
    assert "'no_such_key'" in msg and section in msg
    for name in accepted:
        assert name in msg, name


@pytest.mark.parametrize(("override", "where", "part"), [
    ("model.prior.components=50", "model.prior", "prior 'normal'"),
    ("model.net.widths=[3]", "model.net", "net 'mlp'"),
    ("model.posterior.flows=[{name='affine', depth=2}]", "model.posterior.flows[0]", "flow 'affine'"),
])
def test_unknown_argument_at_any_depth(override: str, where: str, part: str) -> None:
    with pytest.raises(ConfigError) as info:
        complete_config(Config().with_overrides(parse_overrides([override])))
    assert where in str(info.value) and part in str(info.value)


def test_moved_key_gets_a_hint() -> None:
    with pytest.raises(ConfigError, match="model.net.hidden"):
        resolved({"model": {"hidden": [64]}})


def test_unknown_top_level_key_names_key_and_sections() -> None:
    with pytest.raises(ConfigError) as info:
        Config.from_dict({"trian": {"epochs": 3}})
    msg = str(info.value)
    assert "'trian'" in msg
    for section in ALL_SECTIONS:
        assert section in msg


def test_error_message_names_the_source() -> None:
    with pytest.raises(ConfigError, match=r"^recipe foo: "):
        Config.from_dict({"train": {"epoch": 3}}, source="recipe foo")


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
        ({"model": {"latent_dim": 8.0}}, "model.latent_dim"),
        ({"objective": {"beta": "4"}}, "objective.beta"),
        ({"model": {"conditional": 1}}, "model.conditional"),
        ({"train": {"lr": "1e-3"}}, "train.lr"),                # string for float
        ({"train": {"lr": True}}, "train.lr"),                  # bool for float
        ({"model": {"net": {"name": "mlp", "hidden": "64,32"}}}, "model.net.hidden"),  # string for list
        ({"model": {"net": {"name": "mlp", "hidden": [64, "32"]}}}, "model.net.hidden"),
        ({"model": {"net": 3}}, "model.net"),
        ({"data": {"name": 3}}, "data.name"),                   # int for str
        ({"train": "fast"}, "train"),                           # scalar for a section
    ],
)
def test_wrong_type_raises_config_error(raw: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        resolved(raw)


def test_int_is_accepted_for_float() -> None:
    assert Config.from_dict({"train": {"lr": 1}}).train.lr == 1.0


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"train": {"epochs": 0}}, "train.epochs"),
        ({"train": {"lr": 0.0}}, "train.lr"),
        ({"objective": {"beta": -1.0}}, "objective.beta"),
        ({"model": {"net": {"name": "mlp", "hidden": []}}}, "model.net"),
        ({"model": {"net": {"name": "mlp", "hidden": [64, 0]}}}, "model.net"),
        ({"model": {"latent_dim": 0}}, "model.latent_dim"),
        ({"data": {"val_fraction": 0.5}}, "data.val_fraction"),
    ],
)
def test_out_of_range_values_raise(raw: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        from vaekit.core.build import BuildContext
        from vaekit.models import build_model
        from vaekit.objectives import build_objective

        cfg = resolved(raw)  # range checks of parts run when they are built
        ctx = BuildContext(shape=(1, 8, 8), levels=17)
        build_model(cfg.model, ctx)
        build_objective(cfg.objective, ctx)


@pytest.mark.parametrize(
    ("section", "key", "bad", "allowed"),
    [
        ("model", "net", "cnn", ["mlp", "conv"]),  # a part name: the registry lists the choices
        ("model", "likelihood.variance", "diag", ["per_pixel", "shared"]),
        ("model", "net.activation", "elu", ["relu", "gelu", "silu", "tanh"]),
        ("data", "binarize", "yes", ["none", "static", "dynamic"]),
        ("train", "optimizer", "sgd", ["adam", "adamw"]),
        ("train", "schedule", "step", ["cosine", "constant"]),
    ],
)
def test_literal_mismatch_lists_allowed_values(section: str, key: str, bad: str, allowed: list[str]) -> None:
    overrides = {"likelihood.variance": {"likelihood": {"name": "gaussian", "variance": bad}},
                 "net.activation": {"net": {"name": "mlp", "activation": bad}}}
    raw = {section: overrides.get(key, {key: bad})}
    with pytest.raises(ConfigError) as info:
        resolved(raw)
    msg = str(info.value)
    assert f"{section}.{key}" in msg
    assert repr(bad) in msg
    for value in allowed:
        assert f"'{value}'" in msg or f" {value}" in msg, value


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
        ("model.net.hidden=[64,32]", [64, 32]),
        ("model.net.hidden=[]", []),
        ("model.posterior.flows=[{name='affine'}]", [{"name": "affine"}]),
        ("model.net=conv", "conv"),
        ('model.net="conv"', "conv"),
        ("data.name=npy:/tmp/x.npy", "npy:/tmp/x.npy"),
        ("data.name=a=b", "a=b"),
    ],
)
def test_parse_overrides_values(item: str, expected) -> None:
    value = parse_overrides([item])
    for part in item.split("=", 1)[0].strip().split("."):
        value = value[part]
    assert value == expected and type(value) is type(expected)


def test_parse_overrides_nests_several_items() -> None:
    assert parse_overrides(["train.lr=1e-3", "train.epochs=2", "model.net=conv"]) == {
        "train": {"lr": 1e-3, "epochs": 2}, "model": {"net": "conv"},
    }


def test_a_part_named_by_a_string_takes_settings_in_a_later_override() -> None:
    assert parse_overrides(["model.prior=vamp", "model.prior.components=20"]) == {
        "model": {"prior": {"name": "vamp", "components": 20}},
    }
    cfg = complete_config(Config().with_overrides(parse_overrides(["model.prior=vamp", "model.prior.components=20"])))
    assert cfg.model["prior"]["name"] == "vamp" and cfg.model["prior"]["components"] == 20
    with pytest.raises(ConfigError, match="conflicts"):
        parse_overrides(["train.lr=1", "train.lr.x=2"])


@pytest.mark.parametrize("item", ["noequals", "a.b.c=1", "train=1", ".lr=1", "train.=1", "=1", "model..net=1"])
def test_parse_overrides_bad_forms(item: str) -> None:
    with pytest.raises(ConfigError):
        parse_overrides([item])


def test_overrides_apply_and_validate() -> None:
    base = complete_config(load_recipe("vae"))
    cfg = complete_config(base.with_overrides(parse_overrides(["train.lr=1e-3", "model.net.hidden=[64,32]", "train.threads=none"])))
    assert cfg.train.lr == 1e-3 and cfg.model["net"]["hidden"] == [64, 32] and cfg.train.threads is None
    assert cfg.model["net"]["activation"] == base.model["net"]["activation"]  # untouched keys keep their values
    assert cfg.model["likelihood"] == base.model["likelihood"]
    with pytest.raises(ConfigError, match="train.epochs"):
        Config().with_overrides(parse_overrides(["train.epochs=1.5"]))
    with pytest.raises(ConfigError, match="no_such"):
        Config().with_overrides(parse_overrides(["train.no_such=1"]))


def test_changing_a_part_name_drops_the_old_parts_settings() -> None:
    """--set model.net=conv must not carry an MLP's widths over as conv channels."""
    base = complete_config(load_recipe("fashion"))
    assert base.model["net"]["hidden"] == [512, 256]
    conv = complete_config(base.with_overrides(parse_overrides(["model.net=conv"])))
    assert conv.model["net"] == {"name": "conv", "channels": [32, 64], "activation": "relu"}
    same = complete_config(base.with_overrides(parse_overrides(["model.net.name=mlp"])))
    assert same.model["net"]["hidden"] == [512, 256]


def test_format_1_config_is_migrated() -> None:
    old = {"data": {"name": "digits"}, "model": {"net": "mlp", "hidden": [32], "latent_dim": 4, "likelihood": "gaussian",
           "variance": "shared", "posterior": "gaussian", "prior": "normal", "activation": "relu"},
           "objective": {"name": "elbo", "beta": 2.0, "warmup_epochs": 0.0, "free_bits": 0.0, "k": 1}, "train": {"epochs": 3}}
    cfg = resolved(old)
    assert cfg.model["net"] == {"name": "mlp", "hidden": [32], "activation": "relu"}
    assert cfg.model["likelihood"] == {"name": "gaussian", "variance": "shared"}
    assert cfg.objective["beta"] == 2.0 and "k" not in cfg.objective


def test_newer_format_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ConfigError, match="newer"):
        Config.from_dict({"format_version": 99})


# -- recipes -----------------------------------------------------------------------------

def test_there_are_recipes() -> None:
    assert {"vae", "iwae"} <= set(recipe_names())


@pytest.mark.parametrize("name", recipe_names())
def test_every_recipe_loads(name: str) -> None:
    cfg = complete_config(load_recipe(name))
    assert isinstance(cfg, Config)
    raw, description = read_recipe(name)
    assert description, f"recipe {name} has no description"
    assert "issue" not in description.lower(), "recipe descriptions speak to users, not to the tracker"

    def check(expected, got, where):  # the recipe's values are the ones in force
        if isinstance(expected, dict):
            got = got if isinstance(got, dict) else got.model_dump(mode="json")
            for key, value in expected.items():
                check(value, got[key] if not isinstance(got.get(key), str) or isinstance(value, str) else {"name": got[key]},
                      f"{where}.{key}")
        elif isinstance(expected, str) and isinstance(got, dict):
            assert got["name"] == expected, where
        else:
            assert (list(got) if isinstance(got, tuple) else got) == expected, where

    for section, values in raw.items():
        check(values, cfg.to_dict()[section], section)


def test_unknown_recipe_lists_recipes() -> None:
    with pytest.raises(ConfigError) as info:
        load_recipe("no-such-recipe")
    for name in recipe_names():
        assert name in str(info.value)


def test_recipe_file_with_bad_key(tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('description = "x"\n[model]\nlatent = 3\n')
    with pytest.raises(ConfigError, match="'latent'"):
        complete_config(load_recipe(str(path)))


# -- round trip and immutability ---------------------------------------------------------

CONFIGS = [
    Config(),
    *[load_recipe(n) for n in recipe_names()],
    resolved({
        "data": {"name": "npy:/x.npy", "binarize": "none", "image_size": 16, "limit": 100},
        "model": {"net": {"name": "conv", "channels": [8, 16, 32]}, "likelihood": {"name": "gaussian", "variance": "shared"},
                  "posterior": {"name": "gaussian", "flows": ["affine"]}},
        "objective": {"name": "elbo", "beta": 0.5, "warmup_epochs": 2.5, "free_bits": 0.25},
        "train": {"clip_grad": None, "early_stopping": 3, "threads": 2, "optimizer": "adamw", "steps": {"model": {"lr": 1e-4}}},
        "parent": {"run": "/tmp/x", "sha256": "ab"},
    }),
]


@pytest.mark.parametrize("cfg", CONFIGS)
def test_config_round_trips(cfg: Config) -> None:
    again = Config.from_dict(cfg.to_dict())
    assert again == cfg
    assert complete_config(again) == complete_config(cfg)
    assert again.to_dict() == cfg.to_dict()
    import json

    assert Config.from_dict(json.loads(cfg.to_json())) == cfg


def test_partial_dict_fills_defaults() -> None:
    cfg = Config.from_dict({"train": {"epochs": 2}})
    assert cfg.train.epochs == 2
    assert cfg.model == {"name": "vae"} and cfg.train.lr == TrainConfig().lr


@pytest.mark.parametrize(("obj", "field", "value"), [
    (Config(), "train", TrainConfig()),
    (Config().train, "lr", 1.0),
    (Config().data, "name", "x"),
])
def test_config_objects_are_frozen(obj, field: str, value) -> None:
    before = getattr(obj, field)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        setattr(obj, field, value)
    assert getattr(obj, field) == before


def test_configs_are_values() -> None:
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


def test_changing_the_data_name_keeps_other_data_settings() -> None:
    cfg = Config().with_overrides({"data": {"binarize": "none"}}).with_overrides({"data": {"name": "npy:/x.npy"}})
    assert cfg.data.binarize == "none" and cfg.data.name == "npy:/x.npy"
    cfg = Config().with_overrides(parse_overrides(["data.binarize=none", "model.net.hidden=[8]"]))
    cfg = cfg.with_overrides({"data": {"name": "digits"}, "model": {"latent_dim": 3}})
    assert cfg.data.binarize == "none" and cfg.model["net"]["hidden"] == [8] and cfg.model["latent_dim"] == 3


def test_changing_the_objective_name_drops_its_settings() -> None:
    cfg = complete_config(load_recipe("vae").with_overrides(parse_overrides(["objective.name=iwae"])))
    assert cfg.objective == {"name": "iwae", "k": 5, "perceptual": []}
