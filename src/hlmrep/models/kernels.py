"""The workflow's ``compile_kernels`` job: the engine's numba kernels compiled into their
cache once (:func:`hlmrep.engine.warmup.warm`), before the jobs that fit, so that no two
jobs compile them at once on a fresh checkout."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from hlmrep.engine.warmup import warm
from hlmrep.files import write_atomically

log = logging.getLogger("hlmrep")


def compile_kernels_job(*, out: Path) -> None:
    """Compile (or load) every kernel; write their list as the marker the engine's jobs
    wait for.  The marker holds no timing, so that it is the same file on every run and
    machine, and it is written whole or not at all."""
    import numba

    done = warm()
    record = {"numba": numba.__version__, "kernels": done["kernels"]}
    text = json.dumps(record, indent=1) + "\n"
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    write_atomically(Path(out), lambda temporary: temporary.write_text(text))
    log.info("%d kernels compiled or loaded in %.2f s", len(done["kernels"]), done["seconds"])
