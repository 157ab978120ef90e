"""sjPlot's ``tab_model()`` table of one or several lmer fits side by side, read into the
neutral form (:mod:`.printout`).

``tab_model()`` writes an HTML table, the most common table of social-science homework
(saved alone, or inside a knitted page).  The HTML unwrapper (:mod:`..documents`) gives it
here row by row, each row's cells in their columns, joined by `` | ``::

     | mathach |  |  | mathach |  |
    Predictors | Estimates | std. Error | p | Estimates | CI | p
    (Intercept) | 12.64 | 0.24 | <0.001 | 12.13 | 11.74 - 12.52 | <0.001
    sector [Catholic] |  |  |  | 1.23 | 0.63 - 1.83 | <0.001
    Random Effects |  |  |  |  |  |
    σ 2 | 39.15 |  |  | 36.72 |  |
    τ 00 | 8.61 school |  |  | 2.38 school |  |
    τ 11 |  |  |  | 0.10 school.cses |  |
    ρ 01 |  |  |  | 0.39 school |  |
    ICC | 0.18 |  |  | 0.06 |  |
    N | 160 school |  |  | 160 school |  |
    Observations | 7185 |  |  | 7185 |  |
    Marginal R 2 / Conditional R 2 | 0.000 / 0.180 |  |  | 0.180 / 0.230 |  |

One :class:`~.printout.Summary` per model (column group: each ``Estimates`` header starts
one), of the program ``sjPlot``:

- the fixed effects: ``Estimates``, with ``std. Error``, ``Statistic``, ``df`` and ``p``
  where shown (``show.se``, ``show.stat``, ``show.df``); the confidence interval is not
  graded; easystats' names made lme4's (:mod:`.labelled_terms`);
- the random part as variances: σ² the residual's, τ00 the intercept's, τ11 (τ22, …) the
  slopes' (their variable after the group, ``school.cses``), ρ01 (ρ02, …) the intercept's
  correlation with each slope; the group's size from ``N``, the observations;
- the model rebuilt as the lme4 formula its rows are (the response from the header row):
  ``tab_model()`` prints no formula and no criterion;
- the estimation: tab_model does not say; lmer's default, REML, with a note.

The ICC and R² rows are kept as printed (``fit_statistics``) and not graded.
"""

from __future__ import annotations

import itertools
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
    lme4_formula,
    printed,
)
from hlmrep.grading.readers.labelled_terms import formula_terms, lme4_term

#: The header cell that starts a model's columns (a gaussian fit's coefficients).
_STARTS = "Estimates"
#: Column headings and the neutral form's name of each (others, such as ``CI``, not read).
_COLUMNS = {
    "Estimates": "estimate",
    "std. Error": "std_error",
    "Statistic": "t_value",
    "p": "p_value",
    "df": "df",
}
#: The headers of other families' coefficients: not a linear mixed model.
_OTHER_FAMILIES = ("Odds Ratios", "Incidence Rate Ratios", "Risk Ratios", "log-Odds")
_GREEK = re.compile(r"^(?P<symbol>[στρ])\s*(?P<index>\d+|2)?\s*(?P<group>.*)$")
_SEPARATOR = " | "


def recognises(text: str) -> bool:
    return "Random Effects |" in text and _SEPARATOR in text


def parse(text: str) -> Parsed:
    """Every tab_model() table in ``text`` (see the module)."""
    lines = text.splitlines()
    parsed = Parsed([], [])
    index = 0
    while index < len(lines):
        cells = _cells(lines[index])
        if cells and cells[0] == "Predictors" and len(cells) > 1:
            index = _table(lines, index, parsed)
            continue
        index += 1
    return parsed


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.split("|")] if _SEPARATOR in line else []


def _table(lines: list[str], start: int, parsed: Parsed) -> int:
    """The table whose header row is ``lines[start]``; the index of the line after it."""
    header = _cells(lines[start])
    responses = _cells(lines[start - 1]) if start > 0 else []
    groups = [i for i, cell in enumerate(header) if cell == _STARTS]
    if not groups:
        family = next((c for c in header if c.startswith(_OTHER_FAMILIES)), "")
        parsed.not_graded.append(
            f"line {start + 1}: sjPlot tab_model() of {family or 'another model'}: read, not "
            "graded (not a linear mixed model)"
        )
        return start + 1
    bounds = [*groups, len(header)]
    models: list[_Model] = []
    for position, (first, after) in enumerate(itertools.pairwise(bounds)):
        columns = {i: _COLUMNS[header[i]] for i in range(first, after) if header[i] in _COLUMNS}
        response = responses[first] if first < len(responses) else ""
        models.append(_Model(start + 1, first, columns, response, position))
    index = start + 1
    section = "fixed"
    while index < len(lines):
        cells = _cells(lines[index])
        if not cells:
            break
        index += 1
        label = cells[0]
        if label == "Random Effects":
            section = "random"
            continue
        for model in models:
            if section == "fixed":
                model.fixed_row(label, cells, index)
            else:
                model.random_row(label, cells, index)
    for model in models:
        if model.summary.fixed:
            model.finish()
            add_block(parsed, model.summary, "sjPlot tab_model()", index)
    return index


