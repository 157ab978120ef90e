"""parameters' ``model_parameters()`` of an lmer fit, printed as its text tables, read into
the neutral form (:mod:`.printout`)::

    # Fixed Effects

    Parameter                | Coefficient |   SE |         95% CI | t(7175) |      p
    ---------------------------------------------------------------------------------
    (Intercept)              |       12.13 | 0.20 | [11.74, 12.52] |   60.86 | < .001
    sector [Catholic]        |        1.23 | 0.31 | [ 0.63,  1.83] |    4.00 | < .001
    cses × sector [Catholic] |       -1.64 | 0.24 | [-2.11, -1.17] |   -6.85 | < .001

    # Random Effects

    Parameter                    | Coefficient
    ------------------------------------------
    SD (Intercept: school)       |        1.54
    SD (cses: school)            |        0.32
    Cor (Intercept~cses: school) |        0.39
    SD (Residual)                |        6.06

Read into a :class:`~.printout.Summary` of the program ``parameters``:

- the fixed effects: ``Coefficient``, ``SE``, the statistic (``t(7175)``, ``z``; its df in
  the heading are the residual df, not Satterthwaite's, and are not graded) and ``p``;
  easystats' names made lme4's (:mod:`.labelled_terms`); the interval is not graded;
- the random part: ``SD (term: group)`` (``Var`` with ``effects`` variances),
  ``Cor (A~B: group)``, ``SD (Residual)``;
- no formula, no n, no criterion: graded by its numbers; REML (lmer's default), noted.

performance's ``icc()`` and ``r2()`` (``# Intraclass Correlation Coefficient``,
``# R2 for Mixed Models``) are recognised and read, not graded: no reference prints an ICC
of a fitted model hlmrep grades yet.
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
from hlmrep.grading.readers import r_tables
from hlmrep.grading.readers.labelled_terms import lme4_term

#: A random parameter's label: ``SD (Intercept: school)``, ``Cor (Intercept~cses: school)``.
_RANDOM = re.compile(r"^(?P<kind>SD|Var|Cor|Cov)\s*\((?P<inner>.*)\)$")
_STATISTIC = re.compile(r"^(?:t|z)(?:\(\s*[\d.]+\s*\))?$")
_BOUND = re.compile(r"^([<>])\s*(\S+)$")
_ICC = "# Intraclass Correlation Coefficient"
_PERFORMANCE = {
    _ICC: "performance icc()",
    "# R2 for Mixed Models": "performance r2()",
}
_WHY_NOT = "no reference prints an R² of a fitted model"


def recognises(text: str) -> bool:
    return ("Parameter" in text and "Coefficient" in text and "|" in text) or any(
        heading in text for heading in _PERFORMANCE
    )


def parse(text: str) -> Parsed:
    """Every model_parameters() table in ``text``, and performance's icc() and r2()."""
    lines = r_tables.lines(text)
    parsed = Parsed([], [])
    summary: Summary | None = None
    index = 0
    while index < len(lines):
        text_ = lines[index].strip()
        cells = _cells(text_)
        if text_ == _ICC:
            icc = _icc(lines, index)
            if icc is not None:
                add_block(parsed, icc, "performance icc()", index + 1)
                index += 1
                continue
        if text_ in _PERFORMANCE:
            values = _performance_values(lines, index + 1)
            parsed.not_graded.append(
                f"line {index + 1}: {_PERFORMANCE[text_]} ({values}): read, not graded ({_WHY_NOT})"
            )
            index += 1
            continue
        if cells[:2] == ["Parameter", "Coefficient"]:
            fresh = summary is None or (bool(summary.fixed) and _is_fixed_header(cells))
            if fresh:
                if summary is not None:
                    _finish(parsed, summary, index)
                summary = Summary(line=index + 1, estimation="REML", program=PARAMETERS.name)
                summary.notes.append("REML taken (model_parameters() does not say; lmer's default)")
            assert summary is not None
            index = _table(lines, index, cells, summary)
            continue
        index += 1
    if summary is not None:
        _finish(parsed, summary, index)
    return parsed


def _is_fixed_header(cells: list[str]) -> bool:
    return "SE" in cells


def _finish(parsed: Parsed, summary: Summary, index: int) -> None:
    if not summary.fixed:
        summary.unread.append(f"line {summary.line}: model_parameters() without fixed effects")
    add_block(parsed, summary, "model_parameters()", index)


def _cells(text: str) -> list[str]:
    return [cell.strip() for cell in text.split("|")] if "|" in text else []


def _icc(lines: list[str], start: int) -> Summary | None:
    """performance's ``icc()``: its adjusted ICC (τ00 / (τ00 + σ²) of a random intercept,
    R&B p. 71), graded against the ICC of the model it matches (Table 4.2's 0.18)."""
    for index in range(start + 1, min(start + 6, len(lines))):
        name, _, value = lines[index].strip().partition(":")
        if name.strip() == "Adjusted ICC" and is_number(value.strip()):
            summary = Summary(line=start + 1, estimation="REML", program=PERFORMANCE.name)
            summary.fit_statistics["ICC"] = printed(value.strip())
            summary.notes.append("performance's icc(): the adjusted ICC alone, graded alone")
            return summary
    return None


