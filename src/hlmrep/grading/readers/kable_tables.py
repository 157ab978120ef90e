"""A fit's tables as a document shows them: ``knitr::kable()`` of ``coef(summary(m))`` (and of
``as.data.frame(VarCorr(m))``) in a knitted page, a Word or an OpenDocument file, read into
the neutral form (:mod:`.printout`).

A Markdown page holds kable's pipe table; an HTML page's, a Word document's and an
OpenDocument text's tables reach the readers row by row with their cells joined by
`` | `` (:mod:`..documents`)::

    |            | Estimate| Std. Error|       df|  t value| Pr(>&#124;t&#124;)|
    |:-----------|--------:|----------:|--------:|--------:|------------------:|
    |(Intercept) |  12.6362|     0.2445| 156.7512|  51.6808|                  0|
    |cses        |   2.1932|     0.1283| 155.2166|  17.0998|                  0|

    | grp | var1 | var2 | vcov | sdcor
    school | (Intercept) | NA | 8.6811 | 2.9464

Read into a :class:`~.printout.Summary` of the program ``kable``: the fixed effects
(``Estimate``, ``Std. Error``, ``t value`` or ``z value``, lmerTest's ``df``, the p-value),
and, where a ``VarCorr`` table (``grp var1 var2 vcov sdcor``) follows or precedes it, the
random part and the residual.  A table prints no formula, no criterion and no estimation:
graded by its numbers, REML (lmer's default) noted; a fixed-effects table alone is graded
on what it holds (its random part is not "left out").
"""

from __future__ import annotations

import re

from hlmrep.grading.printout import (
    FixedTerm,
    Parsed,
    Printed,
    Program,
    RandomTerm,
    Reader,
    Summary,
    add_block,
    is_number,
    printed,
)

_COLUMNS = {
    "Estimate": "estimate",
    "Std. Error": "std_error",
    "t value": "t_value",
    "z value": "t_value",
    "df": "df",
    "Pr(>t)": "p_value",
    "Pr(>z)": "p_value",
}
_VARCORR = ("grp", "var1", "var2", "vcov", "sdcor")
#: R's p-value headings hold the pipe a table's cells are split by (kable's Markdown writes
#: it as an HTML entity, pandoc's with backslashes: ``Pr(\>\|t\|)``).
_PIPED = (
    ("&#124;", "|"),
    ("\\|", "|"),
    ("\\>", ">"),
    ("Pr(>|t|)", "Pr(>t)"),
    ("Pr(>|z|)", "Pr(>z)"),
)
_RULE = re.compile(r"^[\s|:=+-]+$")
#: Lines between a fixed-effects table and a VarCorr table of the same fit.
_NEAR = 12


def recognises(text: str) -> bool:
    return "|" in text and "Estimate" in text and "Std. Error" in text


def _cells(line: str) -> list[str]:
    """A table row's cells (a pipe table's outer pipes dropped), or [] when not a row."""
    if "|" not in line:
        return []
    for piped, plain in _PIPED:
        line = line.replace(piped, plain)
    line = line.strip()
    cells = [cell.strip() for cell in line.split("|")]
    if line.startswith("|") and line.endswith("|") and len(cells) > 2:
        cells = cells[1:-1]  # Markdown's outer pipes (a flattened row has none)
    return cells


def parse(text: str) -> Parsed:
    """Every kable table of a fit's fixed effects in ``text`` (see the module)."""
    lines = text.splitlines()
    parsed = Parsed([], [])
    index = 0
    last_end = -_NEAR - 1
    last: Summary | None = None
    varcorr: tuple[int, list[list[str]]] | None = None
    while index < len(lines):
        cells = _cells(lines[index])
        if "Estimate" in cells and "Std. Error" in cells:
            summary, after = _fixed(lines, index, cells)
            if varcorr is not None and index - varcorr[0] <= _NEAR:
                _random(summary, varcorr[1])
                varcorr = None
            add_block(parsed, summary, "table of fixed effects", after)
            last, last_end, index = summary, after, after
            continue
        if tuple(cells[-5:]) == _VARCORR or tuple(cells) == _VARCORR:
            rows, after = _table_rows(lines, index + 1, len(cells))
            rows = [row[-5:] for row in rows]
            if last is not None and index - last_end <= _NEAR and not last.random:
                _random(last, rows)
            else:
                varcorr = (after, rows)
            index = after
            continue
        index += 1
    return parsed


