"""HLM's text output (HLM2 of HLM 6, 7 and 8, the program the book's tables were computed
with) read into the neutral form (:mod:`.printout`).

The layout, as HLM writes ``hlm2.txt`` (and as web pages store it, the columns' spaces
collapsed; SSI's manual, and UCLA's annotated HLM output of the HSB unconditional model),
one run after another, each in this order:

- the run's specifications: ``Method of estimation: restricted maximum likelihood`` (or
  ``full maximum likelihood``), ``The maximum number of level-1 units = 7185`` and of
  level-2 units, ``The outcome variable is MATHACH``, the level-1 and level-2 models
  (``MATHACH = B0 + B1*(SES) + R``, ``B1 = G10 + G11*(MEANSES) + U1``) and which
  predictors were centred (``SES has been centered around the group mean``);
- the final iteration: ``Sigma_squared =`` (HLM 6) or ``sigma^2 =`` (HLM 7, 8), the ``Tau``
  matrix and ``Tau (as correlations)``, the reliabilities, and ``The value of the
  (log-)likelihood function at iteration 61 = -2.325183E+004``;
- ``Final estimation of fixed effects:`` and again ``(with robust standard errors)``: rows
  ``INTRCPT2, G00`` under headings ``For INTRCPT1, B0`` and ``For SES slope, B1``;
- ``Final estimation of variance components:`` (SD, variance, df, χ², p of each random
  effect, and ``level-1, R``), and ``Deviance =`` with ``Number of estimated parameters``.

Real printouts are rarely whole: a web page shows one table of a run, or two runs with
prose between them; a page copy stops anywhere.  So a run is not found by its first line
but by the order of its sections: a section that comes earlier in a run than one already
seen (or a table seen twice) begins the next run.  What a run holds is read, and a run
without its deviance (HLM's last line of every run) is marked cut short.  Where the final
variance-component table is cut off, the random effects are τ's diagonal of the last
iteration (the same estimates, at its digits) and σ² is ``Sigma_squared``.

Read into a :class:`~.printout.Summary` (program "HLM"): each γ is a term in lme4's
names (``G00`` the intercept, ``G01`` for MEANSES under the intercept is ``MEANSES``,
``G11`` for MEANSES under the SES slope is ``SES:MEANSES``), and the model is written as
the lme4 formula it is (a group-mean-centred predictor named ``<name>_cwc``), so it is
fitted like any formula.  The robust SEs are kept as ``robust_se`` and graded against the
engine's (HLM's CR0 sandwich).  HLM's deviance under REML is −2 × the REML log-likelihood,
lme4's REML criterion; the page says so.  Fortran E-notation (``-2.355840E+004``), HLM 7's
Greek letters (``γ00``, ``σ²``, ``τ``), a Unicode minus and table cells joined by ``|`` or
given one per line are read as the text output writes them.

Every line is read with string operations and anchored patterns without nested or
adjacent unbounded repeats, so reading is linear in the length of the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

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
    printed,
)

_START = re.compile(
    r"(Module:\s+HLM2|SPECIFICATIONS FOR THIS HLM2 RUN|Specifications for this HLM2 run)",
    re.IGNORECASE,
)
_CENTRED = re.compile(r"^(\S+)\s+has been centered around the group mean", re.IGNORECASE)
_UNITS = re.compile(r"maximum number of level-([12]) units\s*=\s*(\d+)", re.IGNORECASE)
_OUTCOME = re.compile(r"The outcome variable is\s+(\S+)")
_CODE = re.compile(r"[A-Z](\d+)")
_FULL_ML = re.compile(r"\bfull (?:maximum likelihood|ML)\b", re.IGNORECASE)
_REML = re.compile(r"\b(?:restricted maximum likelihood|REML)\b", re.IGNORECASE)

#: HLM 7's HTML output writes Greek letters where its text output writes Latin ones.
GREEK = str.maketrans(
    {"β": "B", "γ": "G", "π": "P", "τ": "T", "χ": "X", "²": "2", "\u2212": "-", "|": " "}
)

#: The sections of a run, in HLM's order (a section before one seen begins a new run).
SPECIFICATIONS, ITERATION, FIXED, ROBUST, VARIANCE, STATISTICS = range(6)
#: sections a run holds more than one line of: their repetition does not begin a new run
_REPEATED = {SPECIFICATIONS, ITERATION, STATISTICS}


def _latin(line: str) -> str:
    """A line as HLM's text output writes it: ``INTRCPT2, γ00`` is ``INTRCPT2, G00``,
    ``σ2 =`` is ``Sigma_squared =``, ``τ`` is ``Tau``, ``u0`` is ``U0``, a Unicode minus
    ``-``; a table's cells joined by ``|`` are columns."""
    line = line.strip()
    if line.startswith("σ"):
        rest = line[1:].lstrip().removeprefix("²").removeprefix("2").lstrip()
        if rest.startswith("="):
            line = "Sigma_squared " + rest
    elif line.startswith("τ") and _is_tau("tau" + line[1:]):
        line = "Tau" + line[1:]
    line = " ".join(line.translate(GREEK).split())
    return re.sub(r",\s?([ur])(\d+)\b", lambda m: f", {m.group(1).upper()}{m.group(2)}", line)


