"""Compile the engine's kernels once, before the jobs that use them.

numba compiles a kernel the first time it is called and caches the machine code beside the
module (``__pycache__``), keyed by the source, the argument types and the processor.  On a
fresh checkout every job that reaches the kernels would compile them, several at once (5–8
s each).  :func:`warm` instead runs a small synthetic fit and one bootstrap replicate, which
call every kernel the workflow calls with the argument types it calls them with, so the
cache is written once (by the workflow's ``compile_kernels`` job, which the engine's jobs
wait for) and every later job only loads it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
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


def compile_kernels_job(*, out: Path) -> None:
    """Compile the engine's kernels into numba's cache once; write the list as a marker.

    The marker holds no timing, so that it is the same file on every run and machine.  It
    is written beside itself and renamed (the engine imports nothing of the workflow's
    file helpers), so a killed job leaves no marker that a rerun would trust."""
    import numba

    done = warm()
    record = {"numba": numba.__version__, "kernels": done["kernels"]}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.partial")
    temporary.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(temporary, out)
    logging.getLogger("hlmrep").info(
        "%d kernels compiled or loaded in %.2f s", len(done["kernels"]), done["seconds"]
    )
