"""The workflow's ``compile_kernels`` job: the engine's numba kernels compiled into their
cache once (:func:`hlmrep.engine.warmup.warm`), before the jobs that fit, so that no two
jobs compile them at once on a fresh checkout. Where a whole warm-up filled the cache
already (at install, or a run before), the cache says so
(:func:`hlmrep.engine.kernel_cache.warmed_kernels`) and the job loads nothing: it is on
the path of every fit, and loading the kernels only to learn that they are there took it
1.5 s of a cold run's 16."""

from __future__ import annotations

import logging
from pathlib import Path

from hlmrep.engine import kernel_cache
from hlmrep.records.kernels import KERNELS

log = logging.getLogger("hlmrep")


def compile_kernels_job(*, out: Path | None = None) -> None:
    """Compile (or load) every kernel; write their list as the marker the engine's jobs
    wait for (``out``; none at install, which only fills the cache).  The marker holds no
    timing, so that it is the same file on every run and machine, and it is written whole
    or not at all."""
    import numba

    kernels = kernel_cache.warmed_kernels()
    if kernels is not None:  # filled by a whole warm-up (at install): nothing to compile
        log.info("%d kernels in the cache %s", len(kernels), kernel_cache.cache_folder())
    else:
        # here, not at the top: the engine's imports are needed only to warm up
        from hlmrep.engine.warmup import warm

        done = warm()
        kernels = list(done["kernels"])
        kernel_cache.mark_warmed(kernels)
        log.info("%d kernels compiled or loaded in %.2f s", len(kernels), done["seconds"])
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        KERNELS.write(Path(out), {"numba": numba.__version__, "kernels": sorted(kernels)})
