"""Grade pages: one self-contained HTML page per submission, the index, and summary.csv.

Everything a submission contains (variable names, formulas, numbers, file names) is
untrusted text: the templates are rendered with autoescaping on, so ``<script>`` in a
variable name arrives on the page as the text ``<script>``.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, cast

import jinja2

from hlmrep.files import write_atomically
from hlmrep.grading.settings import DEFAULTS
from hlmrep.grading.verdicts import ORDER
from hlmrep.records.catalogue import CATALOGUE
from hlmrep.records.grade import GRADE, GradeRecord
from hlmrep.report import templates

log = logging.getLogger("hlmrep")

SUMMARY_COLUMNS = (
    "submission",
    "status",
    "format",
    "models",
    "graded",
    *(v.replace(" ", "_") for v in ORDER),
    "missing",
    "score",
    "all_replicated",
    "diagnoses",
    "notes",
    "unmatched",
    "missing_required",
    "error",
)


def _environment() -> jinja2.Environment:
    return templates.environment(
        {
            "num": lambda v: "–" if v is None else f"{v:.6g}",
            "css": lambda v: str(v).replace(" ", "-"),
        }
    )


def render_grade(grade: dict[str, Any], mistakes: dict[str, Any]) -> str:
    return (
        _environment()
        .get_template("grade.html.j2")
        .render(grade=grade, mistakes=mistakes, verdicts=ORDER)
    )


def render_index(grades: Iterable[Mapping[str, Any]]) -> str:
    return _environment().get_template("grades_index.html.j2").render(grades=grades, verdicts=ORDER)


def summary_row(grade: Mapping[str, Any]) -> dict[str, Any]:
    """One submission's line of summary.csv."""
    row: dict[str, Any] = {
        "submission": grade["submission"],
        "status": grade["status"],
        "format": grade.get("format") or "",
        "models": "; ".join(f"{m['target']} ({m['confidence']})" for m in grade.get("models", [])),
        "graded": grade["graded"],
        "missing": grade["missing"],
        "score": "" if grade["score"] is None else grade["score"],
        "all_replicated": grade["all_replicated"],
        "diagnoses": "; ".join(grade["diagnoses"]),
        "notes": "; ".join(grade["notes"]),
        "unmatched": grade["unmatched"],
        "missing_required": "; ".join(grade.get("assignment", {}).get("missing", [])),
        "error": grade.get("error") or "",
    }
    for verdict in ORDER:
        row[verdict.replace(" ", "_")] = grade["counts"][verdict]
    return row


