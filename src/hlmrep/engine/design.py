"""The design matrices of a parsed formula, built with R's rules.

Terms are ordered by degree; a factor is coded by treatment contrasts where its margin is
in the model and by indicators otherwise; columns carry lme4's names (``(Intercept)``,
``sectorCatholic``, ``cses:sectorCatholic``); the allow-listed transformations of the
grammar (:data:`~hlmrep.engine.formula.FUNCTIONS`) are evaluated here with NumPy on the
column's values.  lme4's ``mkReTrms`` and ``model.matrix``, beside the grammar of
:mod:`~hlmrep.engine.formula` (its ``lFormula``).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hlmrep.engine.collation import r_sorted
from hlmrep.engine.formula import (
    FUNCTIONS,
    MAX_MAGNITUDE,
    MixedFormula,
    Node,
    Term,
    TermSet,
    Variable,
    refusal,
)
from hlmrep.errors import ModelSpecificationError


@dataclass(frozen=True)
class Column:
    """One design column: the (variable, level) factors it multiplies; level None = numeric."""

    name: str
    factors: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class DesignMatrices:
    """Everything the deviance needs, with lme4 names and the rows actually used.

    ``level2`` says, for each fixed column, which random coefficient's level-2 model it
    belongs to (``level2_coefficient``, −1 for a level-1 covariate with a fixed slope) and
    with which school-level value (``level2_values``, (J, p), the W_j of R&B eq. 4.13).
    """

    y: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    group_index: np.ndarray
    group_levels: list[str]
    fixed_names: list[str]
    random_names: list[str]
    response: str
    group: str
    n_dropped: int
    row_index: pd.Index
    fixed_columns: tuple[Column, ...] = ()
    random_columns: tuple[Column, ...] = ()
    level2_coefficient: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    level2_values: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    #: The fixed part's terms and intercept, and each variable's values on the rows used
    #: (numbers, or a factor's level codes and levels): what the full coding of a term
    #: (:func:`full_term_coding`, for type III hypotheses) is built from.
    fixed_terms: TermSet | None = None
    variable_values: dict[Variable, tuple[np.ndarray, list[str] | None]] = field(
        default_factory=dict, compare=False, repr=False
    )


def _used_codes(values: pd.Series) -> np.ndarray:
    """The category codes a categorical column uses, in its categories' order (missing
    values, code -1, left out): read from the codes, never by boxing each value."""
    codes = values.cat.codes.to_numpy()
    return np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(values.cat.categories)))


def _factor_levels(values: pd.Series) -> list[str] | None:
    """Levels of a categorical column (R's factor), or None for a numeric one."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = values.cat.categories
        return [str(categories[c]) for c in _used_codes(values)]  # drop.unused.levels
    if pd.api.types.is_bool_dtype(values):
        return [str(v).upper() for v in sorted(values.dropna().unique())]
    if pd.api.types.is_numeric_dtype(values):
        return None
    return r_sorted(values.dropna().astype(str).unique())


_ARITHMETIC = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "^": np.power,
}


def _evaluate(node: Node, data: pd.DataFrame, text: str) -> np.ndarray:
    """Value of an arithmetic node on the data: columns, numbers and allowed functions only."""
    kind = node.kind
    if kind == "name":
        values = data[node.value]
        if _factor_levels(values) is not None:
            raise refusal(
                text,
                node.position,
                f"{node.value!r} is not numeric; I() and the transformations take numeric columns",
            )
        return values.to_numpy(dtype=float)
    if kind == "number":
        return np.full(len(data), float(node.value))
    if kind == "paren":
        return _evaluate(node.children[0], data, text)
    if kind == "neg":
        return -_evaluate(node.children[0], data, text)
    if kind == "call":
        inner = _evaluate(node.children[0], data, text)
        function = FUNCTIONS[node.value]
        return inner if function is None else function(inner)
    left = _evaluate(node.children[0], data, text)
    right = _evaluate(node.children[1], data, text)
    return _ARITHMETIC[kind](left, right)


