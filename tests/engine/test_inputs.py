"""Formulas and bad inputs: lme4 syntax handled, every refusal names the problem."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hlmrep import fit
from hlmrep.engine.formula import parse_formula
from hlmrep.errors import ModelSpecificationError


def _labels(terms):
    return [":".join(v.label for v in term) for term in terms.terms]


def test_parse_expands_terms_as_r_does():
    f = parse_formula("mathach ~ cses*meanses + cses*sector + (cses | school)")
    assert (f.response, f.group) == ("mathach", "school")
    assert _labels(f.fixed) == ["cses", "meanses", "sector", "cses:meanses", "cses:sector"]
    assert f.fixed.intercept and f.random.intercept
    assert _labels(f.random) == ["cses"]
    assert parse_formula("y ~ (1 | g)").canonical() == "y ~ 1 + (1 | g)"
    assert parse_formula("y ~ x + (0 + x | g) - 1").canonical() == "y ~ 0 + x + (0 + x | g)"


@pytest.mark.parametrize(
    "formula, message",
    [
        ("mathach cses", "no '~'"),
        ("mathach ~ cses", "no random-effects term"),
        ("mathach ~ cses + (1 | school) + (0 + cses | school)", "2 random-effects terms"),
        ("mathach ~ cses - (1 | school)", "cannot be removed"),
        ("mathach ~ cses + (1 | school):sector", "must be added to the rest of the formula"),
        ("mathach ~ (I(cses) | school) + foo(x)", "foo() is not an accepted transformation"),
    ],
)
def test_unsupported_formulas_are_refused(formula, message):
    with pytest.raises(ModelSpecificationError, match=re.escape(message)):
        parse_formula(formula)


def test_lme4_names_interactions_and_no_intercept(hsb):
    result = fit("mathach ~ 0 + sector + cses:sector + (1 | school)", hsb)
    # R: colnames(model.matrix(~ 0 + sector + cses:sector)): variables in order of appearance.
    assert result.fixed_names == [
        "sectorPublic",
        "sectorCatholic",
        "sectorPublic:cses",
        "sectorCatholic:cses",
    ]
    same = fit("mathach ~ sector*cses - 1 + (1 | school)", hsb)
    assert abs(same.criterion - result.criterion) < 1e-6


def test_dotted_names_as_in_r(hsb):
    data = hsb.rename(columns={"meanses": "mean.ses"})
    result = fit("mathach ~ cses*mean.ses + (cses | school)", data)
    assert result.fixed_names == ["(Intercept)", "cses", "mean.ses", "cses:mean.ses"]


def test_reference_level_is_chosen(hsb):
    data = hsb.assign(sector=hsb["sector"].astype(str))  # plain strings: alphabetical
    default = fit("mathach ~ sector + (1 | school)", data)
    assert default.fixed_names == ["(Intercept)", "sectorPublic"]
    chosen = fit("mathach ~ sector + (1 | school)", data, reference_levels={"sector": "Public"})
    assert chosen.fixed_names == ["(Intercept)", "sectorCatholic"]
    assert abs(default.criterion - chosen.criterion) < 1e-6
    with pytest.raises(ModelSpecificationError, match="'Private' is not a level of 'sector'"):
        fit("mathach ~ sector + (1 | school)", data, reference_levels={"sector": "Private"})


def test_unknown_column(hsb):
    with pytest.raises(ModelSpecificationError, match="names 'csess', which is not a column"):
        fit("mathach ~ csess + (1 | school)", hsb)
    with pytest.raises(ModelSpecificationError, match="grouping factor 'schol'"):
        fit("mathach ~ cses + (1 | schol)", hsb)


def test_grouping_factor_with_one_level(hsb):
    with pytest.raises(ModelSpecificationError, match="has 1 level"):
        fit("mathach ~ cses + (1 | one)", hsb.assign(one=1))


def test_rank_deficient_fixed_effects_name_the_column(hsb):
    data = hsb.assign(cses2=2 * hsb["cses"])
    with pytest.raises(ModelSpecificationError, match=r"rank deficient.*\['cses2'\]"):
        fit("mathach ~ cses + cses2 + (1 | school)", data)


def test_missing_values_are_dropped_with_a_count(hsb):
    data = hsb.copy()
    data.loc[data.index[:7], "cses"] = np.nan
    data.loc[data.index[100], "minority"] = np.nan  # not used by the formula: kept
    dropped = r"7 of 7185 rows dropped for missing values in \['cses'\]"
    with pytest.warns(UserWarning, match=dropped):
        result = fit("mathach ~ cses + (1 | school)", data)
    assert result.n_obs == 7178
    assert result.to_dict()["n_dropped_missing"] == 7


def test_non_numeric_response(hsb):
    with pytest.raises(ModelSpecificationError, match="response 'minority' must be numeric"):
        fit("minority ~ cses + (1 | school)", hsb)


def test_cli_fit_writes_json_and_prints_lme4_summary(hsb, tmp_path):
    path = tmp_path / "hsb.csv"
    hsb.to_csv(path, index=False)
    out = tmp_path / "fit.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hlmrep",
            "fit",
            str(path),
            "mathach ~ cses + (cses | school)",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "REML criterion at convergence: 46714.2" in done.stdout
    result = json.loads(out.read_text())
    assert result["estimation"] == "REML" and result["n_groups"] == 160
    assert abs(result["reml_criterion"] - 46714.2340) < 1e-3
    ml = subprocess.run(
        [sys.executable, "-m", "hlmrep", "fit", str(path), "mathach ~ cses + (1 | school)", "--ml"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "deviance" in ml.stdout and "46720.4" in ml.stdout


def test_cli_reports_errors_without_a_traceback(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"y": [1.0, 2.0, 3.0], "g": [1, 1, 2]}).to_csv(path, index=False)
    done = subprocess.run(
        [sys.executable, "-m", "hlmrep", "fit", str(path), "y ~ x + (1 | g)"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "error: formula 'y ~ x + (1 | g)' names 'x', which is not a column" in done.stderr
    assert "Traceback" not in done.stderr


# ----- issue 13: identifiability, exact fits, files the command line is handed -------------


def test_one_observation_per_group_is_refused_as_lme4_does(hsb):
    one_each = hsb.groupby("school").head(1)
    with pytest.raises(ModelSpecificationError, match=r"check\.nobs\.vs\.nlev") as error:
        fit("mathach ~ 1 + (1 | school)", one_each)
    assert "160 observations in 160 levels of 'school'" in str(error.value)


def test_fewer_observations_than_random_effects_is_refused_as_lme4_does():
    data = pd.DataFrame({"y": [1.0, 2.5, 2.0], "x": [0.1, 0.7, 0.3], "g": [1, 1, 2]})
    with pytest.raises(ModelSpecificationError, match=r"check\.nobs\.vs\.nRE") as error:
        fit("y ~ 1 + (x | g)", data)
    assert "number of observations (=3) <= number of random effects (=4)" in str(error.value)


def test_constant_response_with_a_random_slope_is_refused(hsb):
    with pytest.raises(ModelSpecificationError, match="'mathach' is constant"):
        fit("mathach ~ cses + (cses | school)", hsb.assign(mathach=5.0))
    exact = hsb.assign(mathach=2.0 + 3.0 * hsb["cses"])
    with pytest.raises(ModelSpecificationError, match="exact linear function of the fixed"):
        fit("mathach ~ cses + (1 | school)", exact)


def test_infinite_values_in_a_used_column_are_refused(hsb):
    data = hsb.copy()
    data.loc[data.index[5], "ses"] = np.inf
    with pytest.raises(ModelSpecificationError, match=r"column 'ses' has infinite values"):
        fit("mathach ~ ses + (1 | school)", data)


@pytest.mark.parametrize(
    "formula, names",
    [
        ("mathach ~ I(ses^2) + (1 | school)", ["(Intercept)", "I(ses^2)"]),
        ("mathach ~ log(size) + (1 | school)", ["(Intercept)", "log(size)"]),
        ("mathach ~ cses/sector + (1 | school)", ["(Intercept)", "cses", "cses:sectorCatholic"]),
        (
            "mathach ~ (cses + sector)^2 + (1 | school)",
            ["(Intercept)", "cses", "sectorCatholic", "cses:sectorCatholic"],
        ),
    ],
)
def test_transformations_and_operators(hsb, formula, names):
    assert fit(formula, hsb).fixed_names == names


def test_random_term_with_a_transformation_is_read(hsb):
    result = fit("mathach ~ cses + (I(cses) | school)", hsb)
    assert result.random_names == ["(Intercept)", "I(cses)"]


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "hlmrep", *map(str, args)], capture_output=True, text=True, cwd=cwd
    )


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "is empty"),
        (b"y,x,g\n", "has a header but no data rows"),
        (b"y,x,g\n1,2,3\n4,5\n", "line 3: 2 field(s), but the header has 3"),
        ("y,x,g\n1,2,caf\xe9\n".encode("latin-1"), "is not UTF-8 text"),
        (b"\x00\x01\x02binary", "is binary"),
    ],
)
def test_cli_fit_names_the_problem_with_the_file(tmp_path, content, expected):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    done = _cli("fit", path, "y ~ x + (1 | g)")
    assert done.returncode == 1, done.stderr
    assert f"error: data file {path}" in done.stderr and expected in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_fit_on_a_directory(tmp_path):
    done = _cli("fit", tmp_path, "y ~ x + (1 | g)")
    assert done.returncode == 1
    assert "is a directory" in done.stderr and "Traceback" not in done.stderr


def test_cli_fit_unwritable_json_path_says_so_and_writes_nothing(tmp_path, hsb):
    data = tmp_path / "hsb.csv"
    hsb.to_csv(data, index=False)
    target = tmp_path / "no such folder" / "fit.json"
    (tmp_path / "no such folder").write_text("a file, not a folder")
    done = _cli("fit", data, "mathach ~ cses + (1 | school)", "--json", target)
    assert done.returncode == 1
    assert f"--json {target}: cannot be written" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_fit_json_is_written_atomically(tmp_path, hsb, monkeypatch):
    """A failure while writing (a full disk) leaves no truncated file behind."""
    import hlmrep.cli as cli
    from hlmrep.errors import HlmrepError

    data = tmp_path / "hsb.csv"
    hsb.to_csv(data, index=False)
    target = tmp_path / "fit.json"
    real_write_text = Path.write_text

    def full_disk(self, text, *args, **kwargs):
        real_write_text(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(HlmrepError, match="No space left on device"):
        cli._dispatch(["fit", str(data), "mathach ~ cses + (1 | school)", "--json", str(target)])
    monkeypatch.undo()
    assert not target.exists()
    assert not list(tmp_path.glob(".fit.json.*"))
