"""Every printout format hlmrep reads, registered in one place and chosen by content.

A format is a reader module that turns a program's printed output into the neutral form
(:mod:`.printout`): it says whether a text holds its printout (``recognises``) and reads
it (``parse``).  A text may hold several programs' printouts (a notebook with R and Python
cells): every reader that recognises it reads it, and the blocks are graded in the order
of the text.  The grader sees only the neutral form.  Adding a format is a reader module,
its line here, and its fixtures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hlmrep.grading import (
    hlm_output,
    r_output,
    sas_output,
    spss_output,
    stata_output,
    statsmodels_output,
)
from hlmrep.grading.printout import Parsed


@dataclass(frozen=True)
class Format:
    name: str  # as the grade page names it
    recognises: Callable[[str], bool]
    parse: Callable[[str], Parsed]


FORMATS: tuple[Format, ...] = (
    Format("R output", lambda text: True, r_output.parse),
    Format("statsmodels output", statsmodels_output.recognises, statsmodels_output.parse),
    Format("HLM output", hlm_output.recognises, hlm_output.parse),
    Format("Stata output", stata_output.recognises, stata_output.parse),
    Format("SAS output", sas_output.recognises, sas_output.parse),
    Format("SPSS output", spss_output.recognises, spss_output.parse),
)


def read_printout(text: str) -> tuple[str, Parsed]:
    """The formats found in ``text`` (their names joined) and everything they read; an
    empty :class:`Parsed` when none finds a block."""
    names: list[str] = []
    merged = Parsed([], [])
    for fmt in FORMATS:
        if not fmt.recognises(text):
            continue
        parsed = fmt.parse(text)
        if parsed.blocks:
            names.append(fmt.name)
        merged.blocks += parsed.blocks
        merged.problems += parsed.problems
        merged.not_graded += parsed.not_graded
    merged.blocks.sort(key=lambda block: block.line)
    return " and ".join(names), merged
