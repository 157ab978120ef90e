"""lmerTest's ``ranova()``: likelihood-ratio tests of the random-effect terms, one at a time.

Each row refits the model with one random term reduced, as lmerTest's ``get_newforms``
does (Kuznetsova, Brockhoff & Christensen 2017, JSS 82(13), §5): a covariate ``x`` of
``(1 + x | g)`` is dropped from the bar term, which becomes ``(1 | g)`` ("x in (1 + x | g)",
its variance and its covariances together); a bar term with the intercept alone is removed,
and with no random term left the model is a linear model (R's ``lm``).  lme4 writes
``(1 + x || g)`` as ``(1 | g) + (0 + x | g)``, so there each variance is its own term.  The
reduced model is fitted on the same rows by the same criterion (REML or ML) and the table
is lmerTest's ``mk_LRtab``: npar, logLik, AIC, LRT = 2(ℓ − ℓ_reduced), its df and the χ²
p-value (not halved: lmerTest's, though a variance tested at 0 is on its boundary).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hlmrep.engine.design import term_label

if TYPE_CHECKING:
    import pandas as pd

    from hlmrep.engine.model import LmmResult


@dataclass(frozen=True)
class RanovaRow:
    """One row: the model (``<none>``) or one reduction of it."""

    term: str
    npar: int
    loglik: float
    aic: float
    lrt: float | None = None
    df: int | None = None
    p_value: float | None = None

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RanovaTable:
    """lmerTest's ``ranova(fit)``."""

    model: str
    rows: tuple[RanovaRow, ...]

    def to_dict(self) -> dict[str, object]:
        return {"model": self.model, "rows": [row.to_dict() for row in self.rows]}

    def format(self) -> str:
        """The table as R prints it (``print.anova`` of lmerTest's table)."""
        from hlmrep.engine.r_print import (
            DIGITS,
            format_pvalues,
            r_format,
            significance_stars,
            zapsmall,
        )

        def column(values: list[float | None]) -> list[str]:
            present = [v for v in values if v is not None]
            texts = iter(r_format(zapsmall(np.array(present, dtype=float), DIGITS)))
            return ["" if v is None else next(texts) for v in values]

        p_values = [r.p_value for r in self.rows]
        formatted = iter(format_pvalues([p for p in p_values if p is not None], DIGITS - 1))
        columns = [
            [str(r.npar) for r in self.rows],
            column([r.loglik for r in self.rows]),
            column([r.aic for r in self.rows]),
            column([r.lrt for r in self.rows]),
            ["" if r.df is None else str(r.df) for r in self.rows],
            ["" if p is None else next(formatted) for p in p_values],
        ]
        header = ["npar", "logLik", "AIC", "LRT", "Df", "Pr(>Chisq)"]
        show_stars = any(p is not None and p < 0.1 for p in p_values)
        width = max(len(r.term) for r in self.rows)
        widths = [
            max([len(h), *(len(c) for c in col)]) for h, col in zip(header, columns, strict=True)
        ]
        lines = [
            "ANOVA-like table for random-effects: Single term deletions",
            "",
            "Model:",
            self.model,
            " " * width
            + "".join(f" {h:>{w}}" for h, w in zip(header, widths, strict=True))
            + (" " * 4 if show_stars else ""),
        ]
        for i, row in enumerate(self.rows):
            cells = "".join(f" {col[i]:>{w}}" for col, w in zip(columns, widths, strict=True))
            stars = ""
            if show_stars:
                stars = f" {significance_stars(row.p_value) if row.p_value is not None else '':<3}"
            lines.append(f"{row.term:<{width}}{cells}{stars}")
        if show_stars:
            lines += ["---", "Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1"]
        return "\n".join(lines)


def _linear_model_loglik(y: np.ndarray, X: np.ndarray, reml: bool) -> float:
    """R's ``logLik.lm`` (REML: ``logLik(fit, REML = TRUE)``): the log-likelihood of the
    least-squares fit, by REML less ½ log|X'X| with n − p in place of n."""
    coefficients = np.linalg.lstsq(X, y, rcond=None)[0]
    rss = float(np.sum((y - X @ coefficients) ** 2))
    n = len(y) - (X.shape[1] if reml else 0)
    value = 0.5 * (-n * (math.log(2 * math.pi) + 1 - math.log(n) + math.log(rss)))
    if reml:
        value -= 0.5 * float(np.linalg.slogdet(X.T @ X)[1])
    return value


