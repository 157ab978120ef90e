"""Grade pages: one self-contained HTML page per submission, the index, and summary.csv.

Everything a submission contains (variable names, formulas, numbers, file names) is
untrusted text: the templates are rendered with autoescaping on, so ``<script>`` in a
variable name arrives on the page as the text ``<script>``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2

from hlmrep import templates
from hlmrep.files import write_atomically
from hlmrep.grading.verdicts import ORDER

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


def render_index(grades: list[dict[str, Any]]) -> str:
    return _environment().get_template("grades_index.html.j2").render(grades=grades, verdicts=ORDER)


def summary_row(grade: dict[str, Any]) -> dict[str, Any]:
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
        "error": grade.get("error") or "",
    }
    for verdict in ORDER:
        row[verdict.replace(" ", "_")] = grade["counts"][verdict]
    return row


def summary_csv(grades: Iterable[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for grade in grades:
        writer.writerow(summary_row(grade))
    return buffer.getvalue()


def grade_job(
    submission: Path, catalogue_path: Path, prefer: str, out_json: Path, out_html: Path
) -> dict[str, Any]:
    """Workflow job: grade one submission, write its JSON record and its page."""
    from hlmrep.files import read_json
    from hlmrep.grading.grade import grade_file

    catalogue = read_json(catalogue_path)
    grade = grade_file(submission, catalogue, prefer)
    text = json.dumps(grade, indent=1, ensure_ascii=False) + "\n"
    html = render_grade(grade, catalogue["mistakes"])
    write_atomically(out_json, lambda p: p.write_text(text, encoding="utf-8"))
    write_atomically(out_html, lambda p: p.write_text(html, encoding="utf-8"))
    return grade


def index_job(grade_files: list[Path], out_html: Path, out_csv: Path) -> None:
    """Workflow job: the index page and summary.csv from every submission's grade."""
    from hlmrep.files import read_json

    grades = sorted((read_json(p) for p in grade_files), key=lambda g: g["submission"])
    html = render_index(grades)
    table = summary_csv(grades)
    write_atomically(out_csv, lambda p: p.write_text(table, encoding="utf-8"))
    write_atomically(out_html, lambda p: p.write_text(html, encoding="utf-8"))
