"""Empirical Bayes coefficients and level-2 models, for every school of every model.

β̃_qj = W_qj γ̂_q + û_qj (R&B eqs. 4.13–4.14, pp. 76–86): the level-2 prediction plus the
conditional mode.  The level-2 model of each coefficient is written out below by hand from
the book and the vignette, independently of the engine; a school without minority students
still has γ̂ for minorityYes, and the 4 all-minority schools still have their intercept's.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import ROOT, have_rscript_with
from hlmrep.data.tables import read_school_table
from hlmrep.engine.model import fit
from hlmrep.models.school_statistics import level2_prediction

CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())

M_BOOK, M_SAMPLE, SECTOR = "meanses_school_file", "meanses", "sector"
#: Each model's level-2 models: coefficient -> [(fixed effect, school-level variable or 1)].
LEVEL2 = {
    "table_4_2": {"(Intercept)": [("(Intercept)", None)]},
    "table_4_3": {"(Intercept)": [("(Intercept)", None), (M_BOOK, M_BOOK)]},
    "table_4_5": {
        "(Intercept)": [("(Intercept)", None), (M_BOOK, M_BOOK), ("sectorCatholic", SECTOR)],
        "cses": [("cses", None), (f"cses:{M_BOOK}", M_BOOK), ("cses:sectorCatholic", SECTOR)],
    },
    "table_4_5_no_slope": {
        "(Intercept)": [("(Intercept)", None), (M_BOOK, M_BOOK), ("sectorCatholic", SECTOR)],
    },
    "model3": {"(Intercept)": [("(Intercept)", None)], "cses": [("cses", None)]},
    "model3a": {
        "(Intercept)": [("(Intercept)", None)],
        "cses": [("cses", None)],
        "minorityYes": [("minorityYes", None)],
    },
    "model4": {
        "(Intercept)": [("(Intercept)", None), (M_SAMPLE, M_SAMPLE), ("sectorCatholic", SECTOR)],
        "cses": [("cses", None), (f"cses:{M_SAMPLE}", M_SAMPLE), ("cses:sectorCatholic", SECTOR)],
    },
    "mod3_null": {"(Intercept)": [("(Intercept)", None)]},
    "mod3_int": {"(Intercept)": [("(Intercept)", None)]},
    "mod3_int_null": {"(Intercept)": [("(Intercept)", None)]},
}


def test_every_configured_model_is_covered():
    assert set(LEVEL2) == set(CONFIG["models"])


@pytest.mark.slow
@pytest.mark.parametrize("model", list(LEVEL2))
def test_eb_is_level2_prediction_plus_mode_for_every_school(pipeline, model):
    schools = read_school_table(pipeline / f"results/fits/{model}_schools.csv")
    record = json.loads((pipeline / f"results/fits/{model}.json").read_text())
    gamma = {row["term"]: row["estimate"] for row in record["fixed_effects"]}
    table = pd.read_csv(pipeline / "results/data/hsb.csv").drop_duplicates("school")
    level2 = table.set_index("school").loc[schools["school"]]
    level2 = level2.assign(sector=(level2["sector"] == "Catholic").astype(float))
    assert len(schools) == 160
    for coefficient, terms in LEVEL2[model].items():
        expected = sum(
            gamma[term] * (1.0 if variable is None else level2[variable].to_numpy())
            for term, variable in terms
        )
        got = schools[f"eb[{coefficient}]"] - schools[f"mode[{coefficient}]"]
        assert np.allclose(got, expected, rtol=0, atol=1e-9), (model, coefficient)


@pytest.mark.slow
@pytest.mark.parametrize("model", list(LEVEL2))
def test_chisq_df_counts_the_level2_fixed_effects(pipeline, model):
    """df = J' − (fixed effects in the coefficient's level-2 model), R&B p. 64."""
    hlm = json.loads((pipeline / f"results/hlm/{model}.json").read_text())
    for coefficient, terms in LEVEL2[model].items():
        test = hlm["chisq_homogeneity"][coefficient]
        assert test["level2_fixed_effects"] == len(terms)
        assert test["df"] == test["schools_used"] - len(terms)


def test_model3a_schools_without_minority_students_keep_gamma(fit_hsb, hsb):
    """The defect that was: 20 schools without minority students lacked γ̂ (−3.18)."""
    result = fit_hsb("mathach ~ cses + minority + (cses + minority | school)")
    prediction = level2_prediction(result)
    share = hsb.assign(y=hsb["minority"] == "Yes").groupby("school")["y"].mean()
    share = share.loc[[int(s) for s in result.design.group_levels]].to_numpy()
    assert (share == 0).sum() == 20 and (share == 1).sum() == 4
    gamma = result.beta
    assert np.allclose(prediction[:, 2], gamma["minorityYes"])  # every school, none excepted
    assert np.allclose(prediction[:, 0], gamma["(Intercept)"])


def test_level2_df_for_a_model_with_a_level2_predictor_of_the_intercept(fit_hsb):
    """mathach ~ meanses + minority + (minority | school): the intercept's level-2 model
    has γ00 and γ01 (2 effects), minorityYes's has γ10 (1)."""
    from hlmrep.models.school_statistics import hlm_statistics

    result = fit_hsb("mathach ~ meanses + minority + (minority | school)")
    statistics, _ = hlm_statistics(result)
    intercept = statistics["chisq_homogeneity"]["(Intercept)"]
    assert intercept["level2_fixed_effects"] == 2
    assert intercept["df"] == intercept["schools_used"] - 2
    assert statistics["chisq_homogeneity"]["minorityYes"]["level2_fixed_effects"] == 1


