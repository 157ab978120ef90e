"""R's printed lme4 output read back as data: ``summary()`` of ``lmer`` fits and ``anova()``.

A building block for grading others' replications: a student's pasted output is
untrusted text, so it is read by line patterns into numbers and names, nothing else, and
never evaluated.  Each number keeps the text it was printed as (:class:`Printed`), since a
grade compares it with the reference at the digits it was printed with.

What it reads, as R 4.x and lme4 1.1 print it, with or without knitr's ``## `` prefixes,
with the columns aligned or the spaces collapsed (as when copied from a web page), several
blocks in one text, in any order, whatever the variable and data names:

- ``summary(lmer(...))``, REML or ML: the formula, the REML criterion or AIC, BIC, logLik,
  deviance and df.resid, the scaled residuals, the random effects (groups, names,
  variances, SDs, correlations), the residual variance, the numbers of observations and
  groups, the fixed effects (estimate, standard error, t value; lmerTest's df and p too);
- ``anova(m1, m2, ...)``: the models and their formulas, each row's npar, AIC, BIC,
  logLik, deviance (or ``-2*log(L)``), Chisq, Df, p, and whether R said it refitted by ML.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")
#: What R prints for values that are not finite numbers; read as such and graded wrong.
NON_FINITE = {"NaN": math.nan, "NA": math.nan, "Inf": math.inf, "-Inf": -math.inf}
#: Longest token read as a number: R prints at most 22 significant digits and an exponent;
#: longer digit strings are noise (and Python refuses int() of over 4300 digits).
MAX_NUMBER_LENGTH = 40
#: Rows read per table: lme4's summary of a model of 50 terms has 50 fixed-effect rows, an
#: anova() of a lab compares a handful of models. A larger table is refused whole.
MAX_TABLE_ROWS = {"fixed effects": 200, "random effects": 100, "anova": 20}
_PREFIX = re.compile(r"^\s*(?:##\s?|>\s?)?")
_STARS = {"*", "**", "***", ".", "‘***’", "‘**’", "‘*’", "‘.’"}


@dataclass(frozen=True)
class Printed:
    """A number as R printed it: its value and its text (``"46714.2"``, ``"2.2e-16"``)."""

    value: float
    text: str
    #: "<" for R's "< 2.2e-16": the value is an upper bound.
    bound: str = ""

    @property
    def decimals(self) -> int | None:
        """Digits after the decimal point (None in scientific notation)."""
        if "e" in self.text.lower():
            return None
        return len(self.text.split(".")[1]) if "." in self.text else 0


def _printed(token: str, bound: str = "") -> Printed:
    value = NON_FINITE.get(token)
    return Printed(float(token) if value is None else value, token, bound)


def is_number(token: str) -> bool:
    """A number as R prints it (no bound, no stars): ``-3.09680``, ``2.2e-16``, and R's
    ``NaN``, ``NA``, ``Inf``, ``-Inf``, which are read (and graded as wrong), never skipped."""
    if token in NON_FINITE:
        return True
    return len(token) <= MAX_NUMBER_LENGTH and bool(_NUMBER.match(token))


@dataclass
class RandomTerm:
    group: str
    name: str
    variance: Printed
    sd: Printed
    correlations: list[Printed] = field(default_factory=list)


@dataclass
class FixedTerm:
    term: str
    estimate: Printed
    std_error: Printed
    t_value: Printed
    df: Printed | None = None
    p_value: Printed | None = None


@dataclass
class Summary:
    """One printed ``summary()`` of an ``lmer`` fit; ``line`` is where it starts (1-based)."""

    line: int
    estimation: str  # "REML" or "ML"
    formula: str = ""
    reml_criterion: Printed | None = None
    fit_statistics: dict[str, Printed] = field(default_factory=dict)  # AIC, BIC, logLik, …
    scaled_residuals: list[Printed] = field(default_factory=list)
    random: list[RandomTerm] = field(default_factory=list)
    residual_variance: Printed | None = None
    residual_sd: Printed | None = None
    n_obs: int | None = None
    groups: dict[str, int] = field(default_factory=dict)
    fixed: list[FixedTerm] = field(default_factory=list)


@dataclass
class AnovaRow:
    model: str
    values: dict[str, Printed]  # npar, AIC, BIC, logLik, deviance, Chisq, Df, Pr(>Chisq)


@dataclass
class Anova:
    """One printed ``anova()`` table of two or more fits."""

    line: int
    refitted_by_ml: bool
    formulas: dict[str, str] = field(default_factory=dict)
    rows: list[AnovaRow] = field(default_factory=list)


@dataclass
class Parsed:
    """Every block found, in the order of the text, and what could not be read, by line."""

    blocks: list[Summary | Anova]
    problems: list[str]


def _lines(text: str) -> list[str]:
    """The text's lines without knitr's ``## `` or a console's ``> `` prefix."""
    return [_PREFIX.sub("", line).rstrip() for line in text.splitlines()]