def _variable_columns(
    variable: Variable, data: pd.DataFrame, text: str
) -> tuple[np.ndarray, list[str] | None]:
    """The variable's values: numbers (n,) or, for a factor, its level codes and levels."""
    if variable.is_column:
        values = data[variable.label]
        levels = _factor_levels(values)
        if levels is None:
            return values.to_numpy(dtype=float), None
        if isinstance(values.dtype, pd.CategoricalDtype):
            renumbered = np.full(len(values.cat.categories) + 1, -1, dtype=np.intp)
            renumbered[_used_codes(values)] = np.arange(len(levels))
            return renumbered[values.cat.codes.to_numpy()], levels  # code -1 stays -1
        as_text = (
            values.astype(str).str.upper()
            if pd.api.types.is_bool_dtype(values)
            else (values.astype(str))
        )
        codes = pd.Categorical(as_text, categories=levels).codes
        return codes.astype(np.intp), levels
    with np.errstate(all="ignore"):
        values = _evaluate(variable.node, data, text)
    bad = ~np.isfinite(values)
    if bad.any():
        rows = ", ".join(str(r) for r in data.index[bad][:5])
        raise ModelSpecificationError(
            f"formula {text!r}: {variable.label} is not finite (NaN or infinite) in row(s) "
            f"{rows} of the data; transform only where it is defined"
        )
    return values, None


def _model_matrix(
    terms: TermSet, values: dict[Variable, tuple[np.ndarray, list[str] | None]], n: int
) -> tuple[np.ndarray, list[Column]]:
    """R's ``model.matrix`` for a term set with treatment contrasts (``contr.treatment``).

    A factor in a term is coded by contrasts (its first level dropped) when the term
    without that factor is also in the model (the intercept counts as the empty term),
    and by one indicator per level otherwise (R's rule, Chambers & Hastie 1992, p. 38).
    """
    present = {frozenset(term) for term in terms.terms}
    if terms.intercept:
        present.add(frozenset())
    columns: list[np.ndarray] = []
    names: list[Column] = []
    if terms.intercept:
        columns.append(np.ones(n))
        names.append(Column("(Intercept)", ()))
    for term in terms.terms:
        pieces: list[list[tuple[np.ndarray, str, tuple[str, str | None]]]] = []
        for variable in term:
            data, levels = values[variable]
            if levels is None:
                pieces.append([(data, variable.label, (variable.label, None))])
                continue
            contrasts = frozenset(term) - {variable} in present
            kept = levels[1:] if contrasts else levels
            pieces.append(
                [
                    (
                        (data == levels.index(level)).astype(float),
                        f"{variable.label}{level}",
                        (variable.label, level),
                    )
                    for level in kept
                ]
            )
        # R's column order: the first variable's levels vary fastest.
        for combination in itertools.product(*reversed(pieces)):
            combination = tuple(reversed(combination))
            product = np.ones(n)
            for column, _, _ in combination:
                product = product * column
            columns.append(product)
            names.append(
                Column(":".join(c[1] for c in combination), tuple(c[2] for c in combination))
            )
    # Column-major, as formulaic built them before: X @ β then sums in the same order, so
    # fitted values and bootstrap draws stay bit-identical to earlier results.
    matrix = np.asfortranarray(np.column_stack(columns)) if columns else np.zeros((n, 0))
    return matrix, names


