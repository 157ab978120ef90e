"""Grading by fitting what each student wrote (make_formulas.R): real lme4 output.

tests/fixtures/grading/formulas holds one file per student, written by
tests/fixtures/grading/make_formulas.R with R and lme4: two mistakes at once, both
cross-level interactions left out, sector relevelled, a 0/1 dummy, standardised SES,
terms in another order, a Table 4.5 attempt without its slope, a model the assignment
does not ask for, a random-slope test on anova()'s ML refits, and one between models
fitted to different data.  Each printed formula
is fitted by the engine under the data variants; the expectations below are what a
careful instructor would say of each file, not what the grader happens to print.
"""

from __future__ import annotations

import pytest

from conftest import ROOT, rerun_fixture_script
from hlmrep.grading import their_model
from hlmrep.grading.grade import grade_file
from hlmrep.grading.verdicts import REPLICATED

FORMULAS = ROOT / "tests" / "fixtures" / "grading" / "formulas"
MAKE_FORMULAS = ROOT / "tests" / "fixtures" / "grading" / "make_formulas.R"


def _grade(name: str, catalogue, table, reference: str = "vignette", folder=FORMULAS) -> dict:
    grade = grade_file(folder / name, catalogue, reference, table=table)
    assert grade["status"] == "graded", grade.get("error")
    return grade


def _numbers(model: dict) -> dict[str, dict]:
    return {n["id"]: n for n in model["numbers"]}


def test_two_mistakes_at_once_are_both_named(grading_catalogue, hsb_table):
    """Raw SES fitted by ML: not 'ML at low confidence' but both, each with its fix."""
    grade = _grade("kofi_mensah_model4.txt", grading_catalogue, hsb_table)
    (model,) = grade["models"]
    assert model["target"] == "model4" and model["confidence"] == "high"
    assert [d["id"] for d in model["differences"]] == ["ml_instead_of_reml", "ses_uncentred"]
    assert grade["diagnoses"] == ["ml_instead_of_reml", "ses_uncentred"]
    their = model["their_model"]
    assert their["computation"] == "correct" and their["estimation"] == "ML"
    assert their["data"][0] == "SES as in the data, not centred"
    # every number that does not replicate is what the model written gives
    wrong = [n for n in model["numbers"] if n["verdict"] not in REPLICATED]
    assert wrong and all(n["diagnosis"] == "their_model" for n in wrong)
    assert all(n["their_fit"] is not None for n in wrong)


def test_both_interactions_left_out_is_model4_without_both(grading_catalogue, hsb_table):
    grade = _grade("lena_fischer_model4.txt", grading_catalogue, hsb_table)
    (model,) = grade["models"]
    assert model["target"] == "model4"
    assert grade["diagnoses"] == [
        "missing_interaction_cses_meanses",
        "missing_interaction_cses_sector",
    ]
    # lined up by the formula, so no term is labelled as an interaction it is not
    assert model["names"] == {
        "(Intercept)": "(Intercept)",
        "ses_cwc": "cses",
        "meanses": "meanses",
        "sectorCatholic": "sectorCatholic",
    }
    assert "fixed.cses:sectorCatholic.estimate" in model["missing"]
    assert grade["score"] < 0.5


@pytest.mark.parametrize(
    ("name", "note"),
    [
        ("maria_santos_model4.txt", "its baseline is Catholic (relevelled)"),
        ("olga_ivanova_model3.txt", "SES is standardised"),
    ],
)
def test_an_equivalent_parametrisation_is_right_in_its_own_terms(
    grading_catalogue, hsb_table, name, note
):
    grade = _grade(name, grading_catalogue, hsb_table)
    (model,) = grade["models"]
    assert model["differences"] == [] and grade["diagnoses"] == []
    assert any(note in n for n in model["their_model"]["parametrisation"])
    assert "in another parametrisation" in model["their_model"]["in_words"]
    assert grade["all_replicated"] and grade["missing"] == 0


def test_a_relevelled_sector_is_compared_with_the_reference_in_that_coding(
    grading_catalogue, hsb_table
):
    (model,) = _grade("maria_santos_model4.txt", grading_catalogue, hsb_table)["models"]
    numbers = _numbers(model)
    public = numbers["fixed.sectorPublic.estimate"]
    # the reference's sectorCatholic is 1.2266; in Maria's coding it is -1.2266
    assert public["submitted"] == "-1.2266" and public["verdict"] == "exact"
    assert public["optimum"] == pytest.approx(-1.2266, abs=5e-5)
    assert public["reference"] is None  # the source printed the other coding
    # the random part does not depend on sector's coding: still the printed reference's
    assert numbers["random.cses.variance"]["reference"] == "0.101"


