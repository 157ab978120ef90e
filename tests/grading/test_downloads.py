"""A learning platform's download in the submissions folder (make_downloads.py): Canvas's
and Moodle's zip archives of real printouts, each member graded as a submission of its own,
the platforms' ids in the grade books without a roster, and the members and archives that
must not be read refused one by one."""

from __future__ import annotations

import csv
import io
import runpy
from pathlib import Path

import pytest

from conftest import ROOT
from hlmrep.grading.gradebook import canvas_csv, moodle_worksheet_csv
from hlmrep.grading.inventory import entries
from hlmrep.grading.pages import grade_job, index_job
from hlmrep.grading.platforms import decode

MAKE = runpy.run_path(str(ROOT / "tests" / "fixtures" / "grading" / "make_downloads.py"))


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("downloads") / "submissions"
    MAKE["write"](folder)
    return folder


@pytest.fixture(scope="module")
def graded(downloads, catalogue_file, prepared_file, tmp_path_factory) -> dict[str, dict]:
    """Every entry of the folder graded by its own job, as the workflow runs them."""
    out = tmp_path_factory.mktemp("grades")
    grades = {}
    for entry in entries(downloads):
        grades[entry.name] = grade_job(
            folder=downloads,
            key=entry.key,
            catalogue=catalogue_file,
            data=prepared_file,
            reference_source="vignette",
            out_json=out / f"{entry.key}.json",
            out_html=out / f"{entry.key}.html",
            out_feedback=out / f"{entry.key}.txt",
        )
    return grades


def test_each_member_of_an_archive_is_an_entry_of_its_own(downloads):
    """Canvas's five files and its hostile members, Moodle's two folders' files: one entry
    each, named archive/member, keyed by the member; folders and macOS's resource forks are
    not entries; an archive cut in half is one refused entry."""
    found = {e.name: e for e in entries(downloads)}
    canvas = [n for n in found if n.startswith("canvas_lab4_submissions.zip/")]
    assert len(canvas) == 8
    assert not any("__MACOSX" in n for n in found)
    moodle = sorted(n for n in found if n.startswith("moodle_hw_submissions.zip/"))
    assert moodle == [
        "moodle_hw_submissions.zip/Amara Okafor_48213_assignsubmission_file_/lab4.txt",
        "moodle_hw_submissions.zip/Sofia Reyes_48214_assignsubmission_file_/tab_model.html",
    ]
    lab4 = found["canvas_lab4_submissions.zip/okaforamara_104233_5512301_lab4.txt"]
    assert lab4.key == "okaforamara_104233_5512301_lab4.txt" and lab4.refusal is None
    assert "cannot be opened" in (found["broken_download.zip"].refusal or "")
    assert len({e.key for e in found.values()}) == len(found)


@pytest.mark.parametrize(
    ("member", "status", "said"),
    [
        ("okaforamara_104233_5512301_lab4.txt", "graded", None),
        ("liuben_LATE_104519_5512377_hw3.txt", "graded", None),
        ("khanfarah_104877_5512410_hw4.md", "graded", None),
        ("berggloria_105020_5512455_tmb.txt", "graded", None),
        ("nowakolga_105311_5512502_hw4.docx", "graded", None),  # a zip by format: a document
        ("pateldev_105600_5512600_project.zip", "error", "a zip archive inside an archive"),
        ("leeyuna_105700_5512700_secret.txt", "error", "a symbolic link inside the archive"),
        ("../../outside_105800_5512800_escape.txt", "error", "a path outside the archive"),
    ],
)
def test_canvas_members_are_graded_or_refused_one_by_one(graded, member, status, said):
    grade = graded[f"canvas_lab4_submissions.zip/{member}"]
    assert grade["status"] == status, grade.get("error")
    if said is not None:
        assert said in grade["error"]
    else:
        assert grade["models"] and grade["replicated"] > 0


def test_a_broken_archive_is_that_entry_s_error_and_moodle_s_files_are_graded(graded):
    assert graded["broken_download.zip"]["status"] == "error"
    for name, grade in graded.items():
        if name.startswith("moodle_hw_submissions.zip/"):
            assert grade["status"] == "graded" and grade["replicated"] > 0, name


@pytest.mark.parametrize(
    ("name", "platform", "student", "user", "participant", "late"),
    [
        ("a.zip/okaforamara_104233_5512301_lab4.txt", "Canvas", "okaforamara", "104233", "", False),
        ("a.zip/liuben_LATE_104519_5512377_hw3.txt", "Canvas", "liuben", "104519", "", True),
        ("a.zip/late_liuben_104519_5512377_hw3-1.txt", "Canvas", "liuben", "104519", "", True),
        ("a.zip/Amara Okafor_48213_assignsubmission_file_/lab4.txt", "Moodle", "Amara Okafor",
         "", "48213", False),
        ("a.zip/Li_Wei_9_assignsubmission_onlinetext_onlinetext.html", "Moodle", "Li_Wei", "",
         "9", False),
    ],
)  # fmt: skip
def test_the_platforms_names_are_decoded(name, platform, student, user, participant, late):
    handed = decode(name.split("/", 1)[1])
    assert handed is not None
    assert (handed.platform, handed.name, handed.user_id, handed.participant, handed.late) == (
        platform, student, user, participant, late
    )  # fmt: skip


