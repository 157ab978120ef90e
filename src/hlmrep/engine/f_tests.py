"""F tests of the fixed-effect terms, as lmerTest's ``anova()`` prints them.

A term's hypothesis is a contrast matrix L (H0: Lβ = 0) built as lmerTest builds it
(Kuznetsova, Brockhoff & Christensen 2017, JSS 82(13), §3.3):

- **type I** (sequential): the rows of the term's columns in t(L), L the unit lower
  triangle of the Doolittle decomposition of X'X (lmerTest's ``get_contrasts_type1``):
  each term adjusted for the terms before it;
- **type II**: each term's columns made orthogonal to the terms that do not contain it
  (lmerTest's containment, :func:`_contains`): L = (M₁X₂)⁺X, X₂ the term's columns and M₁
  the projection off the other terms' (lmerTest's ``get_contrasts_type2``);
- **type III** (SAS's, the default): each term's columns of L = ginv(X)·X_full, X_full
  every term coded in full (:func:`~hlmrep.engine.design.full_term_coding`), made
  orthogonal to the terms that contain it, highest order first (lmerTest's
  ``extract_contrasts_type3``; a model with one column or one term gets type I's).

Each L is then tested with Satterthwaite's df (:meth:`SatterthwaiteIngredients.f_test`)
or Kenward–Roger's (:meth:`KenwardRogerAdjustment.f_test`, REML fits only), and printed as
lmerTest's ``contestMD`` tabulates it: Mean Sq = F·σ̂² (KR: the unscaled F), Sum Sq =
Mean Sq · NumDF.  The test against R is tests/engine/test_small_sample.py.

lme4's own ``anova()`` of one fit (no lmerTest) is another sequential table, without
denominator df: Sum Sq of a term is Σ (R_X β)_j² over its columns, R_X the Cholesky factor
of X'V⁻¹X (Bates et al. 2015, JSS 67(1), eq. 18), F its mean square over σ̂²
(:func:`lme4_anova`).  It differs from lmerTest's type I, which takes its contrasts from the
unweighted X'X.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hlmrep.engine.design import full_term_coding, term_label
from hlmrep.engine.r_print import DIGITS, format_pvalues, r_format, significance_stars, zapsmall
from hlmrep.errors import ModelSpecificationError

if TYPE_CHECKING:
    from hlmrep.engine.design import DesignMatrices
    from hlmrep.engine.formula import Term
    from hlmrep.engine.kenward_roger import KenwardRogerAdjustment
    from hlmrep.engine.model import LmmResult
    from hlmrep.engine.satterthwaite import SatterthwaiteIngredients

#: The denominator-df methods, by the names the command line and lmerTest use.
METHODS = {"satterthwaite": "Satterthwaite's", "kenward-roger": "Kenward-Roger's"}
#: The types of hypotheses, as lmerTest's headings name them.
ROMAN = {1: "I", 2: "II", 3: "III"}
#: Doolittle's and lmerTest's zero: entries below this are set to 0.
DOOLITTLE_EPS = 1e-6


@dataclass(frozen=True)
class FRow:
    """One term of the table."""

    term: str
    sum_sq: float
    mean_sq: float
    num_df: int
    den_df: float
    f_value: float
    p_value: float

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class AnovaTable:
    """lmerTest's ``anova(fit, type = , ddf = )``."""

    type: int
    method: str
    rows: tuple[FRow, ...]
    #: each term's hypothesis matrix, (rows, p), over the fixed effects
    hypotheses: dict[str, np.ndarray]

    @property
    def heading(self) -> str:
        roman = ROMAN[self.type]
        return f"Type {roman} Analysis of Variance Table with {METHODS[self.method]} method"

    def to_dict(self) -> dict[str, object]:
        return {
            "type": self.type,
            "method": self.method,
            "rows": [row.to_dict() for row in self.rows],
        }

    def format(self) -> str:
        """The table as R's ``print.anova`` prints it (``printCoefmat`` at 5 digits: Sum
        Sq, Mean Sq, NumDF and DenDF zapped and formatted a column at a time, F rounded to
        4 decimals, p-values by ``format.pval`` at 4 digits, significance stars)."""
        header = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]
        columns = [
            r_format(zapsmall(np.array([r.sum_sq for r in self.rows]), DIGITS)),
            r_format(zapsmall(np.array([r.mean_sq for r in self.rows]), DIGITS)),
            r_format(zapsmall(np.array([float(r.num_df) for r in self.rows]), DIGITS)),
            r_format(zapsmall(np.array([r.den_df for r in self.rows]), DIGITS)),
            r_format(np.round(np.array([r.f_value for r in self.rows]), DIGITS - 1)),
            format_pvalues([r.p_value for r in self.rows], DIGITS - 1),
        ]
        show_stars = any(r.p_value < 0.1 for r in self.rows)
        names = [r.term for r in self.rows]
        name_width = max([len(n) for n in names], default=0)
        widths = [
            max([len(h), *(len(c) for c in col)]) for h, col in zip(header, columns, strict=True)
        ]
        lines = [self.heading]
        lines.append(
            " " * name_width
            + "".join(f" {h:>{w}}" for h, w in zip(header, widths, strict=True))
            + (" " * 4 if show_stars else "")
        )
        for i, row in enumerate(self.rows):
            cells = "".join(f" {col[i]:>{w}}" for col, w in zip(columns, widths, strict=True))
            stars = f" {significance_stars(row.p_value):<3}" if show_stars else ""
            lines.append(f"{row.term:<{name_width}}{cells}{stars}")
        if show_stars:
            lines += ["---", "Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1"]
        return "\n".join(lines)