def test_a_0_1_dummy_is_the_factor(grading_catalogue, hsb_table):
    """'catholic' as 0/1, and a formula R wrapped over two lines: the same numbers."""
    grade = _grade("noah_kim_model4.txt", grading_catalogue, hsb_table)
    (model,) = grade["models"]
    assert model["their_model"]["formula"].endswith("(ses_cwc | school)")
    assert model["names"]["ses_cwc:catholic"] == "cses:sectorCatholic"
    assert grade["all_replicated"] and grade["graded"] == 33


def test_terms_in_another_order_are_lined_up_by_their_names(grading_catalogue, hsb_table):
    grade = _grade("tara_singh_model4.txt", grading_catalogue, hsb_table)
    (model,) = grade["models"]
    assert model["names"]["sectorCatholic:ses_cwc"] == "cses:sectorCatholic"
    assert model["names"]["ses_cwc:meanses"] == "cses:meanses"
    assert grade["all_replicated"]


def test_a_table_4_5_attempt_without_its_slope_says_the_slope_is_missing(
    grading_catalogue, hsb_table
):
    """Without a deviance test in the file, the no-slope model is not what the student was
    asked for: graded as Table 4.5 (the book) with the slope missing, and the slope's
    numbers count as missing."""
    grade = _grade("priya_nair_table45.txt", grading_catalogue, hsb_table, "textbook")
    (model,) = grade["models"]
    assert model["target"] == "table_4_5"
    assert [d["id"] for d in model["differences"]] == ["missing_random_slope"]
    assert "random.cses.variance" in model["missing"]
    assert not grade["all_replicated"]
    # graded against the vignette, the school file's MEANSES is a second difference
    vignette = _grade("priya_nair_table45.txt", grading_catalogue, hsb_table)
    assert vignette["diagnoses"] == [
        "meanses_school_file_instead_of_sample",
        "missing_random_slope",
    ]


def test_a_model_the_assignment_does_not_ask_for_does_not_change_the_score(
    grading_catalogue, hsb_table
):
    grade = _grade("sam_okoro_lab.txt", grading_catalogue, hsb_table)
    model3, extra = grade["models"]
    assert model3["target"] == "model3" and model3["part_of_assignment"]
    assert not extra["part_of_assignment"] and extra["numbers"] == []
    assert extra["names"]["sexFemale"] == "female"  # not minorityYes
    assert grade["all_replicated"]  # the model with sex counts for nothing either way
    assert grade["expected"] == grade["graded"] + grade["missing_required"]


def test_a_variance_tested_on_ml_refits_is_valid_with_a_note(grading_catalogue, hsb_table):
    """anova(m3_null, m3) refits by ML: a valid test of the slope variance, graded against
    the ML refits' own numbers, with the χ̄² note; not 'fitted by ML'."""
    grade = _grade("uma_reddy_slope_test.txt", grading_catalogue, hsb_table)
    (test,) = grade["models"]
    assert test["target"] == "random_cses_slope" and test["refitted_by_ml"]
    assert test["diagnosis"]["id"] == "ml_refit_for_variance_test"
    assert test["diagnosis"]["kind"] == "accepted"
    assert "chi-bar-square" in test["diagnosis"]["explanation"]
    assert grade["notes"] == ["ml_refit_for_variance_test"] and grade["diagnoses"] == []
    assert grade["all_replicated"]


def test_lme4_s_printed_expansion_of_double_bar_is_folded_back():
    assert their_model.fold_bars("y ~ x + ((1 | g) + (0 + x | g))") == "y ~ x + (1 + x || g)"
    assert their_model.fold_bars("y ~ x + (x | g)") == "y ~ x + (x | g)"


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("ses_cwc", "ses"),
        ("SES", "ses"),
        ("ses_mean_centred", "ses"),
        ("MEANSES", "meanses"),
        ("mean.ses", "meanses"),
        ("avg_ses", "meanses"),
        ("Sector", "sector"),
        ("catholic", "sector"),
        ("minority", "minority"),
        ("sex", "female"),
        ("female", "female"),
        ("schoolsize", "size"),
        ("id", None),
    ],
)
def test_a_variable_s_role_is_read_from_its_name(name, role):
    assert their_model.role_of(name) == role


