"""HLM's text output (HLM2 of HLM 6, 7 and 8, the program the book's tables were computed
with) read into the neutral form (:mod:`.printout`).

The layout, as HLM writes ``hlm2.txt`` (and as web pages store it, the columns' spaces
collapsed; SSI's manual, and UCLA's annotated HLM output of the HSB unconditional model):

- the run's specifications: ``Method of estimation: restricted maximum likelihood`` (or
  ``full maximum likelihood``), ``The maximum number of level-1 units = 7185`` and of
  level-2 units, ``The outcome variable is MATHACH``, the level-1 and level-2 models
  (``MATHACH = B0 + B1*(SES) + R``, ``B1 = G10 + G11*(MEANSES) + U1``) and which
  predictors were centred (``SES has been centered around the group mean``);
- the final iteration: ``Sigma_squared =`` (HLM 6) or ``sigma^2 =`` (HLM 7, 8), the ``Tau``
  matrix and ``Tau (as correlations)``, the reliabilities;
- ``Final estimation of fixed effects:`` and again ``(with robust standard errors)``: rows
  ``INTRCPT2, G00`` under headings ``For INTRCPT1, B0`` and ``For SES slope, B1``;
- ``Final estimation of variance components:`` (SD, variance, df, χ², p of each random
  effect, and ``level-1, R``), and ``Deviance =`` with ``Number of estimated parameters``.

Read into a :class:`~.printout.Summary` (program "HLM"): each γ is a term in lme4's
names (``G00`` the intercept, ``G01`` for MEANSES under the intercept is ``MEANSES``,
``G11`` for MEANSES under the SES slope is ``SES:MEANSES``), and the model is written as
the lme4 formula it is (a group-mean-centred predictor named ``<name>_cwc``), so it is
fitted like any formula.  The robust SEs are kept as ``robust_se`` and graded against the
engine's (HLM's CR0 sandwich).  HLM's deviance under REML is −2 × the REML log-likelihood,
lme4's REML criterion; the page says so.  Fortran E-notation (``-2.355840E+004``) is read
as a number.  A printout cut short is read as far as it goes.
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
    lme4_formula,
    mark_truncated,
    number_or_none,
)

_START = re.compile(
    r"(Module:\s+HLM2|SPECIFICATIONS FOR THIS HLM2 RUN|Specifications for this HLM2 run)",
    re.IGNORECASE,
)
_FIXED = re.compile(r"^Final estimation of fixed effects", re.IGNORECASE)
_ROBUST = re.compile(r"with robust standard errors", re.IGNORECASE)
_FOR = re.compile(r"^For\s+(INTRCPT1|(.+?)\s+slope),\s*[BP](\d+)\s*$", re.IGNORECASE)
_GAMMA = re.compile(r"^(\S+?),\s*[GB](\d+)\s+(.*)$")
_VARIANCE = re.compile(r"^(INTRCPT1|(.+?)\s+slope),\s*[UR](\d+)\s+(.*)$", re.IGNORECASE)
_LEVEL1 = re.compile(r"^level-1,\s*[RE]\s+(.*)$", re.IGNORECASE)
_CENTRED = re.compile(r"^(\S+)\s+has been centered around the group mean", re.IGNORECASE)
_UNITS = re.compile(r"maximum number of level-([12]) units\s*=\s*(\d+)", re.IGNORECASE)


def recognises(text: str) -> bool:
    return bool(_START.search(text)) or (
        "Final estimation of fixed effects" in text and "INTRCPT2" in text
    )


#: HLM 7's HTML output writes Greek letters where its text output writes Latin ones.
GREEK = str.maketrans({"β": "B", "γ": "G", "π": "P", "τ": "T", "χ": "X", "²": "2"})


def _latin(line: str) -> str:
    """An HTML output's line as the text output writes it: ``INTRCPT2, γ00`` is
    ``INTRCPT2, G00``, ``σ2 =`` is ``Sigma_squared =``, ``τ`` is ``Tau``, ``u0`` is ``U0``."""
    line = re.sub(r"^σ\s*2?\s*=|^σ²\s*=", "Sigma_squared =", line.strip())
    if line in ("τ", "τ (as correlations)"):
        return line.replace("τ", "Tau")
    line = line.translate(GREEK)
    return re.sub(r",\s*([ur])(\d+)\b", lambda m: f", {m.group(1).upper()}{m.group(2)}", line)


def parse(text: str) -> Parsed:
    """One HLM2 run per ``Specifications`` (or, cut short, per fixed-effects table)."""
    lines = [_latin(line) for line in text.splitlines()]
    starts = [i for i, line in enumerate(lines) if _START.search(line)]
    if not starts:
        starts = [next((i for i, line in enumerate(lines) if _FIXED.match(line)), 0)]
    parsed = Parsed([], [])
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        summary = _run(lines[start:end], start)
        if summary.fixed:
            parsed.problems += summary.unread
            parsed.blocks.append(summary)
    return parsed


def _run(lines: list[str], offset: int) -> Summary:
    summary = Summary(line=offset + 1, estimation="REML", program="HLM")
    text = "\n".join(lines)
    if re.search(r"Method of estimation:\s*full maximum likelihood", text, re.IGNORECASE):
        summary.estimation = "ML"
    for level, count in _UNITS.findall(text):
        if level == "1":
            summary.n_obs = int(count)
        else:
            summary.groups = {"level-2": int(count)}
    outcome = re.search(r"The outcome variable is\s+(\S+)", text)
    centred = {m.group(1).upper() for line in lines if (m := _CENTRED.match(line))}
    fixed: dict[str, dict[str, Printed]] = {}
    robust: dict[str, Printed] = {}
    slopes: list[str] = []
    random: list[tuple[str, Printed, Printed]] = []
    tau: list[list[Printed]] = []
    tau_correlations: list[list[Printed]] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if _FIXED.match(line):
            is_robust = bool(_ROBUST.search(line)) or (
                index + 1 < len(lines) and bool(_ROBUST.search(lines[index + 1]))
            )
            index = _fixed_table(lines, index + 1, fixed, robust if is_robust else None, summary)
            continue
        if line.lower().startswith("final estimation of variance components"):
            index = _variance_table(lines, index + 1, random, summary)
            continue
        if re.fullmatch(r"(?:Tau|tau|τ)(?:\s*\(as correlations\))?", line):
            index = _tau(lines, index + 1, tau_correlations if "correlations" in line else tau)
            continue
        residual = re.match(r"^(?:Sigma_squared|sigma\^2|σ2)\s*=\s*(\S+)", line, re.IGNORECASE)
        if residual and number_or_none(residual.group(1)):
            summary.residual_variance = number_or_none(residual.group(1))
        deviance = re.match(r"^Deviance\s*=?\s*(\S+)", line)
        if deviance and number_or_none(deviance.group(1)):
            value = number_or_none(deviance.group(1))
            assert value is not None
            if summary.estimation == "REML":
                summary.reml_criterion = value
            else:
                summary.fit_statistics["deviance"] = value
            summary.notes.append(
                f"HLM's deviance {value.text} under {summary.estimation} is lme4's "
                + ("REML criterion" if summary.estimation == "REML" else "deviance")
            )
        index += 1

    def named(term: str) -> str:  # a group-mean-centred predictor as <name>_cwc
        return ":".join(f"{p}_cwc" if p.upper() in centred else p for p in term.split(":"))

    for term, values in fixed.items():
        if {"estimate", "std_error", "t_value"} <= set(values):
            summary.fixed.append(FixedTerm(named(term), **values))
            if term in robust:
                summary.robust_se[named(term)] = robust[term]
    for k, (name, sd, variance) in enumerate(random):
        effect = RandomTerm(
            "level-2", "(Intercept)" if name == "(Intercept)" else named(name), variance, sd
        )
        # τ's row k: its covariances (and correlations) with the effects before it
        if k < len(tau):
            effect.covariances = tau[k][:k]
        if k < len(tau_correlations):
            effect.correlations = tau_correlations[k][:k]
        if name != "(Intercept)":
            slopes.append(named(name))
        summary.random.append(effect)
    if outcome and summary.fixed and summary.random:
        # terms already named as above: a group-mean-centred predictor as <name>_cwc,
        # whose role's first variant is then the school-centred one
        terms = [t.term for t in summary.fixed if t.term != "(Intercept)"]
        summary.formula = lme4_formula(outcome.group(1), terms, slopes, "level2")
    if summary.fixed and not summary.random:
        mark_truncated(summary)
    return summary


def _tau(lines: list[str], index: int, rows: list[list[Printed]]) -> int:
    """The rows of a printed τ matrix (``INTRCPT1,B0  2.37956  0.19199``)."""
    while index < len(lines):
        match = re.match(r"^(?:INTRCPT1|.+?)\s*,\s*[BP]\d+\s+(.*)$", lines[index])
        if not match:
            break
        numbers = [number_or_none(t) for t in match.group(1).split()]
        if not numbers or any(n is None for n in numbers):
            break
        rows.append([n for n in numbers if n is not None])
        index += 1
    return index


def _term(slope: str | None, predictor: str) -> str:
    """lme4's name of the γ of ``predictor`` in the model of ``slope`` (None: intercept)."""
    if predictor.upper() == "INTRCPT2":
        return "(Intercept)" if slope is None else slope
    return predictor if slope is None else f"{slope}:{predictor}"