#: A cell that begins a row of a table: a ``For INTRCPT1, B0`` heading, a γ's row
#: (``INTRCPT2, G00``), a random effect's (``INTRCPT1, U0``) and the residual's.
_ROW_CELL = re.compile(
    r"(?:For [A-Z][\w.]*(?: slope)?, [BP]\d+|[A-Z][\w.]*(?: slope)?, [GU]\d+|level-1, [REre])$"
)


def _logical(line: str) -> list[str]:
    """A line whose table cells are joined by ``|`` (an HTML report's tables flattened, a
    whole table on one line) as the text output's lines: a new line at each cell that
    begins a row, the cells between joined as columns."""
    if "|" not in line:
        return [_latin(line)]
    rows: list[list[str]] = [[]]
    for cell in line.split("|"):
        latin = _latin(cell)
        if not latin:
            continue
        if rows[-1] and _ROW_CELL.match(latin):
            rows.append([])
        rows[-1].append(latin)
    return [" ".join(row) for row in rows]


def _lines(text: str) -> tuple[list[str], list[int]]:
    """The text's lines as the text output writes them (:func:`_latin`, :func:`_logical`)
    and the printed line each comes from; the leading ``# `` lines that name a copied
    printout's source are blanked (they are not HLM's, and their words would be read as
    its)."""
    raw = text.splitlines()
    head = 0
    while head < len(raw) and raw[head].startswith("# "):
        head += 1
    lines, origin = [""] * head, list(range(1, head + 1))
    for number, line in enumerate(raw[head:], start=head + 1):
        logical = _logical(line)
        lines += logical
        origin += [number] * len(logical)
    return lines, origin


def _value_after_equals(line: str) -> Printed | None:
    """The number after ``=`` on a line (``Sigma_squared = 36.72116``)."""
    tokens = line.partition("=")[2].split()
    return printed(tokens[0]) if tokens and is_number(tokens[0]) else None


def _is_tau(line: str) -> bool:
    """The heading of the τ matrix (or of its correlations), by itself on its line."""
    return line.lower().replace(" ", "") in ("tau", "tau(ascorrelations)")


def _is_sigma(line: str) -> bool:
    return line.lower().startswith(("sigma_squared", "sigma^2", "sigma squared")) and "=" in line


def _is_likelihood(line: str) -> bool:
    low = line.lower()
    return low.startswith("the value of the") and "likelihood function" in low and "=" in low


def _section(lines: list[str], index: int) -> int | None:
    """Which section of a run ``lines[index]`` begins or belongs to, if any."""
    line = lines[index]
    low = line.lower()
    if _START.search(line):
        return SPECIFICATIONS
    if _is_sigma(line) or _is_tau(line) or _is_likelihood(line):
        return ITERATION
    if low.startswith("final estimation of fixed effects"):
        following = lines[index + 1].lower() if index + 1 < len(lines) else ""
        return ROBUST if "robust" in low or "robust standard errors" in following else FIXED
    if low.startswith("final estimation of variance components"):
        return VARIANCE
    if low.startswith(("statistics for current", "statistics for the current")) or (
        low.startswith("deviance") and "=" in low
    ):
        return STATISTICS
    return None


