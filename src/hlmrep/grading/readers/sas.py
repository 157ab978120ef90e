"""SAS PROC MIXED output (its listing) read into the neutral form (:mod:`.printout`).

The layout, as SAS/STAT's PROC MIXED prints it (SAS/STAT User's Guide, "The MIXED
Procedure", its output tables; Singer's 1998 "Using SAS PROC MIXED to fit multilevel
models" fits these very HSB models):

- ``Model Information``: ``Dependent Variable``, ``Covariance Structure``
  (``Unstructured``, ``Variance Components``), ``Subject Effect``, ``Estimation Method``
  (``REML``, ``ML``);
- ``Dimensions``: ``Columns in Z Per Subject``, ``Subjects``; ``Number of Observations
  Used``;
- ``Fit Statistics``: ``-2 Res Log Likelihood`` (REML) or ``-2 Log Likelihood`` (ML);
- ``Covariance Parameter Estimates``: ``UN(1,1)  school  8.6810``, … and ``Residual``
  (or, with ``type=vc``, one row per random effect named ``Intercept``, ``cses``);
- ``Solution for Fixed Effects``: ``Effect [level] Estimate  Standard Error  DF  t Value
  Pr > |t|`` with ``<.0001``; a CLASS variable's reference level printed as 0 with ``.``.

The printout names no formula, and an unstructured covariance does not name its
random effects: the random slopes are the fixed effects of level 1 that a subject's
``Columns in Z`` leaves room for, taken in the order of the fixed effects (the usual
``random intercept cses / subject=school type=un``); the page says so.  A CLASS
variable's level is lme4's coding (``sector Catholic`` is ``sectorCatholic``) and its
reference row (0, ``.``) is dropped.  The criterion is ``-2 Res Log Likelihood``, lme4's.
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
    is_number,
    lme4_formula,
    mark_truncated,
    number_or_none,
    printed,
)

TITLE = "The Mixed Procedure"
_UN = re.compile(r"^UN\((\d+),(\d+)\)$")


def recognises(text: str) -> bool:
    return TITLE in text and "Solution for Fixed Effects" in text


def _number(token: str) -> Printed | None:
    """SAS's numbers, ``<.0001`` an upper bound."""
    if token.startswith("<") and is_number(token[1:]):
        return printed(token[1:], "<")
    return number_or_none(token)


def parse(text: str) -> Parsed:
    lines = [line.strip() for line in text.splitlines()]
    parsed = Parsed([], [])
    starts = [i for i, line in enumerate(lines) if line == TITLE]
    # SAS repeats the title on every page: a run starts at its Model Information
    runs = [i for i in starts if any("Model Information" in x for x in lines[i : i + 4])] or starts
    for k, start in enumerate(runs):
        end = runs[k + 1] if k + 1 < len(runs) else len(lines)
        summary = _run(lines[start:end], start)
        if summary.fixed:
            parsed.problems += summary.unread
            parsed.blocks.append(summary)
    return parsed


def _value(lines: list[str], key: str) -> str | None:
    for line in lines:
        if line.startswith(key):
            rest = line[len(key) :].strip()
            return rest or None
    return None


def _run(lines: list[str], offset: int) -> Summary:
    method = (_value(lines, "Estimation Method") or "REML").upper()
    summary = Summary(line=offset + 1, estimation="ML" if method == "ML" else "REML", program="SAS")
    response = _value(lines, "Dependent Variable") or "y"
    subject = _value(lines, "Subject Effect") or "subject"
    structure = _value(lines, "Covariance Structure") or ""
    used = _value(lines, "Number of Observations Used")
    subjects = _value(lines, "Subjects")
    if used and used.isdigit():
        summary.n_obs = int(used)
    if subjects and subjects.isdigit():
        summary.groups = {subject: int(subjects)}
    for key, target in (("-2 Res Log Likelihood", "REML"), ("-2 Log Likelihood", "ML")):
        value = _value(lines, key)
        if value and _number(value) is not None and summary.estimation == target:
            criterion = _number(value)
            assert criterion is not None
            if target == "REML":
                summary.reml_criterion = criterion
            else:
                summary.fit_statistics["deviance"] = criterion
    section = ""
    classes = _classes(lines)
    parameters: list[tuple[str, Printed]] = []
    for number, line in enumerate(lines, start=offset + 1):
        if line.startswith("Covariance Parameter Estimates"):
            section = "covariance"
            continue
        if line.startswith("Solution for Fixed Effects"):
            section = "fixed"
            continue
        if not line or line.startswith(("Cov Parm", "Standard", "Effect", TITLE)):
            continue
        tokens = line.split()
        if section == "covariance":
            estimate = _number(tokens[-1])
            if estimate is None:
                section = ""
                continue
            parameters.append((tokens[0], estimate))
        elif section == "fixed":
            _fixed_row(summary, tokens, number, classes)
    _covariances(summary, parameters)
    summary.notes.append(
        "SAS prints no formula: the model is rebuilt from the fixed effects and the random "
        "effects' count (Columns in Z), its slopes the first level-1 fixed effects"
    )
    if summary.fixed and summary.random:
        slopes = [t.name for t in summary.random if t.name != "(Intercept)"]
        terms = [t.term for t in summary.fixed if t.term != "(Intercept)"]
        summary.formula = lme4_formula(
            response, terms, slopes, subject, correlated="Unstructured" in structure
        )
    elif summary.fixed:
        mark_truncated(summary)
    return summary


