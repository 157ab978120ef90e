"""Formulas and bad inputs: lme4 syntax handled, every refusal names the problem."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from hlmrep import fit
from hlmrep.errors import ModelSpecificationError
from hlmrep.formula import parse_formula


def test_parse_splits_fixed_random_and_group():
    f = parse_formula("mathach ~ cses*meanses + cses*sector + (cses | school)")
    assert (f.response, f.fixed, f.random, f.group) == (
        "mathach",
        "cses*meanses + cses*sector",
        "cses",
        "school",
    )
    assert parse_formula("y ~ (1 | g)").fixed == "1"
    assert parse_formula("y ~ x + (0 + x | g) - 1").fixed == "x - 1"


@pytest.mark.parametrize(
    "formula, message",
    [
        ("mathach cses", "no '~'"),
        ("mathach ~ cses", "no random-effects term"),
        ("mathach ~ cses + (1 | school) + (0 + cses | school)", "2 random-effects terms"),
        ("mathach ~ cses + (cses || school)", "'||'"),
    ],
)
def test_unsupported_formulas_are_refused(formula, message):
    with pytest.raises(ModelSpecificationError, match=message):
        parse_formula(formula)


def test_lme4_names_interactions_and_no_intercept(hsb):
    result = fit("mathach ~ 0 + sector + cses:sector + (1 | school)", hsb)
    assert result.fixed_names == [
        "sectorPublic",
        "sectorCatholic",
        "cses:sectorPublic",
        "cses:sectorCatholic",
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
