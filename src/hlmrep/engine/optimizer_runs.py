"""The record of a search for the optimum: how each optimizer run ended
(:class:`RunStatus`, :class:`OptimizerRun`) and the evidence that the best point is the
optimum (:class:`OptimumReport`), as a fit's record keeps them.

The runs themselves are :mod:`~hlmrep.engine.optimizers`'; the evidence is
:mod:`~hlmrep.engine.optimality`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from hlmrep.engine.control import DEFAULT_CONTROL

#: Name of the run that copies lme4's default optimizer settings.
LME4_OPTIMIZER = "bobyqa (lme4 nloptwrap settings)"
#: Name of lme4's default start, T = I.
DEFAULT_START = "lme4 default (T = I)"


class RunStatus(Enum):
    """How an optimizer run ended; its value is the text the run's record shows."""

    SUCCESS = "success"
    STOPVAL = "stopval reached"
    FTOL = "ftol reached"
    XTOL = "xtol reached"
    MAXEVAL = "maxeval reached"
    MAXTIME = "maxtime reached"
    ROUNDOFF = "roundoff limited (best point evaluated kept)"
    CONVERGED = "converged"  # a gradient method's own convergence test
    NOT_CONVERGED = "not converged"
    NEWTON = "newton"
    FAILED = "failed"

    @property
    def converged(self) -> bool:
        """The optimizer stopped by its convergence test (not by a limit or rounding)."""
        return self in _CONVERGED


_CONVERGED = {
    RunStatus.SUCCESS,
    RunStatus.STOPVAL,
    RunStatus.FTOL,
    RunStatus.XTOL,
    RunStatus.CONVERGED,
    RunStatus.NEWTON,
}


@dataclass
class OptimizerRun:
    """One optimizer run from one start."""

    optimizer: str
    start: str
    theta: list[float]
    criterion: float
    evaluations: int
    message: str

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class OptimumReport:
    """Where the optimizers ended and the evidence that the best point is the optimum."""

    theta: np.ndarray
    criterion: float
    runs: list[OptimizerRun]
    evaluations: int
    projected_gradient: list[float]
    max_abs_projected_gradient: float
    max_scaled_gradient: float
    predicted_decrease: float | None
    hessian_min_eigenvalue: float | None
    at_bound: list[bool]
    boundary_probe: str
    verified: bool
    runs_agree: bool
    messages: list[str] = field(default_factory=list)
    check_conv_grad: float = DEFAULT_CONTROL.check_conv_grad

    def to_dict(self) -> dict[str, object]:
        return {
            "theta": [float(v) for v in self.theta],
            "criterion": self.criterion,
            "verified": self.verified,
            "runs_agree": self.runs_agree,
            "evaluations": self.evaluations,
            "projected_gradient": self.projected_gradient,
            "max_abs_projected_gradient": self.max_abs_projected_gradient,
            "max_scaled_gradient": self.max_scaled_gradient,
            "check_conv_grad_tolerance": self.check_conv_grad,
            "predicted_decrease": self.predicted_decrease,
            "hessian_min_eigenvalue": self.hessian_min_eigenvalue,
            "at_bound": self.at_bound,
            "boundary_probe": self.boundary_probe,
            "messages": self.messages,
            "runs": [run.to_dict() for run in self.runs],
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> OptimumReport:
        """The report as a fit record stores it (:meth:`to_dict`), for a restored fit."""
        return cls(
            theta=np.array(record["theta"], dtype=float),
            criterion=float(record["criterion"]),
            runs=[OptimizerRun(**run) for run in record["runs"]],
            evaluations=int(record["evaluations"]),
            projected_gradient=list(record["projected_gradient"]),
            max_abs_projected_gradient=float(record["max_abs_projected_gradient"]),
            max_scaled_gradient=float(record["max_scaled_gradient"]),
            predicted_decrease=record.get("predicted_decrease"),
            hessian_min_eigenvalue=record["hessian_min_eigenvalue"],
            at_bound=list(record["at_bound"]),
            boundary_probe=record["boundary_probe"],
            verified=bool(record["verified"]),
            runs_agree=bool(record["runs_agree"]),
            messages=list(record["messages"]),
            check_conv_grad=float(record["check_conv_grad_tolerance"]),
        )