def parse(text: str) -> Parsed:
    """Find and read every ``summary()`` and ``anova()`` block of printed lme4 output."""
    lines = _lines(text)
    blocks: list[Summary | Anova] = []
    problems: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("Linear mixed model fit by"):
            summary, index, trouble = _summary(lines, index)
            blocks.append(summary)
            problems += trouble
            continue
        if line.strip() == "Models:":
            refit = any(
                "refitting model(s) with ML" in lines[i] for i in range(max(0, index - 3), index)
            )
            anova, index, trouble = _anova(lines, index, refit)
            blocks.append(anova)
            problems += trouble
            continue
        index += 1
    return Parsed(blocks, problems)


def _summary(lines: list[str], start: int) -> tuple[Summary, int, list[str]]:
    first = lines[start]
    summary = Summary(line=start + 1, estimation="REML" if "by REML" in first else "ML")
    problems: list[str] = []
    index = start + 1
    section = ""
    header: list[str] = []
    while index < len(lines):
        line = lines[index]
        text = line.strip()
        tokens = text.split()
        if line.startswith("Linear mixed model fit by") or text == "Models:":
            break
        index += 1
        if not text:
            if section in ("fixed", "correlation"):
                section = "done" if summary.fixed else section
            continue
        if text.startswith("Formula:"):
            summary.formula = text.split(":", 1)[1].strip()
        elif text.startswith("REML criterion at convergence:"):
            value = text.split(":", 1)[1].strip()
            if is_number(value):
                summary.reml_criterion = _printed(value)
        elif tokens[:2] == ["AIC", "BIC"] and index < len(lines):
            values = lines[index].split()
            index += 1
            if len(values) == len(tokens) and all(is_number(v) for v in values):
                summary.fit_statistics = {
                    name: _printed(value) for name, value in zip(tokens, values, strict=True)
                }
            else:
                problems.append(f"line {index}: ML fit statistics not read: {lines[index - 1]!r}")
        elif text.startswith("Scaled residuals:") and index + 1 < len(lines):
            values = lines[index + 1].split()
            index += 2
            if len(values) == 5 and all(is_number(v) for v in values):
                summary.scaled_residuals = [_printed(v) for v in values]
        elif text.startswith("Random effects:"):
            section = "random"
        elif section == "random" and tokens[0] == "Groups":
            header = tokens
        elif text.startswith("Number of obs:"):
            trouble = _observations(summary, text)
            if trouble:
                problems.append(
                    f"line {index}: 'Number of obs' not read ({trouble}): {text[:80]!r}"
                )
            section = "" if section == "random" else section
        elif section == "random":
            trouble = _random_row(summary, tokens)
            if trouble:
                problems.append(f"line {index}: random effect not read ({trouble}): {text!r}")
        elif text.startswith("Fixed effects:"):
            section = "fixed"
            header = []
        elif section == "fixed" and text.startswith("Estimate"):
            header = _fixed_header(text)
        elif section == "fixed" and header:
            trouble = _fixed_row(summary, tokens, header)
            if trouble:
                problems.append(f"line {index}: fixed effect not read ({trouble}): {text!r}")
        elif text.startswith(("Correlation of Fixed Effects", "optimizer", "boundary", "fit ")):
            section = "correlation" if text.startswith("Correlation") else "done"
    for table, rows in (("fixed effects", summary.fixed), ("random effects", summary.random)):
        if len(rows) > MAX_TABLE_ROWS[table]:
            problems.append(
                f"line {start + 1}: a {table} table of {len(rows)} rows, more than the "
                f"{MAX_TABLE_ROWS[table]} read: this summary is not graded"
            )
            summary.fixed, summary.random = [], []
    if summary.reml_criterion is None and not summary.fit_statistics:
        problems.append(f"line {start + 1}: summary without a criterion (truncated?)")
    if not summary.fixed:
        problems.append(f"line {start + 1}: summary without fixed effects (truncated?)")
    return summary, index, problems


