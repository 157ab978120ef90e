"""Grading what a class hands in: real R output, as students print it (make_class.R).

tests/fixtures/grading/class holds one file per student, written by
tests/fixtures/grading/make_class.R with R, lme4, lmerTest, nlme and knitr: lmerTest's
summary (its p-values printed as ``<2e-16``), ``ranova()`` right after an ``anova()``
without significance stars, lmerTest's ``anova()`` of one model with ``VarCorr`` and
``confint`` pasted after it, reprex's ``#>`` lines, nlme's ``summary(lme)``, and an R
Markdown homework knitted with its prose and code fences. Every number is graded against
the references and our optimum (the catalogue, fitted by the engine); nothing here is
shaped to the reader.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT, rerun_fixture_script
from hlmrep.grading.grade import grade_file
from hlmrep.grading.readers.lme4 import Anova, Summary, parse

CLASS = ROOT / "tests" / "fixtures" / "grading" / "class"
MAKE_CLASS = ROOT / "tests" / "fixtures" / "grading" / "make_class.R"
#: What each student's file attempts, block by block (the printout, the reference).
ATTEMPTS = {
    "amara_okafor_lab4.txt": [("summary()", "model3"), ("summary()", "model4")],
    "ben_liu_hw3.txt": [("anova()", "fixed_minority"), ("ranova()", "random_cses_slope")],
    "carmen_diaz_model4.txt": [
        ("summary()", "model4"),
        ("lmerTest's anova()", "model4"),
        ("fixef()", "model4"),
        ("confint()", "model3"),
    ],
    "dev_patel_reprex.txt": [("summary()", "model3")],
    "emma_schmidt_nlme.txt": [("summary() of lme", "model3"), ("summary() of lme", "model4")],
    "farah_khan_hw4.md": [("summary()", "model3"), ("anova()", "random_cses_slope")],
    "gita_rao_digits3.txt": [("summary()", "model3")],
    "ivan_petrov_catholic.txt": [("summary()", "model3")],
    "jun_park_outlier_dropped.txt": [("summary()", "model3")],
    "kim_lee_narrow.txt": [("summary()", "model4")],
}


def _targets(grade: dict) -> list[tuple[str, str]]:
    return [(block["label"].split(" at line")[0], block["target"]) for block in grade["models"]]


@pytest.mark.parametrize(
    "name",
    [
        "amara_okafor_lab4.txt",
        "ben_liu_hw3.txt",
        "dev_patel_reprex.txt",
        "farah_khan_hw4.md",
        "gita_rao_digits3.txt",  # options(digits = 3): fewer digits, still enough to tell
        "kim_lee_narrow.txt",  # width 60: the fixed effects split in two tables
    ],
)
def test_a_correct_replication_as_students_print_it_replicates(grading_catalogue, name, hsb_table):
    """Every number read and replicated, nothing left out, no line reported unread: the
    prose, code, fences, prompts and R's decorations around the blocks are not output."""
    _replicates_whole(grade_file(CLASS / name, grading_catalogue, table=hsb_table), name)


def _replicates_whole(grade: dict, name: str) -> None:
    assert grade["status"] == "graded", grade.get("error")
    assert _targets(grade) == ATTEMPTS[name]
    assert grade["problems"] == []
    assert grade["missing"] == 0
    assert grade["graded"] > 0 and grade["replicated"] == grade["graded"], [
        (n["quantity"], n["submitted"], n["verdict"])
        for block in grade["models"]
        for n in block["numbers"]
        if n["verdict"] not in ("exact", "rounding")
    ]
    assert all(block["confidence"] == "high" for block in grade["models"])


def test_lmertest_p_values_in_every_form_r_prints_them():
    """``<2e-16`` (glued), ``< 2e-16``, ``9.74e-05``, ``0.000652``: each read, the bound kept."""
    summaries = [b for b in parse((CLASS / "amara_okafor_lab4.txt").read_text()).blocks]
    model3, model4 = summaries
    assert isinstance(model3, Summary) and isinstance(model4, Summary)
    assert [(f.p_value.text, f.p_value.bound) for f in model3.fixed if f.p_value] == [
        ("2e-16", "<"),
        ("2e-16", "<"),
    ]
    assert [f.p_value.text for f in model4.fixed if f.p_value] == [
        "2e-16", "2e-16", "2e-16", "9.74e-05", "0.000652", "2.01e-10",
    ]  # fmt: skip
    assert [f.df.text for f in model3.fixed if f.df] == ["156.7512", "155.2166"]


