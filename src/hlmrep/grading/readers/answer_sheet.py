"""The answer sheet read into the neutral form, like any program's printout.

The sheet (:mod:`hlmrep.grading.answer_sheet`: ``python -m hlmrep grade-template`` writes it)
is how a user of any software reports numbers: one row a quantity, named by its reference
and quantity id (``model3.fixed.cses.estimate``).  Each reference's rows become one
:class:`~hlmrep.grading.printout.Reported` block, its numbers under the references' ids
with the line each is on, so ``python -m hlmrep read`` shows a sheet as it shows a
printout, and the grader takes its blocks as it takes a printout's.  Recognised by its
header (``id`` and ``value`` among the first line's cells), before any other reader.
"""

from __future__ import annotations

from hlmrep.grading import answer_sheet
from hlmrep.grading.printout import Parsed, Program, Reader, Reported


def parse(text: str) -> Parsed:
    """One block per reference the sheet fills in, in the order of its first row; an
    unusable sheet (no usable value, too long, not CSV) is an error that says why."""
    sheet = answer_sheet.read(text)
    blocks: list[Reported] = []
    for target, numbers in sheet.values.items():
        rows = sheet.lines.get(target, {})
        first = min(rows.values(), default=1)
        blocks.append(Reported(first, target, dict(numbers), dict(rows)))
    return Parsed(list(blocks), list(sheet.problems))


ANSWER_SHEET = Program(
    name="answer sheet",
    title=(
        "the answer sheet (its first line: "
        + ",".join(answer_sheet.COLUMNS)
        + "; `python -m hlmrep grade-template` writes it)"
    ),
    prints="variances and SDs",
    default_method="REML",
)


READER = Reader(
    name="answer sheet",
    programs=(ANSWER_SHEET,),
    recognises=answer_sheet.looks_like,
    parse=parse,
    order=0,
    alone=True,
)
