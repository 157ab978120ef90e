"""The neutral form of a submitted printout: what any reader of a program's output
produces, and all the grader sees.

A reader (:mod:`.readers.lme4` for R; one module per program or container, registered in
:mod:`.formats`) turns a printout into :class:`Parsed`: its blocks, what could not be read,
and what was read but is not graded.  The blocks are

- :class:`Summary`: one fitted model as its program printed it: formula (or the model
  rebuilt from the printed terms), estimation, n and groups, fixed effects (estimate, SE,
  df, statistic, p), random effects as printed (variances and SDs, or SDs only; their
  correlations), the residual, the criterion or log-likelihood, AIC and BIC, and the
  program's own notes (``converged``);
- :class:`Anova`: likelihood-ratio tests of nested models, row by row;
- :class:`FTests`: F tests of one fit's fixed terms (lmerTest's and lme4's ``anova()`` of
  one model, afex's ``mixed()``), with their type and denominator-df method;
- :class:`Intervals`: confidence intervals with their method and level;
- :class:`Coefficients`: fixed-effect estimates alone;

and every number keeps the text it was printed as (:class:`Printed`), since a grade
compares it with the reference at the digits it was printed with.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")
#: What R prints for values that are not finite numbers; read as such and graded wrong.
NON_FINITE = {"NaN": math.nan, "NA": math.nan, "Inf": math.inf, "-Inf": -math.inf}
#: Longest token read as a number: R prints at most 22 significant digits and an exponent;
#: longer digit strings are noise (and Python refuses int() of over 4300 digits).
MAX_NUMBER_LENGTH = 40

#: What the tables of tests never show, by kind (:attr:`Anova.kind`); what each program's
#: summary never shows is declared by its reader (:class:`Program`).
TABLE_NOT_PRINTED: dict[str, tuple[str, ...]] = {
    "anova": (),
    "ranova": ("*.BIC", "*.deviance"),
}


@dataclass(frozen=True)
class Program:
    """What a program is, as its reader declares it: the grade page's name for it, how it
    prints the random part, its default estimation, what it never prints (patterns of
    quantity ids: their absence is not a number left out), the last digit it always prints
    a quantity at (a number is never "too coarse" for printing what its program prints:
    lme4's correlations, 0.01) and how far (relative) its own computation of a quantity may
    be from lme4's and still be its right answer."""

    #: as :attr:`Summary.program` names it ("lme4", "nlme", "HLM", …)
    name: str
    #: as a person names it ("R lme4 / lmerTest", "SAS PROC MIXED")
    title: str
    #: how the random part is printed: "variances and SDs", "SDs", "variances"
    prints: str
    #: the estimation a printout that does not say is taken to use
    default_method: str
    never_prints: tuple[str, ...] = ()
    printed_units: dict[str, float] = field(default_factory=dict)
    tolerance: dict[str, float] = field(default_factory=dict)
    #: quantities printed as one row by R's ``format()`` (a common number of decimals,
    #: enough for the row's neediest value to show that many significant digits), with
    #: the fewest significant digits any option prints them at: a row printed with the
    #: decimals that gives for the reference's values is what the program prints under
    #: the student's options, never too coarse
    row_digits: dict[str, int] = field(default_factory=dict)
    #: significant digits it prints every number at by default (a tibble's 3): a number
    #: printed so is never too coarse (0: it prints decimals, not significant digits)
    significant_digits: int = 0
    #: how a page names one of its printed fits ("summary()", "PROC MIXED", "tab_model()")
    block_label: str = "summary()"
    #: its estimates maximise the likelihood times a prior (blme's ``blmer``): a penalised
    #: fit, not the REML or ML estimates, whose numbers differ where the prior pulls them
    penalised: bool = False


def r_format_decimals(values: list[float], digits: int) -> int:
    """The decimals R's ``format()`` gives a row of numbers at ``digits`` significant
    digits: each value's own need (its ``digits`` significant digits, trailing zeros
    dropped), the most of them (R's formatReal)."""
    most = 0
    for value in values:
        if value == 0 or not math.isfinite(value):
            continue
        magnitude = math.floor(math.log10(abs(value)))
        mantissa = f"{abs(value) / 10.0**magnitude:.{digits - 1}f}"
        if float(mantissa) >= 10:  # rounding carried into the next power of ten
            magnitude, mantissa = magnitude + 1, "1"
        significant = len(mantissa.replace(".", "").rstrip("0")) or 1
        most = max(most, significant - 1 - magnitude)
    return most


@dataclass(frozen=True)
class Reader:
    """One program's reader: how its printout is recognised in a text (its vocabulary,
    several signals), how it is read into the neutral form, and the programs whose
    summaries it produces.  Every module of :mod:`hlmrep.grading.readers` declares one
    as ``READER``; the registry finds them there."""

    #: as the grade page names the format ("R output", "HLM output")
    name: str
    programs: tuple[Program, ...]
    recognises: Callable[[str], bool]
    parse: Callable[[str], Parsed]
    #: the order readers are tried in (a text holding several is read by each)
    order: int = 50
    #: a text it recognises is its alone (the answer sheet: a CSV file, no printout)
    alone: bool = False


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


def printed(token: str, bound: str = "") -> Printed:
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
    #: None where the printout gives standard deviations only (nlme).
    variance: Printed | None
    #: None where it gives variances only (statsmodels).
    sd: Printed | None
    #: with each earlier term of its group, as printed: correlations (lme4, nlme) or
    #: covariances (statsmodels)
    correlations: list[Printed] = field(default_factory=list)
    covariances: list[Printed] = field(default_factory=list)


@dataclass
class FixedTerm:
    term: str
    estimate: Printed
    #: None where only the estimates are printed (``print()`` of an lmer fit)
    std_error: Printed | None
    t_value: Printed | None
    df: Printed | None = None
    p_value: Printed | None = None


@dataclass
class Summary:
    """One printed ``summary()`` of a fit; ``line`` is where it starts (1-based)."""

    line: int
    estimation: str  # "REML" or "ML"
    #: "lme4" (lme4's or lmerTest's summary of an lmer fit) or "nlme" (summary of an lme fit).
    program: str = "lme4"
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
    #: Rows of its tables that could not be read: the block is then not graded at all.
    unread: list[str] = field(default_factory=list)
    #: What the grade should say about how a number was obtained (nlme's REML criterion).
    notes: list[str] = field(default_factory=list)
    #: the program's own word on its optimizer (statsmodels' ``Converged``); None: unsaid
    converged: bool | None = None
    #: robust (sandwich) standard errors of the fixed effects, by term, where printed (HLM)
    robust_se: dict[str, Printed] = field(default_factory=dict)
    #: the printout stops before its random effects (a page cut short): what it does not
    #: show is neither missing nor a difference
    truncated: bool = False
    #: its last line (1-based), where the reader knows it; 0: up to the next block
    end: int = 0
    #: the t tests' df as lmerTest's title names them: "satterthwaite", "kenward_roger" (its
    #: standard errors are then Kenward-Roger's adjusted ones), "" where no df are printed
    #: or their method is not said
    df_method: str = ""


#: An F table's columns, by the names the quantity ids give them.
F_COLUMNS = ("sum_sq", "mean_sq", "num_df", "den_df", "F", "p")


@dataclass
class FTestRow:
    term: str
    values: dict[str, Printed]  # F_COLUMNS, those printed


@dataclass
class FTests:
    """One printed table of F tests of a fit's fixed terms.

    ``type``: "I", "II" or "III" (the hypotheses); ``method``: "satterthwaite" or
    "kenward_roger" (the denominator df), or "lme4" for lme4's own sequential table,
    which prints no df and no p-value."""

    line: int
    type: str
    method: str
    #: what printed it, as a person names it ("lmerTest's anova()", "afex's mixed()")
    printed_by: str = "lmerTest's anova()"
    rows: list[FTestRow] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    #: its last line (1-based), where the reader knows it; 0: up to the next block
    end: int = 0


@dataclass
class AnovaRow:
    model: str
    values: dict[str, Printed]  # npar, AIC, BIC, logLik, deviance, Chisq, Df, Pr(>Chisq)


@dataclass
class Anova:
    """One printed ``anova()`` table of two or more fits, or one test of ``ranova()``."""

    line: int
    refitted_by_ml: bool
    formulas: dict[str, str] = field(default_factory=dict)
    rows: list[AnovaRow] = field(default_factory=list)
    #: "anova" (two or more fits) or "ranova" (lmerTest: a random term deleted, on REML).
    kind: str = "anova"
    unread: list[str] = field(default_factory=list)
    #: its last line (1-based), where the reader knows it; 0: up to the next block
    end: int = 0


@dataclass
class IntervalRow:
    name: str  # lme4's row name: .sig01, .sigma, (Intercept), ses_cwc
    lower: Printed | None  # None: NA
    upper: Printed | None


@dataclass
class Intervals:
    """One printed ``confint()`` matrix, with its method as the printout shows it: R's
    message ("Computing profile/bootstrap confidence intervals ...") or the call pasted
    before it; Wald when the variance parameters are NA."""

    line: int
    method: str  # "profile", "Wald", "boot" or "" (numbers for every row, no clue which)
    level: float
    nsim: int | None = None  # boot: the call's nsim (lme4's default 500 when not given)
    rows: list[IntervalRow] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    #: its last line (1-based), where the reader knows it; 0: up to the next block
    end: int = 0


@dataclass
class Coefficients:
    """``fixef()`` printed as R prints a named vector: a line of names, a line of values,
    wrapped at the console's width."""

    line: int
    names: list[str] = field(default_factory=list)
    values: list[Printed] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    #: its last line (1-based), where the reader knows it; 0: up to the next block
    end: int = 0


@dataclass
class Reported:
    """Numbers reported for one reference by its name (the answer sheet's rows): each under
    the quantity id the references use (``fixed.cses.estimate``), with the line it is on;
    the sheet names each number's model, so it needs no matching by values."""

    line: int
    target: str
    numbers: dict[str, Printed] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    unread: list[str] = field(default_factory=list)
    #: its last line (1-based), where the reader knows it; 0: up to the next block
    end: int = 0


@dataclass
class Parsed:
    """Every block found, in the order of the text, what could not be read, by line, and
    what was recognised but is not graded."""

    blocks: list[Summary | Anova | FTests | Intervals | Coefficients | Reported]
    problems: list[str]
    not_graded: list[str] = field(default_factory=list)


# ----- what every reader does alike ---------------------------------------------------------
#: What a program that prints variances alone never prints: SDs, correlations (it prints
#: covariances) and the residuals' quantiles.
VARIANCES_ONLY: tuple[str, ...] = (
    "random.*.sd",
    "random.corr.*",
    "residual.sd",
    "scaled_residuals.*",
)


def add_block(
    parsed: Parsed,
    block: Summary | Anova | FTests | Intervals | Coefficients,
    what: str,
    end: int = 0,
) -> None:
    """A block read whole is graded; one with unread rows is named and not graded (a
    block is graded whole or not at all).  ``end`` is the index of the line after it
    (where reading stopped; 0 where the reader does not say)."""
    block.end = end
    parsed.problems += block.unread
    if block.unread:
        parsed.problems.append(
            f"line {block.line}: {what} not read whole ({len(block.unread)} row(s) not "
            "read): not graded"
        )
    parsed.blocks.append(block)


def number_or_none(token: str) -> Printed | None:
    """A printed number, or None for a cell that is not one (``.``, a label)."""
    return printed(token) if is_number(token) else None


def lme4_formula(
    response: str,
    terms: list[str],
    slopes: list[str],
    group: str,
    correlated: bool = True,
    intercept: bool = True,
) -> str:
    """A model rebuilt from a printout's terms as the lme4 formula it is: ``||`` for
    uncorrelated random effects (a program's variance components / independent
    structure), the fixed part ``1`` when only the intercept is printed."""
    bar = "|" if correlated or not slopes else "||"
    random = " + ".join(["1" if intercept else "0", *slopes])
    return f"{response} ~ {' + '.join(terms) or '1'} + ({random} {bar} {group})"


def mark_truncated(summary: Summary) -> None:
    """A printout that stops after its fixed effects: graded on what it holds."""
    summary.truncated = True
    summary.notes.append("the printout stops after the fixed effects: graded on what it holds")


def criterion_from_loglik(
    summary: Summary, text: str, program: str, label: str = "log likelihood"
) -> None:
    """A program that prints the log (restricted) likelihood, not lme4's criterion: the
    criterion is −2 × it, with its decimals (``-23251.834`` → ``46503.668``), said so in
    the program's word for it (``label``)."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    criterion = printed(f"{-2 * float(text):.{decimals}f}")
    summary.fit_statistics["logLik"] = printed(text)
    if summary.estimation == "REML":
        summary.reml_criterion = criterion
    else:
        summary.fit_statistics["deviance"] = criterion
    summary.notes.append(
        f"{'REML criterion' if summary.estimation == 'REML' else 'deviance'} {criterion.text} "
        f"is −2 × the printed {label} {text} ({program} prints no criterion)"
    )
