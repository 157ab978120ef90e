"""The R packages today's courses hand in (make_packages.R): glmmTMB, afex, blme, lmerTest's
Kenward-Roger summaries and F tables (types I, II, III; Satterthwaite and KR), lme4's own
``anova()`` of a fit, emmeans, and ``print()`` of an lmer fit.

tests/fixtures/grading/packages holds one file per student, written by
tests/fixtures/grading/make_packages.R with Debian's R packages; nothing is edited by hand.
Each behaviour is asserted on that real output, and the script is rerun live where R has
the packages (.ci/run installs them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT, rerun_fixture_script
from hlmrep.grading.grade import grade_file
from hlmrep.grading.submission import SubmissionError, read

PACKAGES = ROOT / "tests" / "fixtures" / "grading" / "packages"
MAKE_PACKAGES = ROOT / "tests" / "fixtures" / "grading" / "make_packages.R"
R_PACKAGES = ("lmerTest", "glmmTMB", "sjPlot", "broom.mixed", "parameters", "performance")
R_PACKAGES_TOO = ("afex", "blme", "emmeans", "rmarkdown")


def _summaries(grade: dict) -> list[dict]:
    return [m for m in grade["models"] if m["label"].startswith("summary()")]


def _verdicts(model: dict) -> dict[str, str]:
    return {n["id"]: n["verdict"] for n in model["numbers"]}


def _graded_whole(model: dict, target: str) -> None:
    """Every number of the block replicates its reference (rounding included)."""
    assert model["target"] == target
    wrong = {q: v for q, v in _verdicts(model).items() if v not in ("exact", "rounding")}
    assert wrong == {}


def test_glmmtmb_s_reml_fit_is_read_as_reml_from_the_call_that_made_it(
    grading_catalogue, hsb_table
):
    """``t4 <- glmmTMB(..., REML = TRUE)`` pasted above ``print(t4)`` and ``summary(t4)``:
    the summary (which does not say) is a REML fit, its deviance column the REML
    criterion; every number lme4's (glmmTMB's SEs within its own tolerance)."""
    grade = grade_file(PACKAGES / "gloria_tmb_reml.txt", grading_catalogue, table=hsb_table)
    (model,) = [m for m in grade["models"] if m.get("program") == "glmmTMB"]
    assert model["target"] == "model4"
    verdicts = _verdicts(model)
    assert verdicts["criterion"] == "exact"
    assert {v for q, v in verdicts.items()} <= {"exact", "rounding"}
    assert model["diagnosis"] is None


def test_glmmtmb_s_warning_after_the_assignment_marks_its_summary_not_converged(
    grading_catalogue, hsb_table
):
    """glmmTMB's default ML fit of model3 warns of a non-positive-definite Hessian right
    under the call; the summary printed later is of that fit: ML, not converged, both
    named."""
    submission = read(PACKAGES / "gustav_tmb_ml.txt")
    assert submission.parsed is not None
    (summary,) = [b for b in submission.parsed.blocks if getattr(b, "program", "") == "glmmTMB"]
    assert summary.estimation == "ML" and summary.converged is False
    grade = grade_file(PACKAGES / "gustav_tmb_ml.txt", grading_catalogue, table=hsb_table)
    (model,) = [m for m in grade["models"] if m.get("program") == "glmmTMB"]
    # glmmTMB fits by ML unless told: that catalogued difference is the diagnosis, and
    # the fit's own failure to converge is listed with it
    assert model["diagnosis"]["id"] == "ml_instead_of_reml"
    assert "not_converged" in [d["id"] for d in model["differences"]]


def test_afex_s_sum_to_zero_contrasts_are_model4_in_another_parametrisation(
    grading_catalogue, hsb_table
):
    """afex's ``mixed()`` sets contr.sum and prints ``sector1``: fitted with that coding,
    every number replicates (the REML criterion is the sum-coded fit's), and the page
    names the parametrisation instead of calling model4 a different model."""
    grade = grade_file(PACKAGES / "alma_afex.txt", grading_catalogue, table=hsb_table)
    (model,) = _summaries(grade)
    _graded_whole(model, "model4")
    assert model["diagnosis"] is None
    their = model["their_model"]
    assert "in another parametrisation" in their["in_words"]
    assert any("sum-to-zero contrasts" in note for note in their["parametrisation"])
    tables = [m for m in grade["models"] if m["kind"] == "F tests"]
    assert len(tables) == 2  # mixed()'s table, printed at the call and again
    for table in tables:
        _graded_whole(table, "model4")
        assert table["label"].startswith("afex's mixed()") and len(table["numbers"]) == 20


def test_blme_s_prior_is_named_as_the_estimator_not_a_specification_error(
    grading_catalogue, hsb_table
):
    """blmer's Wishart prior pulls the random effects' covariance: the numbers differ, and
    the diagnosis is the estimator with a prior (with the prior as printed), never a data
    or model mistake; both the print() and the summary() of the fit are read."""
    grade = grade_file(PACKAGES / "boris_blme.txt", grading_catalogue, table=hsb_table)
    models = [m for m in grade["models"] if m["label"].startswith("summary() of blmer")]
    assert len(models) == 2
    for model in models:
        assert model["target"] == "model4"
        assert model["diagnosis"]["id"] == "estimator_with_prior"
        assert "wishart" in model["diagnosis"]["explanation"]
        assert (
            "each school's mean SES over its sampled students" in (model["their_model"]["in_words"])
        )
        assert not any(d["id"].startswith("meanses") for d in model["differences"])


def test_print_of_an_lmer_fit_grades_its_estimates(grading_catalogue, hsb_table):
    """``print()`` of a fit (blme's here, lme4's layout) prints the fixed effects as a named
    vector, without SEs: the estimates are read and graded, the SEs are not invented."""
    submission = read(PACKAGES / "boris_blme.txt")
    assert submission.parsed is not None
    first = submission.parsed.blocks[0]
    assert [t.term for t in first.fixed][:2] == ["(Intercept)", "cses"]
    assert first.fixed[0].estimate.text == "12.121" and first.fixed[0].std_error is None


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("emil_emmeans.txt", "emmeans (estimated marginal means): read, not graded"),
    ],
)
def test_a_file_of_tables_that_are_not_graded_says_what_they_are(name: str, said: str):
    """emmeans is recognised and named, with why it is not graded; never "no mixed-model
    output found"."""
    with pytest.raises(SubmissionError) as raised:
        read(PACKAGES / name)
    message = str(raised.value)
    assert "nothing to grade" in message and said in message
    assert "no mixed-model output found" not in message


#: Each F table of the packages' files: (file, its label's start, cells graded).
F_TABLES = [
    ("fiona_anova_f.txt", "lmerTest's anova() at line 2: type III F tests, Satterthwaite's", 30),
    ("fiona_anova_f.txt", "lmerTest's anova() at line 13: type III F tests, Kenward-Roger's", 30),
    ("kenji_kr_tables.txt", "lmerTest's anova() at line 40: type I F tests, Satterthwaite's", 30),
    ("kenji_kr_tables.txt", "lmerTest's anova() at line 51: type II F tests, Kenward-Roger's", 30),
    (
        "kenji_kr_tables.txt",
        "lme4's anova() of one fit at line 62: type I F tests, lme4's sequential",
        20,
    ),
    ("anke_afex_kr.txt", "afex's mixed() at line 5: type III F tests, Kenward-Roger's", 20),
    ("anke_afex_kr.txt", "afex's mixed() at line 19: type III F tests, Kenward-Roger's", 20),
    ("nadia_narrow_f_table.txt", "lmerTest's anova() at line 7: type III F tests", 30),
]


@pytest.mark.parametrize(("name", "label", "count"), F_TABLES)
def test_f_tables_are_graded_cell_by_cell(grading_catalogue, hsb_table, name, label, count):
    """lmerTest's anova() of model4 (types I, II and III; Satterthwaite's and KR's df; one
    split in two chunks by a narrow console), lme4's own sequential table and afex's KR
    table (as mixed() prints it and as anova() of it does): every cell (Sum Sq, Mean Sq,
    NumDF, DenDF, F, p; lme4's without df and p) is graded against our tests of model4 and
    replicates (lme4 stops short of the optimum: its df and F within TEST_TOLERANCE, said
    "rounding")."""
    grade = grade_file(PACKAGES / name, grading_catalogue, table=hsb_table)
    (table,) = [m for m in grade["models"] if m["label"].startswith(label)]
    assert table["kind"] == "F tests" and table["diagnosis"] is None
    _graded_whole(table, "model4")
    assert len(table["numbers"]) == count
    assert not [n for n in grade["not_graded"] if "F tests" in n or "F table" in n]


def test_kenward_roger_summary_grades_its_adjusted_standard_errors_and_df(
    grading_catalogue, hsb_table
):
    """lmerTest's summary(m4, ddf = "Kenward-Roger") prints KR's adjusted SEs (0.1560 for
    cses, model-based 0.1556) and df: graded as KR's, each against our Kenward-Roger of
    model4; the model-based SEs it does not print are not counted as left out."""
    grade = grade_file(PACKAGES / "kenji_kr_tables.txt", grading_catalogue, table=hsb_table)
    (summary,) = _summaries(grade)
    _graded_whole(summary, "model4")
    numbers = {n["id"]: n for n in summary["numbers"]}
    assert numbers["fixed.cses.kr_se"]["submitted"] == "0.1560"
    assert numbers["fixed.cses.kr_df"]["submitted"] == "138.2964"
    assert numbers["fixed.cses:meanses.kr_p"]["submitted"] == "0.000669"
    assert "fixed.cses.se" not in numbers and "fixed.cses.df" not in numbers
    assert summary["missing"] == []


def test_satterthwaite_df_and_p_values_of_a_summary_are_graded(grading_catalogue, hsb_table):
    """lmerTest's default summary: its df and Pr(>|t|) columns are Satterthwaite's, graded
    (afex's sum-to-zero fit: against model4 fitted in that parametrisation)."""
    grade = grade_file(PACKAGES / "alma_afex.txt", grading_catalogue, table=hsb_table)
    (summary,) = _summaries(grade)
    numbers = {n["id"]: n for n in summary["numbers"]}
    df = [q for q in numbers if q.endswith(".df")]
    p_values = [q for q in numbers if q.endswith(".p")]
    assert len(df) == len(p_values) == 6
    assert numbers["fixed.meanses.df"]["submitted"] == "150.9859"
    assert {numbers[q]["verdict"] for q in df + p_values} <= {"exact", "rounding"}


@pytest.mark.parametrize(
    ("name", "label", "mistake"),
    [
        ("ugo_uncentred_kr.txt", "summary() at line 21", "ses_uncentred"),
        ("ugo_uncentred_kr.txt", "lmerTest's anova() at line 62", "ses_uncentred"),
        ("mona_ml_f_tests.txt", "lmerTest's anova() at line 20", "ml_instead_of_reml"),
    ],
)
def test_f_tests_and_kr_summaries_of_a_mistake_name_the_mistake(
    grading_catalogue, hsb_table, name, label, mistake
):
    """model4 with SES uncentred (a KR summary and its KR F table) and model4 fitted by ML
    (its F table alone, which says nothing of the estimation): the tests are that
    mistake's, and the grade names it."""
    grade = grade_file(PACKAGES / name, grading_catalogue, table=hsb_table)
    (block,) = [m for m in grade["models"] if m["label"].startswith(label)]
    assert block["target"] == "model4"
    assert block["diagnosis"]["id"] == mistake
    assert any(n["verdict"] in ("minor", "major") for n in block["numbers"])


@pytest.mark.parametrize(
    ("name", "targets"),
    [
        ("sofia_tab_model.html", ["model4"]),  # estimates, CIs and p only
        ("samir_tab_models.html", ["table_4_2", "model3", "model4"]),  # side by side, SEs
        ("sven_tab_stats.html", ["model3"]),  # statistics and df
    ],
)
def test_sjplot_s_tab_model_grades_each_model_of_the_table(
    grading_catalogue, hsb_table, name: str, targets: list[str]
):
    """tab_model()'s HTML table (saved alone) is read column group by column group: each
    model's estimates, its variances (σ², τ00, τ11), ρ01, N and the observations; its
    formula is the model its rows are, so it is fitted and named; every number printed
    replicates at the two decimals tab_model prints."""
    grade = grade_file(PACKAGES / name, grading_catalogue, table=hsb_table)
    models = [m for m in grade["models"] if m["label"].startswith("tab_model()")]
    assert [m["target"] for m in models] == targets
    for model in models:
        _graded_whole(model, model["target"])
        assert model["diagnosis"] is None
    if name == "samir_tab_models.html":  # Table 4.2's ICC, 0.18 (p. 71), graded
        assert _verdicts(models[0])["icc"] == "exact"


@pytest.mark.parametrize(
    ("name", "target", "count"),
    [
        ("bruno_broom.txt", "model4", 24),  # tibbles: three significant digits, glance()
        ("bella_broom_df.txt", "model3", 10),  # a data frame wrapped in two tables
        ("paula_parameters.txt", "model4", 22),  # model_parameters(): two decimals
    ],
)
def test_broom_mixed_and_parameters_tables_are_graded_number_by_number(
    grading_catalogue, hsb_table, name: str, target: str, count: int
):
    """broom.mixed's tidy() (+ glance()) and parameters' model_parameters(): the fixed
    effects, the random SDs and correlation, σ; a tibble's abbreviated headings and cut
    terms read; printed at their package's default digits, never "too coarse"."""
    grade = grade_file(PACKAGES / name, grading_catalogue, table=hsb_table)
    (model,) = grade["models"]
    _graded_whole(model, target)
    assert len(model["numbers"]) == count


def test_performance_s_icc_is_graded_against_table_4_2_s(grading_catalogue, hsb_table):
    """icc() of the null model printed alone: its adjusted ICC graded against Table 4.2's
    0.18 (and our optimum's 0.1804); r2() is named, not graded."""
    grade = grade_file(PACKAGES / "pedro_performance.txt", grading_catalogue, table=hsb_table)
    (model,) = grade["models"]
    assert model["target"] == "table_4_2"
    assert [(n["id"], n["verdict"]) for n in model["numbers"]] == [("icc", "exact")]
    assert model["missing"] == []
    assert any("performance r2()" in n for n in grade["not_graded"])


@pytest.mark.parametrize(
    ("name", "container"),
    [
        ("olga_word_hw4.docx", "a Word document"),
        ("omar_odt_hw4.odt", "an OpenDocument text"),
        ("karin_kable_hw4.html", "an HTML page"),
        ("kurt_kable_hw4.md", None),  # github_document: kable's pipe table, escaped
    ],
)
def test_knitted_homework_in_word_odt_html_and_markdown_is_graded_with_its_kable_table(
    grading_catalogue, hsb_table, name: str, container: str | None
):
    """One R Markdown homework knitted by rmarkdown and pandoc: model3's summary() (a
    monospaced block: a Word paragraph with line breaks, an OpenDocument paragraph with
    ``text:s`` spaces) and its fixed effects as a kable() table (a Word, ODT or HTML table,
    or a Markdown pipe table): both read and graded, every number replicated."""
    submission = read(PACKAGES / name)
    if container is not None:
        assert submission.format.endswith(f"in {container}")
    grade = grade_file(PACKAGES / name, grading_catalogue, table=hsb_table)
    summary, table = grade["models"]
    _graded_whole(summary, "model3")
    assert len(summary["numbers"]) == 25  # 21, and lmerTest's Satterthwaite df and p
    assert table["label"].startswith("table of fixed effects")
    _graded_whole(table, "model3")
    assert {n["id"] for n in table["numbers"]} == {
        f"fixed.{term}.{what}"
        for term in ("(Intercept)", "cses")
        for what in ("estimate", "se", "t")
    }
    assert table["missing"] == [] and grade["problems"] == []


def test_a_knitted_page_whose_model_table_is_tab_model_s_is_graded(grading_catalogue, hsb_table):
    """tab_model() inside a knitted page (no output chunk of text at all): its table is
    the page's model, read as the saved table is."""
    grade = grade_file(PACKAGES / "tara_tab_model_hw5.html", grading_catalogue, table=hsb_table)
    (model,) = grade["models"]
    _graded_whole(model, "model4")
    assert _verdicts(model)["fixed.sectorCatholic.se"] == "exact"


def test_rmarkdown_s_paged_data_frames_are_read(grading_catalogue, hsb_table):
    """``df_print: paged`` puts each data frame in a script of JSON, no text: tidy(m4) and
    the coefficients' data frame (its terms the row names) are both graded as model4."""
    grade = grade_file(PACKAGES / "petra_paged_hw5.html", grading_catalogue, table=hsb_table)
    tidy, table = grade["models"]
    _graded_whole(tidy, "model4")
    assert tidy["label"].startswith("tidy()") and len(tidy["numbers"]) == 22
    _graded_whole(table, "model4")
    assert len(table["numbers"]) == 18


@pytest.mark.lme4
def test_fresh_output_of_the_packages_script_reads_the_same(hsb, tmp_path: Path):
    """Rerun make_packages.R with the installed packages: the same files, read alike."""
    out = rerun_fixture_script(MAKE_PACKAGES, hsb, tmp_path, *R_PACKAGES, *R_PACKAGES_TOO)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in PACKAGES.iterdir())
    for path in sorted(out.iterdir()):
        try:
            fresh = read(path).parsed
            committed = read(PACKAGES / path.name).parsed
        except SubmissionError as error:
            with pytest.raises(SubmissionError) as again:
                read(PACKAGES / path.name)
            assert str(again.value) == str(error)
            continue
        assert fresh is not None and committed is not None
        assert [type(b).__name__ for b in fresh.blocks] == [
            type(b).__name__ for b in committed.blocks
        ], path.name


