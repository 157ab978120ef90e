"""Grading Stata's ``mixed`` output.

Stata does not run here: tests/fixtures/grading/make_stata.py builds its output of model3
and model4 from Stata 15's layout and the public printouts of these very models (their
log likelihoods, counts and Wald chi-square), the estimates the REML optimum at Stata's
digits; model4 also as a web page stores it (spaces collapsed) and cut after the fixed
effects.  Each file says so in its first lines.
"""

from __future__ import annotations

from conftest import ROOT, assert_fresh_fixtures_grade_as_kept, rerun_python_fixture_script
from hlmrep.grading.grade import grade_file
from hlmrep.grading.printout import Summary
from hlmrep.grading.readers.stata import parse
from hlmrep.grading.verdicts import REPLICATED

FOLDER = ROOT / "tests" / "fixtures" / "grading" / "stata"
SCRIPT = ROOT / "tests" / "fixtures" / "grading" / "make_stata.py"


def test_stata_s_labels_become_lme4_s_terms():
    """_cons, an interaction wrapped and abbreviated (c.grp_cent~s), a factor level under
    its name (1 under schtype#), var() and cov() with abbreviated names."""
    (summary,) = parse((FOLDER / "quinn_ito_stata_webpage.txt").read_text()).blocks
    assert [t.term for t in summary.fixed] == [
        "meanses", "schtype", "grp_cent_ses", "meanses:grp_cent_ses", "schtype:grp_cent_ses",
        "(Intercept)",
    ]  # fmt: skip
    assert (summary.n_obs, summary.groups) == (7185, {"schid": 160})
    assert [t.name for t in summary.random] == ["(Intercept)", "grp_cent_ses"]
    assert summary.random[1].covariances[0].text == ".1918265"
    assert summary.reml_criterion is not None and summary.reml_criterion.text == "46503.668"


def test_stata_s_model3_replicates(grading_catalogue, hsb_table):
    grade = grade_file(FOLDER / "pablo_ruiz_stata.txt", grading_catalogue, table=hsb_table)
    assert grade["format"] == "Stata output"
    (model,) = grade["models"]
    assert model["target"] == "model3" and model["their_model"]["computation"] == "correct"
    assert grade["all_replicated"] and grade["missing"] == 0


def test_stata_s_model4_from_a_web_page_replicates(grading_catalogue, hsb_table):
    """Its seven-digit variance components are the optimum's, as Stata computes it."""
    grade = grade_file(FOLDER / "quinn_ito_stata_webpage.txt", grading_catalogue,
                       table=hsb_table)  # fmt: skip
    (model,) = grade["models"]
    assert model["target"] == "model4" and model["differences"] == []
    assert model["names"]["schtype:grp_cent_ses"] == "cses:sectorCatholic"
    assert grade["all_replicated"]


def test_stata_cut_after_the_fixed_effects_is_graded_on_what_it_holds(grading_catalogue, hsb_table):
    grade = grade_file(FOLDER / "rosa_lima_stata_cut.txt", grading_catalogue, table=hsb_table)
    (model,) = grade["models"]
    assert model["target"] == "model4" and model["missing"] == []
    assert all(n["verdict"] in REPLICATED for n in model["numbers"])


def test_fresh_stata_fixtures_grade_the_same(grading_catalogue, hsb, tmp_path, hsb_table):
    out = rerun_python_fixture_script(SCRIPT, hsb, tmp_path)
    assert_fresh_fixtures_grade_as_kept(out, FOLDER, grading_catalogue, hsb_table)


def test_stata_s_model3_with_raw_ses_is_diagnosed(grading_catalogue, hsb_table):
    grade = grade_file(FOLDER / "sam_weiss_stata_raw_ses.txt", grading_catalogue,
                       table=hsb_table)  # fmt: skip
    assert grade["diagnoses"] == ["ses_uncentred"]
    assert grade["models"][0]["their_model"]["computation"] == "correct"


def test_stata_17_s_header_is_read_too(grading_catalogue, hsb_table, tmp_path):
    """Stata 17 and later print 'Coefficient  Std. err.' and lower-case 'conf. interval'."""
    text = (FOLDER / "pablo_ruiz_stata.txt").read_text()
    newer = text.replace("     Coef.   Std. Err.", "Coefficient  Std. err.").replace(
        "Std. Err.     [95% Conf. Interval]", "Std. err.     [95% conf. interval]"
    )
    assert "Coefficient" in newer and "Coef." not in newer
    path = tmp_path / "stata17.txt"
    path.write_text(newer)
    grade = grade_file(path, grading_catalogue, table=hsb_table)
    assert grade["models"][0]["target"] == "model3" and grade["all_replicated"]


def _reading(text: str) -> tuple[object, ...]:
    (summary,) = parse(text).blocks
    assert isinstance(summary, Summary)
    return (
        [(t.term, t.estimate.text, t.std_error.text, t.p_value) for t in summary.fixed],
        [(t.group, t.name, t.variance, t.covariances) for t in summary.random],
        summary.residual_variance,
        summary.reml_criterion,
        summary.groups,
        summary.formula,
    )


def test_stata_s_printout_reads_alike_however_it_was_pasted():
    """Collapsed onto one line (a web page that lost its line breaks), behind a do-file's
    ``*`` comments, or without its title line (only the header and the tables copied)."""
    text = (FOLDER / "pablo_ruiz_stata.txt").read_text()
    lines = text.splitlines()
    printed = _reading(text)
    assert _reading(" ".join(text.split())) == printed
    assert _reading("\n".join("*" + line for line in lines)) == printed
    assert _reading("\n".join(line for line in lines if "Mixed-effects" not in line)) == printed


def test_stata_cut_in_the_middle_of_a_number_reads_only_what_is_whole():
    """A page cut inside a row: the row's numbers are not read (the last may be cut in
    two), the rest is, and the block says where it stops."""
    lines = (FOLDER / "pablo_ruiz_stata.txt").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "var(_cons)" in line)
    (summary,) = parse("\n".join([*lines[:at], "      var(_cons) |   8.68"])).blocks
    assert isinstance(summary, Summary) and summary.truncated
    assert [t.name for t in summary.random] == ["grp_cent_ses"]
    assert summary.residual_variance is None
    assert f"stops at line {at + 1} inside a row of its random effects" in summary.notes[-1]
    at = next(i for i, line in enumerate(lines) if "_cons |" in line)
    cut = "\n".join([*lines[:at], "       _cons |   12.63619   .2445038    51.68   0.0"])
    (summary,) = parse(cut).blocks
    assert isinstance(summary, Summary) and summary.truncated
    assert summary.fixed[-1].estimate.text == "12.63619" and summary.fixed[-1].p_value is None
