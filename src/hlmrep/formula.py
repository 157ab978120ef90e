"""lme4-style mixed-model formulas turned into design matrices.

Only the random-effects bar, ``( terms | group )``, is handled here; the fixed and
random design matrices themselves are built by formulaic, so ``*``, ``:``, ``0 +``,
``- 1`` and categorical coding behave as in R.  Column names are then renamed to
lme4's (``(Intercept)``, ``sectorCatholic``, ``cses:sectorCatholic``) so that results
line up with lme4's printed output name for name.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import formulaic
import numpy as np
import pandas as pd

from hlmrep.errors import ModelSpecificationError

_BAR_TERM = re.compile(r"\(([^()|]*)(\|\|?)([^()|]*)\)")
_NAME = re.compile(r"`[^`]+`|[A-Za-z_.][A-Za-z0-9_.]*")
_FORMULAIC_LEVEL = re.compile(r"\[(?:T\.)?([^\]]+)\]")


@dataclass(frozen=True)
class MixedFormula:
    """A parsed ``response ~ fixed + (random | group)`` formula."""

    text: str
    response: str
    fixed: str
    random: str
    group: str


@dataclass(frozen=True)
class DesignMatrices:
    """Everything the deviance needs, with lme4 names and the rows actually used."""

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


def parse_formula(text: str) -> MixedFormula:
    """Split an lme4 formula into response, fixed part, random part and grouping factor.

    Exactly one bar term is supported: one grouping factor with an unstructured
    covariance, which is what the HSB models need.  Anything else is refused with a
    message rather than silently fitted as a different model.
    """
    if "~" not in text:
        raise ModelSpecificationError(f"formula {text!r} has no '~': expected 'y ~ x + (x | g)'")
    lhs, rhs = (part.strip() for part in text.split("~", 1))
    if not lhs:
        raise ModelSpecificationError(f"formula {text!r} has no response left of '~'")
    bars = list(_BAR_TERM.finditer(rhs))
    if not bars:
        raise ModelSpecificationError(
            f"formula {text!r} has no random-effects term such as '(1 | school)'"
        )
    if len(bars) > 1:
        raise ModelSpecificationError(
            f"formula {text!r} has {len(bars)} random-effects terms; one term with one "
            "grouping factor and an unstructured covariance is supported, e.g. '(x | g)'"
        )
    bar = bars[0]
    if bar.group(2) == "||":
        raise ModelSpecificationError(
            f"formula {text!r} uses '||' (uncorrelated random effects), which is not supported; "
            "use '|' for an unstructured covariance"
        )
    random = bar.group(1).strip() or "1"
    group = bar.group(3).strip().strip("`")
    if not re.fullmatch(r"[A-Za-z_.][A-Za-z0-9_.]*", group):
        raise ModelSpecificationError(
            f"grouping factor {group!r} in {text!r} must be a single column name"
        )
    before, after = rhs[: bar.start()].rstrip(), rhs[bar.end() :].lstrip()
    if before.endswith("+"):
        before = before[:-1].rstrip()
    elif after.startswith("+"):
        after = after[1:].lstrip()
    fixed = f"{before} {after}".strip()
    if not fixed or fixed.startswith("-"):
        fixed = f"1 {fixed}".strip()
    if not fixed:
        fixed = "1"
    return MixedFormula(text=text, response=lhs.strip("`"), fixed=fixed, random=random, group=group)


def _quote_dotted_names(expression: str, columns: pd.Index) -> str:
    """Backtick-quote column names containing dots (R's ``mean.ses``) for formulaic."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token.startswith("`"):
            return token
        return f"`{token}`" if "." in token and token in columns else token

    return _NAME.sub(replace, expression)


def referenced_columns(expression: str, columns: pd.Index) -> list[str]:
    """Columns of the data that a formula expression names, in order of appearance."""
    found: list[str] = []
    for token in _NAME.findall(expression):
        name = token.strip("`")
        if name in columns and name not in found:
            found.append(name)
    return found


def lme4_name(formulaic_name: str) -> str:
    """``Intercept`` -> ``(Intercept)``; ``sector[T.Catholic]`` -> ``sectorCatholic``."""
    if formulaic_name == "Intercept":
        return "(Intercept)"
    return _FORMULAIC_LEVEL.sub(lambda m: m.group(1), formulaic_name.replace("`", ""))


def _apply_reference_levels(data: pd.DataFrame, reference_levels: dict[str, str]) -> pd.DataFrame:
    data = data.copy()
    for column, reference in reference_levels.items():
        if column not in data.columns:
            raise ModelSpecificationError(
                f"reference level given for {column!r}, which is not a column of the data"
            )
        values = data[column]
        levels = (
            list(values.cat.categories)
            if isinstance(values.dtype, pd.CategoricalDtype)
            else sorted(values.dropna().astype(str).unique())
        )
        if reference not in levels:
            raise ModelSpecificationError(
                f"reference level {reference!r} is not a level of {column!r} (levels: {levels})"
            )
        ordered = [reference, *(level for level in levels if level != reference)]
        data[column] = pd.Categorical(
            values.astype(str) if not isinstance(values.dtype, pd.CategoricalDtype) else values,
            categories=ordered,
        )
    return data


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
    used = [formula.response, formula.group]
    for part in (formula.fixed, formula.random):
        used += [c for c in referenced_columns(part, columns) if c not in used]
    _check_unknown_names(formula, columns)
    if reference_levels:
        data = _apply_reference_levels(data, reference_levels)

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

    try:
        fixed = formulaic.model_matrix(_quote_dotted_names(formula.fixed, columns), data)
        random = formulaic.model_matrix(_quote_dotted_names(formula.random, columns), data)
    except Exception as error:  # formulaic raises many types; say which part failed
        raise ModelSpecificationError(
            f"could not build the design matrices of {formula.text!r}: {error}"
        ) from error
    X = np.asarray(fixed, dtype=float)
    Z = np.asarray(random, dtype=float)
    fixed_names = [lme4_name(c) for c in fixed.columns]
    random_names = [lme4_name(c) for c in random.columns]
    if X.shape[1] == 0:
        raise ModelSpecificationError(f"formula {formula.text!r} has no fixed effects")
    _check_full_rank(X, fixed_names, formula.text)

    codes, levels = pd.factorize(data[formula.group], sort=True)
    if len(levels) < 2:
        raise ModelSpecificationError(
            f"grouping factor {formula.group!r} has {len(levels)} level(s); "
            "a mixed model needs at least 2 groups"
        )
    return DesignMatrices(
        y=data[formula.response].to_numpy(dtype=float),
        X=X,
        Z=Z,
        group_index=codes.astype(np.intp),
        group_levels=[str(level) for level in levels],
        fixed_names=fixed_names,
        random_names=random_names,
        response=formula.response,
        group=formula.group,
        n_dropped=n_dropped,
        row_index=data.index,
    )


_FORMULA_WORDS = {
    "C",
    "I",
    "np",
    "log",
    "exp",
    "sqrt",
    "center",
    "scale",
    "poly",
    "bs",
    "contr",
    "treatment",
    "sum",
    "levels",
    "base",
    "True",
    "False",
    "None",
}


def _check_unknown_names(formula: MixedFormula, columns: pd.Index) -> None:
    """Name the unknown column before formulaic gives a less direct error."""
    for part in (formula.fixed, formula.random):
        stripped = re.sub(r"'[^']*'|\"[^\"]*\"", "", part)
        for token in _NAME.findall(stripped):
            name = token.strip("`")
            if name in columns or name in _FORMULA_WORDS or re.fullmatch(r"[0-9.]+", name):
                continue
            if "." in name and name.split(".")[0] in _FORMULA_WORDS:
                continue
            raise ModelSpecificationError(
                f"formula {formula.text!r} names {name!r}, which is not a column of the data "
                f"(columns: {list(columns)})"
            )


def _check_full_rank(X: np.ndarray, names: list[str], formula_text: str) -> None:
    """Refuse a rank-deficient X, naming the columns that depend on the others."""
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
