"""Grading SPSS MIXED output pasted as text.

SPSS does not run here: tests/fixtures/grading/make_spss.py builds MIXED's tables as the
Viewer pastes them (tabs), from its documented layout, with the REML optimum's numbers
and Satterthwaite df; model4 as a German SPSS prints it (decimal commas, no leading zero,
the last level of sector the redundant reference).  Each file says so.
"""

from __future__ import annotations

from conftest import ROOT, assert_fresh_fixtures_grade_as_kept, rerun_python_fixture_script
from hlmrep.grading.grade import grade_file
from hlmrep.grading.readers.spss import parse

FOLDER = ROOT / "tests" / "fixtures" / "grading" / "spss"
SCRIPT = ROOT / "tests" / "fixtures" / "grading" / "make_spss.py"


def test_spss_cells_in_a_decimal_comma_locale_are_read():
    (summary,) = parse((FOLDER / "wim_de_vries_spss_komma.txt").read_text()).blocks
    terms = {t.term: t for t in summary.fixed}
    assert list(terms) == [
        "(Intercept)",
        "meanses",
        "sector0",
        "ses_cwc",
        "meanses:ses_cwc",
        "sector0:ses_cwc",
    ]  # fmt: skip  ([sector=1], the redundant 0b row, is dropped)
    assert terms["sector0"].estimate.value == -1.226579
    assert terms["ses_cwc"].df is not None and terms["ses_cwc"].df.text == "147.889"
    assert summary.reml_criterion is not None and summary.reml_criterion.value == 46503.663
    assert [t.name for t in summary.random] == ["(Intercept)", "ses_cwc"]


def test_spss_model3_replicates(grading_catalogue, hsb_table):
    grade = grade_file(FOLDER / "vera_novak_spss.txt", grading_catalogue, table=hsb_table)
    assert grade["format"] == "SPSS output"
    assert grade["models"][0]["target"] == "model3" and grade["all_replicated"]


def test_spss_s_reference_level_is_graded_as_a_relevelled_sector(grading_catalogue, hsb_table):
    """SPSS's last level is the reference: [sector=0] (Public) is sector relevelled, the
    same model, its numbers compared in that coding."""
    grade = grade_file(FOLDER / "wim_de_vries_spss_komma.txt", grading_catalogue,
                       table=hsb_table)  # fmt: skip
    (model,) = grade["models"]
    assert model["target"] == "model4" and model["differences"] == []
    assert any("relevelled" in n for n in model["their_model"]["parametrisation"])
    assert grade["all_replicated"] and grade["missing"] == 0


def test_fresh_spss_fixtures_grade_the_same(grading_catalogue, hsb, tmp_path, hsb_table):
    out = rerun_python_fixture_script(SCRIPT, hsb, tmp_path)
    assert_fresh_fixtures_grade_as_kept(out, FOLDER, grading_catalogue, hsb_table)


def test_spss_s_model4_without_interactions_is_diagnosed(grading_catalogue, hsb_table):
    grade = grade_file(FOLDER / "xena_ward_spss_no_interactions.txt", grading_catalogue,
                       table=hsb_table)  # fmt: skip
    assert grade["diagnoses"] == [
        "missing_interaction_cses_meanses",
        "missing_interaction_cses_sector",
    ]


def test_spss_tables_exported_as_html_replicate(grading_catalogue, hsb_table):
    grade = grade_file(FOLDER / "yara_haddad_spss.html", grading_catalogue, table=hsb_table)
    assert grade["format"] == "SPSS output in an HTML page"
    assert grade["models"][0]["target"] == "model3" and grade["all_replicated"]
