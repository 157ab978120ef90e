"""Printed lme4 output read back as data (a building block for grading, issue 16).

Two independent references: the reference's own transcription of the vignette's printed
output (src/hlmrep/replication/reference/seed_lme4.yaml), read from the vignette's text as a student
would paste it (knitr's ``## ``, spaces collapsed); and lme4 itself, run here with renamed
variables, whose exact estimates every printed number must round to.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, have_rscript_with
from hlmrep.grading.readers.lme4 import Anova, Summary, parse
from hlmrep.replication.reference import load

#: The course vignette's R code and output (a copy of the seed ``hlm_part2_vignette.txt``,
#: so that the test reads nothing outside the repository).
VIGNETTE = ROOT / "tests" / "fixtures" / "vignette" / "hlm_part2_vignette.txt"
SEED = load("seed_lme4")


@pytest.fixture(scope="module")
def vignette():
    return parse(VIGNETTE.read_text())


def test_the_vignette_has_three_summaries_and_two_anova_tables(vignette):
    assert vignette.problems == []
    kinds = [type(block).__name__ for block in vignette.blocks]
    assert kinds == ["Summary", "Summary", "Summary", "Anova", "Anova"]


@pytest.mark.parametrize("index, model", [(0, "model3"), (1, "model3a")])
def test_vignette_summaries_match_the_reference_transcription(vignette, index, model):
    summary = vignette.blocks[index]
    reference = SEED["models"][model]
    assert isinstance(summary, Summary)
    assert summary.formula == reference["formula"]
    assert summary.reml_criterion.value == reference["reml_criterion"]["value"]
    assert summary.reml_criterion.decimals == reference["reml_criterion"]["digits"]
    assert [p.value for p in summary.scaled_residuals] == [
        reference["scaled_residuals"][k]["value"] for k in ("min", "q1", "median", "q3", "max")
    ]
    for term in summary.fixed:
        expected = reference["fixed"][term.term]
        assert (term.estimate.value, term.std_error.value, term.t_value.value) == (
            expected["estimate"],
            expected["se"],
            expected["t"],
        )
        decimals = [term.estimate.decimals, term.std_error.decimals, term.t_value.decimals]
        assert decimals == expected["digits"]
    random = reference["random"]
    intercept = summary.random[0]
    assert (intercept.group, intercept.name) == ("school", "(Intercept)")
    assert intercept.variance.value == random["school_intercept_var"]["value"]
    assert intercept.sd.value == random["school_intercept_sd"]["value"]
    assert summary.random[1].correlations[0].value == random["corr_intercept_cses"]["value"]
    assert summary.residual_variance.value == random["residual_var"]["value"]
    assert summary.residual_sd.value == random["residual_sd"]["value"]
    assert (summary.n_obs, summary.groups) == (7185, {"school": 160})


def test_vignette_anova_tables(vignette):
    refit, no_refit = vignette.blocks[3], vignette.blocks[4]
    assert isinstance(refit, Anova) and refit.refitted_by_ml
    assert not no_refit.refitted_by_ml
    assert refit.formulas["mod3_int"] == "mathach ~ cses + minority + (1 | school)"
    last = refit.rows[-1].values
    assert last["Chisq"].value == 207.34 and last["Df"].value == 1
    assert last["Pr(>Chisq)"].bound == "<" and last["Pr(>Chisq)"].value == 2.2e-16
    assert last["deviance"].value == 46513  # printed as -2*log(L) by newer lme4
    assert no_refit.rows[-1].values["Chisq"].text == "9.7617"
    assert no_refit.rows[-1].values["Pr(>Chisq)"].value == 0.007591


def test_text_that_is_not_lme4_output_gives_nothing_and_truncation_is_named():
    assert parse("hello\n<script>alert(1)</script>\n1 2 3\n").blocks == []
    text = VIGNETTE.read_text()
    start = text.index("## Linear mixed model fit by REML")
    truncated = parse(text[start : text.index("## Fixed effects:", start)])
    assert len(truncated.blocks) == 1
    assert any("without fixed effects (truncated?)" in p for p in truncated.problems)


R_PRINT = r"""
suppressMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$school <- factor(d$school)
d$sector <- factor(d$sector, levels = c("Public", "Catholic"))
names(d)[names(d) == "mathach"] <- "mAch"
names(d)[names(d) == "cses"] <- "ses_c"
names(d)[names(d) == "meanses"] <- "MEANSES"
m3 <- lmer(mAch ~ ses_c + (ses_c | school), data = d)
m4 <- lmer(mAch ~ ses_c*MEANSES + ses_c*sector + (ses_c | school), data = d, REML = FALSE)
m0 <- lmer(mAch ~ ses_c + (1 | school), data = d)
out <- file(args[2], open = "wt")  # what the console shows: output and messages
sink(out); sink(out, type = "message")
print(summary(m3)); print(summary(m4)); print(anova(m0, m3)); print(anova(m0, m3, refit = FALSE))
sink(type = "message"); sink(); close(out)
exact <- function(m) list(
  fixef = as.list(fixef(m)), se = as.list(sqrt(diag(as.matrix(vcov(m))))),
  variance = as.data.frame(VarCorr(m))$vcov, crit = if (isREML(m)) REMLcrit(m) else deviance(m))
a <- anova(m0, m3, refit = FALSE)
writeLines(toJSON(list(m3 = exact(m3), m4 = exact(m4), chisq = a$Chisq[2]), digits = NA,
                  auto_unbox = TRUE), args[3])
"""


def _rounds_to(printed, exact: float) -> bool:
    return abs(printed.value - exact) <= 0.5 * 10.0**-printed.decimals + 1e-12


@pytest.mark.lme4
@pytest.mark.skipif(not have_rscript_with("lme4", "jsonlite"), reason="needs R with lme4")
def test_real_lme4_output_with_renamed_variables(hsb, tmp_path: Path):
    data = tmp_path / "hsb.csv"
    hsb.to_csv(data, index=False)
    (tmp_path / "print.R").write_text(R_PRINT)
    printed, exact = tmp_path / "printed.txt", tmp_path / "exact.json"
    done = subprocess.run(
        ["Rscript", "--vanilla", str(tmp_path / "print.R"), str(data), str(printed), str(exact)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    parsed = parse(printed.read_text())
    values = json.loads(exact.read_text())
    assert parsed.problems == []
    m3, m4, refit, no_refit = parsed.blocks
    assert (m3.estimation, m4.estimation) == ("REML", "ML")
    assert m3.formula == "mAch ~ ses_c + (ses_c | school)"
    assert [f.term for f in m4.fixed] == list(values["m4"]["fixef"])
    for block, name in ((m3, "m3"), (m4, "m4")):
        for term in block.fixed:
            assert _rounds_to(term.estimate, values[name]["fixef"][term.term]), term
            assert _rounds_to(term.std_error, values[name]["se"][term.term]), term
        variances = [r.variance for r in block.random] + [block.residual_variance]
        exact_variances = values[name]["variance"]
        # VarCorr's data frame: variances, then covariances, then the residual.
        assert _rounds_to(variances[0], exact_variances[0])
        assert _rounds_to(variances[-1], exact_variances[-1])
    assert _rounds_to(m3.reml_criterion, values["m3"]["crit"])
    assert _rounds_to(m4.fit_statistics["deviance"], values["m4"]["crit"])
    assert refit.refitted_by_ml and not no_refit.refitted_by_ml
    assert _rounds_to(no_refit.rows[1].values["Chisq"], values["chisq"])
