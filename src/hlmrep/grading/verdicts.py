"""One submitted number against one reference number: the verdicts of replication audits.

The categories follow the conventions of reproducibility checks of published numbers
(Hardwicke et al. 2018, "Data availability, reusability, and analytic reproducibility",
R. Soc. Open Sci.; statcheck's decision errors, Nuijten et al. 2016):

- ``exact``: equal at the printed digits, |s - r| <= half a unit of the last digit printed
  (the coarser of the two numbers' last digits: 12.64 replicates 12.6362 exactly);
- ``rounding``: within 2 units of that last digit (a different rounding or optimizer
  tolerance, not a different result);
- ``minor``: relative error below 10 %;
- ``major``: relative error of 10 % or more (or a count that differs at all);
- ``decision error``: a p-value on the other side of .05 from the reference's, or of .01
  or .001 where the source marks significance with stars.  It outranks the others;
- ``too coarse``: equal only because it was printed with too few digits to tell, fewer
  than the assignment needs (:func:`required_unit`): an SE printed as ``0`` for 0.2445,
  an intercept as ``13`` for 12.636.  Never ``exact``; not replicated.  A number that is
  wrong even at its coarse digits keeps its verdict (minor, major).

Counts (npar, df, numbers of observations) replicate exactly or not at all; p-values are
judged by the decision rule at whatever digits they are printed with (as statcheck does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hlmrep.grading.settings import DEFAULTS

EXACT, ROUNDING, TOO_COARSE, MINOR, MAJOR, DECISION = (
    "exact",
    "rounding",
    "too coarse",
    "minor",
    "major",
    "decision error",
)
#: Best first: when a number is graded against two references, the better verdict wins.
ORDER = (EXACT, ROUNDING, TOO_COARSE, MINOR, MAJOR, DECISION)
#: Significant digits a number must be printed with unless the assignment says otherwise
#: (config ``grading.min_significant_digits``; its default declared in :mod:`.settings`).
MIN_SIGNIFICANT_DIGITS = DEFAULTS.min_significant_digits
REPLICATED = frozenset({EXACT, ROUNDING})
#: Relative error at and above which a difference is major.
MAJOR_RELATIVE_ERROR = 0.10
#: How many units of the last printed digit still count as rounding.
ROUNDING_UNITS = 2.0
#: Significance levels a p-value may cross: always .05, and .01/.001 with stars.
LEVELS = (0.05,)
STAR_LEVELS = (0.05, 0.01, 0.001)


@dataclass(frozen=True)
class Number:
    """A number with the precision it was printed at: ``unit`` is one unit of its last
    digit (0 for a full-precision number such as our optimum); ``bound`` "<" for R's
    ``< 2.2e-16``."""

    value: float
    unit: float
    bound: str = ""


def unit_of(text: str) -> float:
    """One unit of the last printed digit: "46714.2" -> 0.1, "2.2e-16" -> 1e-17."""
    mantissa, _, exponent = text.lower().partition("e")
    if not exponent.lstrip("+-").isdigit():
        exponent = "0"  # "NaN", "Inf": no digits to speak of
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    power = int(exponent[:6]) - decimals
    return math.inf if power > 308 else 10.0 ** max(power, -330)


def unit_of_digits(digits: int | None) -> float:
    return 0.0 if digits is None else 10.0 ** (-digits)


def _category(number: Number, levels: tuple[float, ...]) -> int:
    """How many significance levels the p-value is below ("< x" counts as below x)."""
    if number.bound == "<":
        return sum(number.value <= level for level in levels)
    return sum(number.value < level for level in levels)


def verdict(
    submitted: Number,
    reference: Number,
    *,
    count: bool = False,
    p_value: bool = False,
    stars: bool = False,
) -> str:
    """The verdict for ``submitted`` against ``reference`` (see the module's rules)."""
    if not (math.isfinite(submitted.value) and math.isfinite(reference.value)):
        return MAJOR
    grade = _magnitude(submitted, reference, count)
    if p_value:
        levels = STAR_LEVELS if stars else LEVELS
        if _category(submitted, levels) != _category(reference, levels):
            return DECISION
    return grade


def _magnitude(submitted: Number, reference: Number, count: bool) -> str:
    s, r = submitted.value, reference.value
    if count:
        return EXACT if s == r else MAJOR
    if reference.bound == "<" and (s <= r or (submitted.bound == "<" and s <= r)):
        return EXACT  # consistent with the upper bound the reference printed
    if submitted.bound == "<" and r <= s:
        return EXACT
    unit = max(submitted.unit, reference.unit)
    difference = abs(s - r)
    slack = 1e-9 * max(1.0, abs(r))  # the binary representation of printed decimals
    if difference <= 0.5 * unit + slack:
        return EXACT
    if difference <= ROUNDING_UNITS * unit + slack:
        return ROUNDING
    if r != 0 and difference / abs(r) < MAJOR_RELATIVE_ERROR:
        return MINOR
    return MAJOR


def required_unit(value: float, printed_unit: float, significant_digits: int) -> float:
    """The coarsest last digit a submitted number may have and still replicate.

    ``significant_digits`` significant digits of the reference ``value`` (3 of 0.2445:
    0.001), never coarser than the reference's last printed digit but one (46714.2: 1, not
    the 100 of three significant digits; 12.6362: 0.001), and never finer than the
    reference's own last digit (a correlation R prints as 0.02 asks for no more).
    ``printed_unit`` is 0 where the reference is our full-precision optimum: then the
    significant digits alone."""
    if value == 0 or not math.isfinite(value):
        return math.inf
    magnitude = math.floor(math.log10(abs(value)))
    unit = 10.0 ** (magnitude - (significant_digits - 1))
    if printed_unit <= 0:
        return unit
    return max(printed_unit, min(unit, 10 * printed_unit))


def coarsened(verdict: str, submitted: Number, allowed_unit: float) -> str:
    """``too coarse`` for a number that replicates only at digits coarser than allowed."""
    slack = 1e-9 * allowed_unit  # 0.001 printed is 10**-3, not 0.0010000000000000002
    if verdict in REPLICATED and not submitted.bound and submitted.unit > allowed_unit + slack:
        return TOO_COARSE
    return verdict


def best(verdicts: list[str]) -> str:
    return min(verdicts, key=ORDER.index)