def _doolittle_lower(x: np.ndarray, eps: float = DOOLITTLE_EPS) -> np.ndarray:
    """The unit lower-triangular L of x = LU, entries below ``eps`` zeroed (lmerTest's
    ``doolittle``, a pivot below ``eps`` giving a zero column)."""
    n = x.shape[0]
    L = np.eye(n)
    U = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            U[i, j] = x[i, j] - L[i, :i] @ U[:i, j]
        for j in range(i + 1, n):
            value = x[j, i] - L[j, :i] @ U[:i, i]
            L[j, i] = 0.0 if abs(U[i, i]) < eps else value / U[i, i]
    L[np.abs(L) < eps] = 0.0
    return L


def _term_columns(design: DesignMatrices) -> dict[str, list[int]]:
    """Each fixed term's columns of X, by label (lmerTest's ``term2colX``)."""
    assert design.fixed_terms is not None
    labels = [term_label(term) for term in design.fixed_terms.terms]
    out: dict[str, list[int]] = {label: [] for label in labels}
    for j, column in enumerate(design.fixed_columns):
        if column.factors:
            out[":".join(variable for variable, _ in column.factors)].append(j)
    return out


def contrasts_type1(design: DesignMatrices) -> dict[str, np.ndarray]:
    """Each term's sequential hypothesis (see the module)."""
    X = design.X
    p = X.shape[1]
    L = np.ones((1, 1)) if p == 1 else _doolittle_lower(X.T @ X).T
    return {term: L[columns] for term, columns in _term_columns(design).items()}


def _contains(design: DesignMatrices) -> dict[str, list[str]]:
    """For each term, the terms that contain it: its variables and more, the added ones
    all factors (lmerTest's ``containment``)."""
    assert design.fixed_terms is not None
    terms = design.fixed_terms.terms
    values = design.variable_values

    def numeric(term: Term) -> set[str]:
        return {v.label for v in term if values[v][1] is None}

    out = {}
    for term in terms:
        names = {v.label for v in term}
        out[term_label(term)] = [
            term_label(other)
            for other in terms
            if names <= {v.label for v in other}
            and len({v.label for v in other} - names) > 0
            and numeric(term) == numeric(other)
        ]
    return out


def contrasts_type3(design: DesignMatrices) -> dict[str, np.ndarray]:
    """Each term's type III hypothesis (see the module)."""
    assert design.fixed_terms is not None
    X = design.X
    terms = design.fixed_terms.terms
    if X.shape[1] <= 1 or len(terms) <= 1:
        return contrasts_type1(design)
    full, full_names = full_term_coding(design)
    L = zapsmall((np.linalg.pinv(X) @ full).T)  # (columns of X_full, p)
    columns = _term_columns(design)
    contained_in = _contains(design)
    order = sorted(range(len(terms)), key=lambda k: -len(terms[k]))  # stable: R's order()
    for k in order:
        label = term_label(terms[k])
        containing = [j for other in contained_in[label] for j in columns[other]]
        if containing:
            x = L[:, containing]
            y = L[:, columns[label]]
            coefficients = np.linalg.lstsq(x, y, rcond=None)[0]
            L[:, columns[label]] = zapsmall(y - x @ coefficients)
    rows = {name: i for i, name in reversed(list(enumerate(full_names)))}
    try:
        L = L[[rows[name] for name in design.fixed_names]]
    except KeyError as missing:
        raise ModelSpecificationError(
            f"type III hypotheses: column {missing} of X has no full-coding column"
        ) from None
    out = {}
    for term in terms:
        label = term_label(term)
        hypothesis = L[:, columns[label]].T
        out[label] = hypothesis[np.sum(np.abs(hypothesis), axis=1) > 1e-8]
    return out


