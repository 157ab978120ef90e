"""Confidence intervals as lme4's ``confint()`` gives them: profile likelihood and Wald.

**Profile** (``confint(fit)``, lme4's default): where the signed root ζ of the
likelihood-ratio statistic of each parameter crosses ±z, found on the profile of
:mod:`~hlmrep.engine.profile`.

**Wald** (``confint(fit, method = "Wald")``): β̂ ± z·SE from the fit itself (REML SEs for a
REML fit); lme4 gives no Wald interval for the variance parameters (``NA``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hlmrep.engine.r_print import format_r_matrix

if TYPE_CHECKING:
    from hlmrep.engine.model import LmmResult

#: The methods :func:`confidence_intervals` knows, as lme4's ``confint(method = )``.
METHODS = ("profile", "Wald")


@dataclass(frozen=True)
class Interval:
    """One row of ``confint()``: a parameter, its estimate, and its limits (None: NA)."""

    parameter: str  # lme4's row name: .sig01, .sigma, (Intercept), cses
    meaning: str  # what it is: sd_(Intercept)|school, cor_cses.(Intercept)|school, sigma
    estimate: float
    lower: float | None
    upper: float | None

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class Intervals:
    """``confint()`` of one fit: the rows, the method, the level and how they were made."""

    method: str
    level: float
    rows: list[Interval]
    #: The fit the intervals are of: "ML" (a profile, whatever the fit's estimation) or the
    #: fit's own estimation (Wald).
    basis: str
    notes: list[str] = field(default_factory=list)
    evaluations: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "level": self.level,
            "basis": self.basis,
            "rows": [row.to_dict() for row in self.rows],
            "notes": self.notes,
            "evaluations": self.evaluations,
        }

    def format(self) -> str:
        """The intervals as R prints ``confint()``'s matrix (``2.5 %``, ``97.5 %``)."""
        tail = (1.0 - self.level) / 2.0
        headers = [f"{_percent(100 * tail)} %", f"{_percent(100 * (1 - tail))} %"]
        return format_r_matrix(
            [row.parameter for row in self.rows],
            headers,
            [[row.lower, row.upper] for row in self.rows],
        )


def _percent(value: float) -> str:
    """R's ``paste(format(100 * a, digits = 3, trim = TRUE), "%")``: 2.5, 97.5, 5, 95."""
    return f"{value:.3g}"


def normal_quantile(level: float) -> float:
    """z with P(|Z| ≤ z) = level."""
    from scipy.special import ndtri  # scipy.stats would add 0.3 s to every fit command

    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1, not {level!r}")
    return float(ndtri(0.5 + level / 2.0))


# ----------------------------------------------------------------------------------------
# Wald
# ----------------------------------------------------------------------------------------
def wald_intervals(result: LmmResult, level: float = 0.95) -> Intervals:
    """lme4's ``confint(method = "Wald")``: β̂ ± z·SE; NA for the variance parameters."""
    z = normal_quantile(level)
    spec, q = result.specification, len(result.random_names)
    sig = spec.sigma_parameters(result.theta, result.sigma, q)
    rows = [
        Interval(name, meaning, float(value), None, None)
        for name, meaning, value in zip(
            spec.sigma_parameter_names(q),
            spec.sigma_parameter_labels(result.design.group, result.random_names),
            sig,
            strict=True,
        )
    ]
    rows.append(Interval(".sigma", "sigma", result.sigma, None, None))
    for name, est, se in zip(result.fixed_names, result.beta, result.std_errors, strict=True):
        rows.append(Interval(name, name, float(est), float(est - z * se), float(est + z * se)))
    return Intervals("Wald", level, rows, basis=result.specification.estimation)


# ----------------------------------------------------------------------------------------
# Profile
# ----------------------------------------------------------------------------------------
def profile_intervals(result: LmmResult, level: float = 0.95) -> Intervals:
    """lme4's ``confint(fit)``: profile-likelihood intervals of every parameter."""
    from hlmrep.engine.profile import Profiler, ml_fit  # the profile reads this module's Interval

    started = time.perf_counter()
    ml = ml_fit(result)
    profiler = Profiler(ml, normal_quantile(level))
    rows = profiler.variance_rows() + profiler.fixed_rows()
    notes = list(profiler.notes)
    if result.reml:
        notes.insert(0, "profiled on the ML deviance of the model refitted by ML, as lme4 does")
    return Intervals(
        "profile",
        level,
        rows,
        basis="ML",
        notes=notes,
        evaluations=profiler.evaluations,
        seconds=time.perf_counter() - started,
    )


def confidence_intervals(
    result: LmmResult, method: str = "profile", level: float = 0.95
) -> Intervals:
    """``confint(fit, method = )``: "profile" (lme4's default) or "Wald"."""
    if method == "profile":
        return profile_intervals(result, level)
    if method.lower() == "wald":
        return wald_intervals(result, level)
    raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
