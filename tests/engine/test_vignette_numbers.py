"""The vignette's printed lme4 output (reference/seed_lme4.yaml) under the rounding rule.

Rule (reference README): a number printed with d decimals matches when
|ours − ref| ≤ 0.5·10^−d (+1e-9).  model3a is the exception the engine establishes: the
printed fit is lme4's default optimizer stopping at a singular point; the REML optimum is
8.25 lower.  Both are asserted side by side.
"""

from __future__ import annotations

import pytest

from hlmrep.replication.reference import load, matches

SEED = load("seed_lme4")
RANDOM_TERMS = {"intercept": "(Intercept)", "cses": "cses", "minorityYes": "minorityYes"}
OURS = {"mean.ses": "meanses"}


def _ours(name: str) -> str:
    for theirs, ours in OURS.items():
        name = name.replace(theirs, ours)
    return name


def _printed_values(model: dict, result) -> list[tuple[str, float, float, int]]:
    """(label, ours, reference, digits) for every number printed for a model."""
    rows = [
        (
            "REML criterion",
            result.criterion,
            model["reml_criterion"]["value"],
            model["reml_criterion"]["digits"],
        )
    ]
    quantiles = result.scaled_residual_quantiles
    for key, entry in model["scaled_residuals"].items():
        rows.append((f"scaled residual {key}", quantiles[key], entry["value"], entry["digits"]))
    cov, corr = result.random_cov, result.random_correlation
    for key, entry in model["random"].items():
        if key.startswith("residual"):
            ours = result.sigma2 if key.endswith("var") else result.sigma
        elif key.startswith("corr_"):
            a, b = key.removeprefix("corr_").split("_")
            ours = corr.loc[RANDOM_TERMS[a], RANDOM_TERMS[b]]
        else:
            term = RANDOM_TERMS[key.removeprefix("school_").rsplit("_", 1)[0]]
            var = cov.loc[term, term]
            ours = var if key.endswith("_var") else var**0.5
        rows.append((key, float(ours), entry["value"], entry["digits"]))
    for term, entry in model["fixed"].items():
        d_est, d_se, d_t = entry["digits"]
        name = _ours(term)
        est, se = result.beta[name], result.std_errors[name]
        rows += [
            (f"{term} estimate", est, entry["estimate"], d_est),
            (f"{term} se", se, entry["se"], d_se),
            (f"{term} t", est / se, entry["t"], d_t),
        ]
    fc = result.fixed_correlation
    for pair, entry in model["fixed_correlation"].items():
        # Split "a,b" where a name may itself contain ':' but never ','.
        a, b = (_ours(x) for x in pair.split(","))
        rows.append((f"corr({pair})", fc.loc[a, b], entry["value"], entry["digits"]))
    return rows


#: Printed numbers that differ at the verified optimum, because lme4's default optimizer
#: (nloptwrap, ftol_abs = xtol_abs = 1e-8) stopped short of it on a flat ridge.  Each is
#: asserted below to be reproduced exactly at lme4's own stopping point, whose criterion is
#: higher than ours.  Found by this test suite; listed so that a new difference fails.
NOT_AT_OPTIMUM = {
    "model3": {"school_intercept_sd"},
    "model4": {"scaled residual q3", "school_cses_sd", "cses t", "cses:mean.ses estimate"},
}


@pytest.mark.parametrize("name", ["model3", "model4"])
def test_printed_output_replicates(name, fit_hsb, lme4_reference):
    model = SEED["models"][name]
    result = fit_hsb(model["formula"])
    assert result.n_obs == SEED["data"]["n_obs"] and result.n_groups == SEED["data"]["n_groups"]
    assert result.singular is False
    assert result.optimum.verified
    differ = {
        label
        for label, ours, ref, digits in _printed_values(model, result)
        if not matches(ours, ref, digits)
    }
    assert differ == NOT_AT_OPTIMUM[name]
    # Side by side: at lme4's stopping point every printed number is reproduced, and that
    # point's criterion is above the verified optimum (the reference is not the optimum).
    lme4_stop = result.at_theta(lme4_reference[name]["default"]["theta"])
    at_stop = [
        (label, ours, ref)
        for label, ours, ref, digits in _printed_values(model, lme4_stop)
        if not matches(ours, ref, digits)
    ]
    assert not at_stop, at_stop
    assert lme4_stop.criterion > result.criterion