@pytest.mark.lme4
def test_fresh_output_of_the_formulas_script_grades_the_same(
    grading_catalogue, hsb, tmp_path, hsb_table
):
    """Rerun make_formulas.R with the installed lme4 and grade what it prints now."""
    out = rerun_fixture_script(MAKE_FORMULAS, hsb, tmp_path, "lme4")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in FORMULAS.iterdir())
    for path in sorted(out.iterdir()):
        fresh = _grade(path.name, grading_catalogue, hsb_table, folder=out)
        kept = _grade(path.name, grading_catalogue, hsb_table)
        assert [m["target"] for m in fresh["models"]] == [m["target"] for m in kept["models"]]
        assert fresh["diagnoses"] == kept["diagnoses"] and fresh["notes"] == kept["notes"]
        assert fresh["all_replicated"] == kept["all_replicated"]


def test_the_assignment_decides_what_is_graded_and_what_is_missing(grading_catalogue, hsb_table):
    """Asked for model3 and model4 only: Sam's model3 is graded, the model with sex is not
    part of the assignment, and model4 is listed as missing; asked for model4 alone, his
    model3 is not part of it either and nothing is graded."""
    path = FORMULAS / "sam_okoro_lab.txt"
    grade = grade_file(path, grading_catalogue, table=hsb_table, assignment=["model3", "model4"])
    assert [m["part_of_assignment"] for m in grade["models"]] == [True, False]
    assert grade["assignment"]["attempted"] == ["model3"]
    assert grade["assignment"]["missing"] == ["model4"]
    # what was handed in replicates; model4, asked for and missing, counts as all its
    # numbers not replicated
    assert grade["all_replicated"] and grade["missing_required"] > 0
    assert grade["score"] == round(grade["replicated"] / grade["expected"], 4) < 1
    only4 = grade_file(path, grading_catalogue, table=hsb_table, assignment=["model4"])
    assert [m["part_of_assignment"] for m in only4["models"]] == [False, False]
    assert only4["graded"] == 0 and only4["assignment"]["missing"] == ["model4"]


def test_the_default_assignment_counts_a_model_and_its_twin_once(grading_catalogue, hsb_table):
    grade = grade_file(FORMULAS / "tara_singh_model4.txt", grading_catalogue, table=hsb_table)
    missing = grade["assignment"]["missing"]
    assert "model4" not in missing and "table_4_5" not in missing  # model4 is Table 4.5's twin
    assert "model3" in missing and "table_4_4" in missing and "fixed_minority" in missing


def test_an_unknown_reference_in_the_assignment_is_an_error_naming_the_known_ones():
    from hlmrep.errors import HlmrepError
    from hlmrep.grading.references import load

    with pytest.raises(
        HlmrepError, match=r"'model5' not a reference model or test; known: .*model4"
    ):
        load().required(["model3", "model5"])


