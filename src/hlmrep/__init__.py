"""hlmrep: a reproducible replication of Raudenbush & Bryk (2002), chapter 4.

Two halves: :mod:`hlmrep.engine`, a mixed-model engine that fits two-level models the way
lme4's ``lmer`` does and verifies the optimum it reports; and the workflow's stages, one
module each (data, model_fits, comparisons, variance_explained, bootstrap,
bootstrap_summary, figures, crosscheck, scorecard, report), which read and write the files
the Snakemake rules name.

``hlmrep.fit`` is the engine's :func:`~hlmrep.engine.fit`, imported on first use so that a
job that does not fit (a figure, the report) does not load the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hlmrep.engine import LmmResult, fit

__all__ = ["LmmResult", "fit"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in __all__:
        from hlmrep import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'hlmrep' has no attribute {name!r}")
