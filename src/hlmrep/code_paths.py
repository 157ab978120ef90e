"""One numerical code path on every CPU, so results do not depend on the machine.

Three libraries pick machine code by the CPU they find at run time, and two of those
choices change results in the last bits:

- OpenBLAS (numpy's and scipy's BLAS) selects a kernel per CPU family (``Haswell`` on
  AMD Zen and Intel Haswell to Ice Lake, ``SkylakeX`` or ``Cooperlake`` on AVX-512 Xeons,
  ``Prescott`` on anything older). The kernels sum dot products in different orders, so a
  cross-product, a Cholesky factor or an optimizer step differs at 1e-16, and an optimizer
  path that starts 1e-16 apart can end 1e-9 apart on a flat ridge. Measured: 62 of the
  default run's 86 results files differ between the ``Haswell`` and ``Prescott`` kernels.
- numba compiles for the host CPU by default. Without fast-math LLVM keeps IEEE
  semantics whatever the target, so this changes no result today (measured), but the
  target is part of numba's cache key: a fixed one lets SLURM nodes of different CPUs
  share one cache, and keeps it so if a kernel ever allows contraction.
- numpy's SIMD dispatch (AVX-512 loops for exp, log, sort) did not change any result file
  when switched off (measured), so it is left alone.

:func:`pin` fixes the first two before numpy or numba is imported: OpenBLAS's
``Haswell`` kernels (AVX2 and FMA, on every AMD EPYC and every Intel Xeon since 2013) on
x86-64 CPUs that have them, else its ``Prescott`` kernels, which any x86-64 CPU runs;
one BLAS thread (the engine's matrices are small, and a threaded reduction's order would
depend on the thread count); numba's ``generic`` target. What is guaranteed is in
docs/reproducibility.md.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

#: The OpenBLAS kernel family results are computed with, on CPUs that can run it.
BLAS_KERNELS = "Haswell"
#: The fallback for x86-64 CPUs without AVX2 and FMA (results then equal within the
#: tolerance docs/reproducibility.md states, not bit for bit).
BLAS_FALLBACK = "Prescott"
NUMBA_TARGET = "generic"


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def blas_kernels() -> str | None:
    """The OpenBLAS kernel family to pin here (None off x86-64, where there is no choice
    of family to make)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    return BLAS_KERNELS if {"avx2", "fma"} <= _cpu_flags() else BLAS_FALLBACK


def pin() -> dict[str, str]:
    """Set the environment that selects the code paths; returns what was set.

    Must run before numpy (OpenBLAS reads its settings when it is loaded) and numba are
    imported; once they are, it changes nothing and says so by returning an empty dict.
    """
    if "numpy" in sys.modules or "numba" in sys.modules:
        return {}
    settings = {"OPENBLAS_NUM_THREADS": "1", "NUMBA_CPU_NAME": NUMBA_TARGET}
    kernels = blas_kernels()
    if kernels is not None:
        settings["OPENBLAS_CORETYPE"] = kernels
    os.environ.pop("NUMBA_CPU_FEATURES", None)
    os.environ.update(settings)
    return settings


def describe() -> str:
    """The code paths this process runs, in words, for the report's provenance."""
    kernels = os.environ.get("OPENBLAS_CORETYPE")
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "as many as cores")
    target = os.environ.get("NUMBA_CPU_NAME", "the host CPU")
    blas = f"OpenBLAS {kernels} kernels" if kernels else "OpenBLAS's kernels for this CPU"
    return f"{blas}, {threads} thread(s); numba target {target}"