# ----- against lme4, at lme4's own θ -----------------------------------------------------------

R_EB = r"""
suppressMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1], stringsAsFactors = FALSE)
data$sector <- factor(data$sector, levels = c("Public", "Catholic"))
data$minority <- factor(data$minority, levels = c("No", "Yes"))
data$school <- factor(data$school)
models <- fromJSON(args[2])
out <- list()
for (name in names(models)) {
  m <- lmer(as.formula(models[[name]]), data = data, REML = TRUE)
  # Level-1 variables vary within a school; set them to 0 or the reference level, keep
  # each school's own level-2 values: predict() then gives the school's intercept.
  first <- data[!duplicated(data$school), ]
  within <- names(data)[sapply(names(data), function(v)
    any(tapply(data[[v]], data$school, function(x) length(unique(x))) > 1))]
  base <- first
  for (v in within) {
    base[[v]] <- if (is.factor(data[[v]])) factor(levels(data[[v]])[1], levels(data[[v]])) else 0
  }
  eb0 <- predict(m, newdata = base)
  terms <- colnames(ranef(m)$school)
  eb <- list()
  for (term in terms) {
    if (term == "(Intercept)") { eb[[term]] <- unname(eb0); next }
    shifted <- base
    factor_var <- Filter(function(v) is.factor(data[[v]]) && startsWith(term, v), names(data))
    if (length(factor_var) == 1) {
      level <- substring(term, nchar(factor_var) + 1)
      shifted[[factor_var]] <- factor(level, levels(data[[factor_var]]))
    } else {
      shifted[[term]] <- 1
    }
    eb[[term]] <- unname(predict(m, newdata = shifted) - eb0)
  }
  co <- coef(m)$school
  out[[name]] <- list(theta = unname(getME(m, "theta")), school = as.character(first$school),
                      eb = eb, coef = lapply(as.list(co[terms]), unname))
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), args[3])
"""


@pytest.mark.lme4
@pytest.mark.skipif(not have_rscript_with("lme4", "jsonlite"), reason="needs R with lme4")
def test_eb_equals_lme4_at_lme4s_theta_for_every_model(hsb, tmp_path):
    """lme4's predict() with the random effects, at lme4's θ, against ours at that θ.

    At the same θ the two engines compute the same estimates, so this checks the level-2
    part of every school's coefficient with a tight tolerance, wherever lme4 stopped.  For
    the models whose coefficients have no level-2 predictors, coef() (γ̂ + b̂) must agree too.
    """
    data = tmp_path / "hsb.csv"
    hsb.to_csv(data, index=False)
    models = {name: spec["formula"] for name, spec in CONFIG["models"].items()}
    (tmp_path / "models.json").write_text(json.dumps(models))
    (tmp_path / "eb.R").write_text(R_EB)
    done = subprocess.run(
        [
            "Rscript",
            "--vanilla",
            str(tmp_path / "eb.R"),
            str(data),
            str(tmp_path / "models.json"),
            str(tmp_path / "out.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    lme4 = json.loads((tmp_path / "out.json").read_text())
    for name, formula in models.items():
        ours = fit(formula, hsb).at_theta(np.array(lme4[name]["theta"]))
        assert ours.design.group_levels == lme4[name]["school"]
        eb = level2_prediction(ours) + ours.solution.b
        for q, term in enumerate(ours.random_names):
            theirs = np.array(lme4[name]["eb"][term])
            assert np.allclose(eb[:, q], theirs, rtol=0, atol=1e-6), (name, term)
            if all(variable is None for _, variable in LEVEL2[name][term]):
                coef = np.array(lme4[name]["coef"][term])
                assert np.allclose(eb[:, q], coef, rtol=0, atol=1e-6), (name, term, "coef")