def _performance_values(lines: list[str], start: int) -> str:
    values = []
    for line in lines[start : start + 6]:
        name, _, value = line.strip().partition(":")
        if value.strip() and is_number(value.strip()):
            values.append(f"{name.strip()} {value.strip()}")
        elif values and not line.strip():
            break
    return ", ".join(values) or "no value read"


def _table(lines: list[str], start: int, header: list[str], summary: Summary) -> int:
    """One table from its header row; the index of the line after it."""
    columns = {}
    for position, name in enumerate(header):
        if name == "Coefficient":
            columns[position] = "estimate"
        elif name == "SE":
            columns[position] = "std_error"
        elif _STATISTIC.match(name):
            columns[position] = "t_value"
        elif name == "p":
            columns[position] = "p_value"
        elif name == "df":
            columns[position] = "df"
    index = start + 1
    pairs: list[tuple[str, str, str, Printed]] = []
    members: dict[str, list[RandomTerm]] = {}
    for term in summary.random:
        members.setdefault(term.group, []).append(term)
    while index < len(lines):
        text = lines[index].strip()
        if set(text) <= {"-", " "} and text:
            index += 1
            continue
        cells = _cells(text)
        if not cells or len(cells) != len(header):
            break
        index += 1
        values: dict[str, Printed] = {}
        for position, name in columns.items():
            cell = cells[position]
            bound = _BOUND.match(cell)
            token = bound.group(2) if bound else cell
            token = "0" + token if token.startswith(".") else token
            if is_number(token):
                values[name] = printed(token, bound.group(1) if bound else "")
        label = cells[0]
        estimate = values.get("estimate")
        random = _RANDOM.match(label)
        if estimate is None:
            summary.unread.append(f"line {index}: coefficient not read: {text[:80]!r}")
        elif random is not None:
            _random(summary, members, pairs, random, estimate, index)
        else:
            summary.fixed.append(
                FixedTerm(
                    lme4_term(label),
                    estimate,
                    values.get("std_error"),
                    values.get("t_value"),
                    df=values.get("df"),
                    p_value=values.get("p_value"),
                )
            )
    for group, kind, pair, value in pairs:
        first, _, second = pair.partition("~")
        later = next((t for t in members.get(group, []) if t.name == _name(second)), None)
        if later is None or not first:
            summary.unread.append(f"random correlation {pair!r} of {group!r}: terms not found")
            continue
        (later.correlations if kind == "Cor" else later.covariances).append(value)
    summary.random = [term for terms in members.values() for term in terms]
    return index


def _name(what: str) -> str:
    """``Intercept`` is lme4's ``(Intercept)``; a slope's name as printed."""
    what = what.strip()
    return "(Intercept)" if what in ("Intercept", "(Intercept)") else lme4_term(what)


def _random(
    summary: Summary,
    members: dict[str, list[RandomTerm]],
    pairs: list[tuple[str, str, str, Printed]],
    match: re.Match[str],
    value: Printed,
    line: int,
) -> None:
    kind, inner = match["kind"], match["inner"]
    what, _, group = inner.rpartition(":") if ":" in inner else (inner, "", "")
    what, group = what.strip(), group.strip()
    if what == "Residual" and not group:
        if kind == "SD":
            summary.residual_sd = value
        elif kind == "Var":
            summary.residual_variance = value
        return
    if kind in ("Cor", "Cov"):
        pairs.append((group, kind, what, value))
        return
    term = RandomTerm(
        group, _name(what), value if kind == "Var" else None, value if kind == "SD" else None
    )
    members.setdefault(group, []).append(term)


PARAMETERS = Program(
    name="parameters",
    title="R parameters model_parameters()",
    block_label="model_parameters()",
    prints="SDs",
    default_method="REML",
    never_prints=(
        "random.*.variance",
        "residual.variance",
        "scaled_residuals.*",
        "criterion",
        "n_obs",
        "n_groups",
    ),
    # two decimals unless told otherwise (``digits = 2``)
    printed_units={"fixed.*": 0.01, "random.*": 0.01, "residual.*": 0.01},
)


PERFORMANCE = Program(
    name="performance",
    title="R performance icc()",
    block_label="icc()",
    prints="an ICC",
    default_method="REML",
    never_prints=("*",),  # an ICC and nothing else: nothing of its model is left out
    printed_units={"icc": 0.001},  # three decimals
)


READER = Reader(
    name="parameters output",
    programs=(PARAMETERS, PERFORMANCE),
    recognises=recognises,
    parse=parse,
    order=20,
)
