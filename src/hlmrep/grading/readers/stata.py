"""Stata's ``mixed`` (and ``xtmixed``) output read into the neutral form (:mod:`.printout`).

The layout, as Stata 11–18 prints it (Stata's manual, [ME] mixed; public printouts of
these very models, e.g. Methods Consultants' "Estimating HLM Models Using Stata"):

- a header: ``Mixed-effects REML regression`` (or ``ML``), ``Number of obs = 7,185``
  (commas in counts), ``Group variable: schid``, ``Number of groups = 160``,
  ``Log restricted-likelihood = -23357.118`` (or ``Log likelihood``);
- the fixed effects: ``depvar | Coef. Std. Err. z P>|z| [95% Conf. Interval]`` (Stata 17
  and later: ``Coefficient Std. err.``), one row per term, ``_cons`` for the intercept;
  a long interaction's label (``c.meanses#c.grp_cent_ses``) wrapped over lines ending in
  ``|``; a factor variable's levels under its name (``schtype |`` then ``1 | …``);
- the random effects: ``schid: Unstructured`` (or ``Independent``, ``Identity``), then
  ``var(grp_cen~s)``, ``var(_cons)``, ``cov(grp_cen~s,_cons)``, ``var(Residual)`` (or
  ``sd()`` and ``corr()``: xtmixed's default, mixed's ``stddeviations``), a long name
  abbreviated with ``~`` as Stata does.

As it is found pasted: with the blanks collapsed (a web page), every line behind a ``*``
(output pasted back into a do-file as comments), the whole printout on one line (a page
that lost its line breaks: split back into Stata's lines by its vocabulary), without the
title line (only the header's other lines and the tables copied: the printout starts at
the header lines above its coefficient table, or at the table), or cut short, even in the
middle of a number.

Read into a :class:`~.printout.Summary` (program "Stata"): ``_cons`` is ``(Intercept)``,
``c.a#c.b`` is ``a:b``, level 1 of a 0/1 factor variable is its dummy (``1.schtype`` is
``schtype``), an abbreviated name is the one term name it abbreviates; the grouping
factor is the one the random-effects table names (``momid: Identity``), else the header's
``Group variable``; the model is rebuilt as an lme4 formula (``||`` for uncorrelated
random effects) and fitted like any.  The criterion is −2 × the log (restricted)
likelihood, as lme4's; the page says so.  A printout cut short is graded on what it holds,
and says where it stops: a number on its last line is read only where the printout shows
it whole (a cell follows it, or its format does: a p-value's three decimals).
"""

from __future__ import annotations

import itertools
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
    add_block,
    criterion_from_loglik,
    lme4_formula,
    mark_truncated,
    number_or_none,
)

_TITLE = re.compile(r"^(Mixed-effects (REML|ML) regression|Multilevel mixed-effects)", re.I)
_PAIR = re.compile(
    r"(Number of obs|Number of groups|Log restricted-likelihood|Log likelihood)\s*=\s*(\S+)"
)
_GROUP = re.compile(r"Group variable:\s*(\S+)")
_STRUCTURES = ("Unstructured", "Independent", "Identity", "Exchangeable")
_STRUCTURE = re.compile(r"^(\S+):\s*(Unstructured|Independent|Identity|Exchangeable)", re.I)
_VAR = re.compile(r"^(var|sd)\((.+)\)$")
_COV = re.compile(r"^(cov|corr)\(([^,]*),(.*)\)$")  # a name holds no comma: linear
#: Stata's vocabulary, each word as Stata spells it (nlme's "Linear mixed-effects model"
#: and "Number of Groups" are not Stata's): a text holding several is read as Stata's.
_VOCABULARY: tuple[tuple[str, ...], ...] = (
    ("Mixed-effects ML regression", "Mixed-effects REML regression"),
    ("Random-effects Parameters", "Random-effects parameters"),
    ("sd(_cons)", "var(_cons)"),
    ("sd(Residual)", "var(Residual)"),
    ("LR test vs. linear",),
    ("Group variable:",),
    ("Number of groups",),
    ("Number of obs",),
    ("Log restricted-likelihood",),
    ("_cons |",),
    ("Std. Err.", "Std. err."),
    ("Conf. Interval]", "conf. interval]"),
)
_SIGNALS = 3
#: A table's rule (``-------------+------``), with the box characters of a SMCL page.
_RULE = frozenset("-+─┼")


