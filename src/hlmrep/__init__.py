"""hlmrep: a reproducible replication of Raudenbush & Bryk (2002), chapter 4.

The public API is :func:`fit`, which fits a two-level linear mixed model the way lme4's
``lmer`` does and verifies the optimum it reports.
"""

from hlmrep.lmm import LmmResult, fit

__all__ = ["LmmResult", "fit"]
__version__ = "0.1.0"
