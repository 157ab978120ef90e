"""The readers read in time linear in a line's length (:mod:`hlmrep.dev.reader_speed`).

Each line of a real printout of each program, widened in turn to 32 kB and to 128 kB: the
summed reading time at 4 x the size is about 4 x (linear); a pattern that backtracks on
a long run of the program's own words makes it 16 x. The bound asked is 8 x, a ratio of
times measured on one machine in one run, whatever its speed.
"""

from __future__ import annotations

import pytest

from hlmrep.dev.reader_speed import PRINTOUTS, slope


@pytest.mark.parametrize("program", list(PRINTOUTS))
def test_reading_time_grows_linearly_with_a_line(program: str) -> None:
    found = slope(program, size=32 * 1024)
    if found.seconds_large < 0.05:  # too fast to time: linear at any rate that matters
        return
    assert found.ratio < 8, (program, found)