#: HLM's own words, several of which a printout of it holds (never one alone).
_SIGNALS = (
    lambda low: "final estimation of fixed effects" in low,
    lambda low: "final estimation of variance components" in low,
    lambda low: "intrcpt1" in low or "intrcpt2" in low,
    lambda low: "\nsigma_squared =" in low or "\nsigma^2 =" in low,
    lambda low: "\ntau\n" in low or "\ntau (as correlations)" in low,
    lambda low: "random level-1 coefficient" in low or "reliability estimate" in low,
    lambda low: "level-1 units" in low or "level-2 units" in low,
    lambda low: "likelihood function at iteration" in low,
    lambda low: "statistics for current covariance components model" in low,
    lambda low: "number of estimated parameters" in low,
)


def recognises(text: str) -> bool:
    """HLM by its vocabulary: a specifications heading of HLM2, or at least two of its
    words (a web page's copy of one table of its output has no heading)."""
    normal = "\n" + "\n".join(_lines(text)[0]) + "\n"
    if _START.search(normal):
        return True
    low = normal.lower()
    return sum(1 for signal in _SIGNALS if signal(low)) >= 2


@dataclass
class _Run:
    """Where one run is: its first and last section line, and the text that is its own
    (after the previous run's last section line), where a page says its method."""

    start: int
    last: int
    own: int


def _runs(lines: list[str]) -> list[_Run]:
    """The runs in the text, each begun by a section that comes no later in HLM's order
    than the one before it (a table seen again, or a run's first lines after another's
    deviance)."""
    runs: list[_Run] = []
    rank = -1
    for index in range(len(lines)):
        section = _section(lines, index)
        if section is None:
            continue
        if runs and (section > rank or (section == rank and section in _REPEATED)):
            runs[-1].last = index
        else:
            own = runs[-1].last + 1 if runs else 0
            runs.append(_Run(index, index, own))
        rank = section
    return runs


def parse(text: str) -> Parsed:
    """Each HLM2 run in the text, read as far as it goes."""
    lines, origin = _lines(text)
    parsed = Parsed([], [])
    runs = _runs(lines)
    text_end = next((i + 1 for i in range(len(lines) - 1, -1, -1) if lines[i]), 0)
    for k, run in enumerate(runs):
        end = runs[k + 1].start if k + 1 < len(runs) else len(lines)
        summary = _read_run(lines, origin, run, end, text_end)
        if summary.fixed or summary.random or summary.residual_variance is not None:
            parsed.problems += summary.unread
            parsed.blocks.append(summary)
    return parsed


def _estimation(lines: list[str], run: _Run) -> tuple[str, str]:
    """The run's estimation and where it is said: its specifications, else the text
    around it (a web page's "We use full maximum likelihood"), else HLM's default."""
    text = " ".join(lines[run.own : run.last + 1])
    said = text.lower().find("method of estimation:")
    if said >= 0:
        stated = text[said : said + 60].lower()
        return ("ML" if "full" in stated else "REML"), ""
    full, restricted = _FULL_ML.search(text), _REML.search(text)
    if full and (restricted is None or full.start() < restricted.start()):
        return "ML", f"ML as the text around the printout says ({full.group(0)!r})"
    if restricted:
        return "REML", f"REML as the text around the printout says ({restricted.group(0)!r})"
    return "REML", "the method is not printed: HLM's default, REML, is assumed"


@dataclass
class _State:
    """What a run's tables hold, before it is named as lme4 names it."""

    #: each table's rows by the γ's name in lme4's terms (before centring is said)
    fixed: dict[str, FixedTerm] = field(default_factory=dict)
    robust: dict[str, FixedTerm] = field(default_factory=dict)
    random: list[tuple[str, Printed, Printed]] = field(default_factory=list)
    tau: list[tuple[str, list[Printed]]] = field(default_factory=list)
    tau_correlations: list[tuple[str, list[Printed]]] = field(default_factory=list)
    #: the index after the text's last line that is not blank: a row cut there is where
    #: the page stops, not a row that could not be read
    text_end: int = 0
    #: the printed line of each of the reader's lines (a flattened table is several)
    origin: list[int] = field(default_factory=list)
    deviance: bool = False
    cut: bool = False


