"""The workflow's ``compile_kernels`` job: the engine's numba kernels compiled into their
cache once (:func:`hlmrep.engine.warmup.warm`), before the jobs that fit, so that no two
jobs compile them at once on a fresh checkout."""

from __future__ import annotations

import logging
from pathlib import Path

from hlmrep.engine.warmup import warm
from hlmrep.records.kernels import KERNELS

log = logging.getLogger("hlmrep")


def compile_kernels_job(*, out: Path | None = None) -> None:
    """Compile (or load) every kernel; write their list as the marker the engine's jobs
    wait for (``out``; none at install, which only fills the cache).  The marker holds no
    timing, so that it is the same file on every run and machine, and it is written whole
    or not at all."""
    import numba

    done = warm()
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        KERNELS.write(Path(out), {"numba": numba.__version__, "kernels": list(done["kernels"])})
    log.info("%d kernels compiled or loaded in %.2f s", len(done["kernels"]), done["seconds"])