def test_an_answer_sheet_of_two_mistakes_is_diagnosed_as_both(
    grading_catalogue, hsb_table, tmp_path
):
    """No formula on an answer sheet: the numbers of Kofi's ML fit with raw SES, copied
    into the sheet's model4 rows as a Stata user would, are explained by no single
    mistake; combined two at a time, ML and uncentred SES are."""
    from hlmrep.grading import answer_sheet

    kofi = _grade("kofi_mensah_model4.txt", grading_catalogue, hsb_table)
    printed = {n["id"]: n["submitted"] for n in kofi["models"][0]["numbers"]}
    rows = [r for r in answer_sheet.rows() if r["id"].startswith("model4.")]
    for row in rows:
        row["value"] = printed.get(row["id"].removeprefix("model4."), "")
    path = tmp_path / "kofi_sheet.csv"
    with path.open("w", newline="") as stream:
        import csv

        writer = csv.DictWriter(stream, answer_sheet.COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    grade = grade_file(path, grading_catalogue, table=hsb_table)
    (model,) = grade["models"]
    assert model["target"] == "model4" and model["matched"]["candidate"] == "combined"
    assert grade["diagnoses"] == ["ml_instead_of_reml", "ses_uncentred"]
    assert model["confidence"] == "high"
    # without the table (no fits at grading time) only one of the two can be named
    alone = grade_file(path, grading_catalogue)
    assert len(alone["diagnoses"]) <= 1


@pytest.mark.parametrize(
    "path",
    sorted(FORMULAS.iterdir()) + sorted((ROOT / "tests/fixtures/grading/class").iterdir()),
    ids=lambda p: p.name,
)
def test_every_grade_page_starts_each_model_with_what_was_computed(
    grading_catalogue, hsb_table, path
):
    """Each page renders, every difference (catalogued or not) under its own title, and
    each model fitted from its formula opens with the sentence saying what was computed."""
    import html

    from hlmrep.grading.pages import render_grade

    grade = grade_file(path, grading_catalogue, table=hsb_table)
    page = html.unescape(render_grade(grade, grading_catalogue["mistakes"]))
    summary = page.index("<h2>Summary</h2>")
    assert page.index("<h2>What you computed</h2>") < summary
    for model in grade["models"]:
        their = model.get("their_model") or {}
        if their.get("fitted"):
            assert page.index(their["in_words"]) < summary  # the page starts with it
            after = page.index(their["in_words"])
            for difference in model["differences"]:
                assert page.index(difference["title"] + ".", after) > after
    for diagnosis in grade["diagnoses"]:
        assert grade["titles"][diagnosis] in page


def test_an_lrt_of_models_fitted_to_different_data_is_flagged(grading_catalogue, hsb_table):
    """Victor centred SES in place between his two fits: each model's formula reproduces
    its printed deviance only with its own data (raw SES for m0, centred for m1), so the
    test (χ² = 0, p = 1) compares the data, not the models."""
    grade = _grade("victor_lim_slope_test.txt", grading_catalogue, hsb_table)
    (test,) = grade["models"]
    assert test["target"] == "random_cses_slope"
    assert test["tested_data"]["m1"] == ["SES centred on its school's mean (cses)"]
    assert "SES as in the data, not centred" in test["tested_data"]["m0"]
    assert test["diagnosis"]["id"] == "lrt_different_data"
    assert grade["diagnoses"] == ["lrt_different_data"]
    numbers = _numbers(test)
    assert numbers["p_value"]["verdict"] == "decision error"
    # fitted to one data frame, the same two formulas pass the check
    ok = _grade("uma_reddy_slope_test.txt", grading_catalogue, hsb_table)
    assert set(map(tuple, ok["models"][0]["tested_data"].values())) == {
        ("SES centred on its school's mean (cses)",)
    }


def _intervals(grade: dict) -> dict[str, dict]:
    return {m["method"]: m for m in grade["models"] if m["kind"] == "confint"}


def test_confidence_intervals_are_graded_by_their_method(grading_catalogue, hsb_table):
    """Wen's confint(m3): profile against the engine's profile (lme4's spline reading of
    it, .sig02's a straight line as lme4 warned), Wald exactly, the bootstrap of 500
    simulations within its Monte-Carlo error; the matrix is model3's by its rows."""
    grade = _grade("wen_zhao_intervals.txt", grading_catalogue, hsb_table)
    blocks = _intervals(grade)
    assert set(blocks) == {"profile", "Wald", "boot"}
    assert all(b["target"] == "model3" for b in blocks.values())
    assert blocks["boot"]["nsim"] == 500 and blocks["boot"]["label"].endswith("nsim = 500)")
    for method, count in (("profile", 12), ("Wald", 4), ("boot", 12)):
        numbers = blocks[method]["numbers"]
        assert len(numbers) == count  # Wald: the variance parameters are NA on both sides
        assert all(n["verdict"] in REPLICATED for n in numbers), method
    profile = _numbers(blocks["profile"])
    assert profile["ci.cses.lower"]["optimum"] == pytest.approx(1.9410346, abs=1e-5)
    assert grade["all_replicated"]


def test_intervals_of_another_method_or_level_do_not_pass(grading_catalogue, hsb_table, tmp_path):
    """The profile matrix relabelled as Wald is not Wald: its fixed-effect limits differ
    beyond the printed digits (and its variance rows, NA in Wald, are wrong too); a 90 %
    header on 95 % numbers is wrong for every limit."""
    text = (FORMULAS / "wen_zhao_intervals.txt").read_text()
    profile = text.split("\n\n")[0]
    as_wald = profile.replace("confint(m3)", 'confint(m3, method = "Wald")')
    path = tmp_path / "relabelled.txt"
    path.write_text(as_wald)
    (block,) = _grade(path.name, grading_catalogue, hsb_table, folder=tmp_path)["models"]
    fixed = [n for n in block["numbers"] if not n["id"].startswith("ci..")]
    assert fixed and all(n["verdict"] not in REPLICATED for n in fixed)
    ninety = profile.replace("2.5 %     97.5 %", "  5 %       95 %")
    path.write_text(ninety)
    (block,) = _grade(path.name, grading_catalogue, hsb_table, folder=tmp_path)["models"]
    assert block["level"] == pytest.approx(0.90)
    assert all(n["verdict"] not in REPLICATED for n in block["numbers"] if "sig" not in n["id"])