def _read_run(lines: list[str], origin: list[int], run: _Run, end: int, text_end: int) -> Summary:
    """One run, lines ``run.start`` to ``end`` (printed on lines ``origin[run.start]`` and
    after): its sections in any order, each read where it is found."""
    summary = Summary(line=origin[run.start], estimation="REML", program="HLM")
    summary.estimation, said = _estimation(lines, run)
    if said:
        summary.notes.append(said)
    block = lines[run.start : end]
    text = "\n".join(block)
    for level, count in _UNITS.findall(text):
        if level == "1":
            summary.n_obs = int(count)
        else:
            summary.groups = {"level-2": int(count)}
    outcome = _OUTCOME.search(text)
    centred = {m.group(1).upper() for line in block if (m := _CENTRED.match(line))}
    state = _State(text_end=text_end, origin=origin)
    index = run.start
    while index < end:
        line = lines[index]
        section = _section(lines, index)
        if section in (FIXED, ROBUST):
            table = state.robust if section == ROBUST else state.fixed
            index = _fixed_table(lines, index + 1, end, table, summary, state)
            continue
        if section == VARIANCE:
            index = _variance_table(lines, index + 1, end, state, summary)
            continue
        if _is_tau(line):
            rows = state.tau_correlations if "correlations" in line else state.tau
            index = _tau(lines, index + 1, end, rows)
            continue
        _statistic(line, summary, state)
        index += 1
    _name(summary, state, centred, outcome.group(1) if outcome else None)
    return summary


def _statistic(line: str, summary: Summary, state: _State) -> None:
    """σ², the likelihood of the last iteration, the deviance and the number of
    parameters, each from its own line."""
    low = line.lower()
    if _is_sigma(line):
        value = _value_after_equals(line)
        if value is not None:
            summary.residual_variance = value
    elif _is_likelihood(line):
        value = _value_after_equals(line)
        if value is not None:
            summary.fit_statistics["logLik"] = value
            summary.notes.append(
                f"the log likelihood {value.text} is HLM's likelihood at its last iteration"
                + (" (the REML log likelihood)" if summary.estimation == "REML" else "")
            )
    elif low.startswith("deviance") and "=" in line:
        value = _value_after_equals(line)
        if value is None:
            return
        state.deviance = True
        if summary.estimation == "REML":
            summary.reml_criterion = value
        else:
            summary.fit_statistics["deviance"] = value
        summary.notes.append(
            f"HLM's deviance {value.text} under {summary.estimation} is lme4's "
            + ("REML criterion" if summary.estimation == "REML" else "deviance")
        )
    elif low.startswith("number of estimated parameters"):
        value = _value_after_equals(line)
        if value is not None:
            summary.fit_statistics["npar"] = value


def _cell(token: str) -> Printed | None:
    """A table cell as a number: ``0.000``, ``-2.246446E+003``, HLM 7's ``<0.001`` and
    HLM's ``>.500`` (bounds of a p-value)."""
    bound = token[0] if token[:1] in ("<", ">") else ""
    number = token[len(bound) :]
    return printed(number, bound) if is_number(number) else None


def _row(
    lines: list[str], index: int, end: int, want: int
) -> tuple[str, str, list[Printed | None], int]:
    """A labelled row (``INTRCPT2, G00 12.095997 0.198733 ...``): its label, its code
    (``G00``), its cells, and the index after it.  A table flattened one cell per line
    (or cut into lines) continues on the lines after it that hold only numbers, up to
    ``want`` cells."""
    label, _, rest = lines[index].partition(",")
    tokens = rest.split()
    if not tokens and index + 1 < end:  # a cell a line: ``MEANSES,`` then ``G01`` below
        below = lines[index + 1].split()
        if below and _CODE.fullmatch(below[0]):
            tokens = below
            index += 1
    code = tokens.pop(0) if tokens else ""
    cells: list[Printed | None] = [_cell(t) for t in tokens]
    index += 1
    while len(cells) < want and index < end:
        more = lines[index].split()
        found = [_cell(t) for t in more]
        if not more or any(n is None for n in found):
            break
        cells += found
        index += 1
    return label.strip(), code, cells, index


