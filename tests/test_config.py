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


def test_command_line_strings_are_parsed_where_the_schema_wants_numbers_booleans_and_lists():
    """Snakemake hands nested --config values over as strings: 'nero={seeds: 2}' arrives as {'seeds': '2'}."""
    config = validate(
        {
            "nero": {"seeds": "2", "lrs": "[0.01, 0.1]", "schedule": {"warmup_fraction": "0.1"}},
            "directpred": {"ssl": {"symmetric_predictor": "true", "crop_scale": "[0.3, 1.0]"}},
            "fisher": {"experiments": [{"name": "mnist1d", "epochs": "3"}]},
        },
        SCHEMA,
    )
    assert config["nero"]["seeds"] == 2 and config["nero"]["lrs"] == [0.01, 0.1]
    assert config["nero"]["schedule"]["warmup_fraction"] == 0.1
    assert config["directpred"]["ssl"]["symmetric_predictor"] is True
    assert config["directpred"]["ssl"]["crop_scale"] == [0.3, 1.0]
    assert config["fisher"]["experiments"][0]["epochs"] == 3
    assert config["fisher"]["experiments"][0]["lr_small"] == 0.03  # item defaults filled


def test_strings_that_do_not_parse_to_the_schema_type_are_still_rejected_by_name():
    with pytest.raises(ConfigError, match=r"key 'nero.seeds': expected integer, got 'two'"):
        validate({"nero": {"seeds": "two"}}, SCHEMA)
    with pytest.raises(ConfigError, match=r"key 'nero.seeds': expected integer, got 2.5"):
        validate({"nero": {"seeds": "2.5"}}, SCHEMA)
    with pytest.raises(ConfigError, match=r"unknown key 'nero.seedz'"):
        validate({"nero": {"seedz": "2"}}, SCHEMA)
    assert validate({"data_root": "123"}, SCHEMA)["data_root"] == "123"  # a string key stays a string


def test_an_empty_study_list_is_rejected():
    with pytest.raises(ConfigError, match=r"key 'studies'"):
        validate({"studies": []}, SCHEMA)


def test_section_is_the_schema_defaults_with_overrides():
    from pipeline.core.config import section

    assert section("nero") == validate({}, SCHEMA)["nero"]
    assert section("nero", {"cnn": {"steps": 7}})["cnn"]["steps"] == 7
    assert section("nero", {"cnn": {"steps": 7}})["cnn"]["batch_size"] == section("nero")["cnn"]["batch_size"]
    with pytest.raises(ConfigError, match=r"nero\.bogus"):
        section("nero", {"bogus": 1})


def test_outputs_are_named_by_the_scale_unless_a_tag_is_given():
    from pipeline.core.config import output_tag

    assert output_tag(validate({}, SCHEMA)) == "default"
    assert output_tag(validate({"scale": "paper"}, SCHEMA)) == "paper"
    assert output_tag(validate({"scale": "paper", "tag": "paper-seed1"}, SCHEMA)) == "paper-seed1"
    with pytest.raises(ConfigError, match="tag"):
        validate({"tag": "../elsewhere"}, SCHEMA)


def test_the_default_config_file_only_names_the_scale():
    """Defaults live in the schema alone: config.yaml adds nothing but the scale (and empty sections)."""
    shipped = _config("config.yaml")
    assert validate(shipped, SCHEMA) == validate({"scale": "default"}, SCHEMA)
    assert all(value == {} for key, value in shipped.items() if key != "scale")


def test_config_readme_is_generated_from_the_schema():
    from pipeline.core import config_docs

    assert config_docs.main(["--check"]) == 0, "run: python -m pipeline.core.config_docs"