def test_an_f_table_longer_than_any_model_s_is_refused_whole(tmp_path: Path):
    """A table of more rows than a reader keeps (a hostile or runaway file) is named and
    not read, never read in part; an lm() fit's anova (a ``Residuals`` row) is no mixed
    model's F table."""
    text = (PACKAGES / "fiona_anova_f.txt").read_text().splitlines()
    row = text[3]  # cses's row of the Satterthwaite table
    many = [*text[:3], *(row.replace("cses", f"x{k}", 1) for k in range(40)), *text[8:11]]
    path = tmp_path / "many.txt"
    path.write_text("\n".join(many) + "\n")
    parsed = read(path).parsed
    assert parsed is not None
    (table,) = parsed.blocks
    assert table.unread
    assert any("an F table of more than 20 rows" in p for p in parsed.problems)
    assert any("not read whole" in p and "not graded" in p for p in parsed.problems)
    lm = tmp_path / "lm.txt"
    lm.write_text(
        "Analysis of Variance Table\n\nResponse: mathach\n"
        "            Df Sum Sq Mean Sq F value    Pr(>F)    \n"
        "ses         1  35875   35875  872.23 < 2.2e-16 ***\n"
        "Residuals 7183 295436      41                      \n"
    )
    with pytest.raises(SubmissionError) as refused:
        read(lm)
    assert "read, not graded (not F tests of a mixed model's terms" in str(refused.value)


