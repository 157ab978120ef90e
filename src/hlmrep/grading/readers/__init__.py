"""Every program hlmrep reads, one module each, found here and chosen by content.

A module of this package is one program's reader: it declares ``READER``
(:class:`~hlmrep.grading.printout.Reader`), which says how the program's printout is
recognised (its vocabulary), reads it into the neutral form (:mod:`..printout`), and says
what the program is (:class:`~hlmrep.grading.printout.Program`: how it prints the random
part, its default method, what it never prints, its own digits and tolerances).  The
registry imports every module of the package, so adding a program is its module and its
corpus files; nothing else changes.  A text may hold several programs' printouts (a
notebook with R and Python cells): every reader that recognises it reads it, and the blocks
are graded in the order of the text.  The grader sees only the neutral form.
"""

from __future__ import annotations

import importlib
import pkgutil

from hlmrep.grading.printout import TABLE_NOT_PRINTED, Parsed, Program, Reader


def _discover() -> tuple[Reader, ...]:
    found = []
    for module in pkgutil.iter_modules(__path__):
        reader = getattr(importlib.import_module(f"{__name__}.{module.name}"), "READER", None)
        if isinstance(reader, Reader):
            found.append(reader)
    return tuple(sorted(found, key=lambda reader: (reader.order, reader.name)))


#: Every reader, in the order they are tried.
READERS: tuple[Reader, ...] = _discover()
#: Every program read, by the name its summaries carry.
PROGRAMS: dict[str, Program] = {
    program.name: program for reader in READERS for program in reader.programs
}
#: What each program's summaries (and each kind of test table) never show.
NOT_PRINTED: dict[str, tuple[str, ...]] = {
    **{name: program.never_prints for name, program in PROGRAMS.items()},
    **TABLE_NOT_PRINTED,
}
#: The last digit each program always prints a quantity at.
PRINTED_UNITS: dict[str, dict[str, float]] = {
    **{name: program.printed_units for name, program in PROGRAMS.items()},
    **{kind: {} for kind in TABLE_NOT_PRINTED},
}
#: The fewest significant digits each program prints a row of quantities at.
ROW_DIGITS: dict[str, dict[str, int]] = {
    name: program.row_digits for name, program in PROGRAMS.items() if program.row_digits
}
#: The significant digits each program prints every number at, where it does so.
SIGNIFICANT_DIGITS: dict[str, int] = {
    name: program.significant_digits
    for name, program in PROGRAMS.items()
    if program.significant_digits
}
#: How far each program's own computation may be from lme4's.
PROGRAM_TOLERANCE: dict[str, dict[str, float]] = {
    name: program.tolerance for name, program in PROGRAMS.items() if program.tolerance
}


def read_printout(text: str) -> tuple[str, Parsed]:
    """The formats found in ``text`` (their names joined) and everything they read; an
    empty :class:`Parsed` when none finds a block.  A reader's :class:`HlmrepError` (an
    answer sheet with no usable value) is the text's error."""
    names: list[str] = []
    merged = Parsed([], [])
    for reader in READERS:
        if not reader.recognises(text):
            continue
        parsed = reader.parse(text)
        if parsed.blocks:
            names.append(reader.name)
        merged.blocks += parsed.blocks
        merged.problems += parsed.problems
        merged.not_graded += parsed.not_graded
        if reader.alone:
            break
    merged.blocks.sort(key=lambda block: block.line)
    return " and ".join(names), merged


def program_titles() -> str:
    """Every program read, as a person names it, for a message that says what is read."""
    return ", ".join(program.title for program in PROGRAMS.values())