def build_design(
    formula: MixedFormula,
    data: pd.DataFrame,
    reference_levels: dict[str, str] | None = None,
) -> DesignMatrices:
    """Build y, X, Z and the group index, dropping incomplete rows as lme4's na.omit does."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError("data must be a pandas DataFrame")
    columns = data.columns
    for name, role in ((formula.response, "response"), (formula.group, "grouping factor")):
        if name not in columns:
            raise ModelSpecificationError(
                f"{role} {name!r} in formula {formula.text!r} is not a column of the data "
                f"(columns: {list(columns)})"
            )
    for variable in formula.variables:
        for name in variable.columns:
            if name not in columns:
                raise ModelSpecificationError(
                    f"formula {formula.text!r} names {name!r}, which is not a column of the "
                    f"data (columns: {list(columns)})"
                )
    used = formula.columns
    orders = _reference_orders(data, reference_levels) if reference_levels else {}
    # Only the formula's columns are read from here on: copied and recoded alone, never the
    # whole table (a grading catalogue builds some seventy designs from one data set).
    data = data[list(dict.fromkeys(used))]
    if orders:
        data = _apply_reference_levels(data, {c: o for c, o in orders.items() if c in used})

    response = data[formula.response]
    if not pd.api.types.is_numeric_dtype(response) or pd.api.types.is_bool_dtype(response):
        raise ModelSpecificationError(
            f"response {formula.response!r} must be numeric; it has dtype {response.dtype}"
        )
    complete = data[used].notna().all(axis=1)
    n_dropped = int((~complete).sum())
    if n_dropped:
        warnings.warn(
            f"{n_dropped} of {len(data)} rows dropped for missing values in "
            f"{[c for c in used if data[c].isna().any()]} (as lme4's na.omit)",
            stacklevel=3,
        )
    data = data.loc[complete]
    if len(data) == 0:
        raise ModelSpecificationError("no complete rows left to fit")
    for name in used:
        values = data[name]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            infinite = ~np.isfinite(values.to_numpy(dtype=float))
            if infinite.any():
                rows = ", ".join(str(r) for r in data.index[infinite][:5])
                raise ModelSpecificationError(
                    f"column {name!r} has infinite values in row(s) {rows}; expected finite numbers"
                )

    n = len(data)
    values = {v: _variable_columns(v, data, formula.text) for v in formula.variables}
    X, fixed_columns = _model_matrix(formula.fixed, values, n)
    Z, random_columns = _model_matrix(formula.random, values, n)
    fixed_names = [c.name for c in fixed_columns]
    random_names = [c.name for c in random_columns]
    _check_full_rank(X, fixed_names, formula.text)
    if formula.covariance == "diagonal" and "||" in formula.text:
        factors = [c.name for c in random_columns if any(lv is not None for _, lv in c.factors)]
        if factors:
            raise ModelSpecificationError(
                f"formula {formula.text!r}: '||' with a factor ({', '.join(factors)}): lme4 "
                "keeps a factor's columns correlated inside '||' ((1 | g) + (0 + f | g)), "
                "which needs two random-effects terms; use '|' or a numeric coding"
            )

    codes, levels = _group_codes(data[formula.group])
    group_index = codes.astype(np.intp)
    J, q = len(levels), Z.shape[1]
    if J < 2:
        raise ModelSpecificationError(
            f"grouping factor {formula.group!r} has {J} level(s); "
            "a mixed model needs at least 2 groups"
        )
    # lme4's identifiability checks, both "stop" by default (lmerControl).
    if n <= J:
        raise ModelSpecificationError(
            f"formula {formula.text!r}: {n} observations in {J} levels of {formula.group!r}: "
            "the number of levels of each grouping factor must be < the number of "
            "observations (lme4's check.nobs.vs.nlev); the group variance and the residual "
            "variance cannot be told apart"
        )
    if n <= J * q:
        raise ModelSpecificationError(
            f"formula {formula.text!r}: number of observations (={n}) <= number of random "
            f"effects (={J * q}) for term ({' + '.join(random_names)} | {formula.group}); the "
            "random-effects parameters and the residual variance are probably unidentifiable "
            "(lme4's check.nobs.vs.nRE)"
        )
    y = data[formula.response].to_numpy(dtype=float)
    _check_response_varies(y, X, formula)
    coefficient, level2 = _level2_models(
        fixed_columns, random_columns, values, group_index, J, formula
    )
    return DesignMatrices(
        y=y,
        X=X,
        Z=Z,
        group_index=group_index,
        group_levels=[str(level) for level in levels],
        fixed_names=fixed_names,
        random_names=random_names,
        response=formula.response,
        group=formula.group,
        n_dropped=n_dropped,
        row_index=data.index,
        fixed_columns=tuple(fixed_columns),
        random_columns=tuple(random_columns),
        level2_coefficient=coefficient,
        level2_values=level2,
        fixed_terms=formula.fixed,
        variable_values=values,
    )


def term_label(term: Term) -> str:
    """R's label of a term: its variables joined by ``:`` (``cses:sector``)."""
    return ":".join(variable.label for variable in term)


