"""R's rules for printing numbers, in one place: what the engine's printouts (``summary()``,
``anova()``, ``ranova()``, ``confint()``) need to be R's to the character.

- :func:`r_format`: ``format(x, digits = )`` of a vector (``formatReal``: one number of
  decimals for all, or scientific with one mantissa length);
- :func:`zapsmall`: R 4.2's ``zapsmall``;
- :func:`format_pvalues`: ``format.pval`` as ``print.anova`` uses it, at :data:`DIGITS`;
  :func:`format_pvalue`: ``format.pval(p, digits = 3)`` as ``printCoefmat`` shows one
  p-value of a summary's table; :func:`significance_stars`: R's codes;
- :func:`format_r_matrix`: ``print()`` of a numeric matrix at ``digits = 7`` (``confint()``).
"""

from __future__ import annotations

import math

import numpy as np

#: ``print.anova``'s digits: ``getOption("digits") - 2``.
DIGITS = 5


def significance_stars(p: float) -> str:
    if p != p:
        return ""
    for cut, mark in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return mark
    return ""


def _significant(value: float, digits: int) -> tuple[int, int]:
    """The significant digits ``value`` needs at ``digits`` (trailing zeros dropped) and
    its decimal exponent after that rounding (R's ``scientific()`` in format.c)."""
    if value == 0:
        return 1, 0
    mantissa, exponent = f"{abs(value):.{digits - 1}e}".split("e")
    return len(mantissa.replace(".", "").rstrip("0")) or 1, int(exponent)


def r_format(values: np.ndarray, digits: int = DIGITS) -> list[str]:
    """R's ``format(x, digits = )`` of a vector (``formatReal``): every value to at least
    ``digits`` significant digits with one number of decimals for all, or, where that is
    wider, scientific notation with one mantissa length for all."""
    finite = [float(v) for v in values if math.isfinite(v)]
    if not finite:
        return ["NaN" if v != v else str(v) for v in values]
    parts = [_significant(v, digits) for v in finite]
    decimals = max(0, max(sig - exp - 1 for sig, exp in parts))
    left = max(1, max(exp + 1 for _, exp in parts))
    negative = int(any(v < 0 for v in finite))
    fixed_width = negative + left + (decimals + 1 if decimals else 0)
    mantissa = max(sig for sig, _ in parts) - 1
    exponent_width = 3 if any(abs(exp) >= 100 for _, exp in parts) else 2
    scientific_width = negative + (mantissa + 1 if mantissa else 0) + 1 + 2 + exponent_width
    out = []
    for v in values:
        if v != v:
            out.append("NaN")
        elif fixed_width <= scientific_width:
            out.append(f"{v:.{decimals}f}")
        else:
            coefficient, exponent = f"{v:.{mantissa}e}".split("e")
            out.append(f"{coefficient}e{int(exponent):+0{exponent_width + 1}d}")
    return out


def format_pvalues(values: list[float], digits: int) -> list[str]:
    """R's ``format.pval(p, digits = , eps = .Machine$double.eps)``: the p-values from 1e-4
    up (1e-3 at one digit) formatted together, the smaller ones together, those below ε as
    ``<2e-16`` (its digits and spacing fitted to the others' width, as R does); NaN blank."""
    eps = float(np.finfo(float).eps)
    out = ["" for _ in values]
    present = [i for i, p in enumerate(values) if p == p]
    zero = [i for i in present if values[i] < eps]
    rest = [i for i in present if values[i] >= eps]
    fixed_from = 1e-4 if digits > 1 else 1e-3  # R: expo ≥ −3, or −4 with digits > 1
    fixed = [i for i in rest if values[i] >= fixed_from]
    small = [i for i in rest if values[i] < fixed_from]
    for group in (fixed, small):
        for i, text in zip(group, r_format(np.array([values[i] for i in group]), digits),
                           strict=True):  # fmt: skip
            out[i] = text
    if zero:
        shown = max(1, digits - 2)
        if rest:
            width = max(len(out[i]) for i in rest)
            if shown > 1 and shown + 6 > width:
                shown = max(1, width - 7)
            separator = "" if shown == 1 and width <= 6 else " "
        else:
            separator = "" if shown == 1 else " "
        bound = r_format(np.array([eps]), shown)[0]
        for i in zero:
            out[i] = f"<{separator}{bound}"
    return out


def zapsmall(x: np.ndarray, digits: int = 7) -> np.ndarray:
    """R's ``zapsmall`` (R 4.2): ``round(x, digits − log10(max |x|))``, the decimals
    rounded to an integer: about ``digits`` significant digits of the largest entry."""
    finite = np.abs(x[np.isfinite(x)])
    largest = float(finite.max()) if finite.size else 0.0
    decimals = max(0, math.floor(digits - math.log10(largest) + 0.5)) if largest > 0 else digits
    return np.round(x, decimals)


def format_pvalue(p: float) -> str:
    """R's ``format.pval(p, digits = 3)`` as ``printCoefmat`` shows it: ``<2e-16`` below
    machine precision."""
    if p < 2.220446e-16:
        return "<2e-16"
    if p < 1e-4:
        return f"{p:.2e}".replace("e-0", "e-")
    return f"{p:.3g}" if p < 0.001 else f"{p:.4f}".rstrip("0").rstrip(".")


def _significant_decimals(value: float, digits: int = 7) -> int:
    """Decimals R shows for ``value`` at ``digits`` significant digits (trailing 0s dropped)."""
    if value == 0 or not math.isfinite(value):
        return 0
    target = float(f"{value:.{digits - 1}e}")
    for needed in range(1, digits + 1):
        if float(f"{value:.{needed - 1}e}") == target:
            break
    exponent = math.floor(math.log10(abs(target)))
    return max(0, needed - 1 - exponent)


def format_r_matrix(
    row_names: list[str], headers: list[str], values: list[list[float | None]]
) -> str:
    """A numeric matrix as R's ``print`` shows it at ``digits = 7``: each column with the
    decimals its most demanding entry needs, ``NA`` for a missing value."""
    columns = []
    for c, header in enumerate(headers):
        entries = [row[c] for row in values]
        finite = [v for v in entries if v is not None and math.isfinite(v)]
        decimals = max((_significant_decimals(v) for v in finite), default=0)
        texts = ["NA" if v is None else f"{v:.{decimals}f}" for v in entries]
        width = max(len(header), *(len(t) for t in texts)) if texts else len(header)
        columns.append((header.rjust(width), [t.rjust(width) for t in texts]))
    name_width = max((len(n) for n in row_names), default=0)
    lines = [" " * name_width + "".join(" " + header for header, _ in columns)]
    for i, name in enumerate(row_names):
        lines.append(name.ljust(name_width) + "".join(" " + texts[i] for _, texts in columns))
    return "\n".join(lines)
