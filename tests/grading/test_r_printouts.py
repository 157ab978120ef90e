"""The R reader on the layouts real R printouts have beyond a console's ``summary()``.

Each case is a layout found in the corpus of real printouts (tests/fixtures/grading/corpus,
each file's source in its header) or printed by the same code (car's ``print.S.lmerMod``,
nlme's ``print.summary.lme``): nlme's nested grouping (a ``Formula:`` block and a count per
level), nlme's fixed-effects table wrapped into column chunks, output pasted back into a
script as ``#`` comments (a remark after a row's numbers), car's ``S()`` of an lmer fit
(with its title and without), a summary pasted without its title, and lme4's messages on
its optimizer under a summary.  What must not change is checked beside it: a glmer summary
and a ``VarCorr()`` under a heading are not read as a title-less summary, a script's own
comments are not uncommented, and the reader stays linear in its input.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hlmrep.grading.printout import Summary
from hlmrep.grading.readers import r_tables
from hlmrep.grading.readers.lme4 import parse

CORPUS = Path(__file__).parents[1] / "fixtures" / "grading" / "corpus"


def _summaries(text: str) -> list[Summary]:
    return [block for block in parse(text).blocks if isinstance(block, Summary)]


def _only(text: str) -> Summary:
    (summary,) = _summaries(text)
    assert not summary.unread, summary.unread
    return summary


def _corpus(name: str) -> Summary:
    return _only((CORPUS / name).read_text())


# ----- nlme: nested grouping, wrapped fixed effects ------------------------------------------
def test_nested_levels_keep_their_own_groups_and_counts() -> None:
    summary = _corpus("nlme_famid_nested_prompt.txt")
    assert summary.groups == {"FAMID": 205, "MRN %in% FAMID": 288}
    assert [(t.group, t.name, t.sd and t.sd.text) for t in summary.random] == [
        ("FAMID", "(Intercept)", "1.679479"),
        ("MRN %in% FAMID", "(Intercept)", "1.66506"),
    ]
    assert summary.residual_sd is not None and summary.residual_sd.text == "1.404346"
    # both levels in the model rebuilt, the inner one in lme4's words; the fixed formula
    # out of the call's as.formula("...")
    assert summary.formula == "SX_HI ~ age_at_scan + sex + (1 | FAMID) + (1 | FAMID:MRN)"


def test_a_nested_level_with_a_slope_keeps_its_correlation() -> None:
    summary = _corpus("nlme_pad_country_id_rslope.txt")
    assert summary.groups == {"Country": 32, "ID %in% Country": 6916}
    slope = summary.random[-1]
    assert (slope.group, slope.name) == ("ID %in% Country", "DaysPhase3")
    assert [c.text for c in slope.correlations] == ["-0.274"]
    assert summary.formula.endswith("+ (1 | Country) + (DaysPhase3 | Country:ID)")
    assert len(summary.fixed) == 8


def test_a_single_level_is_rebuilt_as_before() -> None:
    summary = _corpus("nlme_co2_plant_boundary.txt")
    assert summary.formula == "uptake ~ Type * Treatment + (1 | Plant)"
    assert summary.groups == {"Plant": 12}


def test_nlme_fixed_effects_wrapped_into_column_chunks_are_merged_by_term() -> None:
    summary = _corpus("nlme_co2_plant_boundary.txt")
    rows = {
        t.term: (t.estimate.text, t.std_error.text, t.df and t.df.text, t.t_value.text)
        for t in summary.fixed
    }
    assert rows == {
        "(Intercept)": ("35.33333", "1.747038", "72", "20.224710"),
        "TypeMississippi": ("-9.38095", "2.470685", "8", "-3.796904"),
        "Treatmentchilled": ("-3.58095", "2.470685", "8", "-1.449377"),
        "TypeMississippi:Treatmentchilled": ("-6.55714", "3.494076", "8", "-1.876646"),
    }
    assert [t.p_value and t.p_value.text for t in summary.fixed] == [
        "0.0000",
        "0.0053",
        "0.1853",
        "0.0974",
    ]


NLME = """\
Linear mixed-effects model fit by REML
 Data: d
       AIC      BIC    logLik
  584.0375 598.3297 -286.0188

Random effects:
 Formula: ~1 | g
        (Intercept) Residual
StdDev:    1.234567 8.005933

Fixed effects: y ~ x
                Value Std.Error DF
(Intercept) 35.33333  1.747038 72
x           -9.38095  2.470685  8
              t-value p-value