def recognises(text: str) -> bool:
    """Several words of Stata's vocabulary, never its title line alone: a printout pasted
    without its header (only the two tables) is Stata's too."""
    return sum(1 for words in _VOCABULARY if any(word in text for word in words)) >= _SIGNALS


def _count(text: str) -> int | None:
    plain = text.replace(",", "")
    return int(plain) if plain.isdigit() else None


# ----- the text as Stata's lines ---------------------------------------------------------


def _lines(text: str) -> tuple[list[str], list[int]]:
    """The text's lines as Stata printed them, and the printed line (1-based) each comes
    from: a do-file comment's ``*`` or ``//`` before a pasted line dropped (as the R reader
    drops knitr's ``##``), a line that holds a whole collapsed printout split back
    (:func:`_logical`)."""
    lines: list[str] = []
    origin: list[int] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.lstrip()
        line = raw
        if stripped.startswith("*"):
            line = stripped.lstrip("*")
        elif stripped.startswith("//"):
            line = stripped[2:]
        for logical in _logical(line):
            lines.append(logical)
            origin.append(number)
    return lines, origin


def _separator(token: str) -> bool:
    """A cell boundary of Stata's tables: ``|`` alone or ending a wrapped label
    (``c.meanses#|``), never the ``|`` inside ``P>|z|``."""
    return token.endswith("|") and "|" not in token[:-1]


def _is_rule(token: str) -> bool:
    return len(token) >= 3 and set(token) <= _RULE


def _logical(line: str) -> list[str]:
    """A line holding several of Stata's lines (a page that collapsed a printout onto one
    line) split back where Stata starts a line: its title, ``Group variable:``, the log
    likelihood, an iteration, each rule, each table row (the label before its ``|``),
    the LR test and its note.  A line with fewer than two cell boundaries is one of
    Stata's own lines and is kept as printed."""
    tokens = line.split()
    if sum(1 for token in tokens if _separator(token)) < 2:
        return [line]
    breaks = {0}
    for i, token in enumerate(tokens):
        if _begins_line(tokens, i):
            breaks.add(i)
        elif _is_rule(token):
            breaks.update((i, i + 1))
        elif token == "|":
            breaks.add(_row_start(tokens, i))
        elif _separator(token):
            breaks.add(i)  # a wrapped label's piece: the row is the token itself
    ends = sorted(breaks | {len(tokens)})
    return [" ".join(tokens[a:b]) for a, b in itertools.pairwise(ends) if a < b]


#: Words that begin one of Stata's lines, with the word that follows them ("": any).
_LINE_WORDS = {
    "Mixed-effects": "",
    "Iteration": "",
    "Multilevel": "mixed-effects",
    "Group": "variable:",
    "LR": "test",
}


def _begins_line(tokens: list[str], i: int) -> bool:
    """``tokens[i]`` begins one of Stata's lines: the title, an iteration, ``Group
    variable:``, the LR test and its note, the log likelihood (not an iteration's)."""
    token = tokens[i]
    after = tokens[i + 1] if i + 1 < len(tokens) else ""
    if token in _LINE_WORDS:
        return _LINE_WORDS[token] in ("", after)
    if token == "Log" and after in ("likelihood", "restricted-likelihood"):
        return i < 2 or tokens[i - 2] != "Iteration"
    return token.startswith("Note:")


def _row_start(tokens: list[str], bar: int) -> int:
    """Where the row whose ``|`` is ``tokens[bar]`` starts: at its label (one token, or
    two: ``Random-effects Parameters``, ``id: Identity``, ``Group Variable``), or at the
    ``|`` itself for a row without a label; a number before it is the row before's last
    cell, except a factor variable's level under its name (``schtype# | 1 | -1.64``)."""
    label = bar - 1
    if label < 0 or _separator(tokens[label]) or _is_rule(tokens[label]):
        return bar
    if number_or_none(tokens[label]) is not None:
        level = tokens[label].isdigit() and label >= 1 and _separator(tokens[label - 1])
        return label if level else bar
    before = tokens[label - 1] if label >= 1 else ""
    if before in ("Random-effects", "Group") or (
        before.endswith(":") and tokens[label] in _STRUCTURES
    ):
        return label - 1
    return label


