"""Grade books: the grades as a learning platform imports them, and each student's feedback.

- **The roster** (config ``grading.roster``, optional): a CSV file, one row per
  student, with the columns of :data:`ROSTER_COLUMNS`: ``file`` (the submission's name in
  the submissions folder) and ``name`` are required; ``id`` (Canvas's user id),
  ``sis_user_id``, ``sis_login_id``, ``section`` and ``email`` are optional.  It is the
  instructor's file, checked like any input: a missing column, a duplicate file or an
  empty name is an error naming the file, the row and the column.
- **Canvas** (``canvas.csv``): the columns of Canvas's Gradebook import, in its order:
  ``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``, ``Section``, then one assignment
  column; Canvas matches a row by ID, SIS User ID or name, and a column named like no
  assignment creates one (Canvas Guides, "How do I import grades in the Gradebook?").
- **Moodle** (``moodle.csv``): one row per student with ``Email address`` and ``ID
  number`` (what Moodle's CSV grade import maps to ``useremail`` / ``useridnumber``), the
  grade item and its ``Feedback`` column (mapped to the same item, since importing
  feedback without its grade clears the grade; MoodleDocs, "Grade import").
- **Feedback** (``feedback/{file}.txt``): plain text to paste into the platform: what the
  student computed, in words, what differs from the reference and how to fix it, the
  score.

Grades are points: the score (share of the reference numbers that replicate) times
``grading.gradebook.points``, rounded to 0.1.  A submission that could not be graded has
no points (an empty cell: the platform keeps what it had), and its feedback says why.
Every text cell is neutralised against spreadsheet formulas (:func:`.pages.spreadsheet_safe`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hlmrep.errors import InputDataError
from hlmrep.grading.inventory import visible

ROSTER_COLUMNS = ("file", "name", "id", "sis_user_id", "sis_login_id", "section", "email")
ROSTER_REQUIRED = ("file", "name")
#: Canvas's Gradebook import: the student columns, in Canvas's order.
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
#: Moodle's CSV grade import: the user identifiers it maps, then the grade and feedback.
MOODLE_COLUMNS = ("First name", "Last name", "ID number", "Email address")
#: Rows of a roster read at most: a course's, not a registry's.
MAX_ROSTER_ROWS = 5000


@dataclass(frozen=True)
class Student:
    file: str
    name: str
    id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    email: str = ""
    #: Moodle's participant id (its grading worksheet's ``Identifier``), from its download
    participant: str = ""


def read_roster(path: Path) -> dict[str, Student]:
    """The roster by submission file name (see the module)."""
    from hlmrep.files import check_regular

    check_regular(path, "grading roster")
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in ROSTER_REQUIRED if c not in header]
    if missing:
        raise InputDataError(
            f"{path}: the roster has no column {', '.join(map(repr, missing))}; expected "
            f"{', '.join(ROSTER_COLUMNS)} ({', '.join(ROSTER_REQUIRED)} required)"
        )
    unknown = [c for c in header if c not in ROSTER_COLUMNS]
    if unknown:
        raise InputDataError(
            f"{path}: unknown roster column(s) {', '.join(map(repr, unknown))}; expected "
            f"{', '.join(ROSTER_COLUMNS)}"
        )
    roster: dict[str, Student] = {}
    for row_number, row in enumerate(reader, start=2):
        if row_number > MAX_ROSTER_ROWS + 1:
            raise InputDataError(f"{path}: more than {MAX_ROSTER_ROWS} students")
        values = {c: (row.get(c) or "").strip() for c in ROSTER_COLUMNS}
        for column in ROSTER_REQUIRED:
            if not values[column]:
                raise InputDataError(f"{path}, row {row_number}, column {column!r}: empty")
        if values["file"] in roster:
            raise InputDataError(
                f"{path}, row {row_number}, column 'file': {values['file']!r} is listed twice"
            )
        # keyed as the grade records name the file (invisible characters shown)
        roster[visible(values["file"])] = Student(**values)
    return roster


def points(grade: Mapping[str, Any], out_of: float) -> float | None:
    """The grade in points, or None for a submission that could not be graded."""
    if grade["status"] != "graded" or grade["score"] is None:
        return None
    return round(grade["score"] * out_of, 1)


def _student(grade: Mapping[str, Any], roster: Mapping[str, Student]) -> Student:
    """The roster's student of a file (by its name, or by its name inside the archive it
    came in); else the student a platform's download names (:mod:`.platforms`: a member
    of an archive only, whose name the platform gave it); else the file's name."""
    from hlmrep.grading.platforms import decode

    submission = grade["submission"]
    member = submission.split("/", 1)[1] if "/" in submission else None
    listed = roster.get(submission) or (roster.get(member) if member else None)
    if listed is not None:
        return listed
    handed = decode(member) if member else None
    if handed is None:
        return Student(submission, submission)
    return Student(submission, handed.name, id=handed.user_id, participant=handed.participant)


def _safe(row: Mapping[str, Any]) -> dict[str, Any]:
    from hlmrep.grading.pages import spreadsheet_safe

    return {k: spreadsheet_safe(v) for k, v in row.items()}


