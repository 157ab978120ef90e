"""Validate config.yaml against its JSON schema, reporting every problem with its path.

Snakemake's own ``validate`` stops at the first error and does not always say where it
is; a user editing a nested model list wants ``models.model3.formula: 3 is not of type
'string'`` for every problem at once, before any job runs.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from hlmrep.errors import ConfigError, HlmrepError, ModelSpecificationError

log = logging.getLogger("hlmrep")


def _path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "(top level)"


@functools.cache
def _schema(schema_path: str) -> Any:
    """The config schema, read once per process with libyaml's parser (every Snakemake
    start reads it twice; Python's parser took 0.1 s of a no-op). Read only, never
    changed by its users."""
    from hlmrep.files import parse_yaml

    return parse_yaml(Path(schema_path).read_text(encoding="utf-8"))


def validate_config(config: dict[str, Any], schema_path: str | Path) -> dict[str, Any]:
    """Check ``config`` against the schema and its cross-references; raise ConfigError.

    The message lists each violation as ``<path in config>: <what is wrong>``.
    """
    schema = _schema(str(schema_path))
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    problems = [f"{_path(e)}: {e.message}" for e in errors] + _non_finite(config)
    if not problems:
        problems = _unknown_model_references(config) + _formula_problems(config)
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise ConfigError(f"config does not match the schema {_shown(schema_path)}:\n{lines}")
    return config


def _non_finite(value: Any, where: str = "") -> list[str]:
    """Every NaN or infinite number in the config (YAML's ``.nan``, ``.inf``): JSON Schema
    compares them with no bound failing, so ``points: .nan`` would pass the schema."""
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{where or '(top level)'}: {value} is not a finite number"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _non_finite(v, f"{where}.{k}".lstrip("."))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _non_finite(v, f"{where}.{i}")]
    return []


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """A subschema with its ``$ref`` (``#/$defs/name``) followed."""
    while isinstance(schema, dict) and "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def _types(schema: dict[str, Any], root: dict[str, Any]) -> set[str]:
    """The JSON types a subschema allows (through ``anyOf``, ``if``/``then``/``else``)."""
    schema = _resolve(schema, root)
    declared = schema.get("type", [])
    found = {declared} if isinstance(declared, str) else set(declared)
    if "const" in schema or "enum" in schema:
        found |= {
            type(v).__name__.replace("str", "string").replace("int", "integer")
            for v in schema.get("enum", [schema.get("const")])
        }
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key, []):
            found |= _types(option, root)
    for key in ("then", "else"):
        if key in schema:
            found |= _types(schema[key], root)
    return found


def _child(schema: dict[str, Any], key: Any, root: dict[str, Any]) -> dict[str, Any] | None:
    """The subschema of ``key`` of an object (its property, else additionalProperties, also
    under ``then``/``else``) or of an item of an array."""
    schema = _resolve(schema, root)
    if isinstance(key, int):
        items = schema.get("items")
        return items if isinstance(items, dict) else None
    for place in (schema, schema.get("then", {}), schema.get("else", {})):
        if key in place.get("properties", {}):
            return dict(place["properties"][key])
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


_INTEGER = re.compile(r"[-+]?\d+")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _typed(value: Any, schema: dict[str, Any] | None, root: dict[str, Any]) -> Any:
    if schema is None:
        return value
    if isinstance(value, dict):
        return {k: _typed(v, _child(schema, k, root), root) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v, _child(schema, i, root), root) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    types = _types(schema, root)
    text = value.strip()
    if "null" in types and text in ("null", "~"):  # YAML's null, as config.yaml would read it
        return None
    if "string" in types:
        return value
    if "integer" in types and _INTEGER.fullmatch(text):
        return int(text)
    if "number" in types and _NUMBER.fullmatch(text):
        return float(text)
    if "boolean" in types and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return value


def typed_overrides(overrides: dict[str, Any], schema_path: str | Path) -> dict[str, Any]:
    """``--config`` values typed as the schema declares them.

    Snakemake reads a nested override (``--config 'grading={"min_significant_digits": 5}'``)
    with YAML's base loader, which makes every scalar a string: ``'5'``.  A string where
    the schema wants a whole number, a number, true/false or null becomes one when its text
    is one exactly (``5``, ``2.5e3``, ``true``, ``null``); anything else stays a string, for
    the schema to refuse with its path.  config.yaml's own values are not touched: they
    are typed by YAML."""
    schema = _schema(str(schema_path))
    return dict(_typed(dict(overrides), schema, schema))


def _shown(path: str | Path) -> str:
    """The schema's path relative to the working directory when it is inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _formula_problems(config: dict[str, Any]) -> list[str]:
    """Every model formula parsed by hlmrep's grammar, before any job runs."""
    from hlmrep.engine.formula import parse_formula

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


class _PlainYaml(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML as data: no tags beyond YAML's own (``!!python/name:`` is refused), and a key
    given twice in one mapping is an error, not a silent override. Parsed by libyaml
    where PyYAML has it (the safe constructor is Python either way)."""


def _mapping_without_repeats(loader: _PlainYaml, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(
                f"{loader.name}, line {line}: key {key!r} is given twice (first at line "
                f"{seen[key]}); remove one"
            )
        seen[key] = line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=True)


_PlainYaml.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_repeats)

#: Largest config file read (the default one is 5 kB).
MAX_CONFIG_BYTES = 1 << 20


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A config file read as plain YAML data (see :class:`_PlainYaml`).

    Snakemake's own ``configfile:`` would run YTE templates (``__use_yte__: true`` runs
    Python, even in a dry run) and accepts repeated keys; the workflow reads config.yaml
    with this instead. Errors name the file and the line.
    """
    from hlmrep.files import read_bounded

    path = Path(path)
    try:
        text = read_bounded(path, "config file", MAX_CONFIG_BYTES).decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    except HlmrepError as error:
        raise ConfigError(str(error)) from None
    loader = _PlainYaml(text)
    loader.name = str(path)
    try:
        config = loader.get_single_data()
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{path}{where}: not plain YAML data: {problem}") from None
    finally:
        loader.dispose()
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, found {type(config).__name__}")
    if "__use_yte__" in config:
        raise ConfigError(
            f"{path}: '__use_yte__' (Snakemake's YTE templating) is not accepted: hlmrep "
            "reads its config as plain YAML, never as a template that runs code"
        )
    return config


def load_config(config_path: str | Path, schema_path: str | Path) -> dict[str, Any]:
    """Read a YAML config file and validate it."""
    return validate_config(read_config_file(config_path), schema_path)


#: What the scorecard reads beyond the models (hlmrep.replication.scorecard and
#: hlmrep.replication.textbook): with one of them not configured, its rows are "missing"
#: and `check` fails.
SCORECARD_NEEDS: dict[str, list[str]] = {
    "models": [
        "table_4_2",
        "table_4_3",
        "model3",
        "table_4_5",
        "table_4_5_no_slope",
        "model3a",
        "model4",
    ],
    "comparisons": ["fixed_minority", "random_cses_slope", "table_4_5_slope_variance"],
    "variance_explained": ["table_4_3_vs_4_2", "table_4_5_vs_4_4", "model3_to_model3a"],
    "targets": ["ci_model3", "pb_minority"],
}


def check_models_needed(config: dict[str, Any], needs: dict[str, list[str]]) -> list[str]:
    """Refuse a config that leaves out a model a figure reads; warn of scorecard gaps.

    ``needs`` maps a consumer ("figure sample_schools") to the models it reads.  A missing
    one is a ConfigError naming every consumer and what to do (no job could produce the
    figure); what the scorecard will report as missing is returned (and logged) as warnings.
    """
    models = set(config.get("models", {}))
    missing: dict[str, list[str]] = {}
    for consumer, wanted in needs.items():
        for model in wanted:
            if model not in models:
                missing.setdefault(model, []).append(consumer)
    if missing:
        lines = "\n".join(
            f"  - models.{model} is not configured, but {', '.join(consumers)} read its "
            "results: add it back to models"
            for model, consumers in sorted(missing.items())
        )
        raise ConfigError(f"config leaves out models that the workflow needs:\n{lines}")
    warnings = []
    sections = {
        "models": config.get("models", {}),
        "comparisons": config.get("comparisons", {}),
        "variance_explained": config.get("variance_explained", {}),
        "targets": config.get("bootstrap", {}).get("targets", {}),
    }
    for section, names in SCORECARD_NEEDS.items():
        absent = [name for name in names if name not in sections[section]]
        if absent:
            warnings.append(
                f"{section} {absent} not configured: the scorecard reports their reference "
                "numbers as missing, and `python -m hlmrep check` fails on them"
            )
    for warning in warnings:
        log.warning(warning)
    return warnings


#: ``chunk_size: auto``: replicates per job at most (1000 model3 replicates take ~0.5 s).
AUTO_CHUNK_LIMIT = 5000


def chunk_size(setting: int | str, nsim: int) -> int:
    """Replicates per bootstrap job: ``auto`` sizes chunks by work, one job per target up
    to AUTO_CHUNK_LIMIT replicates, then as few equal chunks as that allows."""
    if setting == "auto":
        jobs = -(-nsim // AUTO_CHUNK_LIMIT)
        return -(-nsim // jobs)
    return int(setting)
