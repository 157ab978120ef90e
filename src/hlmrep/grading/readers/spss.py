"""SPSS MIXED output (its pivot tables as text) read into the neutral form (:mod:`.printout`).

The layout, as SPSS Statistics prints MIXED's tables (IBM SPSS Statistics, "MIXED" in the
Command Syntax Reference; pasted from the Viewer, cells separated by tabs, or exported as
text, by runs of spaces):

- ``Model Dimension``: ``Random Effects`` with its effects, their number of levels (SPSS
  11's ``/RANDOM id``: the factor's levels) or ``Subject Variables`` and ``Number of
  Subjects``;
- ``Information Criteria``: ``-2 Restricted Log Likelihood`` (REML) or ``-2 Log
  Likelihood`` (ML), ``Akaike's Information Criterion (AIC)``, ``Schwarz's Bayesian
  Criterion (BIC)`` and others;
- ``Estimates of Fixed Effects``: ``Parameter  Estimate  Std. Error  df  t  Sig.`` and
  the interval, Satterthwaite's df (``156.647``); a factor's levels as ``[sector=1]``, the
  redundant (reference) level printed as ``0`` with a footnote letter and no error;
- ``Estimates of Covariance Parameters``: ``Residual``, then ``Intercept + cses [subject =
  school]`` with ``UN (1,1)``, ``UN (2,1)``, ``UN (2,2)`` (or ``Variance`` per effect; SPSS
  11's ``/RANDOM id``: ``id  Variance``);
- footnote letters after titles and values (``Estimates of Fixed Effectsa``, ``(a)``,
  ``0b``), ``a. Dependent Variable: mathach.`` lines; in European locales decimal commas
  and no leading zero (``,244504``).

How it reaches an instructor: pasted from the Viewer (a row a line), or an exported HTML
page flattened to text one cell a line, blank lines between cells, cut short anywhere.
So a table's rows are rebuilt from its cells whatever the line breaks: a row is a run of
labels (the header's words, which are no row's, left out) and the numbers after them; a
label after a number starts the next row.  Decimal commas are read as such only where the
printout's numbers use them throughout (no number with a decimal point), so that an
English printout's thousands separator (``7,185``) is never read as one.

Read into a :class:`~.printout.Summary` (program "SPSS"): ``[sector=0]`` is the level 0
of the factor ``sector`` (lme4's ``sector0``; with SPSS's last level as reference it is
sector relevelled, graded in that parametrisation), ``cses * [sector=0]`` is
``cses:sector0``;
the random effects are named by the covariance table's label; the model is rebuilt as an
lme4 formula and fitted like any.  SPSS prints n in none of these tables, J only in
``Model Dimension``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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

#: a footnote's letter after a title: ``Estimates of Fixed Effectsa``, ``…Effects(a)``
_NOTE = r"[a-z]?(?:\([a-z]\))?\s*$"
FIXED_TITLE = re.compile(r"^Estimates of Fixed Effects" + _NOTE)
COVARIANCE_TITLE = re.compile(r"^Estimates of Covariance Parameters" + _NOTE)
#: The tables read, by title; the others' titles (and SPSS 11's headings above a table)
#: end the table before them.
_TITLES = {
    "Model Dimension": "dimension",
    "Information Criteria": "criteria",
    "Type III Tests of Fixed Effects": "",
    "Estimates of Fixed Effects": "fixed",
    "Estimates of Covariance Parameters": "covariance",
    "Covariance Parameters": "",
    "Descriptive Statistics": "",
    "Case Processing Summary": "",
    "Iteration History": "",
    "Warnings": "",
    "Residual Covariance (R) Matrix": "",
    "Random Effect Covariance Structure (G)": "",
}
_TITLE = re.compile(
    "^(" + "|".join(re.escape(t) for t in sorted(_TITLES, key=len, reverse=True)) + ")" + _NOTE
)
#: The words of the tables' headers: a column's name, never a row's before the table's
#: first number (after it, ``t`` may be a fixed effect's name).
HEADER = frozenset(
    {"Parameter", "Estimate", "Std. Error", "df", "t", "Sig.", "95% Confidence Interval"}
    | {"Lower Bound", "Upper Bound", "Wald Z", "Source", "Numerator df", "Denominator df"}
    | {"F", "Number of Levels", "Covariance Structure", "Number of Parameters"}
    | {"Subject Variables", "Number of Subjects"}
)
#: A footnote: ``a. Dependent Variable: mathach.``, SPSS 11's ``a Dependent Variable``.
_FOOTNOTE = re.compile(r"^[a-z]\.?\s+[A-Z]")
_FACTOR = re.compile(r"^\[(\w+)\s*=\s*([^\]]+)\]$")
_SUBJECT_NAME = re.compile(r"\s*=\s*(\w+)\s*")
_UN = re.compile(r"^UN\s*\((\d+),\s*(\d+)\)$")
#: A number with a decimal comma (``47116,793``, ``,244394``; ``47.116,793`` grouped) and
#: one with a decimal point (``12.636974``; ``46,714.234`` grouped); a footnote letter after.
_COMMA_DECIMAL = re.compile(r"^[-+]?(?:\d{1,3}(?:\.\d{3})+|\d*),\d+[a-z]?$")
_POINT_DECIMAL = re.compile(r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d*)\.\d+[a-z]?$")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")
_GROUPED = re.compile(r"^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
#: The information criteria: the end of SPSS's label, the name the neutral form keeps it
#: under (SPSS's AIC and BIC are lme4's under ML; under REML they are not graded).
_CRITERIA = (
    ("(AIC)", "AIC"),
    ("(AICC)", "AICC"),
    ("(CAIC)", "CAIC"),
    ("(BIC)", "BIC"),
)


def recognises(text: str) -> bool:
    return any(FIXED_TITLE.match(line.strip()) for line in text.splitlines())


def _cells(line: str) -> list[str]:
    """A row's cells: tab-separated (pasted) or separated by two or more spaces."""
    parts = line.split("\t") if "\t" in line else re.split(r"\s{2,}", line.strip())
    return [p.strip() for p in parts if p.strip()]