def _observations(summary: Summary, text: str) -> str:
    """Read ``Number of obs: 7185, groups:  id, 160``; what is wrong with it, or ""."""
    match = re.match(r"Number of obs:\s*(\d{1,15}),\s*groups:\s*(.*)$", text)
    if not match:
        return "expected 'Number of obs: N, groups: name, J' with counts of up to 15 digits"
    summary.n_obs = int(match.group(1))
    groups = re.findall(r"([^,;\s]+),\s*(\d+)", match.group(2))
    if not groups or any(len(count) > 15 for _, count in groups):
        return "expected each group's name and a count of up to 15 digits"
    for name, count in groups:
        summary.groups[name] = int(count)
    return ""


def _random_row(summary: Summary, tokens: list[str]) -> str:
    """One row of the random-effects table; with collapsed spaces the group column of a
    continuation row is absent, so the row is read by how many names precede numbers."""
    names = []
    while tokens and not is_number(tokens[0]):
        names.append(tokens.pop(0))
    if not tokens or len(tokens) < 2 or not all(is_number(t) for t in tokens):
        return "expected a name, a variance and an SD"
    variance, sd, *correlations = (_printed(t) for t in tokens)
    if names == ["Residual"]:
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


def _fixed_header(text: str) -> list[str]:
    """The fixed-effects columns: Estimate, Std. Error, [df,] t value[, Pr(>|t|)]."""
    columns = ["estimate", "std_error"]
    if re.search(r"\bdf\b", text):
        columns.append("df")
    columns.append("t_value")
    if "Pr(>|t|)" in text:
        columns.append("p_value")
    return columns


def _fixed_row(summary: Summary, tokens: list[str], header: list[str]) -> str:
    while tokens and tokens[-1] in _STARS:
        tokens = tokens[:-1]
    bound = ""
    if len(tokens) >= 2 and tokens[-2] == "<" and "p_value" in header:
        tokens = [*tokens[:-2], tokens[-1]]
        bound = "<"
    count = len(header)
    if len(tokens) <= count or not all(is_number(t) for t in tokens[-count:]):
        return f"expected a term and {count} numbers"
    values = dict(zip(header, (_printed(t) for t in tokens[-count:]), strict=True))
    if bound:
        values["p_value"] = _printed(tokens[-1], bound)
    summary.fixed.append(FixedTerm(" ".join(tokens[:-count]), **values))
    return ""


_ANOVA_COLUMNS = {"-2*log(L)": "deviance"}


def _anova(lines: list[str], start: int, refit: bool) -> tuple[Anova, int, list[str]]:
    anova = Anova(line=start + 1, refitted_by_ml=refit)
    problems: list[str] = []
    index = start + 1
    header: list[str] = []
    while index < len(lines):
        text = lines[index].strip()
        tokens = text.split()
        if lines[index].startswith("Linear mixed model fit by") or text == "Models:":
            break
        index += 1
        if not text:
            continue
        if not header and tokens[0] == "npar":
            header = [_ANOVA_COLUMNS.get(t, t) for t in tokens]
        elif not header and ":" in text:
            name, formula = text.split(":", 1)
            anova.formulas[name.strip()] = formula.strip()
        elif header and (text.startswith("---") or text.startswith("Signif.")):
            break
        elif header:
            trouble = _anova_row(anova, tokens, header)
            if trouble:
                problems.append(f"line {index}: anova row not read ({trouble}): {text!r}")
    if len(anova.rows) > MAX_TABLE_ROWS["anova"]:
        problems.append(
            f"line {start + 1}: an anova() table of {len(anova.rows)} rows, more than the "
            f"{MAX_TABLE_ROWS['anova']} read: this table is not graded"
        )
        anova.rows = []
    elif not anova.rows:
        problems.append(f"line {start + 1}: anova table without rows (truncated?)")
    return anova, index, problems


def _anova_row(anova: Anova, tokens: list[str], header: list[str]) -> str:
    name, values = tokens[0], tokens[1:]
    while values and values[-1] in _STARS:
        values = values[:-1]
    bound = ""
    if len(values) >= 2 and values[-2] == "<":
        values = [*values[:-2], values[-1]]
        bound = "<"
    if not values or len(values) > len(header) or not all(is_number(v) for v in values):
        return f"expected a model name and up to {len(header)} numbers"
    row = {column: _printed(value) for column, value in zip(header, values, strict=False)}
    if bound:
        row[header[len(values) - 1]] = _printed(values[-1], bound)
    anova.rows.append(AnovaRow(name, row))
    return ""