def _is_fixed_header(line: str) -> bool:
    """``mathach | Coef. Std. Err. z P>|z| …`` (Stata 17: ``Coefficient Std. err.``)."""
    _, bar, rest = line.partition("|")
    cells = rest.split()[:2]
    return bool(bar) and cells[:1] in (["Coef."], ["Coefficient"]) and cells[1:2] >= ["Std."]


def _is_header_line(line: str) -> bool:
    """A line of the header block above the tables: blank, a rule, a ``key = value``
    pair, ``Group variable:``, ``Obs per group:``; never an iteration or a table row."""
    if not line or set(line) <= _RULE | {" "}:
        return True
    if "|" in line or line.startswith(("Iteration", "LR test")):
        return False
    return "=" in line or "Group variable:" in line or line.startswith("Obs per group")


def _starts(lines: list[str]) -> list[int]:
    """Where each printout starts: its title line, or, where a coefficient table has no
    title above it (only the tables were copied), the header lines just above the table
    (``Group variable:``, ``Number of obs``, the log likelihood), else the table itself."""
    starts: list[int] = []
    table = True  # the printout begun last has its coefficient table (or none is begun)
    for index, line in enumerate(lines):
        plain = line.strip()
        if _TITLE.match(plain):
            starts.append(index)
            table = False
        elif _is_fixed_header(plain):
            if table:
                floor = starts[-1] + 1 if starts else 0
                start = index
                for above in range(index - 1, floor - 1, -1):
                    text = lines[above].strip()
                    if not _is_header_line(text):
                        break
                    if _PAIR.search(text) or _GROUP.search(text):
                        start = above
                starts.append(start)
            table = True
    return starts


# ----- one printout ------------------------------------------------------------------------


@dataclass
class _Reading:
    """What one printout's lines hold, as they are read."""

    response: str = "y"
    header_group: str = ""
    groups: int | None = None
    loglik: tuple[str, str] | None = None  # the label and the value's text
    fixed: list[tuple[str, list[Printed]]] = field(default_factory=list)
    #: (level, label, estimate) of each random-effects row, the residual's included
    random: list[tuple[str, str, Printed]] = field(default_factory=list)
    structures: dict[str, str] = field(default_factory=dict)  # level -> covariance structure
    section: str = "header"
    #: where the printout stops inside a row: the row as printed, and its table
    cut: tuple[str, str] | None = None


def parse(text: str) -> Parsed:
    lines, origin = _lines(text)
    parsed = Parsed([], [])
    starts = _starts(lines)
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        summary = _summary(lines[start:end], origin[start:end])
        if not summary.fixed and not (summary.truncated and _holds_numbers(summary)):
            continue
        add_block(parsed, summary, "Stata output", summary.end)
        if not summary.fixed:
            parsed.problems.append(
                f"line {summary.line}: Stata output that stops before its first fixed effect "
                "is printed whole: its header is read, nothing of it is graded"
            )
    return parsed


def _holds_numbers(summary: Summary) -> bool:
    return summary.n_obs is not None or bool(summary.fit_statistics) or bool(summary.groups)


def _last_line(lines: list[str]) -> int:
    """The index of the printout's last line (blank lines and a code fence after it not
    counted): a row there may be cut in the middle."""
    for index in range(len(lines) - 1, -1, -1):
        text = lines[index].strip()
        if text and not text.startswith("```"):
            return index
    return 0