def decimal_comma(lines: list[list[str]]) -> bool:
    """The printout writes decimal commas: some of its cells are numbers with one, none a
    number with a decimal point (a locale's numbers are all alike; a cell such as
    ``156,647`` alone does not say which, the printout's other numbers do)."""
    commas = False
    for cells in lines:
        for cell in cells:
            if _POINT_DECIMAL.match(cell):
                return False
            commas = commas or bool(_COMMA_DECIMAL.match(cell))
    return commas


def _number(cell: str, comma: bool) -> Printed | None:
    """SPSS's numbers: no leading zero (``.244504``), a footnote letter (``0b``), and in a
    decimal-comma locale ``,244504`` (``47.116,793`` grouped); elsewhere ``7,185``
    grouped."""
    if cell[-1:] in _LETTERS and cell[-2:-1].isdigit():
        cell = cell[:-1]
    if comma:
        if "," in cell:
            if not _COMMA_DECIMAL.match(cell):
                return None
            cell = cell.replace(".", "").replace(",", ".")
    elif "," in cell and _GROUPED.match(cell):
        cell = cell.replace(",", "")
    return number_or_none(cell)


@dataclass
class _Row:
    """A table's row: its labels (the header's words left out), its numbers, the line
    (0-based) it starts on, and whether the text goes on after it."""

    labels: list[str]
    numbers: list[Printed] = field(default_factory=list)
    line: int = 0
    last: bool = False


@dataclass
class _Table:
    section: str
    #: its title's line (0-based)
    line: int
    rows: list[_Row] = field(default_factory=list)
    #: header words seen (``Number of Subjects``: the dimension table's columns)
    header: set[str] = field(default_factory=set)
    #: a number seen: its header is over
    numbered: bool = False


def _tables(
    lines: list[list[str]], raw: list[str], begin: int, end: int, comma: bool
) -> list[_Table]:
    """The tables between ``begin`` and ``end``: each title starts one, and its rows are
    rebuilt from its cells whatever the line breaks (see the module's docstring)."""
    tables = [_Table("", begin)]
    row: _Row | None = None
    for index in range(begin, end):
        cells = lines[index]
        if not cells:
            continue
        title = _TITLE.match(raw[index].strip())
        if title:
            tables.append(_Table(_TITLES[title.group(1)], index))
            row = None
            continue
        table = tables[-1]
        for cell in cells:
            value = _number(cell, comma)
            if value is None:
                if cell in HEADER and not table.numbered:
                    table.header.add(cell)
                    continue
                if row is None or row.numbers:
                    row = _Row([], line=index)
                    table.rows.append(row)
                row.labels.append(cell)
            else:
                if row is None:
                    row = _Row([], line=index)
                    table.rows.append(row)
                row.numbers.append(value)
                table.numbered = True
    if row is not None and end == len(lines):
        row.last = True
    return tables


