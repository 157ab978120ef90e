"""Grade books for Canvas and Moodle, the roster, and each student's feedback text.

The grades are real: fixtures of the class and the formulas folders graded by the grader.
The CSV columns are checked against the platforms' documented import columns: Canvas's
Gradebook import (Student, ID, SIS User ID, SIS Login ID, Section, then an assignment
column; Canvas Guides, "How do I import grades in the Gradebook?") and Moodle's CSV grade
import (a user field it maps: ID number or email address, then the grade item and its
feedback; MoodleDocs, "Grade import").
"""

from __future__ import annotations

import csv
import io
import shutil

import pytest

from conftest import ROOT, copy_workflow, run_snakemake
from hlmrep.errors import InputDataError
from hlmrep.grading import gradebook
from hlmrep.grading.grade import grade_file, refusal

FORMULAS = ROOT / "tests" / "fixtures" / "grading" / "formulas"
ROSTER = (
    "file,name,id,sis_user_id,sis_login_id,section,email\n"
    "kofi_mensah_model4.txt,Kofi Mensah,1001,S-1001,kmensah,Lab A,kofi@uni.example\n"
    "maria_santos_model4.txt,Maria Santos,1002,S-1002,msantos,Lab A,maria@uni.example\n"
    "nina_absent.txt,Nina Absent,1003,S-1003,nabsent,Lab B,nina@uni.example\n"
)


@pytest.fixture(scope="module")
def grades(grading_catalogue, hsb_table) -> list[dict]:
    out = [
        grade_file(FORMULAS / name, grading_catalogue, table=hsb_table, assignment=["model4"])
        for name in ("kofi_mensah_model4.txt", "maria_santos_model4.txt")
    ]
    return [*out, refusal("=cmd|' /C calc'!A0.txt", "vignette", "not a text file")]


def _rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), list(reader)


def test_canvas_csv_has_canvas_s_columns_and_the_roster_s_ids(grades, tmp_path):
    roster_file = tmp_path / "roster.csv"
    roster_file.write_text(ROSTER)
    roster = gradebook.read_roster(roster_file)
    header, rows = _rows(gradebook.canvas_csv(grades, roster, "Lab 4", 10))
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lab 4"]
    by_name = {r["Student"]: r for r in rows}
    assert by_name["Maria Santos"]["Lab 4"] == "10.0"  # an equivalent parametrisation: right
    assert by_name["Maria Santos"]["SIS User ID"] == "S-1002"
    assert 0 < float(by_name["Kofi Mensah"]["Lab 4"]) < 1  # two mistakes
    assert by_name["Nina Absent"]["Lab 4"] == ""  # on the roster, nothing handed in
    # a file not on the roster is named by its file; an ungraded one has no points; a
    # name a spreadsheet would run is neutralised
    unlisted = by_name["'=cmd|' /C calc'!A0.txt"]
    assert unlisted["Lab 4"] == "" and unlisted["ID"] == ""


def test_moodle_csv_has_the_fields_moodle_maps_and_the_feedback(grades, tmp_path):
    roster_file = tmp_path / "roster.csv"
    roster_file.write_text(ROSTER)
    header, rows = _rows(
        gradebook.moodle_csv(grades, gradebook.read_roster(roster_file), "Lab 4", 100)
    )
    assert header == ["First name", "Last name", "ID number", "Email address", "Lab 4", "Feedback"]
    kofi = next(r for r in rows if r["Email address"] == "kofi@uni.example")
    assert (kofi["First name"], kofi["Last name"], kofi["ID number"]) == (
        "Kofi",
        "Mensah",
        "S-1001",
    )
    assert "Fitted by maximum likelihood instead of REML. Fix:" in kofi["Feedback"]
    assert "SES not centred. Fix: Centre SES on the school mean" in kofi["Feedback"]


def test_feedback_says_what_was_computed_what_differs_and_the_fix(grades):
    text = gradebook.feedback_text(grades[0], 100)
    lines = text.splitlines()
    assert lines[0] == "kofi_mensah_model4.txt"
    assert "You fitted mathach ~ ses * meanses + ses * sector + (ses | school) by ML" in text
    assert "  - SES not centred. Fix: Centre SES on the school mean" in text
    assert lines[-1].endswith(f"{gradebook.points(grades[0], 100):g} of 100 points.")
    refused = gradebook.feedback_text(grades[2], 100)
    assert "Not graded: not a text file" in refused


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("file,student\na.txt,Ann\n", "the roster has no column 'name'"),
        ("file,name,phone\na.txt,Ann,1\n", "unknown roster column(s) 'phone'"),
        ("file,name\na.txt,Ann\na.txt,Bo\n", "row 3, column 'file': 'a.txt' is listed twice"),
        ("file,name\na.txt,\n", "row 2, column 'name': empty"),
    ],
)
def test_a_bad_roster_is_an_error_naming_the_file_row_and_column(tmp_path, text, message):
    path = tmp_path / "roster.csv"
    path.write_text(text)
    with pytest.raises(InputDataError) as error:
        gradebook.read_roster(path)
    assert str(error.value).startswith(str(path)) and message in str(error.value)


@pytest.mark.slow
def test_the_workflow_writes_the_grade_books_and_the_feedback(tmp_path):
    work = copy_workflow(tmp_path)
    submissions = work / "submissions"
    submissions.mkdir()
    for name in ("kofi_mensah_model4.txt", "maria_santos_model4.txt"):
        shutil.copy(FORMULAS / name, submissions / name)
    (work / "roster.csv").write_text(ROSTER)
    config = work / "config.yaml"
    config.write_text(
        config.read_text()
        .replace("  roster: null", "  roster: roster.csv")
        .replace("    title: HSB replication", "    title: Lab 4")
    )
    targets = ["reports/grades/canvas.csv", "reports/grades/moodle.csv"]
    done = run_snakemake(work, "--cores", "2", *targets)
    assert done.returncode == 0, done.stderr[-3000:]
    header, rows = _rows((work / targets[0]).read_text())
    assert header[-1] == "Lab 4" and {r["Student"] for r in rows} == {
        "Kofi Mensah", "Maria Santos", "Nina Absent"
    }  # fmt: skip
    feedback = (work / "reports/grades/feedback/kofi_mensah_model4.txt.txt").read_text()
    assert "Fix:" in feedback
    # a roster edit redoes the grade books only
    (work / "roster.csv").write_text(ROSTER.replace("Nina Absent", "Nina Present"))
    plan = run_snakemake(work, "-n", "--cores", "2", *targets)
    assert "grade_index" in plan.stdout and "grade_submission" not in plan.stdout