def contrasts_type2(design: DesignMatrices) -> dict[str, np.ndarray]:
    """Each term's type II hypothesis (see the module): the term adjusted for every term
    that does not contain it, marginal over those that do."""
    assert design.fixed_terms is not None
    X = design.X
    columns = _term_columns(design)
    contained_in = _contains(design)
    intercept = [j for j, column in enumerate(design.fixed_columns) if not column.factors]
    out = {}
    for label, own in columns.items():
        others = set(contained_in[label]) | {label}
        rest = intercept + [j for other, cs in columns.items() if other not in others for j in cs]
        X2 = X[:, own]
        if rest:
            X1 = X[:, rest]
            X2 = X2 - X1 @ np.linalg.lstsq(X1, X2, rcond=None)[0]
        hypothesis = zapsmall(np.linalg.pinv(X2) @ X)
        out[label] = hypothesis[np.sum(np.abs(hypothesis), axis=1) > 1e-8]
    return out


CONTRASTS = {1: contrasts_type1, 2: contrasts_type2, 3: contrasts_type3}


def anova(
    result: LmmResult,
    type: int = 3,
    method: str = "satterthwaite",
    satterthwaite_parts: SatterthwaiteIngredients | None = None,
    adjustment: KenwardRogerAdjustment | None = None,
) -> AnovaTable:
    """lmerTest's ``anova(fit, type = , ddf = )`` for every fixed term (see the module).

    ``satterthwaite_parts`` and ``adjustment``: the fit's Satterthwaite ingredients or KR
    adjustment when already computed (several tables of one fit share them)."""
    from scipy.special import fdtrc  # F tail; scipy.stats would add 0.3 s

    if type not in CONTRASTS:
        raise ModelSpecificationError(f"anova type {type}: expected 1, 2 or 3 (I, II or III)")
    if method not in METHODS:
        raise ModelSpecificationError(
            f"denominator df {method!r}: expected one of {', '.join(METHODS)}"
        )
    design = result.design
    hypotheses = CONTRASTS[type](design)
    beta = result.solution.beta
    sigma2 = result.sigma2
    rows = []
    if method == "kenward-roger":
        from hlmrep.engine.kenward_roger import kenward_roger

        if adjustment is None:
            adjustment = kenward_roger(result)
        for term, L in hypotheses.items():
            test = adjustment.f_test(L, beta)
            mean_sq = test.f_unscaled * sigma2
            rows.append(
                FRow(term, mean_sq * test.numerator_df, mean_sq, test.numerator_df,
                     test.denominator_df, test.f_value, test.p_value)
            )  # fmt: skip
    else:
        from hlmrep.engine.satterthwaite import ingredients

        parts = ingredients(result) if satterthwaite_parts is None else satterthwaite_parts
        for term, L in hypotheses.items():
            f_value, q, den_df = parts.f_test(L, beta)
            p_value = float(fdtrc(q, den_df, f_value)) if q else math.nan
            mean_sq = f_value * sigma2
            rows.append(FRow(term, mean_sq * q, mean_sq, q, den_df, f_value, p_value))
    return AnovaTable(type=type, method=method, rows=tuple(rows), hypotheses=hypotheses)


@dataclass(frozen=True)
class SequentialRow:
    """One term of lme4's ``anova()`` of a fit: no denominator df, no p-value."""

    term: str
    npar: int
    sum_sq: float
    mean_sq: float
    f_value: float


def lme4_anova(result: LmmResult) -> tuple[SequentialRow, ...]:
    """lme4's ``anova()`` of one fit (``anova.merMod``; see the module): each term's
    sequential sum of squares from R_X β, in the order of the formula's terms."""
    solution = result.solution
    p = len(solution.beta)
    effects = solution.decomposition.schur_chol[p, :p]  # R_X β (R_X'·R_X β = X'V⁻¹y)
    rows = []
    for term, columns in _term_columns(result.design).items():
        sum_sq = math.fsum(float(effects[j]) ** 2 for j in columns)
        mean_sq = sum_sq / len(columns)
        rows.append(SequentialRow(term, len(columns), sum_sq, mean_sq, mean_sq / result.sigma2))
    return tuple(rows)
