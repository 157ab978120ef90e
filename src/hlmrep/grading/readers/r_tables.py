"""R's printed tables of a mixed model as lme4 prints them and glmmTMB prints them again:
the lines with their console and knitr prefixes removed (and the ``#`` of a printout pasted
back into a script as comments), the random-effects table
(``Groups Name Variance Std.Dev. Corr``) and the fixed-effects table (``Estimate Std.
Error`` then ``t value`` or ``z value``, lmerTest's ``df``, the p-value with its stars, R's
``< 2e-16``), merged by term when a console narrower than the table splits its columns.

Not a reader of its own (no ``READER``): the vocabulary both readers share, read once.
"""

from __future__ import annotations

import re

from hlmrep.grading.printout import FixedTerm, Printed, RandomTerm, Summary, is_number, printed

#: knitr's ``## ``, reprex's ``#> `` and a console's ``> `` before a line; knitr's output
#: inside a Markdown quote (``> ## ``) too.
PREFIX = re.compile(r"^\s*(?:>\s?(?=##|#>))?(?:##\s?|#>\s?|>\s?)?")
#: A comment's ``#`` (and the spaces after it) before a line of a script.
_COMMENT = re.compile(r"^#\s*")
#: How lines of R's own printout begin: a run of ``#`` comments holding one of them is a
#: printout pasted back into a script, not the script's remarks.
PRINTOUT_VOCABULARY = (
    "Linear mixed model fit by",
    "Linear mixed-effects model fit by",
    "REML criterion at convergence:",
    "Scaled residuals:",
    "Random effects:",
    "Fixed effects:",
    "Number of obs:",
    "Number of Observations:",
    "Number of Groups:",
    "Estimates of Fixed Effects",
    "Estimates of Random Effects",
    "Conditional model:",
    "ANOVA-like table for random-effects",
)
#: Where an author's remark begins after a number of a pasted row (``Residual 6.06 -
#: standard deviation of residual.``): R prints none of these after a number in a table.
_REMARK_MARKS = frozenset({"-", "--", "<-", "<--", "->", "#"})
_TOKEN = re.compile(r"\S+")
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
    # "df for t": car::S()'s Kenward-Roger column
    {"Estimate", "Std.", "Error", "df", "ddf", "for", "t", "z", "value", "Pr(>|t|)", "Pr(>|z|)"}
)
_DF = re.compile(r"\bd?df\b")


def lines(text: str) -> list[str]:
    """The text's lines without knitr's ``## ``, reprex's ``#> `` or a console's ``> ``,
    and without the ``#`` of a printout pasted back into a script as comments (see
    :func:`_uncommented`); one line out for each line in, so indices stay the text's."""
    out = [PREFIX.sub("", line).rstrip() for line in text.splitlines()]
    start = 0
    while start < len(out):
        if not out[start].startswith("#"):
            start += 1
            continue
        end = start
        while end < len(out) and out[end].startswith("#"):
            end += 1
        out[start:end] = _uncommented(out[start:end])
        start = end
    return out


def _uncommented(run: list[str]) -> list[str]:
    """A run of ``#`` comment lines as the printout it holds, when a line of it begins as
    R's printout does (:data:`PRINTOUT_VOCABULARY`): a student who pastes the output back
    into the script as comments (``# ID (Intercept) 8.614 2.935``, ``#Residual 6.06``)
    still shows the numbers.  A run of other comments (the script's remarks, a tibble's
    ``# A tibble``) is left as it is, so it is never read as a table.  A remark the
    author wrote after a row's numbers is cut (:func:`_without_remark`)."""
    bare = [_COMMENT.sub("", line, count=1) for line in run]
    if not any(line.startswith(PRINTOUT_VOCABULARY) for line in bare):
        return run
    return [_without_remark(line) for line in bare]


def _without_remark(line: str) -> str:
    """A pasted row without the remark its author appended after its numbers
    (``Residual 6.0597952 - standard deviation of residual.``): from a dash, an arrow or a
    ``#`` that follows a number; a formula's line (``~``, where ``- 1`` is a term) is
    kept whole."""
    if "~" in line:
        return line
    after_number = False
    for match in _TOKEN.finditer(line):
        token = match.group()
        if after_number and (token in _REMARK_MARKS or token.startswith("#")):
            return line[: match.start()].rstrip()
        after_number = is_number(token)
    return line


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
    first = next((i for i, t in enumerate(tokens) if is_number(t)), len(tokens))
    names, tokens = tokens[:first], tokens[first:]  # slices: a long row stays linear
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
