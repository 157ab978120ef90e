"""SPSS MIXED output (its pivot tables as text) read into the neutral form (:mod:`.printout`).

The layout, as SPSS Statistics prints MIXED's tables (IBM SPSS Statistics, "MIXED" in the
Command Syntax Reference; pasted from the Viewer, cells separated by tabs, or exported as
text, by runs of spaces):

- ``Information Criteria``: ``-2 Restricted Log Likelihood`` (REML) or ``-2 Log
  Likelihood`` (ML);
- ``Estimates of Fixed Effects``: ``Parameter  Estimate  Std. Error  df  t  Sig.`` and
  the interval, Satterthwaite's df (``156.647``); a factor's levels as ``[sector=1]``, the
  redundant (reference) level printed as ``0`` with a footnote letter and no error;
- ``Estimates of Covariance Parameters``: ``Residual``, then ``Intercept + cses [subject =
  school]`` with ``UN (1,1)``, ``UN (2,1)``, ``UN (2,2)`` (or ``Variance`` per effect);
- footnote letters after titles and values (``Estimates of Fixed Effectsa``, ``0b``),
  ``a. Dependent Variable: mathach.`` lines; in European locales decimal commas and no
  leading zero (``,244504``).

Read into a :class:`~.printout.Summary` (program "SPSS"): ``[sector=0]`` is the level 0
of the factor ``sector`` (lme4's ``sector0``; with SPSS's last level as reference it is
sector relevelled, graded in that parametrisation), ``cses * [sector=0]`` is
``cses:sector0``;
the random effects are named by the covariance table's label; the model is rebuilt as an
lme4 formula and fitted like any.  SPSS prints neither n nor J in these tables.
"""

from __future__ import annotations

import re

from hlmrep.grading.printout import (
    VARIANCES_ONLY,
    FixedTerm,
    Parsed,
    Printed,
    Program,
    RandomTerm,
    Reader,
    Summary,
    lme4_formula,
    mark_truncated,
    number_or_none,
)

FIXED_TITLE = re.compile(r"^Estimates of Fixed Effects[a-z]?(\([a-z]\))?\s*$")
COVARIANCE_TITLE = re.compile(r"^Estimates of Covariance Parameters[a-z]?(\([a-z]\))?\s*$")
_FACTOR = re.compile(r"^\[(\w+)\s*=\s*([^\]]+)\]$")
_SUBJECT = re.compile(r"^(.+?)\s*\[subject\s*=\s*(\w+)\]\s*(.*)$")


def recognises(text: str) -> bool:
    return any(FIXED_TITLE.match(line.strip()) for line in text.splitlines())


def _cells(line: str) -> list[str]:
    """A row's cells: tab-separated (pasted) or separated by two or more spaces."""
    parts = line.split("\t") if "\t" in line else re.split(r"\s{2,}", line.strip())
    return [p.strip() for p in parts if p.strip()]


def _number(cell: str, comma: bool) -> Printed | None:
    """SPSS's numbers: no leading zero (``.244504``), a footnote letter (``0b``), and in a
    decimal-comma locale ``,244504``."""
    cell = re.sub(r"(?<=\d)[a-z]$", "", cell)
    return number_or_none(cell.replace(",", ".") if comma else cell)


def parse(text: str) -> Parsed:
    lines = text.splitlines()
    comma = bool(re.search(r"Log Likelihood\s+-?\d+,\d", text)) or bool(
        re.search(r"\t-?,\d|\t-?\d+,\d+\t", text)
    )
    parsed = Parsed([], [])
    starts = [i for i, line in enumerate(lines) if FIXED_TITLE.match(line.strip())]
    for k, start in enumerate(starts):
        begin = 0 if k == 0 else starts[k - 1] + 1
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        summary = _model(lines, begin, start, end, comma)
        if summary.fixed:
            parsed.problems += summary.unread
            parsed.blocks.append(summary)
    return parsed