def _reductions(result: LmmResult) -> list[tuple[str, str | None]]:
    """Each row's name and its reduced random part (``"1 + x | g"``; None: none left)."""
    formula = result.specification.formula
    group = formula.group
    labels = [term_label(term) for term in formula.random.terms]
    intercept = formula.random.intercept
    if result.specification.covariance == "diagonal":
        names = (["(1 | " + group + ")"] if intercept else []) + [
            f"{label} in (0 + {label} | {group})" for label in labels
        ]
        out: list[tuple[str, str | None]] = []
        for k, name in enumerate(names):
            kept = [label for j, label in enumerate(["1"] * intercept + labels) if j != k]
            if not kept:
                out.append((name, None))
            else:
                lhs = " + ".join(kept if "1" in kept else ["0", *kept])
                out.append((name, f"{lhs} || {group}"))
        return out
    lhs_text = _written_lhs(formula.text)
    if not labels:
        return [(f"({lhs_text or '1'} | {group})", None)]
    out = []
    for label in labels:
        kept = [other for other in labels if other != label]
        lhs = " + ".join(["1" if intercept or not kept else "0", *kept])
        out.append((f"{label} in ({lhs_text} | {group})", f"{lhs} | {group}"))
    return out


def ranova(result: LmmResult, data: pd.DataFrame) -> RanovaTable:
    """lmerTest's ``ranova(fit)`` (see the module): ``data`` the table the fit read."""
    from scipy.special import chdtrc  # χ² tail; scipy.stats would add 0.3 s

    from hlmrep.engine.model import fit

    formula = result.specification.formula
    rows_used = data.loc[result.design.row_index]
    fixed = formula.fixed_text()
    reml = result.reml
    levels = dict(result.specification.reference_levels)
    rows = [RanovaRow("<none>", result.npar, result.loglik, -2 * result.loglik + 2 * result.npar)]
    for name, random_part in _reductions(result):
        if random_part is None:
            loglik = _linear_model_loglik(result.design.y, result.design.X, reml)
            npar = result.design.X.shape[1] + 1
        else:
            reduced = fit(
                f"{formula.response} ~ {fixed} + ({random_part})",
                rows_used,
                reml=reml,
                reference_levels=levels,
            )
            loglik, npar = reduced.loglik, reduced.npar
        lrt = 2 * (result.loglik - loglik)
        df = result.npar - npar
        p_value = float(chdtrc(df, lrt)) if df > 0 else math.nan
        rows.append(RanovaRow(name, npar, loglik, -2 * loglik + 2 * npar, lrt, df, p_value))
    # R's update() orders the model's terms by degree, a bar term being of degree one: the
    # main effects, the random part, then the interactions.
    main = [term_label(t) for t in formula.fixed.terms if len(t) == 1]
    higher = [term_label(t) for t in formula.fixed.terms if len(t) > 1]
    intercept = [] if formula.fixed.intercept or main else ["0"]
    model = f"{formula.response} ~ " + " + ".join(
        [*intercept, *main, _random_text(result), *higher]
    )
    return RanovaTable(model=model, rows=tuple(rows))


def _random_text(result: LmmResult) -> str:
    """The random part as lmerTest prints the model: lme4's expansion of ``||``."""
    formula = result.specification.formula
    labels = [term_label(term) for term in formula.random.terms]
    if result.specification.covariance == "diagonal":
        parts = (["(1 | " + formula.group + ")"] if formula.random.intercept else []) + [
            f"(0 + {label} | {formula.group})" for label in labels
        ]
        return " + ".join(parts)
    return f"({_written_lhs(formula.text)} | {formula.group})"


def _written_lhs(text: str) -> str:
    """The random term's left-hand side as written (``1 + cses`` of ``(1 + cses | school)``,
    ``Days`` of ``(Days | Subject)``), spaced as R deparses it: lmerTest names rows by it."""
    bar = text.rfind("|")
    if bar < 0:
        return "1"
    depth, start = 0, 0
    for k in range(bar - 1, -1, -1):
        if text[k] == ")":
            depth += 1
        elif text[k] == "(":
            if depth == 0:
                start = k + 1
                break
            depth -= 1
    written = text[start:bar].rstrip("|")
    return " + ".join(piece.strip() for piece in written.split("+") if piece.strip()) or "1"