def _summary(lines: list[str], origin: list[int]) -> Summary:
    title = lines[0].strip() if _TITLE.match(lines[0].strip()) else ""
    last = _last_line(lines)
    summary = Summary(line=origin[0], estimation="REML", program="Stata", end=origin[last])
    state = _Reading()
    label = ""
    factor = ""
    level = ""
    for index, raw in enumerate(lines):
        number, line = origin[index], raw.strip()
        if line.startswith("Iteration"):
            continue  # the optimizer's log, not the fit's likelihood
        found = _GROUP.search(line)
        if found:
            state.header_group = found.group(1)
        for key, value in _PAIR.findall(line):
            if key == "Number of obs" and _count(value) is not None:
                summary.n_obs = _count(value)
            elif key == "Number of groups" and _count(value) is not None:
                state.groups = _count(value)
            elif key.startswith("Log") and number_or_none(value) is not None:
                state.loglik = (key, value)
        if "|" not in line:
            if line.startswith("LR test") or (
                state.section == "random" and line.startswith("Note")
            ):
                state.section = "done"
            continue
        name, _, rest = (part.strip() for part in line.partition("|"))
        tokens = rest.split()
        if _is_fixed_header(line):
            state.section, state.response = "fixed", name or state.response
            continue
        if tokens[:1] == ["Estimate"] and "Random-effects" in name:
            state.section = "random"
            continue
        if (name or rest) and set(name) <= {"-", "+"} and set(rest) <= {"-", "+"}:
            continue  # a rule
        numbers = [number_or_none(t) for t in tokens]
        if state.section == "fixed":
            if not tokens:  # a label wrapped over lines, a factor variable's name, or a
                label += name  # blank separator row, which ends the label before it
                factor = name if name else ""
                if not name:
                    label = ""
                continue
            values = _fixed_values(numbers, tokens, whole=index != last)
            if values is not None:
                full = label + name
                if name.isdigit():  # a level of the factor variable named above it
                    full = f"{name}.{label or factor}"
                state.fixed.append((full, values))
                label = "" if not name.isdigit() else label
            elif index == last:
                state.cut = (line, "fixed effects")
            else:
                summary.unread.append(f"line {number}: fixed effect not read: {line[:80]!r}")
        elif state.section == "random":
            shape = _STRUCTURE.match(name)
            if shape and not tokens:
                level = shape.group(1)
                state.structures[level] = shape.group(2).capitalize()
                continue
            if index == last and len(tokens) < 2:
                state.cut = (line, "random effects")  # its estimate may be cut in two
            elif numbers and numbers[0] is not None:
                state.random.append((level, name, numbers[0]))
    _finish(summary, state, title, origin[last])
    return summary


def _fixed_values(
    numbers: list[Printed | None], tokens: list[str], whole: bool
) -> list[Printed] | None:
    """A fixed-effect row's estimate, SE, z (or t) and p; None for a row without them.  On
    a printout's last line the p-value is read only where it is whole: a cell after it,
    or Stata's three decimals (``0.000``)."""
    if len(numbers) < 4 or any(n is None for n in numbers[:4]):
        return None
    values = [n for n in numbers[:4] if n is not None]
    if not whole and len(tokens) == 4 and values[3].decimals != 3:
        return values[:3]
    return values


def _finish(summary: Summary, state: _Reading, title: str, stop: int) -> None:
    """The reading made a summary: the estimation, the grouping factor, the criterion,
    the terms, the random part, the formula and where a printout cut short stops."""
    if title:
        summary.estimation = "ML" if " ML " in f" {title} " else "REML"
    elif state.loglik is not None:
        summary.estimation = "REML" if "restricted" in state.loglik[0] else "ML"
    else:
        summary.estimation = STATA.default_method
        summary.notes.append(
            f"the estimation is not printed (no title line): taken as "
            f"{STATA.default_method}, xtmixed's default (mixed's, Stata 13 and later, is ML)"
        )
    levels = list(state.structures)
    group = levels[0] if levels else state.header_group or "group"
    if state.header_group and levels and state.header_group not in levels:
        summary.notes.append(
            f"the header's group variable {state.header_group} is not the random effects' "
            f"level {group}: the random-effects table's name is used"
        )
    if state.groups is not None:
        summary.groups = {group: state.groups}
    if state.loglik is not None:
        criterion_from_loglik(summary, state.loglik[1], "Stata")
    labels = [label for label, _ in state.fixed]
    whole = {p for label in labels for p in _parts(label) if "~" not in p}
    names = [_term(label, whole) for label in labels]
    for term, (_, values) in zip(names, state.fixed, strict=True):
        p_value = values[3] if len(values) > 3 else None
        summary.fixed.append(FixedTerm(term, values[0], values[1], values[2], p_value=p_value))
    residual = _random(summary, state.random, names, group)
    _truncation(summary, state, residual, stop)
    if summary.fixed and summary.random and not summary.truncated:
        if len(levels) > 1:
            summary.notes.append(
                f"random effects at {len(levels)} levels ({', '.join(levels)}): the model is "
                "not rebuilt as a formula; its numbers are matched"
            )
            return
        slopes = [t.name for t in summary.random if t.name != "(Intercept)"]
        terms = [t.term for t in summary.fixed if t.term != "(Intercept)"]
        structure = state.structures.get(group, "Unstructured")
        summary.formula = lme4_formula(
            state.response, terms, slopes, group, correlated=structure == "Unstructured"
        )


