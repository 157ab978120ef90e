"""Parametric bootstrap: intervals and p-values against the vignette, chunk invariance,
an interrupted run resumed, and the bookkeeping of every replicate."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from conftest import job_counts, marked_incomplete, run_snakemake
from hlmrep.bootstrap.chunks import confint_chunk, lrt_chunk
from hlmrep.bootstrap.summary import percentile_interval, quantile_mc_se
from hlmrep.replication.reference import load

pytestmark = pytest.mark.slow
SEED = load("seed_lme4")
#: lme4's confint(method = "boot") default; the vignette does not print its nsim.
VIGNETTE_NSIM = 500


def _summary(pipeline: Path, target: str) -> dict:
    import json

    return json.loads((pipeline / f"results/bootstrap/{target}/summary.json").read_text())


def test_model3_intervals_agree_with_the_vignette_within_monte_carlo_error(pipeline):
    """Tolerance: z · √(se² + se_ref²) per endpoint, se from our 1000 replicates (order-
    statistic spread), se_ref = se · √(1000 / 500) for the vignette's (assumed default)
    500; z = 3.34, Bonferroni over the 12 endpoints at a family-wise 1%."""
    summary = _summary(pipeline, "ci_model3")
    reference = SEED["models"]["model3"]["bootstrap_ci"]
    z = stats.norm.ppf(1 - 0.01 / 24)
    assert summary["nsim"] == 1000 and summary["converged"] == 1000
    checked = 0
    for param, (ref_lower, ref_upper) in ((k, v) for k, v in reference.items() if k != "level"):
        ours = summary["intervals"][param]
        for end, ref in (("lower", ref_lower), ("upper", ref_upper)):
            se = ours[f"{end}_mc_se"]
            tolerance = z * math.sqrt(se**2 + se**2 * summary["nsim"] / VIGNETTE_NSIM)
            assert abs(ours[end] - ref) <= tolerance, (param, end, ours[end], ref, tolerance)
            checked += 1
    assert checked == 12


def test_pb_minority_p_value_is_one_over_1001(pipeline):
    summary = _summary(pipeline, "pb_minority")
    reference = SEED["lrt"]["parametric_bootstrap_minority"]
    assert summary["extremes"] == reference["extremes"] == 0
    assert summary["p_value"] == pytest.approx(1 / 1001)
    assert round(summary["p_value"], 6) == reference["pb_p_value"]
    assert round(summary["lrt"], 2) == reference["lrt_stat"]
    assert summary["estimation"] == "ML"


def test_pb_random_slope_p_value_is_plausible(pipeline):
    """Under the null the LRT* has a point mass near 0: the bootstrap p is below the naive χ²
    p (conservative on the boundary); their gap is within a few Monte-Carlo SEs."""
    summary = _summary(pipeline, "pb_cses_slope")
    assert summary["estimation"] == "REML"
    assert summary["p_value"] < 0.05
    assert abs(summary["p_value"] - summary["p_value_chisq"]) < 4 * summary["p_value_mc_se"]
    assert summary["singular_full"] > 0  # many null replicates put the slope variance at 0


def test_every_replicate_records_its_fits(pipeline):
    table = pd.read_csv(pipeline / "results/bootstrap/ci_model3/replicates.csv")
    assert list(table["replicate"]) == list(range(1000))
    for column in ("converged", "verified", "singular"):
        assert table[column].dtype == bool
    summary = _summary(pipeline, "ci_model3")
    assert summary["singular"] == int(table["singular"].sum())
    lrt = pd.read_csv(pipeline / "results/bootstrap/pb_cses_slope/replicates.csv")
    assert {"singular_reduced", "singular_full", "converged", "lrt"} <= set(lrt.columns)


def test_replicates_do_not_depend_on_the_chunking(fit_hsb):
    result = fit_hsb("mathach ~ cses + (cses | school)")
    whole = confint_chunk(result, "t", 7, range(14))
    pieces = pd.concat(
        [confint_chunk(result, "t", 7, range(a, a + 2)) for a in range(0, 14, 2)], ignore_index=True
    )
    pd.testing.assert_frame_equal(whole, pieces, check_exact=True)
    other_target = confint_chunk(result, "u", 7, range(2))
    assert not np.array_equal(other_target.iloc[:, 4:].to_numpy(), whole.iloc[:2, 4:].to_numpy())


def test_lrt_replicates_are_chunk_invariant_too(fit_hsb):
    reduced = fit_hsb("mathach ~ cses + (1 | school)", False)
    full = fit_hsb("mathach ~ cses + minority + (1 | school)", False)
    whole = lrt_chunk(reduced, full, "p", 3, range(6))
    pieces = pd.concat(
        [lrt_chunk(reduced, full, "p", 3, range(a, a + 3)) for a in (0, 3)], ignore_index=True
    )
    pd.testing.assert_frame_equal(whole, pieces, check_exact=True)


def test_percentile_interval_is_boots_norm_inter():
    """boot::norm.inter on 999 values: (R + 1)·α = 25 is an integer, so the 25th order statistic."""
    values = np.arange(1.0, 1000.0)
    assert percentile_interval(values, 0.95) == (25.0, 975.0)
    # R = 1000: (R + 1)·0.025 = 25.025, between the 25th and 26th, on the normal scale.
    values = np.arange(1.0, 1001.0)
    lower, upper = percentile_interval(values, 0.95)
    assert 25.0 < lower < 26.0 and 975.0 < upper < 976.0
    rng = np.random.default_rng(0)
    sample = rng.standard_normal(100_000)
    se = quantile_mc_se(sample, 0.025)
    expected = math.sqrt(0.025 * 0.975 / 100_000) / stats.norm.pdf(stats.norm.ppf(0.025))
    assert se == pytest.approx(expected, rel=0.15)


# ----- through Snakemake: 1 chunk vs 7, and an interrupted run -----------------------------


def _small_config(pipeline: Path, chunk_size: int, tmp: Path) -> Path:
    config = yaml.safe_load((pipeline / "config.yaml").read_text())
    config["bootstrap"]["chunk_size"] = chunk_size
    config["bootstrap"]["targets"] = {
        "ci_model3": {"kind": "confint", "model": "model3", "nsim": 42, "level": 0.95},
    }
    path = tmp / f"config_{chunk_size}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _copy_run(pipeline: Path, target: Path) -> Path:
    shutil.copytree(
        pipeline, target, symlinks=True, ignore=shutil.ignore_patterns("bootstrap", "locks")
    )
    return target


TARGET = "results/bootstrap/ci_model3/replicates.csv"


@pytest.fixture(scope="module")
def one_chunk(pipeline, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("one")
    work = _copy_run(pipeline, tmp / "work")
    done = run_snakemake(
        work, TARGET, "--cores", "2", "--configfile", str(_small_config(pipeline, 42, tmp))
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return (work / TARGET).read_bytes()


def test_one_chunk_and_seven_chunks_give_identical_files(pipeline, one_chunk, tmp_path):
    work = _copy_run(pipeline, tmp_path / "work")
    done = run_snakemake(
        work, TARGET, "--cores", "2", "--configfile", str(_small_config(pipeline, 6, tmp_path))
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(list((work / "results/bootstrap/ci_model3/chunks").glob("*.csv"))) == 7
    assert (work / TARGET).read_bytes() == one_chunk


def test_interrupted_run_reruns_only_missing_chunks(pipeline, one_chunk, tmp_path):
    work = _copy_run(pipeline, tmp_path / "work")
    config = _small_config(pipeline, 6, tmp_path)
    chunks = work / "results/bootstrap/ci_model3/chunks"
    process = subprocess.Popen(
        [sys.executable, "-m", "snakemake", TARGET, "--cores", "1", "--configfile", str(config)],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and len(list(chunks.glob("*.csv"))) < 2:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # a crash, not a polite stop
    process.wait()
    present = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in chunks.glob("*.csv")}
    assert 2 <= len(present) < 7
    assert not (work / TARGET).exists()
    # A chunk whose job was killed after writing but before Snakemake recorded it is marked
    # incomplete and must be rerun; only recorded ones count as finished.
    finished = {
        name: v
        for name, v in present.items()
        if not marked_incomplete(work, f"results/bootstrap/ci_model3/chunks/{name}")
    }
    assert len(finished) >= 1

    # After a crash Snakemake's lock remains; releasing it is the user's first step.
    unlocked = run_snakemake(work, TARGET, "--unlock", "--configfile", str(config))
    assert unlocked.returncode == 0, unlocked.stderr[-2000:]
    done = run_snakemake(
        work, TARGET, "--cores", "2", "--configfile", str(config), "--rerun-incomplete"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    ran = job_counts(done.stdout + done.stderr).get("bootstrap_chunk", 0)
    assert ran == 7 - len(finished)
    for name, (mtime, content) in finished.items():
        assert (chunks / name).stat().st_mtime_ns == mtime and (
            chunks / name
        ).read_bytes() == content
    assert (work / TARGET).read_bytes() == one_chunk


def test_pb_p_values_ours_and_pbkrtests(tmp_path):
    """Ours: (1 + #{LRT* ≥ LRT}) / (1 + nsim). pbkrtest's PBmodcomp: (1 + #{LRT* > LRT,
    LRT* > 0}) / (1 + #{LRT* > 0}) (pbkrtest 0.5.2, .finalizePB)."""
    import json

    from hlmrep.bootstrap.summary import gather

    lrt = [0.0, 0.0, 0.0, 0.5, 1.2, 2.0, 2.0, 3.5, 0.1, 0.0]  # 4 at 0 (boundary fits)
    chunk = tmp_path / "0.csv"
    pd.DataFrame(
        {
            "replicate": range(10),
            "converged": True,
            "verified": True,
            "singular_reduced": False,
            "singular_full": False,
            "lrt": lrt,
        }
    ).to_csv(chunk, index=False)
    comparison = tmp_path / "c.json"
    record = {"name": "c", "test": "fixed", "estimation": "ML", "reduced": "a", "full": "b",
              "reduced_formula": "y ~ 1 + (1 | g)", "full_formula": "y ~ x + (1 | g)",
              "chisq": 2.0, "criterion_difference": 2.0, "df": 1, "p_value": 0.157,
              "table": [], "notes": [], "refits": {}}  # fmt: skip
    comparison.write_text(json.dumps(record))
    spec = {"kind": "lrt", "comparison": "c", "nsim": 10}
    _, summary = gather([chunk], spec, "pb", comparison)
    assert summary["extremes"] == 3  # 2.0, 2.0, 3.5
    assert summary["p_value"] == pytest.approx(4 / 11)
    assert summary["positive_replicates"] == 6
    assert summary["p_value_pbkrtest"] == pytest.approx((1 + 1) / (1 + 6))  # only 3.5 > 2.0