(Intercept) 20.224710  0.0000
{last}
Number of Observations: 84
Number of Groups: 12
"""


def test_a_term_missing_from_a_chunk_is_a_row_not_read() -> None:
    (summary,) = _summaries(NLME.format(last=""))
    assert any("'x': columns missing" in row for row in summary.unread)
    whole = _only(NLME.format(last="x           -3.796904  0.0053"))
    assert [t.term for t in whole.fixed] == ["(Intercept)", "x"]


def test_a_residual_correlation_structure_is_not_read_as_a_plain_fit() -> None:
    text = NLME.format(last="x -3.796904 0.0053").replace(
        "\nFixed effects:",
        "\nCorrelation Structure: AR(1)\n Formula: ~1 | g\n Parameter estimate(s):\n"
        "      Phi\n0.4520211\n\nFixed effects:",
    )
    (summary,) = _summaries(text)
    assert any("Correlation Structure" in row for row in summary.unread)


def test_nested_counts_that_do_not_line_up_are_not_read() -> None:
    text = NLME.format(last="x -3.796904 0.0053").replace(
        "Number of Groups: 12\n", "Number of Groups: \n   a b %in% a\n   12 40 7\n"
    )
    (summary,) = _summaries(text)
    assert any("Number of Groups" in row for row in summary.unread)


# ----- output pasted back into a script as comments -------------------------------------------
def test_a_commented_lme4_printout_is_read() -> None:
    summary = _corpus("lme4_commented_script_t42.txt")
    assert summary.program == "lme4" and summary.estimation == "REML"
    assert [(t.group, t.variance and t.variance.text) for t in summary.random] == [("ID", "8.614")]
    assert summary.residual_variance is not None and summary.residual_variance.text == "39.148"
    assert [(t.term, t.estimate.text) for t in summary.fixed] == [("(Intercept)", "12.6370")]
    assert summary.n_obs == 7185 and summary.groups == {"ID": 160}
    assert summary.reml_criterion is None  # not pasted: missing, not a row unread
    assert any("without its title" in note for note in summary.notes)


def test_a_commented_nlme_printout_is_read_without_the_authors_remarks() -> None:
    summary = _corpus("nlme_commented_script_t45.txt")
    assert summary.program == "nlme" and summary.estimation == "REML"
    assert summary.residual_sd is not None and summary.residual_sd.text == "6.0597952"
    assert [t.sd and t.sd.text for t in summary.random] == ["1.5426166", "0.3182103"]
    assert [c.text for c in summary.random[1].correlations] == ["0.391"]
    assert len(summary.fixed) == 6
    assert summary.formula == "mathach ~ meanses * cses + sector * cses + (cses | school)"


def test_only_a_run_of_comments_holding_a_printout_is_uncommented() -> None:
    script = [
        "# fit the model: 2 levels - students in schools",
        "m <- lmer(y ~ x + (1 | g), d)",
        "#Random effects:",
        "#  Groups Name Variance Std.Dev.",
        "#Residual 39.148 6.257 <- the residual",
        "#y ~ x - 1",
    ]
    assert r_tables.lines("\n".join(script)) == [
        "# fit the model: 2 levels - students in schools",  # a remark, kept as written
        "m <- lmer(y ~ x + (1 | g), d)",
        "Random effects:",
        "Groups Name Variance Std.Dev.",
        "Residual 39.148 6.257",  # the author's remark after the numbers cut
        "y ~ x - 1",  # a formula's "- 1" is a term, not a remark
    ]


# ----- car::S() of an lmer fit -----------------------------------------------------------
def test_car_s_brief_is_read_as_an_lmer_summary() -> None:
    summary = _corpus("car_S_cv_jss_t45.txt")
    assert summary.program == "lme4" and summary.estimation == "REML"
    assert len(summary.fixed) == 6 and summary.fixed[0].t_value.text == "60.86"
    assert [t.sd and t.sd.text for t in summary.random] == ["1.543", "0.318"]
    assert summary.random[0].variance is None
    assert summary.residual_sd is not None and summary.residual_sd.text == "6.060"
    assert {k: v.text for k, v in summary.fit_statistics.items()} == {
        "logLik": "-23252",
        "df": "10",
        "AIC": "46524",
        "BIC": "46592",
    }
    assert summary.reml_criterion is not None and summary.reml_criterion.text == "46504"
    assert summary.n_obs == 7185 and summary.groups == {"school": 160}


CAR_S = """\
Linear mixed model fit by ML
Call: lmer(formula = mathach ~ cses + (cses | school), data = HSB, REML = FALSE)

Estimates of Fixed Effects{kr}
            Estimate Std. Error {columns}
(Intercept)  12.6361     0.2437   51.84 {df}< 2e-16 ***
cses          2.1932     0.1282   17.11 {df}< 2e-16 ***
---
Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1

Correlations of Fixed Effects:
     (Intercept)
