"""The live lme4 cross-check: is R with lme4 here, and how closely do the two engines agree?

Graders trust lme4, so when it is installed the workflow fits every configured model in
lme4 too (``workflow/scripts/lme4_fit.R``) and this module puts the two fits side by side.
Agreement is measured, per model, as the largest relative difference in the fixed effects,
their standard errors and the variance components (variances and the residual variance),
the largest absolute difference in the random-effect correlations (already on a unit scale),
and the difference in the criterion (REML criterion or ML deviance, as lme4 defines them).

Where lme4's criterion is higher than ours, lme4 stopped before the optimum, and the
parameters may then differ in any digit; the cross-check says so rather than calling it a
disagreement.  Where ours is higher, our optimum is not one, and that is a failure.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from hlmrep import user_cache
from hlmrep.data.tables import read_prepared
from hlmrep.errors import HlmrepError
from hlmrep.files import read_json
from hlmrep.records.crosscheck import (
    CROSSCHECK,
    CrosscheckRecord,
    CrosscheckStatus,
    ModelAgreement,
)
from hlmrep.records.fit import FIT

#: The values of ``crosscheck.lme4`` in config.yaml.
MODES = ("auto", "true", "false")
#: A criterion difference, evaluated by one engine at two θ, smaller than this (absolute,
#: criterion units; ~2e-14 relative at HSB's ~46 000) is rounding, not a better optimum.
#: Seen on HSB: identical optima differ by at most ~1e-10.
OPTIMUM_NOISE = 1e-9
#: "Agree to 5 significant digits": every relative difference at most this.
FIVE_DIGITS = 1e-5
#: What `detect_lme4` asks R: its version and lme4's, then the folders its answer depends
#: on (its library folders, the two packages' folders, the user and site library folders it
#: would add if they existed), or an error naming what is missing.
_PROBE = (
    'for (p in c("lme4", "jsonlite")) if (!requireNamespace(p, quietly = TRUE)) '
    'stop("R package ", p, " is not installed", call. = FALSE); '
    'cat(R.version.string, as.character(packageVersion("lme4")), sep = "\\n"); '
    "split <- function(v) path.expand(strsplit(Sys.getenv(v), .Platform$path.sep)[[1]]); "
    'cat(paste("folder", c(.libPaths(), find.package(c("lme4", "jsonlite")), '
    'split("R_LIBS_USER"), split("R_LIBS_SITE"))), sep = "\\n")'
)
#: The probe's answers kept between runs (it costs a no-op rerun about a second).
PROBE_CACHE = ("lme4_probe.json",)


class CrosscheckUnavailableError(HlmrepError):
    """``crosscheck.lme4: true`` but R with lme4 cannot be run here."""


@dataclass(frozen=True)
class Lme4Availability:
    """Whether ``rscript`` runs and has lme4 (and jsonlite), with versions or the reason."""

    available: bool
    reason: str
    r_version: str | None = None
    lme4_version: str | None = None


def detect_lme4(rscript: str = "Rscript", timeout: float = 120.0) -> Lme4Availability:
    """Ask ``rscript`` for its R and lme4 versions; never raises.

    Starting R to ask costs every parse of the workflow (a no-op rerun's too) about a
    second, so a positive answer is kept in the user's cache (:mod:`hlmrep.user_cache`)
    with a stamp of everything it depends on: the Rscript file, every ``R_`` environment
    variable, and the folders R named (its library folders, lme4's and jsonlite's
    folders and DESCRIPTION files, the user and site library folders whether they exist
    or not). Installing, removing or updating a package changes a folder's or a
    DESCRIPTION's modification time, so the probe runs again. A negative answer is never
    kept: it is asked again, so installing lme4 is seen at once.
    """
    executable = shutil.which(rscript)
    if executable is None:
        return Lme4Availability(False, f"Rscript not found: {rscript!r} is not on PATH")
    kept = _kept_probe(executable)
    if kept is not None:
        return kept
    try:
        done = subprocess.run(
            [executable, "--vanilla", "-e", _PROBE],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return Lme4Availability(False, f"{executable} could not be run: {error}")
    if done.returncode != 0:
        message = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no output"
        return Lme4Availability(False, f"{executable}: {message}")
    lines = done.stdout.strip().splitlines()
    r_version, lme4_version = [*lines, "?", "?"][:2]
    found = Lme4Availability(True, f"{executable} has lme4 {lme4_version}", r_version, lme4_version)
    folders = sorted({line[len("folder ") :] for line in lines[2:] if line.startswith("folder ")})
    _keep_probe(executable, folders, found)
    return found


def _probe_stamp(executable: str, folders: list[str]) -> list[Any]:
    """What a kept answer depends on, as it is now (see :func:`detect_lme4`)."""

    def stat(path: str) -> list[int] | None:
        try:
            found = os.stat(path)
        except OSError:
            return None
        return [found.st_mtime_ns, found.st_size, found.st_ino]

    variables = sorted((k, v) for k, v in os.environ.items() if k.startswith("R_"))
    paths = [executable, os.path.realpath(executable)]
    for folder in folders:
        paths += [folder, os.path.join(folder, "DESCRIPTION")]
    return [[list(pair) for pair in variables], [[p, stat(p)] for p in paths]]


def _kept_probe(executable: str) -> Lme4Availability | None:
    """The kept answer for ``executable`` if nothing it depends on changed, else None."""
    try:
        kept = user_cache.read_json(user_cache.folder(*PROBE_CACHE))
    except RuntimeError:  # no home folder
        return None
    entry = kept.get(executable) if isinstance(kept, dict) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("folders"), list):
        return None
    folders = [f for f in entry["folders"] if isinstance(f, str)]
    answer = entry.get("answer")
    if entry.get("stamp") != _probe_stamp(executable, folders) or not isinstance(answer, dict):
        return None
    try:
        found = Lme4Availability(**answer)
    except TypeError:
        return None
    return found if found.available else None


def _keep_probe(executable: str, folders: list[str], found: Lme4Availability) -> None:
    try:
        path = user_cache.folder(*PROBE_CACHE)
    except RuntimeError:  # no home folder: only slower
        return
    kept = user_cache.read_json(path)
    entries = kept if isinstance(kept, dict) else {}
    stamp = _probe_stamp(executable, folders)
    entries[executable] = {"stamp": stamp, "folders": folders, "answer": asdict(found)}
    user_cache.write_json(path, entries)


def plan(mode: str | bool, rscript: str, conda: bool = False) -> dict[str, Any]:
    """Decide, when the workflow is parsed, whether the lme4 rules run.

    ``true`` with no usable R raises at once (before any job runs); ``auto`` records why it
    does not run; ``false`` records that it was switched off.  Under ``--sdm conda`` the R
    environment comes from envs/lme4.yaml, so it is not looked for on PATH.
    """
    mode = _mode(mode)
    if mode == "false":
        return {"mode": mode, "run": False, "reason": "switched off (crosscheck.lme4: false)"}
    if conda:
        return {"mode": mode, "run": True, "reason": "R and lme4 from envs/lme4.yaml (--sdm conda)"}
    found = detect_lme4(rscript)
    if mode == "true" and not found.available:
        raise CrosscheckUnavailableError(
            f"crosscheck.lme4 is true in the config, but R with lme4 cannot be run: "
            f"{found.reason}. Install R and lme4 (Debian: apt-get install r-base-core "
            f"r-cran-lme4 r-cran-jsonlite), set crosscheck.rscript to an Rscript that has "
            f"them, run with --sdm conda, or set crosscheck.lme4 to auto or false."
        )
    reason = found.reason if found.available else f"not run: {found.reason}"
    return {"mode": mode, "run": found.available, **asdict(found), "reason": reason}


def _mode(mode: str | bool) -> str:
    # YAML reads true/false as booleans; the schema allows both spellings.
    text = str(mode).lower()
    if text not in MODES:
        raise HlmrepError(f"crosscheck.lme4 must be one of {MODES}, got {mode!r}")
    return text


def _relative(ours: float, theirs: float) -> float:
    scale = max(abs(ours), abs(theirs))
    return 0.0 if scale == 0 else abs(ours - theirs) / scale


def _digits(relative: float) -> float | None:
    """Significant digits agreed: -log10 of the relative difference (None if identical)."""
    return None if relative == 0 else -math.log10(relative)


def parameters(ours: Mapping[str, Any], lme4: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every estimate both engines report, paired by name, with its difference."""
    rows: list[dict[str, Any]] = []

    def add(kind: str, name: str, a: float, b: float, absolute: bool = False) -> None:
        difference = abs(a - b) if absolute else _relative(a, b)
        rows.append(
            {
                "kind": kind,
                "parameter": name,
                "ours": a,
                "lme4": b,
                "difference": difference,
                "measure": "absolute" if absolute else "relative",
            }
        )

    theirs_fixed = {row["term"]: row for row in lme4["fixed_effects"]}
    for row in ours["fixed_effects"]:
        other = theirs_fixed.get(row["term"])
        if other is None:
            raise HlmrepError(
                f"model {ours.get('name')!r}: lme4 has no fixed effect {row['term']!r} "
                f"(it has {sorted(theirs_fixed)}); the two fits are not of the same model"
            )
        add("fixed effect", row["term"], row["estimate"], other["estimate"])
        add("standard error", row["term"], row["std_error"], other["std_error"])
    ours_re, theirs_re = ours["random_effects"], lme4["random_effects"]
    if list(ours_re["terms"]) != list(theirs_re["terms"]):
        raise HlmrepError(
            f"model {ours.get('name')!r}: random-effect terms differ: ours "
            f"{ours_re['terms']}, lme4 {theirs_re['terms']}"
        )
    for term, a, b in zip(
        ours_re["terms"], ours_re["variance"], theirs_re["variance"], strict=True
    ):
        add("variance component", f"var({term})", a, b)
    add("variance component", "var(Residual)", ours["residual_variance"], lme4["residual_variance"])
    theirs_corr = {(c["term1"], c["term2"]): c["correlation"] for c in theirs_re["correlation"]}
    for row in ours_re["correlation"]:
        b = theirs_corr[(row["term1"], row["term2"])]
        add("correlation", f"corr({row['term1']}, {row['term2']})", row["correlation"], b, True)
    return rows


def _agreement(rows: list[dict[str, Any]], value: str) -> dict[str, Any]:
    """Largest differences between ``value`` (a column of ``rows``) and lme4's, by kind."""

    def largest(kind: str) -> float:
        return max(
            (_difference(r[value], r["lme4"], r["measure"]) for r in rows if r["kind"] == kind),
            default=0.0,
        )

    out: dict[str, float | None] = {
        "max_relative_difference_fixed": largest("fixed effect"),
        "max_relative_difference_std_error": largest("standard error"),
        "max_relative_difference_variance": largest("variance component"),
        "max_absolute_difference_correlation": largest("correlation"),
    }
    out["significant_digits"] = _digits(max(v for v in out.values() if v is not None))
    return out


def _difference(a: float, b: float, measure: str) -> float:
    return abs(a - b) if measure == "absolute" else _relative(a, b)


def compare_model(
    ours: Mapping[str, Any], lme4: Mapping[str, Any], ours_at_lme4_theta: Mapping[str, Any]
) -> dict[str, Any]:
    """One model's agreement line: differences, criterion gap and a verdict.

    ``ours_at_lme4_theta`` is our engine evaluated at the θ where lme4 stopped.  It separates
    the two questions a difference raises: do the engines compute the same thing (compare
    at the same θ), and did both reach the optimum (compare the criterion at each one's θ,
    both evaluated by our engine, so that rounding differences between engines cannot
    masquerade as a gap).
    """
    if ours["estimation"] != lme4["estimation"]:
        raise HlmrepError(
            f"model {ours.get('name')!r}: ours is {ours['estimation']}, lme4's is "
            f"{lme4['estimation']}; the cross-check compares like with like"
        )
    rows = parameters(ours, lme4)
    at_theta = {
        (r["kind"], r["parameter"]): r["ours"] for r in parameters(ours_at_lme4_theta, lme4)
    }
    for row in rows:
        row["ours_at_lme4_theta"] = at_theta[(row["kind"], row["parameter"])]
    at_optimum = _agreement(rows, "ours")
    same_theta = _agreement(rows, "ours_at_lme4_theta")
    criterion_ours = _criterion(ours)
    criterion_at_lme4_theta = _criterion(ours_at_lme4_theta)
    same_theta["criterion_difference"] = lme4["criterion"] - criterion_at_lme4_theta
    gap = criterion_at_lme4_theta - criterion_ours
    digits = at_optimum["significant_digits"]
    if gap < -OPTIMUM_NOISE:
        verdict = "ours-not-optimal"
        explanation = (
            f"lme4's θ has a {lme4['criterion_name']} {-gap:.3g} lower than ours: our fit is "
            f"not the optimum"
        )
    elif digits is None or digits >= 5:
        verdict = "agree"
        explanation = "same optimum; every estimate agrees to at least 5 significant digits"
    elif gap > OPTIMUM_NOISE:
        verdict = "lme4-not-optimal"
        if gap < 1e-3:
            explanation = (
                f"lme4 stopped {gap:.2g} above the optimum ({lme4['criterion_name']}), within "
                f"its convergence tolerance on a flat ridge; so its estimates agree with the "
                f"optimum's to {digits:.1f} significant digits only"
            )
        else:
            explanation = (
                f"lme4 stopped {gap:.4g} above the optimum"
                + (" at a singular fit" if lme4["singular"] and not ours["singular"] else "")
                + "; its estimates are not the optimum's"
            )
    else:
        verdict = "flat-optimum"
        explanation = (
            f"same {lme4['criterion_name']} within {OPTIMUM_NOISE:g}, but the estimates agree "
            f"to {digits:.1f} significant digits only: the criterion is flat there"
        )
    return {
        "verdict": verdict,
        "explanation": explanation,
        "criterion_name": lme4["criterion_name"],
        "criterion_ours": criterion_ours,
        "criterion_lme4": lme4["criterion"],
        "criterion_difference": lme4["criterion"] - criterion_ours,
        "criterion_gap_lme4_theta": gap,
        "at_optimum": at_optimum,
        "at_lme4_theta": same_theta,
        "singular_ours": ours["singular"],
        "singular_lme4": lme4["singular"],
        "lme4_convergence_messages": lme4.get("convergence_messages", []),
        "lme4_function_evaluations": lme4.get("function_evaluations"),
        "parameters": rows,
    }


def _criterion(fit: Mapping[str, Any]) -> float:
    from hlmrep.engine import criterion_of

    return criterion_of(fit)


def crosscheck_job(
    *,
    status: str,
    data: Path | None = None,
    fit: dict[str, Path],
    lme4: dict[str, Path] | None = None,
    out: Path,
) -> CrosscheckRecord:
    """Our fits beside lme4's: the record of per-model agreement, or why it did not run.

    ``status`` is the parse-time plan as JSON (was R with lme4 found, and why not); ``lme4``
    holds lme4's fits when it ran (none otherwise).  Our fit is restored from its fit
    record (no refit) and evaluated at lme4's θ too.
    """
    plan = cast(CrosscheckStatus, json.loads(status))  # checked with the record it is in
    data_path, fits, lme4_fits = data, fit, lme4 or {}
    from hlmrep.engine import restore  # here, not at the top: the plan is read at parse time

    record: CrosscheckRecord = {"status": plan, "ran": bool(plan.get("run")), "models": {}}
    if record["ran"]:
        missing = sorted(set(fits) - set(lme4_fits))
        if missing or data_path is None:
            raise HlmrepError(f"the cross-check ran but has no lme4 fit for {missing}")
        table = read_prepared(Path(data_path))
        for name, path in fits.items():
            ours = FIT.read(path)
            theirs = read_json(lme4_fits[name], "lme4 fit")
            restored = restore(ours, table)
            # lme4's θ holds only the covariance parameters ((x || g): T's diagonal).
            theta = np.asarray(theirs["theta"], dtype=float)
            if len(theta) != len(restored.theta):
                theta = restored.specification.embed(theta, len(restored.random_names))
            at_theta = restored.at_theta(theta)
            agreement = {
                "lme4": _lme4_summary(theirs),
                **compare_model(ours, theirs, at_theta.to_dict(include_groups=False)),
            }
            record["models"][name] = cast(ModelAgreement, agreement)  # checked when written
        verdicts = [m["verdict"] for m in record["models"].values()]
        record["counts"] = {v: verdicts.count(v) for v in sorted(set(verdicts))}
        first = next(iter(record["models"].values()), None)
        record["r_version"] = first["lme4"]["r_version"] if first else None
        record["lme4_version"] = first["lme4"]["lme4_version"] if first else None
    CROSSCHECK.write(out, record)
    if not record["ran"]:
        print(f"lme4 cross-check not run: {plan.get('reason')}")
    for name, line in record["models"].items():
        print(f"{name}: {line['verdict']}: {line['explanation']}")
    return record


def _lme4_summary(fit: dict[str, Any]) -> dict[str, Any]:
    keep = ("r_version", "lme4_version", "optimizer", "theta", "logLik", "AIC", "BIC", "sigma")
    return {key: fit.get(key) for key in keep}


#: Below this many significant digits at the same θ, the engines do not compute the same
#: model (seen on HSB: 12.6 digits and more).
SAME_THETA_DIGITS = 8


def failures(record: CrosscheckRecord) -> list[str]:
    """What in a cross-check record (read by :data:`~hlmrep.records.crosscheck.CROSSCHECK`,
    which checks it) means our engine is wrong (empty: nothing).

    Our fit not being the optimum, or the two engines disagreeing at the same θ, fail;
    lme4 stopping short of the optimum does not, it is reported.
    """
    out = []
    for name, line in record["models"].items():
        if line["verdict"] == "ours-not-optimal":
            out.append(f"{name}: {line['explanation']}")
        digits = line["at_lme4_theta"]["significant_digits"]
        if digits is not None and digits < SAME_THETA_DIGITS:
            out.append(
                f"{name}: at lme4's θ our estimates agree with lme4's to {digits:.1f} "
                f"significant digits only (expected {SAME_THETA_DIGITS} or more)"
            )
    return out