def _fixed_table(
    lines: list[str],
    index: int,
    fixed: dict[str, dict[str, Printed]],
    robust: dict[str, Printed] | None,
    summary: Summary,
) -> int:
    """The rows of one fixed-effects table: γs under ``For ...`` headings, until the
    table's end (a ruled line after rows, or the next section)."""
    slope: str | None = None
    seen_rows = False
    while index < len(lines):
        line = lines[index]
        ruled = bool(line) and set(line) <= {"-"}
        if (seen_rows and ruled) or line.lower().startswith(
            ("final estimation", "statistics for", "the outcome")
        ):
            return index
        heading = _FOR.match(line)
        gamma = _GAMMA.match(line)
        if heading:
            slope = None if heading.group(1).upper() == "INTRCPT1" else heading.group(2)
        elif gamma is not None:
            tokens = gamma.group(3).split()
            numbers = [number_or_none(t) for t in tokens]
            if len(numbers) >= 3 and all(n is not None for n in numbers[:3]):
                term = _term(slope, gamma.group(1))
                if robust is None:
                    values = {
                        "estimate": numbers[0],
                        "std_error": numbers[1],
                        "t_value": numbers[2],
                    }
                    if len(numbers) >= 5 and numbers[3] is not None and numbers[4] is not None:
                        values["df"], values["p_value"] = numbers[3], numbers[4]
                    fixed.setdefault(term, {}).update(values)  # type: ignore[arg-type]
                else:
                    robust[term] = numbers[1]  # type: ignore[assignment]
                seen_rows = True
            else:
                summary.unread.append(f"line {index + 1}: fixed effect not read: {line[:80]!r}")
        index += 1
    return index


