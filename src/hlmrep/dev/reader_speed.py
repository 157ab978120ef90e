"""How the readers' time grows with a long line: the slope of reading time against size.

A submission is read by every reader that recognises it, and a reader whose patterns
backtrack on a long run of its own vocabulary (a ``groups`` line of 100 kB in an lme4
summary, HLM's ``For`` and variance rows, Stata's ``cov(`` rows, SPSS's subject line) takes
time that grows with the square of the line's length.  Here each line of a real printout
of each program is, in turn, repeated along itself to ``size`` bytes, and the whole text
is read as a submission is (:func:`hlmrep.grading.submission.recognise`); the time at
``4 x size`` over the time at ``size`` is the slope's test: about 4 when reading is linear,
16 when it is quadratic.  ``python -m hlmrep benchmark --readers`` prints the table;
``tests/dev/test_reader_speed.py`` asserts it.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from hlmrep.errors import HlmrepError

FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "grading"
#: One real printout per program (each made by the program, or copied from a public page).
PRINTOUTS = {
    "lme4": "lme4/correct_model3.txt",
    "nlme": "null_models/lucia_romero_null_nlme.txt",
    "glmmTMB": "corpus/glmmtmb_sleep_comp_amp.txt",
    "statsmodels": "corpus/statsmodels_icecream_ml_rslope.txt",
    "HLM": "hlm/lena_olsen_hlm6.txt",
    "Stata": "corpus/stata_depression_ml_rslope_uns.txt",
    "SAS": "sas/sven_berg_sas.txt",
    "SAS NLMIXED": "corpus/sas_nlmixed_nlsy_lineargrowth.txt",
    "SPSS": "spss/vera_novak_spss.txt",
    "blme": "packages/boris_blme.txt",
    "broom.mixed": "packages/bruno_broom.txt",
    "parameters": "packages/paula_parameters.txt",
    "sjPlot": "packages/samir_tab_models.html",
}
#: Lines of each printout widened in turn: its first ones with words or a table's rule
#: (labels, rows, headers), and every one with a word a reader looks for along a line.
LINES_PER_PRINTOUT = 24
VOCABULARY = ("groups", "For ", "INTRCPT", "cov(", "var(", "sd(", "subject", "Subject", "|")


@dataclass(frozen=True)
class Slope:
    program: str
    size: int
    seconds_small: float
    seconds_large: float
    lines: int

    @property
    def ratio(self) -> float:
        """Time at 4 x size over time at size (about 4: linear)."""
        return self.seconds_large / max(self.seconds_small, 1e-9)

    @property
    def microseconds_per_kb(self) -> float:
        return 1e6 * self.seconds_large / (4 * self.size / 1024) / self.lines


def _lines(text: str) -> list[int]:
    """The indexes of the lines widened: after a copied printout's ``# `` header."""
    out: list[int] = []
    for index, line in enumerate(text.splitlines()):
        if line.startswith("# "):
            continue
        # a labelled row, or a rule (a blank line counts: widened, it is a rule of "-")
        row = (line.strip() and any(c.isalpha() for c in line)) or set(line.strip()) <= {"-", "="}
        if (row and len(out) < LINES_PER_PRINTOUT) or any(w in line for w in VOCABULARY):
            out.append(index)
    return out[: 2 * LINES_PER_PRINTOUT]


def widened(text: str, index: int, size: int) -> str:
    """``text`` with line ``index`` repeated along itself to about ``size`` bytes."""
    from hlmrep.grading.submission import plain_text

    lines = text.splitlines()
    line = lines[index].strip() or "-"
    lines[index] = (" ".join([line] * (size // (len(line) + 1) + 1)))[:size]
    return plain_text("\n".join(lines))


def _seconds(text: str) -> float:
    from hlmrep.grading.submission import recognise

    started = time.process_time()
    with contextlib.suppress(HlmrepError):  # refused or unread: the time is what counts
        recognise(text.encode(), "speed.txt")
    return time.process_time() - started


def slope(program: str, size: int = 64 * 1024) -> Slope:
    """The reading time of :data:`PRINTOUTS`'s printout of ``program`` with each of its
    lines widened in turn to ``size`` and to ``4 x size`` bytes, summed."""
    text = (FIXTURES / PRINTOUTS[program]).read_text(encoding="utf-8")
    small = large = 0.0
    chosen = _lines(text)
    for index in chosen:
        small += _seconds(widened(text, index, size))
        large += _seconds(widened(text, index, 4 * size))
    return Slope(program, size, small, large, len(chosen))


def main(size: int = 256 * 1024) -> int:
    print(f"reading time with each of a printout's lines widened to {size // 1024} kB and 4x")
    print(f"{'program':<14}{'time':>9}{'4x':>9}{'ratio':>8}{'us/kB':>9}")
    for program in PRINTOUTS:
        found = slope(program, size)
        print(
            f"{program:<14}{found.seconds_small:>8.2f}s{found.seconds_large:>8.2f}s"
            f"{found.ratio:>8.1f}{found.microseconds_per_kb:>9.1f}"
        )
    print("ratio about 4: linear; 16: quadratic")
    return 0