def _model(lines: list[str], begin: int, start: int, end: int, comma: bool) -> Summary:
    summary = Summary(line=start + 1, estimation="REML", program="SPSS")
    response = "y"
    for line in lines[begin:end]:
        dependent = re.search(r"Dependent Variable:\s*(\w+)", line)
        if dependent:
            response = dependent.group(1)
        cells = _cells(line)
        if cells and cells[0].startswith("-2 Restricted Log Likelihood") and len(cells) > 1:
            summary.reml_criterion = _number(cells[1], comma)
        elif cells and cells[0].startswith("-2 Log Likelihood") and len(cells) > 1:
            summary.estimation = "ML"
            value = _number(cells[1], comma)
            if value is not None:
                summary.fit_statistics["deviance"] = value
    fixed_patsy: list[str] = []
    section = "fixed"
    group = "subject"
    random_names: list[str] = []
    parameters: list[tuple[str, Printed]] = []
    for number in range(start + 1, end):
        cells = _cells(lines[number])
        if not cells or cells[0].startswith(("a.", "b.", "c.", "Parameter", "Lower")):
            continue
        if COVARIANCE_TITLE.match(lines[number].strip()):
            section = "covariance"
            continue
        if lines[number].strip().startswith(("Information Criteria", "Type III")):
            section = ""
            continue
        if section == "fixed":
            numbers = [_number(c, comma) for c in cells[1:]]
            if len(numbers) >= 4 and all(n is not None for n in numbers[:4]):
                estimate, se, df, t = numbers[:4]
                assert estimate is not None and se is not None and t is not None
                p = numbers[4] if len(numbers) > 4 else None
                fixed_patsy.append(cells[0])
                summary.fixed.append(FixedTerm(_term(cells[0]), estimate, se, t, df=df, p_value=p))
            elif not (numbers and numbers[0] is not None and numbers[0].value == 0):
                summary.unread.append(f"line {number + 1}: fixed effect not read: {cells!r}")
        elif section == "covariance":
            label = cells[0]
            subject = _SUBJECT.match(label)
            if subject:
                random_names = [n.strip() for n in subject.group(1).split("+")]
                group = subject.group(2)
                cells = [subject.group(3), *cells[1:]] if subject.group(3) else cells[1:]
            if not cells:
                continue
            value = _number(cells[1], comma) if len(cells) > 1 else None
            if cells[0] == "Residual" and value is not None:
                summary.residual_variance = value
            elif value is not None:
                parameters.append((cells[0], value))
    _random(summary, random_names, parameters, group)
    if summary.fixed and summary.random:
        slopes = [t.name for t in summary.random if t.name != "(Intercept)"]
        diagonal = any(n.startswith("Variance") for n, _ in parameters)
        terms = [_term(p, variables=True) for p in fixed_patsy if p != "Intercept"]
        summary.formula = lme4_formula(response, terms, slopes, group, correlated=not diagonal)
    elif summary.fixed:
        mark_truncated(summary)
    return summary


def _term(parameter: str, variables: bool = False) -> str:
    """``Intercept`` → ``(Intercept)``; ``[sector=0]`` → ``sector0`` (a factor's level, as
    lme4 names it: SPSS's reference is the last level, so this is sector relevelled);
    ``cses * [sector=0]`` → ``cses:sector0``; ``variables``: the variables only."""
    if parameter == "Intercept":
        return "(Intercept)"
    parts = []
    for part in parameter.split("*"):
        part = part.strip()
        factor = _FACTOR.match(part)
        if factor:
            parts.append(factor.group(1) + ("" if variables else factor.group(2).strip()))
        else:
            parts.append(part)
    return ":".join(parts)


def _random(
    summary: Summary, names: list[str], parameters: list[tuple[str, Printed]], group: str
) -> None:
    un: dict[tuple[int, int], Printed] = {}
    variances: list[Printed] = []
    for name, value in parameters:
        match = re.match(r"UN\s*\((\d+),\s*(\d+)\)", name)
        if match:
            un[int(match.group(1)), int(match.group(2))] = value
        elif name.startswith("Variance"):
            variances.append(value)
    if un:
        size = max(i for i, _ in un)
        for i in range(1, size + 1):
            name = names[i - 1] if i - 1 < len(names) else f"effect{i}"
            term = RandomTerm(group, "(Intercept)" if name == "Intercept" else name,
                              un.get((i, i)), None)  # fmt: skip
            term.covariances = [un[i, j] for j in range(1, i) if (i, j) in un]
            summary.random.append(term)
    else:
        for name, value in zip(names, variances, strict=False):
            summary.random.append(
                RandomTerm(group, "(Intercept)" if name == "Intercept" else name, value, None)
            )


SPSS = Program(
    name="SPSS",
    title="SPSS MIXED",
    prints="variances",
    default_method="REML",
    never_prints=(*VARIANCES_ONLY, "n_*"),
)


READER = Reader(
    name="SPSS output",
    programs=(SPSS,),
    recognises=recognises,
    parse=parse,
    order=60,
)
