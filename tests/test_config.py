"""Config validation: defaults filled, unknown keys and wrong types named in one line."""

from pathlib import Path

import pytest
import yaml

from pipeline.core.config import ConfigError, fill_defaults, load_schema, validate

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = load_schema(ROOT / "config" / "config.schema.yaml")


def _config(name: str) -> dict:
    return yaml.safe_load((ROOT / "config" / name).read_text())


@pytest.mark.parametrize("name", ["config.yaml", "smoke.yaml", "paper.yaml"])
def test_shipped_configs_are_valid(name):
    config = validate(_config(name), SCHEMA)
    assert config["scale"] == name.replace("config", "default").removesuffix(".yaml")


def test_smoke_overlay_on_default_is_valid():
    merged = _config("config.yaml")
    for key, value in _config("smoke.yaml").items():
        if isinstance(value, dict):
            merged.setdefault(key, {}).update(value)
        else:
            merged[key] = value
    assert validate(merged, SCHEMA)["scale"] == "smoke"


def test_defaults_are_filled_recursively():
    filled = fill_defaults({}, SCHEMA)
    assert filled["seed"] == 0
    assert filled["device"] == "auto"
    assert isinstance(filled["gradient_flow"], dict)
    assert validate({}, SCHEMA) == filled


def test_every_key_of_the_schema_has_a_default_or_is_an_object():
    def walk(schema, where):
        for key, sub in schema.get("properties", {}).items():
            assert "default" in sub or sub.get("type") == "object", f"{where}{key} has no default"
            if sub.get("type") != "object":
                continue
            values = sub.get("additionalProperties")
            if isinstance(values, dict):  # a map: names from an enum, each value a strict object
                assert "enum" in sub.get("propertyNames", {}), f"{where}{key} allows any name"
                assert values.get("additionalProperties") is False, f"{where}{key}.* allows unknown keys"
                walk(values, f"{where}{key}.*.")
            else:
                assert values is False, f"{where}{key} allows unknown keys"
                walk(sub, f"{where}{key}.")

    assert SCHEMA["additionalProperties"] is False
    walk(SCHEMA, "")


def test_per_dataset_overrides_reject_unknown_datasets_and_keys():
    ok = {"directpred": {"ssl": {"per_dataset": {"stl10": {"image_size": 96, "unlabeled": -1}}}}}
    assert validate(ok, SCHEMA)["directpred"]["ssl"]["per_dataset"]["stl10"]["image_size"] == 96
    with pytest.raises(ConfigError, match="per_dataset"):
        validate({"directpred": {"ssl": {"per_dataset": {"imagenet": {}}}}}, SCHEMA)
    with pytest.raises(ConfigError, match=r"unknown key 'directpred.ssl.per_dataset.stl10.image_sise'"):
        validate({"directpred": {"ssl": {"per_dataset": {"stl10": {"image_sise": 96}}}}}, SCHEMA)


def test_unknown_top_level_key_is_named():
    with pytest.raises(ConfigError, match=r"unknown key 'sede'"):
        validate({"sede": 1}, SCHEMA)


def test_unknown_nested_key_is_named_with_its_path():
    with pytest.raises(ConfigError) as error:
        validate({"gradient_flow": {"bogus": 1}}, SCHEMA)
    message = str(error.value)
    assert "'gradient_flow.bogus'" in message
    assert "\n" not in message


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"key 'seed': expected integer, got 'zero'"):
        validate({"seed": "zero"}, SCHEMA)


def test_bad_enum_is_named():
    with pytest.raises(ConfigError, match=r"key 'device'"):
        validate({"device": "tpu"}, SCHEMA)


def test_with_defaults_merges_nested_dicts_and_copies():
    from pipeline.core.config import with_defaults

    defaults = {"a": 1, "b": {"c": 2, "d": {"e": 3, "f": 4}}, "g": [1]}
    merged = with_defaults(defaults, {"b": {"d": {"e": 30}}, "g": [2]})
    assert merged == {"a": 1, "b": {"c": 2, "d": {"e": 30, "f": 4}}, "g": [2]}
    merged["b"]["c"] = 99
    assert defaults["b"]["c"] == 2