#: A cell starting with one of these is a formula to Excel, LibreOffice or Google Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell as a spreadsheet shows it and never runs (OWASP, "CSV Injection"):
    one that a spreadsheet would take for a formula gets a leading apostrophe. Numbers
    (counts, the score) are written as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def summary_csv(grades: Iterable[Mapping[str, Any]]) -> str:
    """summary.csv: every field quoted, every text cell neutralised (spreadsheet_safe)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=SUMMARY_COLUMNS, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC
    )
    writer.writeheader()
    for grade in grades:
        writer.writerow({k: spreadsheet_safe(v) for k, v in summary_row(grade).items()})
    return buffer.getvalue()


def grade_job(
    *,
    folder: Path,
    key: str,
    catalogue: Path,
    data: Path,
    reference_source: Literal["vignette", "textbook"],
    min_significant_digits: int = DEFAULTS.min_significant_digits,
    assignment: list[str] | None = None,
    missing_weight: float = DEFAULTS.missing_weight,
    points: float = DEFAULTS.gradebook_points,
    out_json: Path,
    out_html: Path,
    out_feedback: Path,
) -> GradeRecord:
    """Grade one submission number by number: its grade record and its page.

    ``key`` names the entry of the submissions ``folder`` (:mod:`hlmrep.grading.inventory`);
    ``data`` is the prepared table, to which the models the file writes are fitted;
    ``reference_source`` says which source wins where the vignette and the book print the
    same model; ``min_significant_digits`` the fewest digits a number may be printed with
    and still replicate; ``assignment`` the references the assignment asks for (none
    given: grading.yaml's default; an unknown one stops the job, as a config error);
    ``missing_weight`` how much a reference asked for and not handed in counts
    (:func:`.grade.grade_file`); ``points``: what a score of 100 % is worth in the
    feedback text (``out_feedback``).
    Whatever the file holds, the job ends with a record: a file that cannot be
    graded, or that breaks the grader, or that exceeds the time and memory bounds, is
    recorded as an error of that file, so that the index and summary.csv list it and the
    other files."""
    from hlmrep.data.tables import read_prepared
    from hlmrep.grading.catalogue import analysis_table
    from hlmrep.grading.grade import grade_bounded, refusal
    from hlmrep.grading.inventory import find
    from hlmrep.grading.references import load

    required = load().required(assignment or None)
    fitted = CATALOGUE.read(catalogue)
    table = analysis_table(read_prepared(data))
    entry = find(folder, key)
    if entry.refusal is not None:
        grade = refusal(entry.name, reference_source, f"{entry.name}: {entry.refusal}")
    else:
        grade = grade_bounded(
            entry.path,
            fitted,
            reference_source,
            name=entry.name,
            significant_digits=min_significant_digits,
            table=table,
            assignment=required,
            missing_weight=missing_weight,
            member=entry.member,
        )
    grade["key"] = key
    try:
        text = GRADE.text(cast(GradeRecord, grade))
    except ValueError as defect:  # a grader bug must not stop the class: say so
        grade = refusal(
            entry.name,
            reference_source,
            f"{entry.name}: hlmrep could not grade this file ({str(defect)[:200]}); please "
            "report it with the file",
        )
        grade["key"] = key
        text = GRADE.text(cast(GradeRecord, grade))
    record = cast(GradeRecord, grade)
    html = render_grade(grade, fitted["mistakes"])
    from hlmrep.grading.gradebook import feedback_text

    feedback = feedback_text(grade, points)
    write_atomically(out_json, lambda p: p.write_text(text, encoding="utf-8"))
    write_atomically(out_feedback, lambda p: p.write_text(feedback, encoding="utf-8"))
    write_atomically(out_html, lambda p: p.write_text(html, encoding="utf-8"))
    if grade["status"] == "error":
        log.warning("%s", grade["error"])
    else:
        log.info(
            "%s: %d of %d numbers replicate; diagnoses: %s",
            grade["submission"],
            grade["replicated"],
            grade["graded"],
            ", ".join(grade["diagnoses"]) or "none",
        )
    return record


def index_job(
    *,
    grade: list[Path],
    roster: Path | None = None,
    title: str = DEFAULTS.gradebook_title,
    points: float = DEFAULTS.gradebook_points,
    out_html: Path,
    out_csv: Path,
    out_canvas: Path,
    out_moodle: Path,
    out_moodle_worksheet: Path,
) -> None:
    """The index page of all grades, summary.csv, and the grade books Canvas and Moodle
    import, with Moodle's grading worksheet (:mod:`hlmrep.grading.gradebook`).

    ``roster``: the students (submission file → name and the platform's ids); ``title``
    names the assignment's column; ``points``: what a score of 100 % is worth."""
    from hlmrep.grading import gradebook

    students = gradebook.read_roster(roster) if roster is not None else {}
    grades = sorted((GRADE.read(path) for path in grade), key=lambda g: g["submission"])
    html = render_index(grades)
    table = summary_csv(grades)
    canvas = gradebook.canvas_csv(grades, students, title, points)
    moodle = gradebook.moodle_csv(grades, students, title, points)
    worksheet = gradebook.moodle_worksheet_csv(grades, students, points)
    unlisted = [g["submission"] for g in grades if students and g["submission"] not in students]
    if unlisted:
        log.warning("not in the roster (named by their file in the grade books): %s", unlisted)
    write_atomically(out_csv, lambda p: p.write_text(table, encoding="utf-8"))
    write_atomically(out_canvas, lambda p: p.write_text(canvas, encoding="utf-8"))
    write_atomically(out_moodle, lambda p: p.write_text(moodle, encoding="utf-8"))
    write_atomically(out_moodle_worksheet, lambda p: p.write_text(worksheet, encoding="utf-8"))
    write_atomically(out_html, lambda p: p.write_text(html, encoding="utf-8"))
    for stale in stale_outputs(grade, out_html):
        log.info("removed %s: its submission is no longer in the folder", stale)
        stale.unlink()


def stale_outputs(records: list[Path], index: Path) -> list[Path]:
    """The records, pages and feedback of submissions no longer in the folder: the index
    lists every submission there is, and a deleted one's record left in results/grades/
    would be read as current by whatever reads that folder (a grade book made by hand, a
    second index).  Only files named as a submission's outputs are touched."""
    if not records:
        return []
    keys = {path.stem for path in records}
    places = [
        (records[0].parent, ".json"),
        (index.parent, ".html"),
        (index.parent / "feedback", ".txt"),
    ]
    return sorted(
        path
        for folder, suffix in places
        if folder.is_dir()
        for path in folder.iterdir()
        if path.suffix == suffix
        and path.is_file()
        and not path.is_symlink()
        and path.stem not in keys
        and path != index
    )
