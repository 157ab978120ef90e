"""Grading SAS PROC MIXED listings.

SAS does not run here: tests/fixtures/grading/make_sas.py builds PROC MIXED's listing of
model3 and model4 (sector a CLASS variable) from its documented layout with the REML
optimum's numbers at SAS's digits; model4 also with its spaces collapsed.  Each file says
so in its first lines.
"""

from __future__ import annotations

import pytest

from conftest import ROOT, assert_fresh_fixtures_grade_as_kept, rerun_python_fixture_script
from hlmrep.grading.grade import grade_file
from hlmrep.grading.readers.sas import parse

FOLDER = ROOT / "tests" / "fixtures" / "grading" / "sas"
SCRIPT = ROOT / "tests" / "fixtures" / "grading" / "make_sas.py"


def test_sas_effects_and_un_parameters_become_lme4_s():
    (summary,) = parse((FOLDER / "tanya_cole_sas.txt").read_text()).blocks
    assert [t.term for t in summary.fixed] == [
        "(Intercept)",
        "meanses",
        "sectorCatholic",
        "cses",
        "meanses:cses",
        "sectorCatholic:cses",
    ]  # fmt: skip  (the reference rows, 0 and '.', are dropped)
    assert [t.name for t in summary.random] == ["(Intercept)", "cses"]  # UN(2,2) is cses's
    assert summary.random[1].covariances[0].text == "0.1918"
    assert summary.fixed[1].p_value is not None and summary.fixed[1].p_value.bound == "<"
    assert summary.reml_criterion is not None and summary.reml_criterion.text == "46503.7"


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("sven_berg_sas.txt", "model3"),
        ("tanya_cole_sas.txt", "model4"),
        ("ulla_ek_sas_webpage.txt", "model4"),
    ],
)
def test_sas_listings_replicate(grading_catalogue, hsb_table, name, target):
    grade = grade_file(FOLDER / name, grading_catalogue, table=hsb_table)
    assert grade["format"] == "SAS output"
    (model,) = grade["models"]
    assert model["target"] == target and model["their_model"]["computation"] == "correct"
    assert grade["all_replicated"] and grade["missing"] == 0


def test_fresh_sas_fixtures_grade_the_same(grading_catalogue, hsb, tmp_path, hsb_table):
    out = rerun_python_fixture_script(SCRIPT, hsb, tmp_path)
    assert_fresh_fixtures_grade_as_kept(out, FOLDER, grading_catalogue, hsb_table)


def test_sas_s_model3_by_ml_is_diagnosed(grading_catalogue, hsb_table):
    grade = grade_file(FOLDER / "vic_hall_sas_ml.txt", grading_catalogue, table=hsb_table)
    assert grade["diagnoses"] == ["ml_instead_of_reml"]
    assert grade["models"][0]["their_model"]["estimation"] == "ML"


def test_a_listing_whose_lines_a_page_copy_joined_is_read_whole():
    """Titles, headers, fit statistics and rows run together on one line: each table starts
    at its title, its rows split by its header's count of columns (a CLASS level printed
    as a number a label), each fit statistic the number after its label."""
    text = (
        "proc mixed data=hsb covtest; class school sector; model mathach = sector cses "
        "/solution; random intercept cses / subject=school type=un; run; "
        "Fit Statistics -2 Res Log Likelihood 46503.7 AIC (Smaller is Better) 46511.7 "
        "BIC (Smaller is Better) 46524.0 "
        "Covariance Parameter Estimates Cov Parm Subject Estimate Error Value Pr Z "
        "UN(1,1) school 2.3796 0.3 7.9 <.0001 UN(2,1) school 0.1918 0.1 1.9 0.05 "
        "UN(2,2) school 0.1012 0.05 2.0 0.02 Residual 36.7212 0.6 59.2 <.0001 "
        "Solution for Fixed Effects Standard Effect sector Estimate Error DF t Value "
        "Pr > |t| Intercept 12.1279 0.1993 157 60.86 <.0001 sector 1 1.2266 0.3063 157 "
        "4.00 <.0001 sector 0 0 . . . . cses 2.9450 0.1556 7020 18.93 <.0001 "
        "Type 3 Tests of Fixed Effects Num Den Effect DF DF F Value Pr > F "
        "sector 1 157 16.0 <.0001\n"
    )
    (summary,) = parse(text).blocks
    assert [(t.term, t.estimate.text, t.df and t.df.text) for t in summary.fixed] == [
        ("(Intercept)", "12.1279", "157"),
        ("sector1", "1.2266", "157"),
        ("cses", "2.9450", "7020"),
    ]
    assert [(t.name, t.variance and t.variance.text) for t in summary.random] == [
        ("(Intercept)", "2.3796"),
        ("cses", "0.1012"),
    ]
    assert summary.random[1].covariances[0].text == "0.1918"
    assert summary.residual_variance is not None and summary.residual_variance.text == "36.7212"
    assert summary.reml_criterion is not None and summary.reml_criterion.text == "46503.7"
    assert summary.fit_statistics["AIC"].text == "46511.7"
    assert summary.formula == "mathach ~ sector1 + cses + (1 + cses | school)"
    assert not summary.unread and not summary.truncated


def test_a_page_cut_inside_rows_run_together_is_cut_short():
    text = (
        "PROC MIXED;\nCovariance Parameter Estimates\nCov Parm Subject Estimate\n"
        "Intercept school 2.6357 Residual 39.1578\nSolution for Fixed Effects\n"
        "Standard Effect Estimate Error DF t Value Pr > |t|\n"
        "Intercept 12.6495 0.1492 158 84.77 <.0001 MEANSES 5.8635 0.36\n"
    )
    (summary,) = parse(text).blocks
    assert [t.term for t in summary.fixed] == ["(Intercept)"]
    assert summary.truncated and not summary.unread
    assert summary.residual_variance is not None and summary.residual_variance.text == "39.1578"
