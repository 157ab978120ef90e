"""What makes the pipeline fast, checked for being the same computation (issue 15).

Speed itself is measured by ``python -m hlmrep benchmark --pipeline`` (docs/benchmarks.md),
never by a timed test; here: no job compiles numba code, the kernel cache survives parallel
cold compiles, per-school OLS equal statsmodels' to the bit, scipy.special equal the
scipy.stats calls they replace, and the bootstrap's automatic chunk size.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from hlmrep.models.school_statistics import school_regressions
from hlmrep.pipeline.config import AUTO_CHUNK_LIMIT, chunk_size


def _job(work: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hlmrep", *args], cwd=work, capture_output=True, text=True,
        env=env,
    )  # fmt: skip


@pytest.mark.slow
def test_no_job_of_a_normal_run_compiles_numba_code(pipeline, tmp_path):
    """After a run (whose compile_kernels job filled the cache), a fit job and a bootstrap
    job load every kernel from numba's cache and save none: nothing is compiled."""
    assert (pipeline / "results/kernels.json").exists()
    env = {**os.environ, "NUMBA_DEBUG_CACHE": "1"}
    fit = _job(
        pipeline, "fit-model", "--data", "results/data/hsb.csv", "--name", "model3",
        "--formula", "mathach ~ cses + (cses | school)", "--out-fit", str(tmp_path / "f.json"),
        "--out-schools", str(tmp_path / "s.csv"), "--out-hlm", str(tmp_path / "h.json"),
        env=env,
    )  # fmt: skip
    boot = _job(
        pipeline, "bootstrap-chunk", "--name", "ci_model3", "--kind", "confint", "--nsim",
        "20", "--seed", "1", "--chunk", "0", "--chunk-size", "20", "--data",
        "results/data/hsb.csv", "--fit", "results/fits/model3.json", "--out",
        str(tmp_path / "c.csv"), env=env,
    )  # fmt: skip
    for done in (fit, boot):
        assert done.returncode == 0, done.stderr[-2000:]
        output = done.stdout + done.stderr
        assert "[cache] data loaded from" in output
        assert "[cache] data saved to" not in output and "[cache] index saved" not in output


@pytest.mark.slow
def test_a_cold_cache_survives_parallel_compiles(tmp_path):
    """Two jobs compiling into one empty cache at once both succeed, and a third loads."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "hlmrep", "compile-kernels", "--out"]
    runs = [
        subprocess.Popen([*command, str(tmp_path / f"k{i}.json")], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]  # fmt: skip
    for run in runs:
        _, err = run.communicate(timeout=600)
        assert run.returncode == 0, err[-2000:]
    third = subprocess.run(
        [*command, str(tmp_path / "k3.json")],
        env={**env, "NUMBA_DEBUG_CACHE": "1"},
        capture_output=True,
        text=True,
    )
    assert third.returncode == 0
    assert "[cache] data saved to" not in third.stdout + third.stderr


@pytest.mark.parametrize(
    "formula",
    [
        "mathach ~ cses + (cses | school)",
        "mathach ~ cses*meanses + cses*sector + (cses | school)",
        # 24 schools without minority students or all minority: not usable for OLS.
        "mathach ~ cses + minority + (cses + minority | school)",
    ],
)
def test_per_school_ols_equal_statsmodels_to_the_bit(fit_hsb, formula):
    from statsmodels.regression.linear_model import OLS

    result = fit_hsb(formula)
    regressions = school_regressions(result)
    d = result.design
    residual = d.y - d.X @ result.solution.beta
    usable = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j in range(len(d.group_levels)):
            rows = np.flatnonzero(d.group_index == j)
            Zj = d.Z[rows]
            if len(rows) <= Zj.shape[1] or np.linalg.matrix_rank(Zj) < Zj.shape[1]:
                assert not regressions.usable[j]
                continue
            usable += 1
            assert regressions.usable[j]
            own = OLS(d.y[rows], Zj).fit()
            assert np.array_equal(regressions.ols[j], own.params)
            assert np.array_equal(regressions.ols_cov_unscaled[j], own.normalized_cov_params)
            assert np.array_equal(regressions.residual_ols[j], OLS(residual[rows], Zj).fit().params)
    assert usable >= 136


def test_scipy_special_gives_what_scipy_stats_gave():
    """The stages call scipy.special (a lighter import) for what scipy.stats computed."""
    x = np.concatenate([np.linspace(0.0, 60.0, 241), [1e-8, 150.0, 900.0]])
    for df in (1, 2, 3, 134, 135, 157, 159):
        assert np.array_equal(special.chdtrc(df, x), stats.chi2.sf(x, df))
    p = np.concatenate([np.linspace(1e-6, 1 - 1e-6, 401), [0.975, 0.025, 1 - 0.01 / 24]])
    assert np.array_equal(special.ndtri(p), stats.norm.ppf(p))


@pytest.mark.parametrize(
    "setting, nsim, expected",
    [
        ("auto", 1000, 1000),
        ("auto", AUTO_CHUNK_LIMIT, AUTO_CHUNK_LIMIT),
        ("auto", AUTO_CHUNK_LIMIT + 1, (AUTO_CHUNK_LIMIT + 2) // 2),
        ("auto", 12_000, 4000),
        (250, 1000, 250),
    ],
)
def test_chunk_size_auto_sizes_jobs_by_work(setting, nsim, expected):
    assert chunk_size(setting, nsim) == expected
    jobs = -(-nsim // chunk_size(setting, nsim))
    assert jobs * chunk_size(setting, nsim) >= nsim


@pytest.mark.slow
def test_the_default_run_has_one_bootstrap_job_per_target(pipeline):
    for target in ("ci_model3", "pb_minority", "pb_cses_slope"):
        chunks = sorted((pipeline / f"results/bootstrap/{target}/chunks").glob("*.csv"))
        assert [path.name for path in chunks] == ["0.csv"]
