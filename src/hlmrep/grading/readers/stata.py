"""Stata's ``mixed`` (and ``xtmixed``) output read into the neutral form (:mod:`.printout`).

The layout, as Stata 13–18 prints it (Stata's manual, [ME] mixed; public printouts of
these very models, e.g. Methods Consultants' "Estimating HLM Models Using Stata"):

- a header: ``Mixed-effects REML regression`` (or ``ML``), ``Number of obs = 7,185``
  (commas in counts), ``Group variable: schid``, ``Number of groups = 160``,
  ``Log restricted-likelihood = -23357.118`` (or ``Log likelihood``);
- the fixed effects: ``depvar | Coef. Std. Err. z P>|z| [95% Conf. Interval]`` (Stata 17
  and later: ``Coefficient Std. err.``), one row per term, ``_cons`` for the intercept;
  a long interaction's label (``c.meanses#c.grp_cent_ses``) wrapped over lines ending in
  ``|``; a factor variable's levels under its name (``schtype |`` then ``1 | …``);
- the random effects: ``schid: Unstructured`` (or ``Independent``, ``Identity``), then
  ``var(grp_cen~s)``, ``var(_cons)``, ``cov(grp_cen~s,_cons)``, ``var(Residual)``, a long
  name abbreviated with ``~`` as Stata does.

Read into a :class:`~.printout.Summary` (program "Stata"): ``_cons`` is ``(Intercept)``,
``c.a#c.b`` is ``a:b``, level 1 of a 0/1 factor variable is its dummy (``1.schtype`` is
``schtype``), an abbreviated name is the one term name it abbreviates; the model is
rebuilt as an lme4 formula (``||`` for uncorrelated random effects) and fitted like any.
The criterion is −2 × the log (restricted) likelihood, as lme4's; the page says so.  A
printout cut after the fixed effects is graded on what it holds.
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
_STRUCTURE = re.compile(r"^(\S+):\s*(Unstructured|Independent|Identity|Exchangeable)", re.I)
_VAR = re.compile(r"^(var|sd)\((.+)\)$")
_COV = re.compile(r"^(cov|corr)\((.+),(.+)\)$")


def recognises(text: str) -> bool:
    return bool(re.search(r"Mixed-effects (REML|ML) regression", text))


def _count(text: str) -> int | None:
    plain = text.replace(",", "")
    return int(plain) if plain.isdigit() else None


def parse(text: str) -> Parsed:
    lines = text.splitlines()
    parsed = Parsed([], [])
    starts = [i for i, line in enumerate(lines) if _TITLE.match(line.strip())]
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        summary = _summary(lines[start:end], start)
        if summary.fixed:
            parsed.problems += summary.unread
            parsed.blocks.append(summary)
    return parsed


def _summary(lines: list[str], offset: int) -> Summary:
    first = lines[0]
    summary = Summary(
        line=offset + 1, estimation="ML" if " ML " in f" {first} " else "REML", program="Stata"
    )
    group = "group"
    response = "y"
    fixed: list[tuple[str, list[Printed]]] = []
    random: list[tuple[str, Printed]] = []
    structure = "Unstructured"
    section = "header"
    label = ""
    factor = ""
    for number, raw in enumerate(lines, start=offset + 1):
        line = raw.strip()
        found = _GROUP.search(line)
        if found:
            group = found.group(1)
        for key, value in _PAIR.findall(line):
            if key == "Number of obs" and _count(value) is not None:
                summary.n_obs = _count(value)
            elif key == "Number of groups" and _count(value) is not None:
                summary.groups = {group: _count(value) or 0}
            elif key.startswith("Log") and number_or_none(value) is not None:
                criterion_from_loglik(summary, value, "Stata")
        if "|" not in line:
            if line.startswith("LR test") or (section == "random" and line.startswith("Note")):
                section = "done"
            continue
        name, _, rest = (part.strip() for part in line.partition("|"))
        tokens = rest.split()
        if tokens[:1] in (["Coef."], ["Coefficient"]):
            section, response = "fixed", name or response
            continue
        if tokens[:1] == ["Estimate"] and "Random-effects" in name:
            section = "random"
            continue
        if (name or rest) and set(name) <= {"-", "+"} and set(rest) <= {"-", "+"}:
            continue  # a rule
        numbers = [number_or_none(t) for t in tokens]
        if section == "fixed":
            if not tokens:  # a label wrapped over lines, a factor variable's name, or a
                label += name  # blank separator row, which ends the label before it
                factor = name if name else ""
                if not name:
                    label = ""
                continue
            if all(n is not None for n in numbers[:4]) and len(numbers) >= 4:
                full = label + name
                if name.isdigit():  # a level of the factor variable named above it
                    full = f"{name}.{label or factor}"
                fixed.append((full, [n for n in numbers if n is not None]))
                label = "" if not name.isdigit() else label
            else:
                summary.unread.append(f"line {number}: fixed effect not read: {line[:80]!r}")
        elif section == "random":
            shape = _STRUCTURE.match(name)
            if shape and not tokens:
                structure = shape.group(2).capitalize()
                continue
            if numbers and numbers[0] is not None:
                random.append((name, numbers[0]))
    labels = [label for label, _ in fixed]
    whole = {p for label in labels for p in _parts(label) if "~" not in p}
    names = [_term(label, whole) for label in labels]
    for term, (_, values) in zip(names, fixed, strict=True):
        summary.fixed.append(FixedTerm(term, values[0], values[1], values[2], p_value=values[3]))
    _random(summary, random, names, structure)
    if not summary.random and summary.fixed:
        mark_truncated(summary)
    elif summary.fixed:
        slopes = [t.name for t in summary.random if t.name != "(Intercept)"]
        terms = [t.term for t in summary.fixed if t.term != "(Intercept)"]
        summary.formula = lme4_formula(
            response, terms, slopes, group, correlated=structure == "Unstructured"
        )
    return summary


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
    summary: Summary, random: list[tuple[str, Printed]], names: list[str], structure: str
) -> None:
    effects: dict[str, dict[str, Printed]] = {}  # name -> var and/or sd
    pairs: list[tuple[str, str, str, Printed]] = []
    for label, value in random:
        one, two = _VAR.match(label), _COV.match(label)
        if one and one.group(2) == "Residual":
            if one.group(1) == "var":
                summary.residual_variance = value
            else:
                summary.residual_sd = value
        elif one:
            effects.setdefault(_unabbreviated(one.group(2), names), {})[one.group(1)] = value
        elif two:
            a, b = (_unabbreviated(x.strip(), names) for x in two.groups()[1:])
            pairs.append((two.group(1), a, b, value))
    order = sorted(effects, key=lambda n: (n != "_cons", list(effects).index(n)))
    for name in order:
        term = RandomTerm(
            "school",
            "(Intercept)" if name == "_cons" else _term(name),
            effects[name].get("var"),
            effects[name].get("sd"),
        )
        for kind, a, b, value in pairs:
            if name in (a, b):
                other = b if name == a else a
                if other in order and order.index(other) < order.index(name):
                    (term.covariances if kind == "cov" else term.correlations).append(value)
        summary.random.append(term)


STATA = Program(
    name="Stata",
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
