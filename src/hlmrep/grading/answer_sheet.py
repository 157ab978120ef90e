"""The answer sheet: every gradeable quantity as a CSV row, for users of any software.

``python -m hlmrep grade-template`` writes it: one row per number the references print
(``id``, what it is, the model, where it is in the book or the vignette, an empty
``value``).  A user of Stata, SPSS, HLM or statsmodels fills in ``value`` and submits the
file like printed R output.  The sheet names each number's model, so no matching is needed;
the diagnosis is the same as for R output.
"""

from __future__ import annotations

import csv
import io
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hlmrep.errors import HlmrepError
from hlmrep.files import write_atomically
from hlmrep.grading.printout import Printed, is_number
from hlmrep.grading.references import References, describe_quantity, load

COLUMNS = ("id", "quantity", "model", "where", "value")


@dataclass
class Sheet:
    """A filled sheet: numbers by reference (model or LRT) and quantity id, and the line of
    each (its row, 1-based, in the file)."""

    values: dict[str, dict[str, Printed]]
    problems: list[str] = field(default_factory=list)
    rows: int = 0
    lines: dict[str, dict[str, int]] = field(default_factory=dict)


def rows(references: References | None = None) -> list[dict[str, str]]:
    """The template's rows: every printed reference number, model by model."""
    refs = references or load()
    out = []
    for name, model in refs.models.items():
        for qid in model.printed:
            symbol = model.symbols.get(qid)
            where = model.where + (f": {symbol}" if symbol else "")
            out.append(_row(name, qid, model.title, where))
    for name, lrt in refs.lrts.items():
        for qid in lrt.printed:
            symbol = lrt.symbols.get(qid)
            out.append(_row(name, qid, lrt.title, lrt.where + (f": {symbol}" if symbol else "")))
    return out


def _row(target: str, qid: str, title: str, where: str) -> dict[str, str]:
    return {
        "id": f"{target}.{qid}",
        "quantity": describe_quantity(qid),
        "model": title,
        "where": where,
        "value": "",
    }


def template(references: References | None = None) -> str:
    """The answer sheet as CSV text, values empty."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(references))
    return buffer.getvalue()


def template_command(out: Path | None) -> int:
    """``python -m hlmrep grade-template``: the answer sheet to standard output or a file."""
    text = template()
    if out is None:
        sys.stdout.write(text)
    else:
        write_atomically(out, lambda p: p.write_text(text))
        logging.getLogger("hlmrep").info(
            "answer sheet written to %s: fill in the value column", out
        )
    return 0


def _first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "")


def _delimiter(header: str) -> str:
    return max(",;\t", key=header.count)


def looks_like(text: str) -> bool:
    """Whether the text's first line is an answer sheet's header (``id`` and ``value``)."""
    header = _first_line(text)
    names = [c.strip().strip('"').lower() for c in header.split(_delimiter(header))]
    return "id" in names and "value" in names


def _number(cell: str, decimal_comma: bool) -> Printed | None:
    text = cell.strip()
    bound = ""
    if text.startswith("<"):
        bound, text = "<", text[1:].strip()
    if decimal_comma and text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    if not is_number(text):
        return None
    return Printed(float(text), text, bound)


def read(text: str, label: str | None = None, references: References | None = None) -> Sheet:
    """Read a filled answer sheet; each unusable cell is named by row and column (after
    ``label``, the file's name, when given)."""
    refs = references or load()
    where = f"{label}, " if label else ""
    named = f"{label}: " if label else ""  # the reader's errors are named by the submission
    known = {row["id"] for row in rows(refs)}
    lines_in_text = text.count("\n") + 1
    if lines_in_text > 2 * len(known) + 100:
        raise HlmrepError(
            f"{named}{lines_in_text} lines; an answer sheet has one row a quantity "
            f"({len(known)}), so at most {2 * len(known) + 100} lines are read "
            "(`python -m hlmrep grade-template` writes it)"
        )
    header = _first_line(text)
    delimiter = _delimiter(header)
    reader = csv.reader(io.StringIO(text.strip("\ufeff")), delimiter=delimiter)
    try:
        lines = [r for r in reader]
    except csv.Error as error:  # a cell over csv's field limit (128 kB), a stray quote
        raise HlmrepError(
            f"{named}line {reader.line_num}: not read as CSV ({error}); write each value as "
            "a number"
        ) from None
    start = next(i for i, r in enumerate(lines) if any(c.strip() for c in r))
    names = [c.strip().lower() for c in lines[start]]
    id_column, value_column = names.index("id"), names.index("value")
    sheet = Sheet(values={})
    seen: set[str] = set()
    for index, cells in enumerate(lines[start + 1 :], start=start + 2):
        if not any(c.strip() for c in cells):
            continue
        sheet.rows += 1
        if len(cells) <= max(id_column, value_column):
            sheet.problems.append(
                f"{where}row {index}: {len(cells)} columns, expected {len(names)}"
            )
            continue
        qid, cell = cells[id_column].strip(), cells[value_column].strip()
        if not cell:
            continue
        if qid not in known:
            sheet.problems.append(
                f"{where}row {index}, column id: {qid[:80]!r} is not a quantity of the "
                "answer sheet (see `python -m hlmrep grade-template`)"
            )
            continue
        if qid in seen:
            sheet.problems.append(f"{where}row {index}: {qid} is filled in twice; first kept")
            continue
        value = _number(cell, decimal_comma=delimiter == ";")
        if value is None:
            sheet.problems.append(
                f"{where}row {index}, column value: {cell[:40]!r} is not a number "
                "(write it as printed, e.g. 12.64, -0.02, 1.2e-5 or < 2.2e-16)"
            )
            continue
        seen.add(qid)
        target, quantity = qid.split(".", 1)
        sheet.values.setdefault(target, {})[quantity] = value
        sheet.lines.setdefault(target, {})[quantity] = index
    if not sheet.values:
        raise HlmrepError(
            f"{named}an answer sheet with no usable value"
            + (f" ({len(sheet.problems)} problems: {sheet.problems[0]})" if sheet.problems else "")
        )
    return sheet
