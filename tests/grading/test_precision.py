"""Precision: a number printed with too few digits to tell is "too coarse", never "exact".

The rule (hlmrep.grading.verdicts.required_unit): ``grading.min_significant_digits``
significant digits (default 3), never coarser than the reference's last printed digit but
one, never finer than the reference's own last digit, nor than the student's program
prints the quantity at (lme4's correlations: two decimals). The answer sheets here are
filled from the references' own printed numbers, rounded as a student would round them.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pytest

from hlmrep.grading import answer_sheet
from hlmrep.grading.grade import grade_file
from hlmrep.grading.verdicts import TOO_COARSE, required_unit


@pytest.mark.parametrize(
    ("value", "unit", "digits", "allowed"),
    [
        (0.2445, 1e-4, 3, 1e-3),  # an SE: 0.245 will do, 0.24 will not
        (46714.2, 0.1, 3, 1.0),  # the REML criterion: 46714, not 4.67e4
        (12.6362, 1e-4, 3, 1e-3),  # the reference's last digit but one
        (0.02, 0.01, 3, 0.01),  # never more digits than the reference printed
        (12.6362, 0.0, 3, 0.1),  # our optimum alone: three significant digits
        (0.2445, 1e-4, 2, 1e-3),  # fewer asked for: still the last digit but one
    ],
)
def test_the_coarsest_digit_a_number_may_have(value, unit, digits, allowed):
    assert required_unit(value, unit, digits) == pytest.approx(allowed)


def _sheet(grading_catalogue, decimals: int | None) -> str:
    """model3's printed numbers, rounded to ``decimals`` (None: as printed)."""
    printed = grading_catalogue["models"]["model3"]["printed"]
    rows = list(csv.DictReader(io.StringIO(answer_sheet.template())))
    for row in rows:
        model, _, qid = row["id"].partition(".")
        if model == "model3" and qid in printed:
            entry = printed[qid]
            places = entry["digits"] if decimals is None else min(decimals, entry["digits"])
            row["value"] = f"{entry['value']:.{places}f}"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=answer_sheet.COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _verdicts(grade: dict) -> dict[str, str]:
    return {n["id"]: n["verdict"] for m in grade["models"] for n in m["numbers"]}


def test_an_answer_sheet_as_printed_replicates_whole(grading_catalogue, tmp_path, hsb_table):
    path = tmp_path / "as_printed.csv"
    path.write_text(_sheet(grading_catalogue, None))
    grade = grade_file(path, grading_catalogue, table=hsb_table)
    assert grade["all_replicated"] and grade["graded"] == 19


def test_an_answer_sheet_of_whole_numbers_is_too_coarse_not_exact(
    grading_catalogue, tmp_path, hsb_table
):
    """Every SE "0" was exact before: 31/31 for a sheet that says nothing."""
    path = tmp_path / "whole_numbers.csv"
    path.write_text(_sheet(grading_catalogue, 0))
    grade = grade_file(path, grading_catalogue, table=hsb_table)
    verdicts = _verdicts(grade)
    assert verdicts["fixed.(Intercept).se"] == TOO_COARSE  # "0" for 0.2445
    assert verdicts["fixed.cses.estimate"] == TOO_COARSE  # "2" for 2.1932
    assert verdicts["criterion"] == "exact"  # "46714": the units were asked for
    assert "exact" not in {v for k, v in verdicts.items() if k != "criterion"}
    assert grade["counts"][TOO_COARSE] >= 12
    assert not grade["all_replicated"] and grade["score"] < 0.2


def test_an_answer_sheet_of_one_decimal_is_too_coarse_where_it_cannot_tell(
    grading_catalogue, tmp_path, hsb_table
):
    path = tmp_path / "one_decimal.csv"
    path.write_text(_sheet(grading_catalogue, 1))
    verdicts = _verdicts(grade_file(path, grading_catalogue, table=hsb_table))
    assert verdicts["fixed.(Intercept).estimate"] == TOO_COARSE  # 12.6 for 12.6362
    assert verdicts["random.corr.(Intercept).cses"] == TOO_COARSE  # 0.0 for 0.02
    assert verdicts["criterion"] == "exact"  # 46714.2 is as printed


def test_a_wrong_number_stays_wrong_at_coarse_digits(grading_catalogue, tmp_path, hsb_table):
    """Too coarse is for numbers that would otherwise pass: 13.1 for 12.6362 is minor."""
    text = _sheet(grading_catalogue, None).replace(",12.6362\n", ",13.1\n")
    path = tmp_path / "wrong.csv"
    path.write_text(text)
    assert (
        _verdicts(grade_file(path, grading_catalogue, table=hsb_table))[
            "fixed.(Intercept).estimate"
        ]
        == "minor"
    )


def test_the_digits_asked_for_are_a_setting(grading_catalogue, catalogue_file, tmp_path, hsb_table):
    """The digits asked for are recorded with the grade; the command's flag refuses
    nonsense."""
    path = tmp_path / "sheet.csv"
    path.write_text(_sheet(grading_catalogue, 0))
    strict = grade_file(path, grading_catalogue, significant_digits=3, table=hsb_table)
    assert strict["min_significant_digits"] == 3
    done = subprocess.run(
        [sys.executable, "-m", "hlmrep", "grade", str(path), "--catalogue", str(catalogue_file),
         "--min-significant-digits", "0"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == "error: --min-significant-digits 0: expected 1 or more"
