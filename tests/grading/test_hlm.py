"""Grading HLM's own output (the program the book's tables were computed with).

HLM does not run here: tests/fixtures/grading/make_hlm.py builds its hlm2.txt for the
book's Table 4.5 model from HLM 6's documented layout and public printouts of it, with
the REML optimum's numbers (HLM's), the book's chi-squares; the same as a web page
stores it (spaces collapsed), and cut after the fixed effects.  Each file says so.
"""

from __future__ import annotations

import pytest

from conftest import ROOT, assert_fresh_fixtures_grade_as_kept, rerun_python_fixture_script
from hlmrep.grading.grade import grade_file
from hlmrep.grading.readers.hlm import parse
from hlmrep.grading.verdicts import REPLICATED

FOLDER = ROOT / "tests" / "fixtures" / "grading" / "hlm"
SCRIPT = ROOT / "tests" / "fixtures" / "grading" / "make_hlm.py"


def test_hlm_s_gammas_become_lme4_s_terms():
    (summary,) = parse((FOLDER / "lena_olsen_hlm6.txt").read_text()).blocks
    assert [t.term for t in summary.fixed] == [
        "(Intercept)", "MEANSES", "SECTOR", "SES_cwc", "SES_cwc:MEANSES", "SES_cwc:SECTOR",
    ]  # fmt: skip
    assert summary.formula == (
        "MATHACH ~ MEANSES + SECTOR + SES_cwc + SES_cwc:MEANSES + SES_cwc:SECTOR"
        " + (1 + SES_cwc | level2)"
    )
    assert summary.robust_se["SES_cwc"].text == "0.147482"
    assert [t.name for t in summary.random] == ["(Intercept)", "SES_cwc"]
    assert summary.random[1].covariances[0].text == "0.19204"  # Tau's row
    assert summary.random[1].correlations[0].text == "0.391"
    assert (summary.n_obs, summary.groups) == (7185, {"level-2": 160})


@pytest.mark.parametrize("name", ["lena_olsen_hlm6.txt", "mei_chen_hlm_webpage.txt"])
def test_table_4_5_from_hlm_replicates_the_book_robust_errors_included(
    grading_catalogue, hsb_table, name
):
    grade = grade_file(FOLDER / name, grading_catalogue, "textbook", table=hsb_table)
    assert grade["status"] == "graded" and grade["format"] == "HLM output"
    (model,) = grade["models"]
    assert model["target"] == "table_4_5" and model["differences"] == []
    assert model["their_model"]["data"][1] == "MEANSES: the school file's MEANSES"
    numbers = {n["id"]: n for n in model["numbers"]}
    robust = numbers["fixed.cses:sectorCatholic.robust_se"]
    assert robust["verdict"] == "exact" and robust["against"] == "optimum"
    assert numbers["criterion"]["submitted"] == "46503.664117"
    assert any("HLM's deviance" in note for note in model["reading_notes"])
    assert grade["all_replicated"] and grade["missing"] == 0


def test_graded_against_the_vignette_hlm_s_meanses_is_the_school_file_s(
    grading_catalogue, hsb_table
):
    grade = grade_file(FOLDER / "lena_olsen_hlm6.txt", grading_catalogue, table=hsb_table)
    assert grade["diagnoses"] == ["meanses_school_file_instead_of_sample"]


def test_a_printout_cut_after_the_fixed_effects_is_graded_on_what_it_holds(
    grading_catalogue, hsb_table
):
    grade = grade_file(FOLDER / "omar_haddad_hlm_cut.txt", grading_catalogue, "textbook",
                       table=hsb_table)  # fmt: skip
    (model,) = grade["models"]
    assert model["target"] == "table_4_5" and model["missing"] == []
    # what it holds: the fixed effects, and sigma squared of the last iteration above them
    assert {n["id"].split(".")[0] for n in model["numbers"]} == {
        "fixed", "residual", "n_obs", "n_groups"
    }  # fmt: skip
    assert all(n["verdict"] in REPLICATED for n in model["numbers"])
    assert "stops after the fixed effects" in model["reading_notes"][-1]


def test_fresh_hlm_fixtures_grade_the_same(grading_catalogue, hsb, tmp_path, hsb_table):
    out = rerun_python_fixture_script(SCRIPT, hsb, tmp_path)
    assert_fresh_fixtures_grade_as_kept(out, FOLDER, grading_catalogue, hsb_table, "textbook")


def test_hlm_7_s_html_output_with_greek_letters_replicates(grading_catalogue, hsb_table):
    """hlm2.html: tables instead of columns, β, γ, τ, σ² and u0 for B, G, Tau, Sigma_squared
    and U0; read from the page's rows, graded as the text output."""
    grade = grade_file(FOLDER / "nora_fox_hlm7.html", grading_catalogue, "textbook",
                       table=hsb_table)  # fmt: skip
    assert grade["format"] == "HLM output in an HTML page"
    (model,) = grade["models"]
    assert model["target"] == "table_4_5" and model["differences"] == []
    numbers = {n["id"] for n in model["numbers"]}
    assert {"random.corr.(Intercept).cses", "fixed.cses.robust_se", "criterion"} <= numbers
    assert grade["all_replicated"] and grade["missing"] == 0


def test_hlm_run_with_ses_not_centred_is_diagnosed(grading_catalogue, hsb_table):
    """No 'SES has been centered around the group mean' in the run: raw SES, which the
    fit of the model written confirms, graded against the book's Table 4.5."""
    grade = grade_file(FOLDER / "pia_lund_hlm_raw_ses.txt", grading_catalogue, "textbook",
                       table=hsb_table)  # fmt: skip
    assert grade["diagnoses"] == ["ses_uncentred"]
    assert grade["models"][0]["their_model"]["data"][0] == "SES as in the data, not centred"