cses 0.011

Estimates of Random Effects (Covariance Components):
 Groups   Name        Std.Dev. Corr
 school   (Intercept) 2.9447
          cses        0.8282   0.020
 Residual             6.0582

Number of obs: 7185, groups:  school, 160

 logLik      df     AIC     BIC
-23355.2     6.0 46722.4 46763.7

Some prose after the printout.
"""


@pytest.mark.parametrize(
    ("kr", "columns", "df"),
    [(":", "z value Pr(>|z|)", ""), (" with KR Tests", "t value df for t Pr(>|t|)", "157.1 ")],
)
def test_car_s_with_its_title_reads_the_method_and_the_deviance(
    kr: str, columns: str, df: str
) -> None:
    summary = _only(CAR_S.format(kr=kr, columns=columns, df=df))
    assert summary.estimation == "ML"
    assert [t.term for t in summary.fixed] == ["(Intercept)", "cses"]
    assert [t.df.text if t.df else None for t in summary.fixed] == [df.strip() or None] * 2
    assert summary.fit_statistics["deviance"].text == "46710.4"
    assert summary.residual_sd is not None and summary.residual_sd.text == "6.0582"
    assert summary.end == CAR_S.splitlines().index("Some prose after the printout.")


# ----- lme4's word on its optimizer ---------------------------------------------------------
def test_a_convergence_failure_under_the_summary_reads_the_fit_as_not_converged() -> None:
    summary = _corpus("lme4_btheb_rslope_nonconv.txt")
    assert summary.converged is False
    assert any("max|grad| = 0.00231089" in note for note in summary.notes)


def test_a_singular_fit_is_noted() -> None:
    summary = _corpus("lme4_rat_singular_rslope.txt")
    assert summary.converged is None
    assert any("boundary (singular) fit" in note for note in summary.notes)


LMER = """\
Linear mixed model fit by REML ['lmerMod']
Formula: y ~ 1 + (1 | g)

REML criterion at convergence: 47116.8

Random effects:
 Groups   Name        Variance Std.Dev.
 g        (Intercept)  8.614   2.935
 Residual             39.148   6.257
Number of obs: 7185, groups:  g, 160

Fixed effects:
            Estimate Std. Error t value
(Intercept)  12.6370     0.2444   51.71
{trailer}
"""


def test_a_nonzero_convergence_code_reads_the_fit_as_not_converged() -> None:
    failed = _only(LMER.format(trailer="optimizer (bobyqa) convergence code: 1 (failure)"))
    assert failed.converged is False
    fine = _only(LMER.format(trailer="optimizer (nloptwrap) convergence code: 0 (OK)"))
    assert fine.converged is None and not fine.notes


# ----- what is not a title-less summary -----------------------------------------------------
def test_a_glmer_summary_is_not_read_as_an_lmer_without_its_title() -> None:
    glmer = """\
Generalized linear mixed model fit by maximum likelihood (Laplace Approximation) ['glmerMod']
 Family: binomial  ( logit )
Formula: y ~ x + (1 | g)

     AIC      BIC   logLik deviance df.resid
   100.0    110.0    -47.0     94.0       97

Scaled residuals:
    Min      1Q  Median      3Q     Max
-1.2345 -0.5432  0.1234  0.5432  1.2345

Random effects:
 Groups Name        Variance Std.Dev.
 g      (Intercept) 0.5      0.7071
Number of obs: 100, groups:  g, 10

Fixed effects:
            Estimate Std. Error z value Pr(>|z|)
(Intercept)   0.1000     0.2000   0.500    0.617
"""
    assert parse(glmer).blocks == []
    assert parse(glmer.split("\n", 3)[3]).blocks == []  # without its title: no residual


def test_a_varcorr_under_a_heading_is_still_not_graded() -> None:
    parsed = parse(
        "Random effects:\n Groups   Name        Std.Dev.\n g        (Intercept) 2.935\n"
        " Residual             6.257\n"
    )
    assert parsed.blocks == [] and parsed.problems == []
    assert any("VarCorr()" in line for line in parsed.not_graded)


def test_many_title_less_starts_and_a_long_commented_line_read_in_linear_time() -> None:
    """Every line is read by one title-less attempt at most, and a comment run's lines once:
    20,000 would-be starts and a 200 KB commented row take well under a second each (a
    quadratic reader would take minutes)."""
    starts = "\n".join(["Random effects:", " g (Intercept) 1 x"] * 20_000)
    long_row = "#Residual " + " ".join(["6.06"] * 40_000) + " - a remark"
    for text in (starts, "#Random effects:\n" + long_row):
        began = time.perf_counter()
        parse(text)
        assert time.perf_counter() - began < 10
