"""Compile the engine's kernels once, before the jobs that use them.

numba compiles a kernel the first time it is called and caches the machine code, keyed by
the source, the argument types and the processor, in the user's cache folder
(:mod:`hlmrep.engine.kernel_cache`: shared by every checkout of the same kernels).  With
an empty cache every job that reaches the kernels would compile them, several at once
(5–8 s each).  :func:`warm` instead runs a small synthetic fit and one bootstrap replicate, which
call every kernel the workflow calls with the argument types it calls them with, so the
cache is written once (by the workflow's ``compile_kernels`` job,
:mod:`hlmrep.models.kernels`, which the engine's jobs wait for) and every later job only
loads it.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from hlmrep.engine import kernel
from hlmrep.engine.model import fit
from hlmrep.engine.simulate import Refittable


def _synthetic_data() -> pd.DataFrame:
    """Two random terms, 30 groups of 12: a fit that exercises every code path cheaply."""
    rng = np.random.default_rng(20020575)
    groups = np.repeat(np.arange(30), 12)
    x = rng.normal(size=groups.size)
    intercepts = rng.normal(size=30)
    slopes = rng.normal(0.5, 0.5, size=30)
    y = 10 + intercepts[groups] + (2 + slopes[groups]) * x + rng.normal(size=groups.size)
    return pd.DataFrame({"y": y, "x": x, "g": groups})


def warm() -> dict[str, Any]:
    """Compile (or load from the cache) every kernel; how long it took, and their names."""
    started = time.perf_counter()
    data = _synthetic_data()
    for reml in (True, False):
        result = fit("y ~ x + (x | g)", data, reml=reml)
        model = Refittable.from_result(result)
        rng = np.random.default_rng(1)
        model.refit(model.simulated_cross_products(rng), [model.theta])
        model.refit(model.cross_products_for(model.simulate(rng)), [model.theta])
    kernels = sorted(
        name for name, function in vars(kernel).items() if hasattr(function, "py_func")
    )
    return {"seconds": time.perf_counter() - started, "kernels": kernels}