def _variance_table(
    lines: list[str], index: int, random: list[tuple[str, Printed, Printed]], summary: Summary
) -> int:
    seen_rows = False
    while index < len(lines):
        line = lines[index]
        if seen_rows and (
            not line
            or set(line) <= {"-"}
            or line.lower().startswith(("statistics for", "deviance", "the outcome"))
        ):
            return index  # a blank or ruled line, or (in an HTML report) the next section
        effect = _VARIANCE.match(line)
        level1 = _LEVEL1.match(line)
        if effect:
            numbers = [number_or_none(t) for t in effect.group(4).split()]
            if len(numbers) >= 2 and numbers[0] is not None and numbers[1] is not None:
                name = "(Intercept)" if effect.group(1).upper() == "INTRCPT1" else effect.group(2)
                random.append((name, numbers[0], numbers[1]))
                seen_rows = True
        elif level1:
            numbers = [number_or_none(t) for t in level1.group(1).split()]
            if len(numbers) >= 2 and numbers[0] is not None and numbers[1] is not None:
                summary.residual_sd, summary.residual_variance = numbers[0], numbers[1]
                seen_rows = True
        index += 1
    return index


HLM = Program(
    name="HLM",
    title="HLM 6-8 (hlm2)",
    prints="variances and SDs",
    default_method="REML",
    never_prints=("scaled_residuals.*",),
    printed_units={"random.corr.*": 0.001},
    tolerance={},
)


READER = Reader(
    name="HLM output",
    programs=(HLM,),
    recognises=recognises,
    parse=parse,
    order=30,
)
