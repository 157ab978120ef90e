"""Parametric bootstrap replicates: lme4's ``confint(method = "boot")`` and pbkrtest's
``PBmodcomp``, in chunks whose results do not depend on how the replicates are split.

**Seed derivation.** Replicate r of target t draws its random numbers from
``numpy.random.SeedSequence(seed, spawn_key=(target_key(t), r))`` (:func:`replicate_rng`),
``target_key`` being the first 4 bytes of SHA-256 of the target's name: so a replicate's
result is the same whatever the chunk size, the number of cores or the executor, and two
targets draw independent streams.  Each replicate simulates from the fitted model and refits
it with the engine (:class:`hlmrep.engine.Refittable`); the summaries are
:mod:`hlmrep.bootstrap.summary`'s.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from hlmrep.data.tables import read_prepared
from hlmrep.engine import LmmResult, Refittable, fit, restore
from hlmrep.engine.simulate import embed_theta
from hlmrep.engine.specification import ModelSpecification, from_record
from hlmrep.errors import HlmrepError
from hlmrep.files import write_atomically
from hlmrep.records.comparison import COMPARISON
from hlmrep.records.fit import FIT, FitRecord


def target_key(name: str) -> int:
    """A stable 32-bit key for a target's name, so targets draw independent streams."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little")


def replicate_rng(seed: int, name: str, replicate: int) -> np.random.Generator:
    return np.random.default_rng(
        np.random.SeedSequence(seed, spawn_key=(target_key(name), replicate))
    )


def parameter_names(result: LmmResult) -> list[str]:
    """lme4's ``confint`` names: .sig01, .sig02, … one per covariance parameter (sd on T's
    diagonal, correlation off it; only the sd's for ``(x || g)``), .sigma, the fixed effects."""
    q = len(result.random_names)
    return [*result.specification.sigma_parameter_names(q), ".sigma", *result.fixed_names]


def parameter_values(
    specification: ModelSpecification, theta: np.ndarray, sigma: float, beta: np.ndarray, q: int
) -> np.ndarray:
    """SDs and correlations of the random effects in θ's order, σ, then β (lme4's order)."""
    return np.concatenate([specification.sigma_parameters(theta, sigma, q), [sigma], beta])


# ----- chunks ----------------------------------------------------------------------------------


def confint_chunk(result: LmmResult, name: str, seed: int, replicates: range) -> pd.DataFrame:
    """Replicates of a confidence-interval target: one row each, lme4's parameter names."""
    model = Refittable.from_result(result)
    names = parameter_names(result)
    rows = []
    for r in replicates:
        cp = model.simulated_cross_products(replicate_rng(seed, name, r))
        refit = model.refit(cp, [model.theta])
        values = parameter_values(
            model.specification, refit["theta"], refit["sigma"], refit["beta"], model.q
        )
        rows.append(
            {
                "replicate": r,
                "converged": refit["converged"],
                "verified": refit["verified"],
                "singular": refit["singular"],
                **dict(zip(names, values, strict=True)),
            }
        )
    return pd.DataFrame(rows)


def lrt_chunk(
    reduced: LmmResult, full: LmmResult, name: str, seed: int, replicates: range
) -> pd.DataFrame:
    """Replicates of a bootstrap LR test: simulate from the reduced fit, refit both."""
    null = Refittable.from_result(reduced)
    alternative = Refittable.from_result(full)
    # The full model is also started at the null fit embedded in its parameter space
    # (zero for the added random terms), so a replicate near the null is not missed.
    embedded = embed_theta(reduced, full)
    rows = []
    for r in replicates:
        y = null.simulate(replicate_rng(seed, name, r))
        fit0 = null.refit(null.cross_products_for(y), [null.theta])
        fit1 = alternative.refit(alternative.cross_products_for(y), [alternative.theta, embedded])
        rows.append(
            {
                "replicate": r,
                "lrt": fit0["criterion"] - fit1["criterion"],
                "converged": fit0["converged"] and fit1["converged"],
                "verified": fit0["verified"] and fit1["verified"],
                "singular_reduced": fit0["singular"],
                "singular_full": fit1["singular"],
            }
        )
    return pd.DataFrame(rows)


def chunk_range(chunk: int, chunk_size: int, nsim: int) -> range:
    start = chunk * chunk_size
    if start >= nsim:
        raise ValueError(f"chunk {chunk} starts at {start}, beyond nsim = {nsim}")
    return range(start, min(start + chunk_size, nsim))


def n_chunks(nsim: int, chunk_size: int) -> int:
    return math.ceil(nsim / chunk_size)


def _model(record: FitRecord, data: pd.DataFrame, reml: bool) -> LmmResult:
    """The model a replicate simulates from or refits: the fit file's own fit, restored at
    its θ̂ and checked (no optimizer), or, where the test needs the other estimation (a
    fixed-effect test by ML of REML fits), fitted afresh, as R's anova() refits."""
    if reml == (record["estimation"] == "REML"):
        return restore(record, data)
    return fit(from_record(record).with_reml(reml), data)


def chunk_job(
    *,
    name: str,
    kind: Literal["confint", "lrt"],
    nsim: int,
    seed: int,
    chunk: int,
    chunk_size: int,
    data: Path,
    fit: list[Path],
    comparison: Path | None = None,
    out: Path,
) -> pd.DataFrame:
    """One chunk of parametric-bootstrap replicates of one target, as a CSV table.

    The model(s) are restored from their fit records (``fit``: one for an interval, the
    reduced and the full model for a test, with its ``comparison`` record); each
    replicate's seed is derived from ``seed``, the target's name and its replicate number."""
    students = read_prepared(data)
    records = [FIT.read(p) for p in fit]
    replicates = chunk_range(chunk, chunk_size, nsim)
    if kind == "confint":
        (record,) = records
        result = _model(record, students, record["estimation"] == "REML")
        table = confint_chunk(result, name, seed, replicates)
    else:
        if comparison is None:
            raise HlmrepError(f"bootstrap {name}: a likelihood-ratio target needs its comparison")
        reml = COMPARISON.read(comparison)["estimation"] == "REML"
        reduced, full = (_model(r, students, reml) for r in records)
        table = lrt_chunk(reduced, full, name, seed, replicates)
    write_atomically(Path(out), lambda p: table.to_csv(p, index=False, float_format="%.17g"))
    return table