def parse(text: str) -> Parsed:
    raw = text.splitlines()
    lines = [_cells(line) for line in raw]
    comma = decimal_comma(lines)
    parsed = Parsed([], [])
    starts = [i for i, line in enumerate(raw) if FIXED_TITLE.match(line.strip())]
    for k, start in enumerate(starts):
        begin = 0 if k == 0 else starts[k - 1] + 1
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        tables = _tables(lines, raw, begin, end, comma)
        summary = _model(raw, tables, begin, start, end, end == len(lines))
        if summary.fixed:
            parsed.problems += summary.unread
            parsed.blocks.append(summary)
    return parsed


def _model(
    raw: list[str], tables: list[_Table], begin: int, start: int, end: int, last: bool
) -> Summary:
    summary = Summary(line=start + 1, estimation="REML", program="SPSS")
    response = "y"
    for line in raw[begin:end]:
        dependent = re.search(r"Dependent Variable:\s*(\w+)", line)
        if dependent:
            response = dependent.group(1)
    fixed_patsy: list[str] = []
    covariance: list[tuple[list[str], str, Printed, int]] = []
    cut = False
    # the model's own criteria and dimensions are printed before its fixed effects (those
    # after them are the next model's), else, in the last model, after them
    before = [table for table in tables if table.line < start]
    if not any(t.section in ("criteria", "dimension") for t in before) and last:
        before = tables
    for table in before:
        for row in table.rows:
            _criterion(summary, row)
        if table.section == "dimension":
            _groups(summary, table)
    for table in tables:
        if table.line < start:
            continue
        if table.section == "fixed":
            cut = _fixed(summary, table, fixed_patsy) or cut
        elif table.section == "covariance":
            covariance += _covariance_rows(summary, table)
    group = _random(summary, covariance)
    if summary.fixed and summary.random:
        slopes = [t.name for t in summary.random if t.name != "(Intercept)"]
        diagonal = any(name == "Variance" for _, name, _, _ in covariance)
        terms = [_term(p, variables=True) for p in fixed_patsy if p != "Intercept"]
        summary.formula = lme4_formula(response, terms, slopes, group, correlated=not diagonal)
    elif cut:
        summary.truncated = True
        summary.notes.append(
            "the printout is cut short in its fixed effects: graded on what it holds"
        )
    elif summary.fixed:
        mark_truncated(summary)
    return summary


def _criterion(summary: Summary, row: _Row) -> None:
    """An information criterion's row: ``-2 Restricted Log Likelihood`` is lme4's REML
    criterion, ``-2 Log Likelihood`` the deviance (an ML fit), the others by their names."""
    if not row.labels or not row.numbers:
        return
    label, value = row.labels[-1], row.numbers[0]
    if label.startswith("-2 Restricted Log Likelihood"):
        summary.reml_criterion = value
    elif label.startswith("-2 Log Likelihood"):
        summary.estimation = "ML"
        summary.fit_statistics["deviance"] = value
    else:
        name = next((n for ending, n in _CRITERIA if label.endswith(ending)), None)
        if name is not None:
            summary.fit_statistics[name] = value


def _groups(summary: Summary, table: _Table) -> None:
    """J from ``Model Dimension``: the subjects' count where the table has a ``Number of
    Subjects`` column (the row before ``Residual``: the subject variable, its count),
    else the number of levels of SPSS 11's random factor (``Random Effects  id  160``)."""
    rows = table.rows
    first = next((k for k, r in enumerate(rows) if "Random Effects" in r.labels), None)
    if first is None:
        return
    residual = next(
        (k for k in range(first, len(rows)) if rows[k].labels[-1:] == ["Residual"]), len(rows)
    )
    if "Number of Subjects" in table.header:
        row = rows[residual - 1] if residual > first else None
    else:
        row = rows[first]
    if row is None or not row.labels or not row.numbers:
        return
    name = re.sub(r"\([a-z]\)$", "", row.labels[-1]).strip()
    count = row.numbers[0].text
    if count.isdigit() and re.fullmatch(r"\w+", name):
        summary.groups = {name: int(count)}