def test_ranova_after_anova_is_its_own_test_on_reml():
    """Not a spurious third row "vs <none>" of the anova() before it: the deletion of the
    random slope, tested on the REML criterion, its LRT and p."""
    parsed = parse((CLASS / "ben_liu_hw3.txt").read_text())
    anova, ranova = parsed.blocks
    assert isinstance(anova, Anova) and isinstance(ranova, Anova)
    assert [row.model for row in anova.rows] == ["int_null", "int_full"]
    assert anova.refitted_by_ml and not ranova.refitted_by_ml
    assert ranova.kind == "ranova"
    assert [row.model for row in ranova.rows] == ["ses_cwc in (ses_cwc | school)", "<none>"]
    assert ranova.rows[1].values["Chisq"].text == "9.7617"
    assert ranova.rows[1].values["Pr(>Chisq)"].text == "0.007591"
    assert parsed.problems == []


def test_printouts_no_reference_prints_are_named_not_graded(grading_catalogue, hsb_table):
    """VarCorr() is named and not graded; the summary's Satterthwaite df and p-values and
    the F table after it are graded (lmerTest at lme4's stopping point: rounding at most)."""
    grade = grade_file(CLASS / "carmen_diaz_model4.txt", grading_catalogue, table=hsb_table)
    assert _targets(grade) == ATTEMPTS["carmen_diaz_model4.txt"]
    assert grade["replicated"] == grade["graded"] and grade["problems"] == []
    assert [line.split(": ", 1)[1] for line in grade["not_graded"]] == [
        "VarCorr(): read, not graded (no reference prints it)",
    ]


def test_fixef_s_named_vector_is_graded_as_the_estimates_of_its_model(grading_catalogue, hsb_table):
    """fixef(m4) is printed as a named vector wrapped over two pairs of lines: its six
    estimates are model4's (by their terms and numbers), each graded; nothing else of
    model4 is counted as left out, and the Wald intervals after it are model3's."""
    grade = grade_file(CLASS / "carmen_diaz_model4.txt", grading_catalogue, table=hsb_table)
    (fixef,) = [m for m in grade["models"] if m["kind"] == "fixef"]
    assert fixef["target"] == "model4" and fixef["missing"] == []
    numbers = {n["id"]: n for n in fixef["numbers"]}
    assert len(numbers) == 6
    assert numbers["fixed.cses:sectorCatholic.estimate"]["submitted"] == "-1.642682"
    assert all(n["verdict"] == "exact" for n in numbers.values())
    assert fixef["names"]["ses_cwc:sectorCatholic"] == "cses:sectorCatholic"


def test_nlme_standard_deviations_are_graded_as_standard_deviations(grading_catalogue, hsb_table):
    """nlme prints SDs, not variances: the SDs are graded, the variances are not counted as
    left out, and the REML criterion is −2 × logLik, said so."""
    grade = grade_file(CLASS / "emma_schmidt_nlme.txt", grading_catalogue, table=hsb_table)
    assert _targets(grade) == ATTEMPTS["emma_schmidt_nlme.txt"]
    model3 = grade["models"][0]
    graded = {n["id"]: n for n in model3["numbers"]}
    assert "random.cses.sd" in graded and "random.cses.variance" not in graded
    assert model3["missing"] == []
    assert all(n["verdict"] in ("exact", "rounding") for n in model3["numbers"])
    assert graded["criterion"]["submitted"] == "46714.24"
    assert model3["reading_notes"] == [
        "REML criterion 46714.24 is −2 × the printed logLik -23357.12 (nlme prints no criterion)"
    ]


