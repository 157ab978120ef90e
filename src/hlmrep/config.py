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

from hlmrep.errors import ConfigError, ModelSpecificationError


def _path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "(top level)"


def validate_config(config: dict[str, Any], schema_path: str | Path) -> dict[str, Any]:
    """Check ``config`` against the schema and its cross-references; raise ConfigError.

    The message lists each violation as ``<path in config>: <what is wrong>``.
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    problems = [f"{_path(e)}: {e.message}" for e in errors]
    if not problems:
        problems = _unknown_model_references(config) + _formula_problems(config)
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise ConfigError(f"config does not match the schema {_shown(schema_path)}:\n{lines}")
    return config


def _shown(path: str | Path) -> str:
    """The schema's path relative to the working directory when it is inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _formula_problems(config: dict[str, Any]) -> list[str]:
    """Every model formula parsed by hlmrep's grammar, before any job runs."""
    from hlmrep.formula import parse_formula

    problems = []
    for name, model in config.get("models", {}).items():
        try:
            parse_formula(model["formula"])
        except ModelSpecificationError as error:
            problems.append(f"models.{name}.formula: {error}")
    return problems


def _unknown_model_references(config: dict[str, Any]) -> list[str]:
    """Comparisons and variance-explained pairs may only name configured models."""
    models = set(config.get("models", {}))
    problems = []
    for section, roles in (
        ("comparisons", ("reduced", "full")),
        ("variance_explained", ("base", "model")),
    ):
        for name, entry in config.get(section, {}).items():
            for role in roles:
                if entry[role] not in models:
                    problems.append(
                        f"{section}.{name}.{role}: {entry[role]!r} is not a model in "
                        f"models ({sorted(models)})"
                    )
    comparisons = set(config.get("comparisons", {}))
    for name, target in config.get("bootstrap", {}).get("targets", {}).items():
        if target["kind"] == "confint" and target["model"] not in models:
            problems.append(
                f"bootstrap.targets.{name}.model: {target['model']!r} is not a "
                f"model in models ({sorted(models)})"
            )
        if target["kind"] == "lrt" and target["comparison"] not in comparisons:
            problems.append(
                f"bootstrap.targets.{name}.comparison: {target['comparison']!r} "
                f"is not in comparisons ({sorted(comparisons)})"
            )
    return problems


def load_config(config_path: str | Path, schema_path: str | Path) -> dict[str, Any]:
    """Read a YAML config file and validate it."""
    config = yaml.safe_load(Path(config_path).read_text()) or {}
    return validate_config(config, schema_path)
