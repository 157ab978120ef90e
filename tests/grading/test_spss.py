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


CORPUS = ROOT / "tests" / "fixtures" / "grading" / "corpus"


def test_spss_flattened_one_cell_a_line_with_decimal_commas_is_read():
    """A page's tables one cell a line, decimal commas: the rows rebuilt from the cells,
    the random factor's levels as J, the page cut before its covariance parameters."""
    text = (CORPUS / "spss_fpce_hsb_oneway_commadec_partial.txt").read_text()
    (summary,) = parse(text).blocks
    (intercept,) = summary.fixed
    assert (intercept.term, intercept.estimate.value, intercept.std_error.value) == (
        "(Intercept)",
        12.636974,
        0.244394,
    )
    assert intercept.df is not None and intercept.df.value == 156.647
    assert summary.reml_criterion is not None and summary.reml_criterion.value == 47116.793
    assert summary.fit_statistics["AIC"].value == 47120.793
    assert summary.fit_statistics["BIC"].value == 47134.553
    assert summary.groups == {"id": 160}
    assert summary.truncated and not summary.random and not summary.unread


def test_spss_thousands_separators_are_not_decimal_commas():
    text = (
        "Information Criteriaa\n-2 Restricted Log Likelihood\t46,714.234\n\n"
        "Estimates of Fixed Effectsa\nParameter\tEstimate\tStd. Error\tdf\tt\tSig.\n"
        "Intercept\t12.636193\t.244504\t156.753\t51.681\t.000\n"
        "t\t2.193196\t.128259\t7,020.000\t17.100\t.000\n\n"
        "Estimates of Covariance Parametersa\nParameter\t\tEstimate\n"
        "Residual\t\t36.700200\nIntercept [subject = school]\tVariance\t8.680972\n"
        "t [subject = school]\tVariance\t.693989\n"
    )
    (summary,) = parse(text).blocks
    assert summary.reml_criterion is not None and summary.reml_criterion.value == 46714.234
    # a fixed effect named t (a header's word) after the header is a row
    assert [t.term for t in summary.fixed] == ["(Intercept)", "t"]
    assert summary.fixed[1].df is not None and summary.fixed[1].df.value == 7020.0
    assert [(t.name, t.variance and t.variance.text) for t in summary.random] == [
        ("(Intercept)", "8.680972"),
        ("t", ".693989"),
    ]
    assert summary.formula == "y ~ t + (1 + t || school)"


def test_spss_11_random_factor_and_subjects_in_model_dimension():
    """SPSS 11's ``/RANDOM id``: the factor's variance is its intercept's; the subjects'
    count where Model Dimension has its column."""
    flattened = (
        "Model Dimension(b)\n\nNumber of Levels\n\nCovariance Structure\n\n"
        "Number of Parameters\n\nSubject Variables\n\nNumber of Subjects\n\n"
        "Fixed Effects\n\nIntercept\n\n1\n\n \n\n1\n\nRandom Effects\n\nIntercept\n\n1\n\n"
        "Variance Components\n\n1\n\nid\n\n160\n\nResidual\n\n \n\n \n\n1\n\n"
        "Estimates of Fixed Effects(a)\n\nParameter\n\nEstimate\n\nStd. Error\n\ndf\n\nt\n\n"
        "Sig.\n\nIntercept\n\n12,636974\n\n,244394\n\n156,647\n\n51,707\n\n,000\n\n"
        "Estimates of Covariance Parameters(a)\n\nParameter\n\n \n\nEstimate\n\n"
        "Residual\n\n \n\n39,148\n\nid\n\nVariance\n\n8,614\n"
    )
    (summary,) = parse(flattened).blocks
    assert summary.groups == {"id": 160}
    assert [(t.group, t.name, t.variance and t.variance.value) for t in summary.random] == [
        ("id", "(Intercept)", 8.614)
    ]
    assert summary.residual_variance is not None and summary.residual_variance.value == 39.148
    assert not summary.truncated and not summary.unread