def _f_table_variant(tmp_path: Path, old: str, new: str) -> Path:
    """fiona's Satterthwaite table (real lmerTest output) with one text replaced."""
    text = (PACKAGES / "fiona_anova_f.txt").read_text()
    assert old in text
    path = tmp_path / "variant.txt"
    path.write_text(text.replace(old, new, 1))
    return path


def test_a_wrong_numerator_df_is_wrong_not_lme4_s_rounding(grading_catalogue, hsb_table, tmp_path):
    """NumDF is a count: 2 for sector's 1 is major, never "rounding" by the tolerance
    lmerTest's df have at lme4's stopping point."""
    path = _f_table_variant(
        tmp_path,
        "sector         589.0   589.0     1 149.61",
        "sector         589.0   589.0     2 149.61",
    )
    grade = grade_file(path, grading_catalogue, table=hsb_table)
    table = grade["models"][0]
    verdicts = _verdicts(table)
    assert verdicts["anova.III.satterthwaite.sector.num_df"] == "major"
    assert verdicts["anova.III.satterthwaite.meanses.num_df"] == "exact"


def test_a_test_of_another_variable_is_not_lined_up_by_its_f_value(
    grading_catalogue, hsb_table, tmp_path
):
    """A row named minority (a variable model4 does not have) is no counterpart of
    sector's test, however close its F: it is said to have none."""
    path = _f_table_variant(
        tmp_path,
        "sector         589.0   589.0     1 149.61",
        "minority       589.0   589.0     1 149.61",
    )
    grade = grade_file(path, grading_catalogue, table=hsb_table)
    table = grade["models"][0]
    assert "minority" not in table["names"]
    assert "F test of 'minority' has no counterpart" in table["matched"]["differences"]
    assert not [n for n in table["numbers"] if ".sector." in n["id"]]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (  # anova(lm1, lm2): a comparison of two lm() fits
            "Analysis of Variance Table\n\nModel 1: mathach ~ ses\nModel 2: mathach ~ ses + "
            "sector\n  Res.Df    RSS Df Sum of Sq      F    Pr(>F)    \n1   7183 295436      "
            "                                 \n2   7182 293000  1    2436.3 59.718 1.239e-14 "
            "***\n",
            "not F tests of a mixed model's terms",
        ),
        (  # an lm() fit's table without its Response line
            "Analysis of Variance Table\n\n            Df Sum Sq Mean Sq F value    Pr(>F)    "
            "\nses          1  35875   35875  872.23 < 2.2e-16 ***\nResiduals 7183 295436      "
            "41                      \n",
            "not F tests of a mixed model's terms",
        ),
        (  # afex's likelihood-ratio tests
            "Mixed Model Anova Table (Type 3 tests, LRT-method)\n\nModel: mathach ~ cses + "
            "(cses | school)\nData: d\nDf full model: 6\n  Effect df     Chisq p.value\n1   "
            "cses  1 217.34 ***   <.001\n",
            "afex mixed()'s F table: read, not graded",
        ),
    ],
)
def test_tables_that_are_not_f_tests_of_a_fit_are_named_not_read_as_them(
    tmp_path: Path, text: str, said: str
):
    path = tmp_path / "table.txt"
    path.write_text(text)
    with pytest.raises(SubmissionError) as raised:
        read(path)
    assert said in str(raised.value) and "not read whole" not in str(raised.value)


def test_a_line_after_afex_s_heading_that_is_not_its_table_ends_it(tmp_path: Path):
    """afex's heading over a table of a layout it does not print: the heading is named as
    no F table, nothing after it is taken for its rows, and the fixef() vector after it is
    read; a heading pasted through Word (curly apostrophe) is still lmerTest's."""
    path = tmp_path / "afex.txt"
    path.write_text(
        "Mixed Model Anova Table (Type 3 tests, KR-method)\n\n"
        "Model: mathach ~ cses + (cses | school)\nData: d\n"
        "  Effect    Chisq Df\n1   cses 217.34  1\n\n"
        "(Intercept)        cses \n  12.636193    2.193196 \n"
    )
    parsed = read(path).parsed
    assert parsed is not None
    assert [type(b).__name__ for b in parsed.blocks] == ["Coefficients"]
    assert any("afex mixed()'s F table: read, not graded" in n for n in parsed.not_graded)
    curly = _f_table_variant(tmp_path, "with Satterthwaite's method", "with Satterthwaite’s method")
    parsed = read(curly).parsed
    assert parsed is not None
    assert [b.method for b in parsed.blocks] == ["satterthwaite", "kenward_roger"]
