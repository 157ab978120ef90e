"""The first model every student fits, Table 4.2's one-way ANOVA, as R prints it, and
two printing habits: ``options(digits = 3)`` and a narrow console.

tests/fixtures/grading/null_models holds a console transcript per student, written by
tests/fixtures/grading/make_null_models.R with R, lme4 and nlme: lme4's intercept-only
``summary()`` (no correlation block) with the next command's ``> `` line straight after its
fixed effects, and nlme's ``summary(lme)`` whose random intercept is printed as
``(Intercept) Residual`` over ``StdDev: 2.934966 6.256862``.  Each must be read whole and
graded as a correct fit of Table 4.2 (R&B p. 70), every number replicated.  Under
``options(digits = 3)`` lme4 prints the scaled residuals at 3 significant digits (model4's
median 0.01704 as 0.017): every digit that option allows, so not too coarse; a row rounded
further by hand still is.  ``ranova()`` at a 50-column console is split into column
chunks, merged by name: one test, not a spurious second one.
"""

from __future__ import annotations

import pytest

from conftest import ROOT, assert_fresh_fixtures_grade_as_kept, rerun_fixture_script
from hlmrep.grading.grade import grade_file
from hlmrep.grading.readers.lme4 import Anova, Summary, parse

NULL_MODELS = ROOT / "tests" / "fixtures" / "grading" / "null_models"
MAKE_NULL_MODELS = ROOT / "tests" / "fixtures" / "grading" / "make_null_models.R"
STUDENTS = ("hana_sato_null.txt", "omar_haddad_null.txt", "lucia_romero_null_nlme.txt")


@pytest.mark.parametrize("name", STUDENTS)
def test_the_null_model_is_read_whole(name: str) -> None:
    parsed = parse((NULL_MODELS / name).read_text())
    summaries = [block for block in parsed.blocks if isinstance(block, Summary)]
    assert len(summaries) == 1
    (summary,) = summaries
    assert not summary.unread and not parsed.problems
    assert [term.term for term in summary.fixed] == ["(Intercept)"]
    assert [(term.group, term.name) for term in summary.random] == [("school", "(Intercept)")]
    (intercept,) = summary.random
    assert intercept.sd is not None and abs(intercept.sd.value - 2.935) < 5e-4
    assert summary.residual_sd is not None and abs(summary.residual_sd.value - 6.257) < 5e-4
    assert summary.n_obs == 7185 and summary.groups == {"school": 160}


def test_the_next_command_ends_an_intercept_only_summary() -> None:
    """The ``> VarCorr(m0)`` line after the fixed effects is a command, not a table row:
    VarCorr's own table is then recognised (read, not graded)."""
    parsed = parse((NULL_MODELS / "hana_sato_null.txt").read_text())
    assert any("VarCorr()" in item for item in parsed.not_graded)


@pytest.mark.parametrize("name", STUDENTS)
def test_the_null_model_is_graded_against_table_4_2(grading_catalogue, hsb_table, name):
    grade = grade_file(NULL_MODELS / name, grading_catalogue, table=hsb_table)
    assert [block["target"] for block in grade["models"]] == ["table_4_2"]
    (block,) = grade["models"]
    verdicts = [row["verdict"] for row in block["numbers"]]
    assert verdicts and all(v in ("exact", "rounding") for v in verdicts), block["numbers"]
    assert grade["all_replicated"], grade["problems"]


@pytest.mark.lme4
def test_fresh_output_of_the_null_model_script_grades_the_same(
    grading_catalogue, hsb, tmp_path, hsb_table
):
    out = rerun_fixture_script(MAKE_NULL_MODELS, hsb, tmp_path, "lmerTest", "nlme")
    assert_fresh_fixtures_grade_as_kept(out, NULL_MODELS, grading_catalogue, hsb_table)


def test_scaled_residuals_at_the_students_digits_are_not_too_coarse(grading_catalogue, hsb_table):
    path = NULL_MODELS / "yusuf_demir_digits3.txt"
    assert "0.017" in path.read_text()
    grade = grade_file(path, grading_catalogue, table=hsb_table)
    (block,) = grade["models"]
    assert block["target"] == "model4"
    residuals = [n for n in block["numbers"] if n["id"].startswith("scaled_residuals")]
    assert len(residuals) == 5
    assert all(n["verdict"] == "exact" for n in residuals), residuals
    assert grade["all_replicated"]


def test_scaled_residuals_rounded_by_hand_are_still_too_coarse(
    grading_catalogue, hsb_table, tmp_path
):
    text = (NULL_MODELS / "yusuf_demir_digits3.txt").read_text()
    row = next(line for line in text.splitlines() if "0.017" in line)
    rounded = " ".join(f"{float(v):.2f}" for v in row.split())
    path = tmp_path / "rounded.txt"
    path.write_text(text.replace(row, rounded))
    grade = grade_file(path, grading_catalogue, table=hsb_table)
    (block,) = grade["models"]
    verdicts = {n["id"]: n["verdict"] for n in block["numbers"]}
    assert verdicts["scaled_residuals.median"] == "too coarse"


def test_a_ranova_split_at_a_narrow_console_is_one_test(grading_catalogue, hsb_table):
    path = NULL_MODELS / "ravi_menon_ranova_narrow.txt"
    parsed = parse(path.read_text())
    tests = [block for block in parsed.blocks if isinstance(block, Anova)]
    assert len(tests) == 1 and not parsed.problems
    (test,) = tests
    assert [row.model for row in test.rows] == ["ses_cwc in (ses_cwc | school)", "<none>"]
    full = test.rows[1].values
    assert full["Chisq"].text == "9.7617" and full["Df"].text == "2"
    assert full["Pr(>Chisq)"].text == "0.007591"
    grade = grade_file(path, grading_catalogue, table=hsb_table)
    assert [block["target"] for block in grade["models"]] == ["random_cses_slope"]
    assert grade["all_replicated"]