def _fixed_table(
    lines: list[str],
    index: int,
    end: int,
    table: dict[str, FixedTerm],
    summary: Summary,
    state: _State,
) -> int:
    """The rows of one fixed-effects table: γs under ``For ...`` headings, until the
    table's end (a ruled line after rows, or the next section)."""
    slope: str | None = None
    seen_rows = False
    while index < end:
        line = lines[index]
        ruled = bool(line) and set(line) <= {"-"}
        low = line.lower()
        if (seen_rows and ruled) or low.startswith(
            ("final estimation", "statistics for", "the outcome")
        ):
            return index
        if low.startswith("for ") and "," in line:
            label = line[4:].partition(",")[0].strip()
            slope = None if label.upper() == "INTRCPT1" else label.removesuffix(" slope")
            index += 1
            continue
        if "," not in line:
            index += 1
            continue
        label, code, cells, after = _row(lines, index, end, 5)
        if not (code[:1] in "GB" and _CODE.fullmatch(code) and " " not in label):
            index += 1
            continue
        estimate, std_error, t_value, df, p_value = (cells + [None] * 5)[:5]
        if estimate is not None and std_error is not None and t_value is not None:
            term = _term(slope, label)
            table[term] = FixedTerm(term, estimate, std_error, t_value, df, p_value)
            seen_rows = True
        elif after >= state.text_end:
            state.cut = True  # the page stops inside this row
        else:
            summary.unread.append(
                f"line {state.origin[index]}: fixed effect not read: {line[:80]!r}"
            )
        index = after
    return index


def _variance_table(lines: list[str], index: int, end: int, state: _State, summary: Summary) -> int:
    """The rows of the final variance components: each random effect's SD and variance
    (then df, χ², p) and ``level-1, R``'s."""
    seen_rows = False
    while index < end:
        line = lines[index]
        if seen_rows and (
            not line
            or set(line) <= {"-"}
            or line.lower().startswith(("statistics for", "deviance", "the outcome"))
        ):
            return index  # a blank or ruled line, or (in an HTML report) the next section
        if "," not in line:
            index += 1
            continue
        label, code, cells, after = _row(lines, index, end, 5)
        level1 = label.lower() == "level-1" and code.upper() in ("R", "E")
        effect = code[:1] == "U" and bool(_CODE.fullmatch(code))
        if not (level1 or effect):
            index += 1
            continue
        if len(cells) >= 2 and cells[0] is not None and cells[1] is not None:
            if level1:
                summary.residual_sd, summary.residual_variance = cells[0], cells[1]
            else:
                name = "(Intercept)" if label.upper() == "INTRCPT1" else label
                state.random.append((name.removesuffix(" slope"), cells[0], cells[1]))
            seen_rows = True
        elif after >= state.text_end:
            state.cut = True  # the page stops inside this row
        index = after
    return index


#: a τ row flattened one cell per line continues over every line of numbers after it
_ANY = 10**6


def _tau(lines: list[str], index: int, end: int, rows: list[tuple[str, list[Printed]]]) -> int:
    """The rows of a printed τ matrix (``INTRCPT1,B0  2.37956  0.19199``): each row's
    effect and numbers."""
    while index < end and "," in lines[index]:
        label, code, cells, after = _row(lines, index, end, _ANY)
        if not (_CODE.fullmatch(code) and code[:1] in "BP") or not cells:
            break
        if any(n is None for n in cells):
            break
        rows.append((label, [n for n in cells if n is not None]))
        index = after
    return index


def _term(slope: str | None, predictor: str) -> str:
    """lme4's name of the γ of ``predictor`` in the model of ``slope`` (None: intercept)."""
    if predictor.upper() == "INTRCPT2":
        return "(Intercept)" if slope is None else slope
    return predictor if slope is None else f"{slope}:{predictor}"