def full_term_coding(design: DesignMatrices) -> tuple[np.ndarray, list[str]]:
    """Every fixed term coded in full, as R's ``model.matrix(~ 0 + term)`` codes it alone
    (a factor by one indicator per level), after an intercept column if the model has
    one: lmerTest's ``get_rdX``, the "rank-deficient X" whose columns type III hypotheses
    are stated on (SAS's estimable functions, Goodnight 1980)."""
    if design.fixed_terms is None:
        raise ModelSpecificationError("this design does not record its terms")
    n = len(design.y)
    blocks, names = [], []
    if design.fixed_terms.intercept:
        blocks.append(np.ones((n, 1)))
        names.append("(Intercept)")
    for term in design.fixed_terms.terms:
        matrix, columns = _model_matrix(TermSet((term,), False), design.variable_values, n)
        blocks.append(matrix)
        names += [c.name for c in columns]
    return (np.hstack(blocks) if blocks else np.zeros((n, 0))), names


def _level2_models(
    fixed: list[Column],
    random: list[Column],
    values: dict[Variable, tuple[np.ndarray, list[str] | None]],
    group_index: np.ndarray,
    n_groups: int,
    formula: MixedFormula,
) -> tuple[np.ndarray, np.ndarray]:
    """Each random coefficient's level-2 model, read off the terms (R&B eqs. 4.13–4.14).

    Fixed column c belongs to random coefficient r when c's factors are r's factors times
    school-level ones (constant within every group): ``cses:meanses`` = cses × MEANSES_j
    belongs to the cses slope with W = MEANSES_j, ``sectorCatholic`` to the intercept with
    W = SECTOR_j, ``(Intercept)`` to the intercept with W = 1.  Where several coefficients
    qualify, the most specific (most factors) is taken.  A column that belongs to none (a
    level-1 covariate with a fixed slope) gets −1.
    """
    by_label = {v.label: v for v in values}
    cache: dict[tuple[str, str | None], np.ndarray | None] = {}

    def school_values(factor: tuple[str, str | None]) -> np.ndarray | None:
        """The factor's value in each group, or None if it varies within a group."""
        if factor not in cache:
            data, levels = values[by_label[factor[0]]]
            if levels is None or factor[1] is None:
                column = np.asarray(data, dtype=float)
            else:
                column = np.asarray(data == levels.index(factor[1]), dtype=float)
            low = np.full(n_groups, np.inf)
            high = np.full(n_groups, -np.inf)
            np.minimum.at(low, group_index, column)
            np.maximum.at(high, group_index, column)
            cache[factor] = low if np.array_equal(low, high) else None
        return cache[factor]

    coefficient = np.full(len(fixed), -1, dtype=np.intp)
    level2 = np.full((n_groups, len(fixed)), np.nan)
    for c, column in enumerate(fixed):
        best = None
        for r, coef in enumerate(random):
            rest = set(column.factors) - set(coef.factors)
            if not set(coef.factors) <= set(column.factors):
                continue
            w = np.ones(n_groups)
            for factor in sorted(rest, key=str):
                school = school_values(factor)
                if school is None:
                    break
                w = w * school
            else:
                if best is None or len(coef.factors) > len(random[best[0]].factors):
                    best = (r, w)
        if best is not None:
            coefficient[c] = best[0]
            level2[:, c] = best[1]
    return coefficient, level2