def _csv(columns: list[str], rows: Iterable[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(_safe(row))
    return buffer.getvalue()


def _rows_by_student(
    grades: Iterable[Mapping[str, Any]], roster: Mapping[str, Student]
) -> list[tuple[Student, Mapping[str, Any] | None]]:
    """Each graded file with its student, then each student of the roster with no file."""
    handed_in = {g["submission"]: g for g in grades}
    out: list[tuple[Student, Mapping[str, Any] | None]] = [
        (_student(g, roster), g) for g in handed_in.values()
    ]
    out += [(s, None) for file, s in roster.items() if file not in handed_in]
    return sorted(out, key=lambda pair: pair[0].name.casefold())


def canvas_csv(
    grades: Iterable[Mapping[str, Any]], roster: Mapping[str, Student], title: str, out_of: float
) -> str:
    """canvas.csv (see the module)."""
    rows = []
    for student, grade in _rows_by_student(grades, roster):
        score = None if grade is None else points(grade, out_of)
        rows.append(
            {
                "Student": student.name,
                "ID": student.id,
                "SIS User ID": student.sis_user_id,
                "SIS Login ID": student.sis_login_id,
                "Section": student.section,
                title: "" if score is None else score,
            }
        )
    return _csv([*CANVAS_COLUMNS, title], rows)


def moodle_csv(
    grades: Iterable[Mapping[str, Any]], roster: Mapping[str, Student], title: str, out_of: float
) -> str:
    """moodle.csv (see the module): the feedback in one cell, lines joined by " / "."""
    rows = []
    for student, grade in _rows_by_student(grades, roster):
        first, _, last = student.name.partition(" ")
        score = None if grade is None else points(grade, out_of)
        comment = "" if grade is None else " / ".join(feedback_lines(grade, out_of))
        rows.append(
            {
                "First name": first,
                "Last name": last,
                "ID number": student.sis_user_id,
                "Email address": student.email,
                title: "" if score is None else score,
                "Feedback": comment,
            }
        )
    return _csv([*MOODLE_COLUMNS, title, "Feedback"], rows)


#: Moodle's offline grading worksheet (assignfeedback_offline): the importer finds the
#: participant by ``Identifier`` and needs ``Grade`` and ``Last modified (grade)``.
MOODLE_WORKSHEET_COLUMNS = (
    "Identifier",
    "Full name",
    "Grade",
    "Maximum Grade",
    "Last modified (grade)",
    "Feedback comments",
)


def moodle_worksheet_csv(
    grades: Iterable[Mapping[str, Any]], roster: Mapping[str, Student], out_of: float
) -> str:
    """moodle_worksheet.csv: Moodle's grading worksheet ("Upload grading worksheet") for
    the students whose participant id a Moodle download gave (``Participant 12345``).
    ``Last modified (grade)`` is left empty (the grading has no date of its own): tick
    "Allow updating records that have been modified more recently in Moodle" to
    overwrite grades entered there since."""
    rows = []
    for student, grade in _rows_by_student(grades, roster):
        if not student.participant:
            continue
        score = None if grade is None else points(grade, out_of)
        comment = "" if grade is None else " / ".join(feedback_lines(grade, out_of))
        rows.append(
            {
                "Identifier": f"Participant {student.participant}",
                "Full name": student.name,
                "Grade": "" if score is None else score,
                "Maximum Grade": out_of,
                "Last modified (grade)": "",
                "Feedback comments": comment,
            }
        )
    return _csv(list(MOODLE_WORKSHEET_COLUMNS), rows)


def feedback_lines(grade: Mapping[str, Any], out_of: float) -> list[str]:
    """What the student computed, what differs and how to fix it, the score: in words."""
    if grade["status"] != "graded":
        return [f"Not graded: {grade.get('error') or 'the file could not be read'}"]
    lines = []
    for model in grade["models"]:
        their = model.get("their_model") or {}
        head = f"{model['label']}: "
        if their.get("fitted"):
            lines.append(head + their["in_words"])
        elif not model.get("part_of_assignment", True):
            lines.append(head + f"not part of the assignment (nearest: {model['target_title']}).")
        else:
            lines.append(head + f"graded against {model['target_title']}.")
        for difference in model.get("differences") or (
            [model["diagnosis"]] if model.get("diagnosis") else []
        ):
            lines.append(f"  - {difference['title']}. Fix: {difference['fix']}")
    missing = grade.get("assignment", {}).get("missing", [])
    if missing:
        lines.append("Asked for and not found: " + ", ".join(missing) + ".")
    score = points(grade, out_of)
    lines.append(
        f"{grade['replicated']} of {grade['expected']:g} reference numbers "
        f"replicate" + ("" if score is None else f": {score:g} of {out_of:g} points") + "."
    )
    return lines


def feedback_text(grade: Mapping[str, Any], out_of: float) -> str:
    return f"{grade['submission']}\n\n" + "\n".join(feedback_lines(grade, out_of)) + "\n"