def _fixed_row(summary: Summary, tokens: list[str], number: int, classes: set[str]) -> None:
    """``Effect [level ...] Estimate SE DF t p``; a reference level (0 and ``.``) is dropped."""
    values = [_number(t) for t in tokens]
    count = 0
    while count < len(tokens) and (values[-1 - count] is not None or tokens[-1 - count] == "."):
        count += 1
    names = tokens[: len(tokens) - count]
    numbers = values[len(tokens) - count :]
    if not names:
        return
    if len(numbers) >= 5 and all(n is not None for n in numbers[:5]):
        effect = names[0]
        levels = names[1:]
        term = "(Intercept)" if effect == "Intercept" else _lme4_name(effect, levels, classes)
        estimate, se, df, t, p = numbers[:5]
        assert estimate is not None and se is not None and t is not None
        summary.fixed.append(FixedTerm(term, estimate, se, t, df=df, p_value=p))
    elif not (numbers and numbers[0] is not None and numbers[0].value == 0):
        summary.unread.append(f"line {number}: fixed effect not read: {' '.join(tokens)[:80]!r}")


def _lme4_name(effect: str, levels: list[str], classes: set[str]) -> str:
    """``sector Catholic`` → ``sectorCatholic``; ``cses*meanses`` → ``cses:meanses``;
    ``cses*sector Catholic`` → ``cses:sectorCatholic``: each CLASS variable of the effect
    takes the next printed level."""
    level = iter(levels)
    out = []
    for part in effect.split("*"):
        out.append(part + next(level, "") if part in classes else part)
    return ":".join(out)


def _classes(lines: list[str]) -> set[str]:
    """The CLASS variables, from ``Class Level Information`` (``sector 2 Catholic Public``)."""
    out: set[str] = set()
    inside = False
    for line in lines:
        if line.startswith("Class Level Information"):
            inside = True
            continue
        if inside:
            tokens = line.split()
            if tokens[:1] == ["Class"] or not tokens:
                if out and not tokens:
                    break
                continue
            if len(tokens) >= 2 and tokens[1].isdigit():
                out.add(tokens[0])
            else:
                break
    return out


def _covariances(summary: Summary, parameters: list[tuple[str, Printed]]) -> None:
    un: dict[tuple[int, int], Printed] = {}
    named: list[tuple[str, Printed]] = []
    for name, value in parameters:
        match = _UN.match(name)
        if name == "Residual":
            summary.residual_variance = value
        elif match:
            un[int(match.group(1)), int(match.group(2))] = value
        else:
            named.append((name, value))
    from hlmrep.grading.their_model import role_of

    # the random slopes: main effects, SES first (a level-1 predictor), in printed order
    main = [t.term for t in summary.fixed if t.term != "(Intercept)" and ":" not in t.term]
    level1 = sorted(main, key=lambda n: (role_of(n) != "ses", main.index(n)))
    if un:
        size = max(i for i, _ in un)
        names = ["(Intercept)", *level1[: size - 1]]
        for i in range(1, size + 1):
            term = RandomTerm(subject_group(summary), names[i - 1], un.get((i, i)), None)
            term.covariances = [un[i, j] for j in range(1, i) if (i, j) in un]
            summary.random.append(term)
    for name, value in named:
        summary.random.append(
            RandomTerm(
                subject_group(summary), "(Intercept)" if name == "Intercept" else name, value, None
            )
        )


def subject_group(summary: Summary) -> str:
    return next(iter(summary.groups), "subject")


SAS = Program(
    name="SAS",
    title="SAS PROC MIXED",
    prints="variances",
    default_method="REML",
    never_prints=("random.*.sd", "random.corr.*", "residual.sd", "scaled_residuals.*"),
    printed_units={},
    tolerance={},
)


READER = Reader(
    name="SAS output",
    programs=(SAS,),
    recognises=recognises,
    parse=parse,
    order=50,
)
