"""Grading statsmodels' MixedLM output (make_statsmodels.py): real printouts, students' names.

tests/fixtures/grading/statsmodels holds what ``print(result.summary())`` printed for three
students: model4 with patsy's ``C(sector, Treatment('Public'))`` coding (it converges), model3
with statsmodels' default optimizer (it does not converge on HSB: ``Converged: No``), and the
random-intercept model by ML.  The model is rebuilt from the printed terms and fitted like
any formula; the expectations are an instructor's, not the reader's output copied.
"""

from __future__ import annotations

import pytest

from conftest import ROOT, assert_fresh_fixtures_grade_as_kept, rerun_python_fixture_script
from hlmrep.grading.grade import grade_file
from hlmrep.grading.readers.statsmodels_mixedlm import term_name
from hlmrep.grading.verdicts import REPLICATED

FOLDER = ROOT / "tests" / "fixtures" / "grading" / "statsmodels"
SCRIPT = ROOT / "tests" / "fixtures" / "grading" / "make_statsmodels.py"


def _grade(path, catalogue, table) -> dict:
    grade = grade_file(path, catalogue, table=table)
    assert grade["status"] == "graded", grade.get("error")
    return grade


def test_a_converged_model4_replicates_with_its_patsy_names(grading_catalogue, hsb_table):
    grade = _grade(FOLDER / "yuki_tanaka_model4.txt", grading_catalogue, hsb_table)
    assert grade["format"] == "statsmodels output"
    (model,) = grade["models"]
    assert model["target"] == "model4" and model["differences"] == []
    assert model["their_model"]["computation"] == "correct"
    assert model["names"]["ses_cwc:sectorCatholic"] == "cses:sectorCatholic"
    numbers = {n["id"]: n for n in model["numbers"]}
    # variances and the covariance as statsmodels prints them; Scale is sigma squared
    assert numbers["random.cov.(Intercept).cses"]["submitted"] == "0.192"
    assert numbers["residual.variance"]["submitted"] == "36.7212"
    assert numbers["criterion"]["submitted"] == "46503.6628"  # −2 × Log-Likelihood
    assert any("−2 × the printed Log-Likelihood" in n for n in model["reading_notes"])
    # its z values are statsmodels' own (joint-information SEs): right, and said so
    z = numbers["fixed.cses:meanses.t"]
    assert z["verdict"] == "rounding" and z["against"] == "optimum, as its program computes it"
    assert grade["all_replicated"] and grade["missing"] == 0  # no SDs, no residual quantiles


def test_a_fit_that_did_not_converge_is_graded_as_such(grading_catalogue, hsb_table):
    grade = _grade(FOLDER / "zoe_martin_model3.txt", grading_catalogue, hsb_table)
    (model,) = grade["models"]
    assert model["target"] == "model3"
    assert model["diagnosis"]["id"] == "not_converged"
    assert "fit(method=['lbfgs'])" in model["diagnosis"]["fix"]
    assert model["their_model"]["computation"] == "not converged"
    numbers = {n["id"]: n["verdict"] for n in model["numbers"]}
    assert numbers["random.cses.variance"] == "major"  # 15.571 for 0.694
    assert not grade["all_replicated"]


def test_an_ml_random_intercept_model_is_named_with_both_differences(grading_catalogue, hsb_table):
    grade = _grade(FOLDER / "alex_ng_random_intercept_ml.txt", grading_catalogue, hsb_table)
    (model,) = grade["models"]
    assert model["their_model"]["computation"] == "correct"
    assert model["their_model"]["estimation"] == "ML"
    assert grade["diagnoses"] == ["missing_random_slope", "ml_instead_of_reml"]


def test_a_printout_cut_after_its_fixed_effects_is_graded_on_what_it_holds(
    grading_catalogue, hsb_table, tmp_path
):
    """As a web page stores it: cut after the fixed effects, the spaces collapsed."""
    text = (FOLDER / "yuki_tanaka_model4.txt").read_text()
    cut = text[: text.index("Group Var")]
    path = tmp_path / "cut.txt"
    path.write_text("\n".join(" ".join(line.split()) for line in cut.splitlines()))
    grade = _grade(path, grading_catalogue, hsb_table)
    (model,) = grade["models"]
    assert model["target"] == "model4"
    graded = {n["id"] for n in model["numbers"]}
    assert "fixed.cses:sectorCatholic.estimate" in graded and "residual.variance" in graded
    fixed = [n for n in model["numbers"] if n["id"].endswith(".estimate")]
    assert len(fixed) == 6 and all(n["verdict"] in REPLICATED for n in fixed)


@pytest.mark.parametrize(
    ("patsy", "lme4"),
    [
        ("Intercept", "(Intercept)"),
        ("C(sector, Treatment('Public'))[T.Catholic]", "sectorCatholic"),
        ("sector[T.Catholic]", "sectorCatholic"),
        ("ses_cwc:C(sector)[T.Catholic]", "ses_cwc:sectorCatholic"),
        ("ses_cwc:meanses", "ses_cwc:meanses"),
    ],
)
def test_patsy_s_term_names_become_lme4_s(patsy, lme4):
    assert term_name(patsy) == lme4


def test_fresh_output_of_the_statsmodels_script_grades_the_same(
    grading_catalogue, hsb, tmp_path, hsb_table
):
    """Rerun make_statsmodels.py with the installed statsmodels; grade what it prints now."""
    out = rerun_python_fixture_script(SCRIPT, hsb, tmp_path)
    assert_fresh_fixtures_grade_as_kept(out, FOLDER, grading_catalogue, hsb_table)


CONVERGENCE = ROOT / "tests" / "fixtures" / "grading" / "convergence"
MAKE_CONVERGENCE = ROOT / "tests" / "fixtures" / "grading" / "make_convergence.py"


@pytest.mark.parametrize("name", ["rosa_lima_model3.txt", "tomas_novak_hw4.ipynb"])
def test_a_fit_that_says_it_did_not_converge_is_told_so(
    grading_catalogue, hsb_table, name: str
) -> None:
    """statsmodels' ``Converged: No``, printed from a script and as a notebook cell's result
    (its repr beside its HTML, the ConvergenceWarnings in the cell's stderr), real output of
    make_convergence.py: the computation is named, never a correct fit, on the page too."""
    grade = _grade(CONVERGENCE / name, grading_catalogue, hsb_table)
    (block,) = grade["models"]
    assert block["target"] == "model3"
    assert grade["diagnoses"] == ["not_converged"]
    assert block["their_model"]["computation"] == "not converged"
    assert not grade["all_replicated"]


def test_fresh_output_of_the_convergence_script_grades_the_same(
    grading_catalogue, hsb, tmp_path, hsb_table
):
    out = rerun_python_fixture_script(MAKE_CONVERGENCE, hsb, tmp_path)
    assert_fresh_fixtures_grade_as_kept(out, CONVERGENCE, grading_catalogue, hsb_table)
