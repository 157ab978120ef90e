"""R's printed tables of a mixed model as lme4 prints them and glmmTMB prints them again:
the lines with their console and knitr prefixes removed, the random-effects table
(``Groups Name Variance Std.Dev. Corr``) and the fixed-effects table (``Estimate Std.
Error`` then ``t value`` or ``z value``, lmerTest's ``df``, the p-value with its stars, R's
``< 2e-16``), merged by term when a console narrower than the table splits its columns.

Not a reader of its own (no ``READER``): the vocabulary both readers share, read once.
"""

from __future__ import annotations

import re

from hlmrep.grading.printout import FixedTerm, Printed, RandomTerm, Summary, is_number, printed

#: knitr's ``## ``, reprex's ``#> `` and a console's ``> `` before a line.
PREFIX = re.compile(r"^\s*(?:##\s?|#>\s?|>\s?)?")
#: Significance stars after a p-value, with the quotes a legend prints them in.
STARS = frozenset({"*", "**", "***", ".", "‘***’", "‘**’", "‘*’", "‘.’"})
#: The fixed-effects table's column headings and the neutral form's name of each.
FIXED_COLUMNS = (
    ("Estimate", "estimate"),
    ("Std. Error", "std_error"),
    ("t value", "t_value"),
    ("z value", "t_value"),
    ("Pr(>|t|)", "p_value"),
    ("Pr(>|z|)", "p_value"),
)
#: The words of a fixed-effects header line (or of one chunk's, in a split table).
FIXED_HEADER_WORDS = frozenset(
    {"Estimate", "Std.", "Error", "df", "ddf", "t", "z", "value", "Pr(>|t|)", "Pr(>|z|)"}
)
_DF = re.compile(r"\bd?df\b")


def lines(text: str) -> list[str]:
    """The text's lines without knitr's ``## ``, reprex's ``#> `` or a console's ``> ``."""
    return [PREFIX.sub("", line).rstrip() for line in text.splitlines()]


def split_bound(tokens: list[str]) -> tuple[list[str], str]:
    """Stars dropped, and R's "< 2e-16" or "<2e-16" at the end as the bound "<"."""
    while tokens and tokens[-1] in STARS:
        tokens = tokens[:-1]
    if len(tokens) >= 2 and tokens[-2] == "<":
        return [*tokens[:-2], tokens[-1]], "<"
    if tokens and tokens[-1].startswith("<") and len(tokens[-1]) > 1:
        return [*tokens[:-1], tokens[-1][1:]], "<"
    return tokens, ""


def is_fixed_header(tokens: list[str]) -> bool:
    return bool(tokens) and set(tokens) <= FIXED_HEADER_WORDS


def fixed_header(text: str) -> list[str]:
    """The fixed-effects columns a header names, in their order (all of them, or those of
    one chunk of a table split at the console's width)."""
    found = [(text.find(word), column) for word, column in FIXED_COLUMNS if word in text]
    df = _DF.search(text)
    if df:
        found.append((df.start(), "df"))
    return [column for _, column in sorted(found)]


def fixed_row(pending: dict[str, dict[str, Printed]], tokens: list[str], header: list[str]) -> str:
    """A term and its cells under ``header``, added to the term's columns read so far;
    what is wrong with the row, or ""."""
    tokens, bound = split_bound(tokens)
    if bound and "p_value" not in header:
        return "a bound '<' where no p-value is printed"
    count = len(header)
    if len(tokens) <= count or not all(is_number(t) for t in tokens[-count:]):
        return f"expected a term and {count} numbers"
    values = dict(zip(header, (printed(t) for t in tokens[-count:]), strict=True))
    if bound:
        values["p_value"] = printed(tokens[-1], bound)
    pending.setdefault(" ".join(tokens[:-count]), {}).update(values)
    return ""


def finish_fixed(summary: Summary, pending: dict[str, dict[str, Printed]], index: int) -> None:
    """The fixed-effect rows read (merged over a split table's chunks) as terms; a term
    without its estimate, standard error or t (z) value is a row not read."""
    for term, values in pending.items():
        if {"estimate", "std_error", "t_value"} <= set(values):
            summary.fixed.append(FixedTerm(term, **values))
        else:
            summary.unread.append(f"line {index}: fixed effect {term!r}: columns missing")
    pending.clear()


def random_row(summary: Summary, tokens: list[str], header: list[str]) -> str:
    """One row of the random-effects table: a group (absent on a continuation row, and
    with collapsed spaces, so the row is read by how many names precede its numbers), a
    term, its variance and SD (as the header names them), its correlations; the
    ``Residual`` row is the residual's."""
    names = []
    while tokens and not is_number(tokens[0]):
        names.append(tokens.pop(0))
    if not tokens or not all(is_number(t) for t in tokens):
        return "expected names, then numbers"
    columns = [c for c in ("Variance", "Std.Dev.") if c in header] or ["Variance", "Std.Dev."]
    if len(tokens) < len(columns):
        return f"expected {' and '.join(columns)}"
    sizes = dict(zip(columns, (printed(t) for t in tokens), strict=False))
    correlations = [printed(t) for t in tokens[len(columns) :]]
    variance, sd = sizes.get("Variance"), sizes.get("Std.Dev.")
    if names == ["Residual"] and not correlations:
        summary.residual_variance, summary.residual_sd = variance, sd
        return ""
    if len(names) == 2:
        group, name = names
    elif len(names) == 1 and summary.random:
        group, name = summary.random[-1].group, names[0]
    else:
        return "expected a group and a term name"
    summary.random.append(RandomTerm(group, name, variance, sd, correlations))
    return ""