class _Model:
    """One model's columns of the table, read row by row into its summary."""

    def __init__(
        self, line: int, first: int, columns: dict[int, str], response: str, position: int
    ) -> None:
        self.first = first
        self.columns = columns
        self.response = response or "y"
        self.summary = Summary(line=line, estimation="REML", program=SJPLOT.name)
        self.summary.notes.append(
            f"tab_model()'s model {position + 1}: REML taken (tab_model does not say; lmer's "
            "default)"
        )
        self.labels: list[str] = []
        self.variances: dict[str, Printed] = {}  # "00", "11", ... -> the variance
        self.slopes: dict[str, str] = {}  # "11" -> the slope's variable
        self.correlations: dict[str, Printed] = {}  # "01", "02", ...
        self.group = ""

    def fixed_row(self, label: str, cells: list[str], line: int) -> None:
        values: dict[str, Printed] = {}
        for column, name in self.columns.items():
            cell = cells[column] if column < len(cells) else ""
            if not cell:
                continue
            bound = "<" if cell.startswith("<") else ""
            token = cell.lstrip("<").strip()
            if not is_number(token):
                self.summary.unread.append(f"line {line}: {name} not read: {cell[:40]!r}")
                return
            values[name] = printed(token, bound)
        if "estimate" not in values:
            return  # not this model's term
        self.labels.append(label)
        self.summary.fixed.append(
            FixedTerm(
                lme4_term(label),
                values["estimate"],
                values.get("std_error"),
                values.get("t_value"),
                df=values.get("df"),
                p_value=values.get("p_value"),
            )
        )

    def random_row(self, label: str, cells: list[str], line: int) -> None:
        cell = cells[self.first] if self.first < len(cells) else ""
        if not cell:
            return
        value, _, rest = cell.partition(" ")
        greek = _GREEK.match(label)
        if label == "Observations" and value.isdigit() and len(value) < 16:
            self.summary.n_obs = int(value)
        elif label.startswith("N") and value.isdigit() and len(value) < 16:
            group = rest.strip() or label[1:].strip()
            self.summary.groups[group or "group"] = int(value)
        elif label == "ICC" and is_number(value):
            self.summary.fit_statistics["ICC"] = printed(value)
        elif label.startswith("Marginal R") and "/" in cell:
            marginal, _, conditional = (part.strip() for part in cell.partition("/"))
            for name, part in (("R2 marginal", marginal), ("R2 conditional", conditional)):
                if is_number(part):
                    self.summary.fit_statistics[name] = printed(part)
        elif greek and is_number(value):
            symbol, number = greek["symbol"], greek["index"] or ""
            where = (rest.strip() or greek["group"].strip()).strip()
            if symbol == "σ":
                self.summary.residual_variance = printed(value)
            elif symbol == "τ" and len(number) == 2 and number[0] == number[1]:
                self.variances[number] = printed(value)
                group, _, slope = where.partition(".")
                self.group = self.group or group
                if number != "00":
                    self.slopes[number] = slope
            elif symbol == "ρ" and len(number) == 2:
                self.correlations[number] = printed(value)
                self.group = self.group or where.partition(".")[0]
            else:
                self.summary.unread.append(f"line {line}: random effect not read: {label!r}")
        elif label.startswith(("σ", "τ", "ρ")):
            self.summary.unread.append(f"line {line}: random effect not read: {cell[:40]!r}")

    def finish(self) -> None:
        """The random part in lme4's order and the formula the rows are."""
        group = self.group or next(iter(self.summary.groups), "group")
        intercept = self.variances.get("00")
        if intercept is not None:
            self.summary.random.append(RandomTerm(group, "(Intercept)", intercept, None))
        slopes = []
        for number in sorted(self.slopes):
            term = RandomTerm(group, self.slopes[number], self.variances[number], None)
            correlation = self.correlations.get(f"0{number[0]}")
            if correlation is not None and intercept is not None:
                term.correlations = [correlation]
            self.summary.random.append(term)
            slopes.append(self.slopes[number])
        terms, _ = formula_terms(self.labels)
        self.summary.formula = lme4_formula(
            self.response, terms, slopes, group, correlated=bool(self.correlations)
        )
        self.summary.notes.append(
            "the formula is the model the table's rows are (tab_model prints none)"
        )


SJPLOT = Program(
    name="sjPlot",
    block_label="tab_model()",
    title="R sjPlot tab_model()",
    prints="variances",
    default_method="REML",
    never_prints=("random.*.sd", "residual.sd", "scaled_residuals.*", "criterion"),
    # two decimals unless told otherwise (digits = 2, digits.re = 2)
    printed_units={"fixed.*": 0.01, "random.*": 0.01, "residual.*": 0.01, "icc": 0.01},
)


READER = Reader(
    name="sjPlot table",
    programs=(SJPLOT,),
    recognises=recognises,
    parse=parse,
    order=20,
)