def test_a_name_of_neither_platform_is_not_decoded():
    assert decode("jane_doe_lab4.txt") is None
    assert decode("model3 output.txt") is None


def test_grade_books_carry_the_platforms_ids_without_a_roster(graded, tmp_path):
    """canvas.csv's ID is Canvas's user id from the download's names (what its import
    matches a row by); Moodle's grading worksheet has each participant's Identifier; a
    top-level file keeps its own name; the index writes both."""
    grades = list(graded.values())
    rows = list(csv.DictReader(io.StringIO(canvas_csv(grades, {}, "Lab 4", 10))))
    by_student = {r["Student"]: r for r in rows}
    assert by_student["okaforamara"]["ID"] == "104233"
    assert by_student["liuben"]["ID"] == "104519"
    assert by_student["broken_download.zip"]["ID"] == ""
    worksheet = list(csv.DictReader(io.StringIO(moodle_worksheet_csv(grades, {}, 10))))
    assert [(r["Identifier"], r["Full name"]) for r in worksheet] == [
        ("Participant 48213", "Amara Okafor"),
        ("Participant 48214", "Sofia Reyes"),
    ]
    assert all(r["Grade"] and r["Maximum Grade"] == "10" for r in worksheet)
    assert list(worksheet[0]) == [
        "Identifier",
        "Full name",
        "Grade",
        "Maximum Grade",
        "Last modified (grade)",
        "Feedback comments",
    ]


def test_a_roster_still_wins_over_the_names(graded, tmp_path):
    from hlmrep.grading.gradebook import read_roster

    roster = tmp_path / "roster.csv"
    roster.write_text(
        "file,name,id\nokaforamara_104233_5512301_lab4.txt,Amara Okafor,999\n", encoding="utf-8"
    )
    rows = list(
        csv.DictReader(io.StringIO(canvas_csv(list(graded.values()), read_roster(roster), "L", 1)))
    )
    assert {r["Student"]: r["ID"] for r in rows}["Amara Okafor"] == "999"


def test_the_index_job_writes_moodle_s_worksheet(graded, tmp_path):
    from hlmrep.records.grade import GRADE

    records = []
    for number, grade in enumerate(graded.values()):
        path = tmp_path / f"g{number}.json"
        GRADE.write(path, grade)
        records.append(path)
    pages = tmp_path / "reports"
    pages.mkdir()
    index_job(
        grade=records,
        out_html=pages / "index.html",
        out_csv=pages / "summary.csv",
        out_canvas=pages / "canvas.csv",
        out_moodle=pages / "moodle.csv",
        out_moodle_worksheet=pages / "moodle_worksheet.csv",
    )
    assert "Participant 48214" in (pages / "moodle_worksheet.csv").read_text()


@pytest.mark.slow
def test_the_workflow_grades_a_download_member_by_member(tmp_path):
    """Canvas's and Moodle's archives dropped into submissions/: a job per member;
    canvas.csv's ID column filled with each Canvas student's user id, Moodle's worksheet
    with both participants; a rerun does nothing."""
    from conftest import copy_workflow, run_snakemake

    work = copy_workflow(tmp_path)
    (work / "submissions").mkdir()
    (work / "submissions" / "moodle_hw_submissions.zip").write_bytes(MAKE["moodle_download"]())
    (work / "submissions" / "canvas_lab4.zip").write_bytes(MAKE["canvas_download"]())
    target = "reports/grades/moodle_worksheet.csv"
    canvas = "reports/grades/canvas.csv"
    done = run_snakemake(work, "--cores", "2", target, canvas)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = list(csv.DictReader(io.StringIO((work / target).read_text())))
    assert [r["Identifier"] for r in rows] == ["Participant 48213", "Participant 48214"]
    assert all(r["Grade"] for r in rows)
    books = {r["Student"]: r for r in csv.DictReader(io.StringIO((work / canvas).read_text()))}
    for student, user in (("okaforamara", "104233"), ("liuben", "104519"), ("khanfarah", "104877")):
        assert books[student]["ID"] == user and books[student]["HSB replication"], student
    plan = run_snakemake(work, "-n", "--cores", "2", target, canvas)
    assert "grade_submission" not in plan.stdout