def _truncation(summary: Summary, state: _Reading, residual: bool, stop: int) -> None:
    """A printout that stops before its end is graded on what it holds, and says where it
    stops: inside a row (which is not read), before its fixed effects, after them, or
    inside its random effects (no residual row)."""
    if state.cut is not None:
        row, table = state.cut
        summary.truncated = True
        summary.notes.append(
            f"the printout stops at line {stop} inside a row of its {table} ({row!r}): the "
            "row is not read; "
            + ("graded on what it holds" if summary.fixed else "no fixed effect to grade")
        )
    elif not summary.fixed and state.section in ("header", "fixed"):
        summary.truncated = True
        summary.notes.append(
            f"the printout stops at line {stop} before its fixed effects: nothing to grade"
        )
    elif summary.fixed and not summary.random and not residual:
        mark_truncated(summary)
    elif state.section == "random" and not residual:
        summary.truncated = True
        summary.notes.append(
            f"the printout stops at line {stop} inside its random effects (no residual): "
            "graded on what it holds"
        )


def _parts(label: str) -> list[str]:
    """The variables of a Stata coefficient's label (``1.schtype#c.grp_cent~s``)."""
    out = []
    for part in label.split("#"):
        part = re.sub(r"^c\.", "", part)
        level = re.match(r"^(\d+)\.(.+)$", part)
        out.append(level.group(2) if level and level.group(1) == "1" else part)
    return out


def _term(label: str, whole: set[str] | None = None) -> str:
    """lme4's name of a Stata coefficient: ``_cons``, ``c.a#c.b``, ``1.schtype``; an
    abbreviated variable (``grp_cent~s``) as the one whole name it abbreviates."""
    if label == "_cons":
        return "(Intercept)"
    return ":".join(_unabbreviated(p, sorted(whole or ())) for p in _parts(label))


def _unabbreviated(name: str, names: list[str]) -> str:
    """The term a Stata abbreviation (``grp_cen~s``) stands for: the one name with that
    beginning and end."""
    if "~" not in name:
        return name
    head, tail = name.split("~", 1)
    found = [n for n in names if n.startswith(head) and n.endswith(tail)]
    return found[0] if len(found) == 1 else name


def _random(
    summary: Summary, random: list[tuple[str, str, Printed]], names: list[str], group: str
) -> bool:
    """The random-effects rows as the neutral form's terms, each in the level the table
    names above it (``group`` where it names none), the intercept first in each level as
    lme4 prints it, a covariance or correlation with the term printed before it; True when
    the residual's row is read."""
    effects: dict[tuple[str, str], dict[str, Printed]] = {}  # (level, name) -> var and/or sd
    pairs: list[tuple[str, str, str, str, Printed]] = []
    residual = False
    for level, label, value in random:
        one, two = _VAR.match(label), _COV.match(label)
        if one and one.group(2) == "Residual":
            residual = True
            if one.group(1) == "var":
                summary.residual_variance = value
            else:
                summary.residual_sd = value
        elif one:
            key = (level or group, _unabbreviated(one.group(2), names))
            effects.setdefault(key, {})[one.group(1)] = value
        elif two:
            a, b = (_unabbreviated(x.strip(), names) for x in two.groups()[1:])
            pairs.append((two.group(1), level or group, a, b, value))
    keys = list(effects)
    levels = list(dict.fromkeys(level for level, _ in keys))
    order = sorted(keys, key=lambda k: (levels.index(k[0]), k[1] != "_cons", keys.index(k)))
    for level, name in order:
        term = RandomTerm(
            level,
            "(Intercept)" if name == "_cons" else _term(name),
            effects[level, name].get("var"),
            effects[level, name].get("sd"),
        )
        for kind, where, a, b, value in pairs:
            if where == level and name in (a, b):
                other = (where, b if name == a else a)
                if other in order and order.index(other) < order.index((level, name)):
                    (term.covariances if kind == "cov" else term.correlations).append(value)
        summary.random.append(term)
    return residual


STATA = Program(
    name="Stata",
    block_label="mixed",
    title="Stata mixed / xtmixed",
    prints="variances",
    default_method="REML",
    never_prints=VARIANCES_ONLY,
    tolerance={"random.*": 1e-4, "residual.*": 1e-5},
)


READER = Reader(
    name="Stata output",
    programs=(STATA,),
    recognises=recognises,
    parse=parse,
    order=40,
)
