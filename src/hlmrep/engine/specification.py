"""A model, said once: its formula, the covariance of its random effects, REML or ML, and
the codings of its factors.

Every part of the engine that needs to know what is fitted reads it from here: the fit
(which θ elements are free), the printout (lme4's groups and names), the record and a fit
restored from it, the bootstrap's simulate-and-refit, the profile intervals (lme4's
``.sig01`` … parameters) and the formula handed to R.  That is lme4's ``Covariance`` and
MixedModels.jl's ``ReMat`` in one small object: with one grouping factor, the random part
is one term whose relative covariance factor T is either lower triangular (``(x | g)``,
unstructured) or diagonal (``(x || g)``, lme4's ``(1 | g) + (0 + x | g)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from hlmrep.engine.design import DesignMatrices, build_design
from hlmrep.engine.deviance import relative_covariance_factor, theta_layout
from hlmrep.engine.formula import COVARIANCES, MixedFormula, parse_formula
from hlmrep.errors import ModelSpecificationError


@dataclass(frozen=True)
class ModelSpecification:
    """What is fitted: formula (with its covariance structure), estimation, factor codings."""

    formula: MixedFormula
    reml: bool = True
    #: Baseline level of each categorical column, as (column, level) pairs (R's first
    #: factor level; ``relevel``).
    reference_levels: tuple[tuple[str, str], ...] = ()

    # ----- what it says ----------------------------------------------------------------------
    @property
    def text(self) -> str:
        """The formula as written."""
        return self.formula.text

    @property
    def covariance(self) -> str:
        return self.formula.covariance

    @property
    def estimation(self) -> str:
        return "REML" if self.reml else "ML"

    def with_reml(self, reml: bool) -> ModelSpecification:
        return self if reml == self.reml else replace(self, reml=reml)

    # ----- θ: which elements of T are parameters -----------------------------------------------
    def free_theta(self, q: int) -> np.ndarray:
        """Positions in lme4's θ (T's lower triangle, column-major) that are parameters.

        All of them for an unstructured covariance; T's diagonal for ``||`` (the
        off-diagonal elements stay 0: the random effects are uncorrelated).
        """
        rows, cols = theta_layout(q)
        if self.covariance == "diagonal":
            return np.flatnonzero(rows == cols)
        return np.arange(len(rows))

    def n_theta(self, q: int) -> int:
        return len(self.free_theta(q))

    def npar(self, p: int, q: int) -> int:
        """lme4's ``npar`` (the df of logLik): fixed effects, covariance parameters, σ."""
        return p + self.n_theta(q) + 1

    def embed(self, free_values: np.ndarray, q: int) -> np.ndarray:
        """A full θ from the free elements' values (the others 0)."""
        free_values = np.asarray(free_values, dtype=float)
        rows, _ = theta_layout(q)
        theta = np.zeros((*free_values.shape[:-1], len(rows)))
        theta[..., self.free_theta(q)] = free_values
        return theta

    # ----- lme4's names of the covariance parameters ---------------------------------------
    def groups(self, group: str, random_names: list[str]) -> list[str]:
        """The ``Groups`` column of lme4's printout, one entry per random term.

        lme4 expands ``(x || g)`` into one term per variable, named ``g``, ``g.1``, ``g.2``,
        … in its printout; an unstructured term is one group ``g``.
        """
        if self.covariance == "diagonal":
            return [group if i == 0 else f"{group}.{i}" for i in range(len(random_names))]
        return [group] * len(random_names)

    def sigma_parameter_names(self, q: int) -> list[str]:
        """lme4's ``.sig01``, ``.sig02``, … (profile and bootstrap intervals): one per free θ."""
        return [f".sig{i + 1:02d}" for i in range(self.n_theta(q))]

    def sigma_parameter_labels(self, group: str, random_names: list[str]) -> list[str]:
        """What each ``.sigNN`` is, as lme4's ``profile`` names it: ``sd_(Intercept)|school``,
        ``cor_cses.(Intercept)|school``."""
        q = len(random_names)
        rows, cols = theta_layout(q)
        labels = []
        for k in self.free_theta(q):
            r, c = rows[k], cols[k]
            if r == c:
                labels.append(f"sd_{random_names[r]}|{group}")
            else:
                labels.append(f"cor_{random_names[r]}.{random_names[c]}|{group}")
        return labels

    def sigma_parameters(self, theta: np.ndarray, sigma: float, q: int) -> np.ndarray:
        """The SDs (θ's diagonal) and correlations (off it) of the random effects, in the
        order of the free θ: lme4's ``.sig01`` … values for a given θ and σ."""
        T = relative_covariance_factor(np.asarray(theta, dtype=float), q)
        cov = sigma**2 * T @ T.T
        sd = np.sqrt(np.diag(cov))
        rows, cols = theta_layout(q)
        values = []
        for k in self.free_theta(q):
            r, c = rows[k], cols[k]
            if r == c:
                values.append(sd[r])
            else:
                values.append(cov[r, c] / (sd[r] * sd[c]) if sd[r] > 0 and sd[c] > 0 else np.nan)
        return np.array(values, dtype=float)

    # ----- design and records ----------------------------------------------------------------
    def design(self, data: pd.DataFrame) -> DesignMatrices:
        return build_design(self.formula, data, dict(self.reference_levels) or None)

    def to_r(self) -> str:
        """The formula for R, rebuilt from the parsed terms (see :meth:`MixedFormula.to_r`)."""
        return self.formula.to_r()

    def to_dict(self) -> dict[str, object]:
        """The specification as a fit record stores it (read back by :func:`from_record`)."""
        out: dict[str, object] = {"formula": self.text, "estimation": self.estimation}
        if self.covariance != "unstructured":
            out["covariance_structure"] = self.covariance
        if self.reference_levels:
            out["reference_levels"] = dict(self.reference_levels)
        return out


def specify(
    formula: str | MixedFormula,
    reml: bool = True,
    reference_levels: Mapping[str, str] | None = None,
    covariance: str | None = None,
) -> ModelSpecification:
    """Build a model's specification once, from a formula (text or parsed).

    ``covariance`` overrides the formula's own structure: ``"diagonal"`` makes
    ``(x | g)`` uncorrelated, T's diagonal column by column (the record keeps it as
    ``covariance_structure``; :meth:`ModelSpecification.to_r` writes ``||``).
    """
    parsed = parse_formula(formula) if isinstance(formula, str) else formula
    if covariance is not None:
        if covariance not in COVARIANCES:
            raise ModelSpecificationError(
                f"covariance must be one of {', '.join(COVARIANCES)}, not {covariance!r}"
            )
        parsed = parsed.with_covariance(covariance)
    levels = tuple(sorted((str(k), str(v)) for k, v in (reference_levels or {}).items()))
    return ModelSpecification(formula=parsed, reml=bool(reml), reference_levels=levels)


def from_record(record: Mapping[str, Any]) -> ModelSpecification:
    """The specification a fit record was made with (:meth:`ModelSpecification.to_dict`).

    A record written before the covariance structure was recorded separately still reads:
    ``||`` in its formula says it, and no ``covariance_structure`` means unstructured.
    """
    estimation = record.get("estimation")
    if estimation not in ("REML", "ML"):
        raise ModelSpecificationError(
            f"fit record: estimation must be 'REML' or 'ML', not {estimation!r}"
        )
    return specify(
        str(record["formula"]),
        reml=estimation == "REML",
        reference_levels=record.get("reference_levels") or None,
        covariance=record.get("covariance_structure"),
    )