def test_a_block_with_an_unreadable_row_is_not_graded_on_the_rows_that_were_read(
    grading_catalogue, tmp_path: Path, hsb_table
):
    """One fixed-effect row mangled (a letter O for a zero): that summary is named as not
    read whole and not graded at all; the other summary in the file still is."""
    text = (CLASS / "amara_okafor_lab4.txt").read_text()
    mangled = text.replace(
        "2.1932     0.1283 155.2166   17.10", "2.1932     0.1283 155.2166   17.1O"
    )
    assert mangled != text
    path = tmp_path / "amara_okafor_lab4.txt"
    path.write_text(mangled)
    grade = grade_file(path, grading_catalogue, table=hsb_table)
    assert _targets(grade) == [("summary()", "model4")]
    assert any("summary() not read whole (1 row(s) not read): not graded" in p
               for p in grade["problems"])  # fmt: skip
    assert any("17.1O" in p for p in grade["problems"])


@pytest.mark.lme4
def test_fresh_output_of_the_class_script_grades_the_same(
    grading_catalogue, hsb, tmp_path, hsb_table
):
    """Rerun make_class.R with the installed R packages and grade what they print now."""
    out = rerun_fixture_script(MAKE_CLASS, hsb, tmp_path, "lmerTest", "nlme", "knitr")
    assert sorted(p.name for p in out.iterdir()) == sorted(ATTEMPTS)
    for name in ("amara_okafor_lab4.txt", "ben_liu_hw3.txt", "dev_patel_reprex.txt",
                 "farah_khan_hw4.md", "gita_rao_digits3.txt", "kim_lee_narrow.txt"):  # fmt: skip
        _replicates_whole(grade_file(out / name, grading_catalogue, table=hsb_table), name)
    for name in ("carmen_diaz_model4.txt", "emma_schmidt_nlme.txt"):
        assert (
            _targets(grade_file(out / name, grading_catalogue, table=hsb_table)) == ATTEMPTS[name]
        )


@pytest.mark.parametrize(
    ("name", "sample"),
    [
        (
            "ivan_petrov_catholic.txt",
            "n = 3543 students in J = 70 schools, not HSB's 7185 in 160: the counts of "
            "sector = Catholic schools only; fit the whole sample",
        ),
        (
            "jun_park_outlier_dropped.txt",
            "n = 7171 students in J = 159 schools, not HSB's 7185 in 160: the counts of "
            "school 8367 left out; fit the whole sample",
        ),
    ],
)
def test_a_model_of_another_sample_is_named_by_its_counts(
    grading_catalogue, name, sample, hsb_table
):
    """n and J are graded; when they are not HSB's, the sample that has them is named."""
    grade = grade_file(CLASS / name, grading_catalogue, table=hsb_table)
    (model,) = grade["models"]
    assert model["sample"] == sample
    numbers = {n["id"]: n["verdict"] for n in model["numbers"]}
    assert numbers["n_obs"] == "major" and numbers["n_groups"] == "major"
    assert not grade["all_replicated"]


def test_hsb_s_own_counts_are_graded_and_say_nothing(grading_catalogue, hsb_table):
    grade = grade_file(CLASS / "dev_patel_reprex.txt", grading_catalogue, table=hsb_table)
    (model,) = grade["models"]
    assert model["sample"] is None
    numbers = {n["id"]: n["verdict"] for n in model["numbers"]}
    assert numbers["n_obs"] == "exact" and numbers["n_groups"] == "exact"


def test_an_older_nlme_layout_is_read_the_same(grading_catalogue, hsb_table, tmp_path):
    """nlme before the Log-Cholesky default printed 'Structure: General positive-definite'
    alone (as in Pinheiro & Bates, 2000, and its printouts); the rest of the layout is the
    same. Emma's file with that line graded as it is."""
    text = (CLASS / "emma_schmidt_nlme.txt").read_text()
    older = text.replace(", Log-Cholesky parametrization", "")
    assert older != text
    path = tmp_path / "emma_older_nlme.txt"
    path.write_text(older)
    grade = grade_file(path, grading_catalogue, table=hsb_table)
    kept = grade_file(CLASS / "emma_schmidt_nlme.txt", grading_catalogue, table=hsb_table)
    assert _targets(grade) == ATTEMPTS["emma_schmidt_nlme.txt"]
    assert (grade["graded"], grade["replicated"]) == (kept["graded"], kept["replicated"])