def _fixed(summary: Summary, table: _Table, fixed_patsy: list[str]) -> bool:
    """The fixed effects' rows; a redundant (reference) level, ``0`` without an error, is
    dropped.  A row with too few numbers that ends the text is cut short: dropped, and
    True returned."""
    for row in table.rows:
        labels = [label for label in row.labels if not _FOOTNOTE.match(label)]
        numbers = row.numbers
        if len(labels) == 1 and len(numbers) >= 4:
            estimate, se, df, t = numbers[:4]
            p = numbers[4] if len(numbers) > 4 else None
            fixed_patsy.append(labels[0])
            summary.fixed.append(FixedTerm(_term(labels[0]), estimate, se, t, df=df, p_value=p))
        elif row.last and len(labels) == 1 and numbers:
            return True
        elif not labels and not numbers:
            continue
        elif not (len(labels) == 1 and numbers and numbers[0].value == 0):
            text = " ".join([*row.labels, *(n.text for n in numbers)])
            summary.unread.append(f"line {row.line + 1}: fixed effect not read: {text[:80]!r}")
    return False


def _subject(label: str) -> tuple[list[str], str, str] | None:
    """``Intercept + cses [subject = school]``: the effects, the subject and what follows
    in the cell (``UN (1,1)`` where the two cells are joined); None for another label."""
    at = label.find("[subject")
    close = label.find("]", at)
    if at <= 0 or close < 0:
        return None
    name = _SUBJECT_NAME.fullmatch(label, at + len("[subject"), close)
    if name is None:
        return None
    effects = [e.strip() for e in label[:at].split("+")]
    return effects, name.group(1), label[close + 1 :].strip()


def _covariance_rows(summary: Summary, table: _Table) -> list[tuple[list[str], str, Printed, int]]:
    """The covariance parameters: each with the effects of the ``[subject = …]`` label it
    is under (SPSS prints the label once for a block), its name (``UN (2,1)``,
    ``Variance``) and estimate; ``Residual`` is the residual; SPSS 11's ``id  Variance``
    (a random factor, no subject) is the factor's intercept."""
    out: list[tuple[list[str], str, Printed, int]] = []
    effects: list[str] = []
    group = "subject"
    for row in table.rows:
        labels = [label for label in row.labels if not _FOOTNOTE.match(label)]
        if not row.numbers:
            continue
        name = labels[-1] if labels else ""
        for label in labels[:-1]:
            subject = _subject(label)
            if subject:
                effects, group, _ = subject
            elif name == "Variance" and re.fullmatch(r"\w+", label):
                effects, group = ["Intercept"], label
        subject = _subject(name)
        if subject and subject[2]:  # the label and the parameter in one cell
            effects, group, name = subject
        if name == "Residual":
            summary.residual_variance = row.numbers[0]
        elif _UN.match(name) or name == "Variance":
            out.append(([group, *effects], name, row.numbers[0], row.line))
    return out


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


def _random(summary: Summary, parameters: list[tuple[list[str], str, Printed, int]]) -> str:
    """The random effects: an unstructured block's ``UN (i,j)`` as variances and
    covariances of the label's effects in order; a ``Variance`` per effect (each label's
    next effect).  Returns the group (the last subject named)."""
    group = "subject"
    un: dict[tuple[int, int], Printed] = {}
    un_names: list[str] = []
    taken: dict[tuple[str, ...], int] = {}
    for key, name, value, _ in parameters:
        group, effects = key[0], key[1:]
        match = _UN.match(name)
        if match:
            un[int(match.group(1)), int(match.group(2))] = value
            un_names = effects
        else:
            k = taken.get(tuple(key), 0)
            taken[tuple(key)] = k + 1
            effect = effects[k] if k < len(effects) else f"effect{k + 1}"
            summary.random.append(RandomTerm(group, _effect(effect), value, None))
    if un:
        size = max(i for i, _ in un)
        for i in range(1, size + 1):
            name = un_names[i - 1] if i - 1 < len(un_names) else f"effect{i}"
            term = RandomTerm(group, _effect(name), un.get((i, i)), None)
            term.covariances = [un[i, j] for j in range(1, i) if (i, j) in un]
            summary.random.append(term)
    return group


def _effect(name: str) -> str:
    return "(Intercept)" if name == "Intercept" else name


SPSS = Program(
    name="SPSS",
    block_label="MIXED",
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
