"""The Snakemake workflow itself: lint, dry run, a real run in a temporary copy, no-op rerun."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import copy_workflow, run_snakemake

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_snakemake(workdir, *args)


@pytest.fixture()
def workflow_copy(tmp_path) -> Path:
    return copy_workflow(tmp_path)


def test_lint_passes():
    done = snakemake(ROOT, "--lint")
    assert done.returncode == 0, done.stdout + done.stderr


def test_dry_run_lists_the_data_stage(workflow_copy):
    done = snakemake(workflow_copy, "-n")
    assert done.returncode == 0, done.stderr
    assert "prepare_data" in done.stdout


def test_real_run_then_nothing_to_do(pipeline):
    summary = json.loads((pipeline / "results/data/summary.json").read_text())
    assert summary["table_4_1"]["n_students"] == 7185
    assert summary["table_4_1"]["n_schools"] == 160
    assert (pipeline / "results/logs/prepare_data.log").exists()
    assert (pipeline / "results/benchmarks/prepare_data.tsv").exists()
    second = snakemake(pipeline, "--cores", "1")
    assert second.returncode == 0
    assert "Nothing to be done" in second.stdout + second.stderr


def test_bad_csv_input_fails_the_job_and_leaves_no_output(workflow_copy, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("bad")
    students = tmp_path / "students.csv"
    schools = tmp_path / "schools.csv"
    students.write_text("id,minority,female,ses,mathach\n1,0,1,0.5,12\n1,0,0,x,13\n")
    schools.write_text("id,size,sector,pracad,disclim,himinty,meanses\n1,100,0,0.3,0.1,0,0.2\n")
    config = yaml.safe_load((workflow_copy / "config.yaml").read_text())
    config["data"].update(source="csv", students_csv=str(students), schools_csv=str(schools))
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    out = tmp_path / "run"
    done = snakemake(
        workflow_copy,
        "--cores",
        "1",
        "--configfile",
        str(config_path),
        "--directory",
        str(out),
        "--snakefile",
        str(workflow_copy / "Snakefile"),
    )
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "column 'ses': non-numeric value(s) 'x' at row 2 (line 3)" in output
    assert not (out / "results/data/hsb.csv").exists()
    assert not (out / "results/data/summary.json").exists()
