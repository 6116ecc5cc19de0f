"""Config validation against config/config.schema.yaml, with defaults filled and one-line errors.

The schema is JSON Schema (draft 2020-12) written in YAML, ``additionalProperties: false`` at every
object level, so a mistyped key stops the run instead of being silently ignored. Errors are reduced
to one line naming the dotted key, e.g. ``unknown key 'gradient_flow.bogus'``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_PATH = Path("config/config.schema.yaml")


class ConfigError(ValueError):
    """A config that does not match the schema; the message is one line naming the key."""


def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text())


def fill_defaults(config: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``config`` with every ``default`` of ``schema`` filled in, recursively.

    An object property without its own default but with defaulted sub-properties is created as ``{}``
    and filled, so a config file only lists what it changes.
    """
    filled = copy.deepcopy(config)
    for key, sub in schema.get("properties", {}).items():
        if key not in filled:
            if "default" in sub:
                filled[key] = copy.deepcopy(sub["default"])
            elif sub.get("type") == "object":
                filled[key] = {}
            else:
                continue
        if sub.get("type") == "object" and isinstance(filled[key], dict):
            filled[key] = fill_defaults(filled[key], sub)
    return filled


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
    """Fill defaults and validate; raise :class:`ConfigError` with one line naming the first bad key."""
    schema = load_schema() if schema is None else schema
    filled = fill_defaults(config, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(filled), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        raise ConfigError(_one_line(errors[0]))
    return filled


def with_defaults(defaults: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """A deep copy of ``defaults`` with ``overrides`` merged in: nested dicts merge, other values replace.

    Studies use it to resolve their section when called outside the workflow (tests, notebooks);
    inside the workflow the schema has already filled the same defaults.
    """
    merged = copy.deepcopy(defaults)
    for key, value in (overrides or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = with_defaults(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