def test_model3a_printed_output_is_lme4s_default_stop_not_the_optimum(fit_hsb, lme4_reference):
    model = SEED["models"]["model3a"]
    result = fit_hsb(model["formula"])
    # 1. Our run with lme4's optimizer settings from lme4's start stops where lme4 does:
    #    the printed criterion and a singular fit ...
    our_lme4_like_stop = result.lme4_default_run()
    assert matches(our_lme4_like_stop.criterion, model["reml_criterion"]["value"], 1)
    assert our_lme4_like_stop.singular is True and model["singular"] is True
    # 2. ... every printed number is reproduced at lme4's own stopping point ...
    lme4_stop = result.at_theta(lme4_reference["model3a"]["default"]["theta"])
    failures = [
        (label, ours, ref)
        for label, ours, ref, digits in _printed_values(model, lme4_stop)
        if not matches(ours, ref, digits)
    ]
    assert not failures, failures
    # 3. ... but that point is not the REML optimum: the verified optimum is lower by > 8
    #    and not singular (lme4's own bobyqa and Nelder_Mead agree, engine/test_against_lme4.py).
    assert result.optimum.verified and not result.singular
    assert model["reml_criterion"]["value"] - result.criterion > 8.0
    assert round(result.criterion, 1) == 46495.1


def test_level1_variance_reduction_from_model3_to_model3a(fit_hsb):
    """The vignette prints 0.02152589; its own (singular) sigma² gives 0.02141 (lme4 1.1-31)."""
    entry = SEED["models"]["level1_variance_reduction_3_to_3a"]
    s3 = fit_hsb(SEED["models"]["model3"]["formula"]).sigma2
    model3a = fit_hsb(SEED["models"]["model3a"]["formula"])
    at_printed_stop = (s3 - model3a.lme4_default_run().sigma2) / s3
    at_optimum = (s3 - model3a.sigma2) / s3
    assert abs(at_printed_stop - 0.02141) < 5e-5  # what lme4 1.1-31 gives from its fit
    assert abs(at_printed_stop - entry["value"]) > 5e-5  # the printed value is not that
    assert abs(at_optimum - 0.02783) < 5e-5  # at the REML optimum


@pytest.mark.parametrize("test", ["fixed_minority", "random_cses_slope"])
def test_likelihood_ratio_statistics(test, fit_hsb):
    """Chisq of the vignette's anova() tables from our criteria (ML refit for fixed effects)."""
    entry = SEED["lrt"][test]
    reml = test == "random_cses_slope"  # anova(refit = FALSE) compares REML criteria
    null, full = fit_hsb(entry["null"], reml), fit_hsb(entry["full"], reml)
    chisq = null.criterion - full.criterion
    assert matches(chisq, entry["chisq"]["value"], entry["chisq"]["digits"])
    for role, result in (("null", null), ("full", full)):
        row = entry["table"][role]
        assert result.npar == row["npar"]
        for column, ours in (
            ("AIC", result.aic),
            ("BIC", result.bic),
            ("logLik", result.loglik),
            ("deviance", result.criterion),
        ):
            # R's print.anova does not round every cell the usual way: R 4.2 prints the
            # logLik -23256.54 of this very fit as "-23256" (checked with Rscript), so the
            # logLik column is compared within 1 instead of the 0.5 rounding tolerance.
            tol = 1.0 if column == "logLik" else None
            assert matches(ours, row[column], 0, tol=tol), (role, column, ours, row[column])
    if isinstance(entry["p_value"], dict):
        from scipy.stats import chi2

        p = chi2.sf(chisq, entry["df"])
        assert matches(p, entry["p_value"]["value"], entry["p_value"]["digits"])
