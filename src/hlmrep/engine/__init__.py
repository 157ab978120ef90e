"""The mixed-model engine: lme4's profiled REML/ML for two-level models, verified optima.

Its public face, in the order a fit goes:

- :func:`parse_formula`, :func:`build_design`: an lme4 formula, read as data, and the
  design matrices (:mod:`~hlmrep.engine.formula`, :mod:`~hlmrep.engine.design`);
- :func:`specify`, :class:`ModelSpecification`: the model said once (formula, ``|`` or
  ``||``, REML or ML, factor codings; :mod:`~hlmrep.engine.specification`);
- :func:`profiled_deviance`: lme4's criterion on per-group cross-products
  (:mod:`~hlmrep.engine.deviance`, compiled in :mod:`~hlmrep.engine.kernel`);
- :func:`find_optimum`: several optimizers' search and the check that its best point is
  the optimum (:mod:`~hlmrep.engine.optimize`: :mod:`~hlmrep.engine.optimizers`,
  :mod:`~hlmrep.engine.optimality`, the record in :mod:`~hlmrep.engine.optimizer_runs`),
  every tolerance in :class:`Control`;
- :func:`fit`, :class:`LmmResult`: the fit, its lme4-style printout (``summary()``) and its
  record (``to_dict()``) (:mod:`~hlmrep.engine.model`);
- :func:`restore`: a fit back from its record, checked (:mod:`~hlmrep.engine.fit_record`);
- :class:`Refittable`: simulate and refit, for the parametric bootstrap
  (:mod:`~hlmrep.engine.simulate`);
- ``LmmResult.confint()``, ``robust_standard_errors()``, ``satterthwaite()``: lme4's
  intervals, HLM's robust SEs, lmerTest's df (:mod:`~hlmrep.engine.intervals`,
  :mod:`~hlmrep.engine.sandwich`, :mod:`~hlmrep.engine.satterthwaite`).

The engine knows nothing of the workflow: no file paths, no config, no results folder.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the type checker sees of _HOME's names (it cannot follow __getattr__)
    from hlmrep.engine.control import DEFAULT_CONTROL, Control  # noqa: F401
    from hlmrep.engine.design import DesignMatrices, build_design  # noqa: F401
    from hlmrep.engine.deviance import profiled_deviance  # noqa: F401
    from hlmrep.engine.fit_record import criterion_of, restore  # noqa: F401
    from hlmrep.engine.formula import MixedFormula, parse_formula  # noqa: F401
    from hlmrep.engine.model import LmmResult, fit, fit_design  # noqa: F401
    from hlmrep.engine.optimize import find_optimum  # noqa: F401
    from hlmrep.engine.optimizer_runs import OptimumReport, RunStatus  # noqa: F401
    from hlmrep.engine.simulate import Refittable  # noqa: F401
    from hlmrep.engine.specification import ModelSpecification, specify  # noqa: F401

#: Where each public name lives.  Imported on first use, so that reading a formula (at the
#: workflow's parse time) does not load the compiled kernel.
_HOME = {
    "DEFAULT_CONTROL": "control",
    "Control": "control",
    "profiled_deviance": "deviance",
    "DesignMatrices": "design",
    "MixedFormula": "formula",
    "build_design": "design",
    "parse_formula": "formula",
    "LmmResult": "model",
    "fit": "model",
    "fit_design": "model",
    "OptimumReport": "optimizer_runs",
    "RunStatus": "optimizer_runs",
    "find_optimum": "optimize",
    "criterion_of": "fit_record",
    "restore": "fit_record",
    "Refittable": "simulate",
    "ModelSpecification": "specification",
    "specify": "specification",
}

__all__ = list(_HOME)


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"hlmrep.engine.{_HOME[name]}"), name)
    raise AttributeError(f"module 'hlmrep.engine' has no attribute {name!r}")
