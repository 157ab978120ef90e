"""Validate config.yaml against its JSON schema, reporting every problem with its path.

Snakemake's own ``validate`` stops at the first error and does not always say where it
is; a user editing a nested model list wants ``models.model3.formula: 3 is not of type
'string'`` for every problem at once, before any job runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

from hlmrep.errors import ConfigError


def _path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "(top level)"


def validate_config(config: dict[str, Any], schema_path: str | Path) -> dict[str, Any]:
    """Check ``config`` against the schema; fill in schema defaults; raise ConfigError.

    The message lists each violation as ``<path in config>: <what is wrong>``.
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  - {_path(e)}: {e.message}" for e in errors]
        raise ConfigError(f"config does not match the schema {schema_path}:\n" + "\n".join(lines))
    return config


def load_config(config_path: str | Path, schema_path: str | Path) -> dict[str, Any]:
    """Read a YAML config file and validate it."""
    config = yaml.safe_load(Path(config_path).read_text()) or {}
    return validate_config(config, schema_path)
