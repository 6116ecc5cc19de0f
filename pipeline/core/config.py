"""Config validation against config/config.schema.yaml, with defaults filled and one-line errors.

The schema is the single source of every key's type, default and documentation (config/README.md is
generated from it). It is JSON Schema (draft 2020-12) written in YAML, ``additionalProperties: false``
at every object level, so a mistyped key stops the run instead of being silently ignored. Errors are
reduced to one line naming the dotted key, e.g. ``unknown key 'gradient_flow.bogus'``.

Values given as strings where the schema wants a number, boolean, array or object are parsed as YAML
first (Snakemake passes nested ``--config 'nero={seeds: 2}'`` values as strings); a value that still
does not match is reported by name.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "config.schema.yaml"
# libyaml's loader where PyYAML has it: the schema parses in about 0.1 s instead of 0.7 s in every job.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigError(ValueError):
    """A config that does not match the schema; the message is one line naming the key."""


def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    """The config schema (a fresh copy; see :func:`_schema` for the cached one)."""
    return yaml.load(Path(path).read_text(), Loader=_YAML_LOADER)


@functools.cache
def _schema() -> dict[str, Any]:
    return load_schema()


def fill_defaults(config: Any, schema: dict[str, Any]) -> Any:
    """Return a copy of ``config`` with every ``default`` of ``schema`` filled in, recursively.

    An object property without its own default but with defaulted sub-properties is created as ``{}``
    and filled, so a config file only lists what it changes. Items of an array of objects are filled
    from the ``items`` schema.
    """
    filled = copy.deepcopy(config)
    if isinstance(filled, list) and isinstance(schema.get("items"), dict):
        return [fill_defaults(item, schema["items"]) for item in filled]
    if not isinstance(filled, dict):
        return filled
    for key, sub in schema.get("properties", {}).items():
        if key not in filled:
            if "default" in sub:
                filled[key] = copy.deepcopy(sub["default"])
            elif sub.get("type") == "object":
                filled[key] = {}
            else:
                continue
        filled[key] = fill_defaults(filled[key], sub)
    return filled


_PARSED_TYPES = {"integer", "number", "boolean", "array", "object", "null"}


def coerce_strings(config: Any, schema: dict[str, Any]) -> Any:
    """``config`` with strings parsed as YAML wherever the schema expects a non-string type.

    Snakemake's ``--config key={a: 2}`` hands nested values over as strings ('2'); a string that does
    not parse to the expected type is left as it is, so validation names the key.
    """
    types = schema.get("type")
    wanted = set(types) if isinstance(types, list) else {types} if types else set()
    if isinstance(config, str) and wanted and "string" not in wanted and wanted <= _PARSED_TYPES:
        try:
            parsed = yaml.safe_load(config)
        except yaml.YAMLError:
            return config
        return coerce_strings(parsed, schema) if not isinstance(parsed, str) else config
    if isinstance(config, list) and isinstance(schema.get("items"), dict):
        return [coerce_strings(item, schema["items"]) for item in config]
    if isinstance(config, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {
            key: coerce_strings(value, properties.get(key, extra if isinstance(extra, dict) else {}))
            for key, value in config.items()
        }
    return config


def _dotted(path: Any) -> str:
    return ".".join(str(p) for p in path)


def _one_line(error: jsonschema.ValidationError) -> str:
    where = _dotted(error.absolute_path) or "<root>"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        names = ", ".join(repr(_dotted([*error.absolute_path, key])) for key in unknown)
        return f"unknown key {names} (allowed here: {', '.join(allowed)})"
    if error.validator == "type":
        value = repr(error.instance)
        value = value if len(value) <= 60 else value[:57] + "..."
        return f"key '{where}': expected {error.validator_value}, got {value}"
    return f"key '{where}': {error.message}"


def validate(config: dict[str, Any], schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """Parse strings, fill defaults and validate; raise :class:`ConfigError` naming the first bad key."""
    schema = _schema() if schema is None else schema
    filled = fill_defaults(coerce_strings(config, schema), schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(filled), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        raise ConfigError(_one_line(errors[0]))
    return filled


def section(study: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """One study's config section: the schema's defaults with ``overrides`` merged in, validated.

    What the workflow hands a study, for tests and notebooks: ``runs(section("nero", {"seeds": 2}))``.
    """
    return validate({study: overrides or {}})[study]


def output_tag(config: dict[str, Any]) -> str:
    """The name of the config's output tree (``tag``, else the scale): results/<tag>/, figures/<tag>/."""
    return config.get("tag") or config["scale"]