def _name(summary: Summary, state: _State, centred: set[str], outcome: str | None) -> None:
    """The run's tables as lme4 names them, its model as the formula it is, and how far
    the printout goes."""

    def named(term: str) -> str:  # a group-mean-centred predictor as <name>_cwc
        return ":".join(f"{p}_cwc" if p.upper() in centred else p for p in term.split(":"))

    for term, row in state.fixed.items():
        summary.fixed.append(replace(row, term=named(term)))
        robust_se = state.robust[term].std_error if term in state.robust else None
        if robust_se is not None:
            summary.robust_se[named(term)] = robust_se
    robust_only = [term for term in state.robust if term not in state.fixed]
    for term in robust_only:
        # only the robust table printed: its SE is the one this printout gives
        summary.fixed.append(replace(state.robust[term], term=named(term)))
        if (robust_se := state.robust[term].std_error) is not None:
            summary.robust_se[named(term)] = robust_se
    if robust_only:
        summary.notes.append(
            "only the table with robust standard errors is printed: its SEs, t-ratios and "
            "p-values stand as the fixed effects' (the model-based ones are not shown)"
        )
    slopes: list[str] = []
    for k, (name, sd, variance) in enumerate(state.random):
        effect = RandomTerm(
            "level-2", "(Intercept)" if name == "(Intercept)" else named(name), variance, sd
        )
        # τ's row k: its covariances (and correlations) with the effects before it
        if k < len(state.tau):
            effect.covariances = state.tau[k][1][:k]
        if k < len(state.tau_correlations):
            effect.correlations = state.tau_correlations[k][1][:k]
        if name != "(Intercept)":
            slopes.append(named(name))
        summary.random.append(effect)
    if outcome and summary.fixed and summary.random:
        # terms already named as above: a group-mean-centred predictor as <name>_cwc,
        # whose role's first variant is then the school-centred one
        terms = [t.term for t in summary.fixed if t.term != "(Intercept)"]
        summary.formula = lme4_formula(outcome, terms, slopes, "level2")
    if not summary.random and state.tau:
        # the final table cut off: τ of the last iteration holds the same estimates
        for k, (label, tau_row) in enumerate(state.tau):
            name = "(Intercept)" if label.upper() == "INTRCPT1" else named(label)
            diagonal = tau_row[k] if k < len(tau_row) else None
            effect = RandomTerm("level-2", name, diagonal, None, covariances=tau_row[:k])
            if k < len(state.tau_correlations):
                effect.correlations = state.tau_correlations[k][1][:k]
            summary.random.append(effect)
        summary.notes.append(
            "the random effects' variances are τ of the last iteration (the table of "
            "variance components is not in the printout)"
        )
    if state.deviance and not state.cut:
        return  # HLM's last lines of a run: nothing of it is missing
    if summary.fixed and not state.random:
        mark_truncated(summary)
        return
    summary.truncated = True
    summary.notes.append(
        "the printout stops "
        + ("before the fixed effects" if not state.random else "before the deviance")
        + ": graded on what it holds"
    )


HLM = Program(
    name="HLM",
    block_label="HLM2 run",
    title="HLM 6-8 (hlm2)",
    prints="variances and SDs",
    default_method="REML",
    never_prints=("scaled_residuals.*",),
    printed_units={"random.corr.*": 0.001},
    # HLM stops when the likelihood changes by less than its convergence criterion (1e-6
    # by default: "Iterations stopped due to small change in likelihood function"), a few
    # iterations in for a random intercept: its variances, and the SEs and t-ratios that
    # follow from them, are that close to the optimum (Table 4.2's τ 8.61431 against
    # 8.61398; a t-ratio of 51.704 against 51.7075)
    tolerance={"random.*": 1e-4, "residual.*": 1e-4, "fixed.*.se": 1e-4, "fixed.*.t": 1e-4},
)


READER = Reader(
    name="HLM output",
    programs=(HLM,),
    recognises=recognises,
    parse=parse,
    order=30,
)