def _group_codes(values: pd.Series) -> tuple[np.ndarray, list[object]]:
    """Each row's group and the groups in R's factor order (numbers by value, text as R
    sorts it), so conditional modes come in lme4's order."""
    if isinstance(values.dtype, pd.CategoricalDtype) or pd.api.types.is_numeric_dtype(values):
        codes, levels = pd.factorize(values, sort=True)
        return codes, list(levels)
    text = values.astype(str)
    levels = r_sorted(text.unique())
    codes = pd.Categorical(text, categories=levels).codes
    return np.asarray(codes), list(levels)


def _reference_orders(data: pd.DataFrame, reference_levels: dict[str, str]) -> dict[str, list[str]]:
    """Each reference-level column's levels with its reference first (R's ``relevel``),
    checked on the whole data, whether or not this formula reads the column."""
    orders = {}
    for column, reference in reference_levels.items():
        if column not in data.columns:
            raise ModelSpecificationError(
                f"reference level given for {column!r}, which is not a column of the data"
            )
        values = data[column]
        levels = (
            list(values.cat.categories)
            if isinstance(values.dtype, pd.CategoricalDtype)
            else r_sorted(values.dropna().astype(str).unique())
        )
        if reference not in levels:
            raise ModelSpecificationError(
                f"reference level {reference!r} is not a level of {column!r} (levels: {levels})"
            )
        orders[column] = [reference, *(level for level in levels if level != reference)]
    return orders


def _apply_reference_levels(data: pd.DataFrame, orders: dict[str, list[str]]) -> pd.DataFrame:
    """``data`` with each column of ``orders`` a factor whose levels come in that order."""
    data = data.copy()
    for column, ordered in orders.items():
        values = data[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            # The same categories reordered: the codes are renumbered, no value is boxed.
            data[column] = values.cat.reorder_categories(ordered)
        else:
            data[column] = pd.Categorical(values.astype(str), categories=ordered)
    return data


def _check_response_varies(y: np.ndarray, X: np.ndarray, formula: MixedFormula) -> None:
    """Refuse a response the fixed effects fit exactly: every variance would be zero."""
    largest = max(float(np.abs(y).max()), float(np.abs(X).max()))
    if largest > MAX_MAGNITUDE:
        column = formula.response if float(np.abs(y).max()) > MAX_MAGNITUDE else "a fixed effect"
        raise ModelSpecificationError(
            f"formula {formula.text!r}: {column} has values up to {largest:.3g}, whose squares "
            f"overflow double precision; rescale it (divide by a power of ten) and refit"
        )
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    residual = y - X @ coef
    scale = float(np.abs(y).max())  # relative: a response in units of 1e-15 is a response
    if float(np.abs(residual).max()) <= 1e-10 * scale:
        what = (
            f"constant ({y[0]:g} in every row)"
            if np.all(y == y[0])
            else "an exact linear function of the fixed effects"
        )
        raise ModelSpecificationError(
            f"formula {formula.text!r}: the response {formula.response!r} is {what}, so the "
            "residual and random-effect variances cannot be estimated"
        )


def _check_full_rank(X: np.ndarray, names: list[str], formula_text: str) -> None:
    """Refuse a rank-deficient X, naming the columns that depend on the others."""
    if X.shape[1] == 0:
        raise ModelSpecificationError(f"formula {formula_text!r} has no fixed effects")
    rank = np.linalg.matrix_rank(X)
    if rank == X.shape[1]:
        return
    dependent: list[str] = []
    kept: list[int] = []
    for column in range(X.shape[1]):
        if np.linalg.matrix_rank(X[:, [*kept, column]]) > len(kept):
            kept.append(column)
        else:
            dependent.append(names[column])
    raise ModelSpecificationError(
        f"fixed-effects model matrix of {formula_text!r} is rank deficient "
        f"(rank {rank} < {X.shape[1]} columns): {dependent} are linear combinations of "
        "earlier columns; drop or recode them"
    )