def _table_rows(lines: list[str], start: int, width: int) -> tuple[list[list[str]], int]:
    rows: list[list[str]] = []
    index = start
    while index < len(lines):
        line = lines[index]
        if (_RULE.match(line) and "|" in line) or (not line.strip() and not rows):
            index += 1
            continue
        cells = _cells(line)
        if len(cells) != width:
            break
        rows.append(cells)
        index += 1
    return rows, index


def _fixed(lines: list[str], start: int, header: list[str]) -> tuple[Summary, int]:
    summary = Summary(line=start + 1, estimation="REML", program=KABLE.name)
    summary.notes.append(
        "a table of the fit's coefficients (knitr::kable or a document's table): REML taken "
        "(lmer's default); no formula, graded by its numbers"
    )
    columns = {i: _COLUMNS[name] for i, name in enumerate(header) if name in _COLUMNS}
    rows, after = _table_rows(lines, start + 1, len(header))
    for offset, row in enumerate(rows):
        values: dict[str, Printed] = {}
        for position, name in columns.items():
            cell = row[position]
            bound = "<" if cell.startswith("<") else ""
            token = cell.lstrip("<").strip()
            if is_number(token):
                values[name] = printed(token, bound)
        if "estimate" not in values or not row[0] or is_number(row[0]):
            summary.unread.append(f"line {start + 2 + offset}: row not read: {' | '.join(row)!r}")
            continue
        summary.fixed.append(
            FixedTerm(
                row[0],
                values["estimate"],
                values.get("std_error"),
                values.get("t_value"),
                df=values.get("df"),
                p_value=values.get("p_value"),
            )
        )
    if not rows:
        summary.unread.append(f"line {start + 1}: a table of fixed effects without rows")
    summary.truncated = True
    summary.notes.append("a table of fixed effects alone: graded on what it holds")
    return summary, after


def _random(summary: Summary, rows: list[list[str]]) -> None:
    """``as.data.frame(VarCorr(m))``: a variance per term (``var2`` NA), a covariance and
    correlation per pair, the residual's (``grp`` Residual)."""
    members: dict[str, list[RandomTerm]] = {}
    for grp, var1, var2, vcov, sdcor in rows:
        if not (is_number(vcov) and is_number(sdcor)):
            summary.unread.append(f"VarCorr row not read: {grp} {var1} {var2}")
            continue
        if grp == "Residual":
            summary.residual_variance, summary.residual_sd = printed(vcov), printed(sdcor)
        elif var2 in ("NA", "", "<NA>"):
            members.setdefault(grp, []).append(RandomTerm(grp, var1, printed(vcov), printed(sdcor)))
        else:
            later = next((t for t in members.get(grp, []) if t.name == var2), None)
            if later is None:
                summary.unread.append(f"VarCorr pair not read: {grp} {var1} {var2}")
                continue
            later.covariances.append(printed(vcov))
            later.correlations.append(printed(sdcor))
    summary.random = [term for terms in members.values() for term in terms]
    if summary.random and summary.residual_variance is not None:
        summary.truncated = False
        summary.notes[-1] = "the fixed effects' and the variance components' tables"


KABLE = Program(
    name="kable",
    title="a table of the fit (knitr::kable, a document's table)",
    block_label="table of fixed effects",
    prints="variances and SDs",
    default_method="REML",
    never_prints=("scaled_residuals.*", "criterion", "n_obs", "n_groups"),
)


READER = Reader(
    name="a document's tables",
    programs=(KABLE,),
    recognises=recognises,
    parse=parse,
    order=30,
)
