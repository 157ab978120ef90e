"""The workflow through Snakemake's SLURM executor on a real one-node cluster on localhost.

A reduced config (three models, one comparison, a 40-replicate bootstrap in four chunks,
the figures and the lme4 cross-check) runs once locally and once through
``--workflow-profile workflow/profiles/slurm``; the results must be byte-identical and the
job tables the same. Then a SLURM job is cancelled with ``scancel`` mid-run: Snakemake must
report it, and a rerun must complete the work without taking a partial output as done.

Needs root and Debian's slurm-wlm and munge: skipped without them, except under CI, where
.ci/run installs them and the test fails instead.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, copy_workflow, job_counts, marked_incomplete, run_snakemake
from slurm_cluster import job_states, slurm_cluster, unavailable_reason

pytestmark = pytest.mark.slow

#: Our test cluster has no accounting database, so no sacct: the plugin asks squeue, and
#: starts asking after 2 s instead of 40, then every second instead of every 10 (a local
#: one-node cluster answers at once; a real cluster's scheduler would not want that).
#: Everything else comes from the profile.
CLUSTER_FLAGS = (
    "--workflow-profile",
    "workflow/profiles/slurm",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--seconds-between-status-checks",
    "1",
)
#: Files that hold timings or host-specific text, not results.
NOT_RESULTS = ("logs", "benchmarks")
CHUNKS = "results/bootstrap/ci_model3/chunks"
#: The fault test builds only the bootstrap (and what it needs): the data, model3's fit,
#: the chunks and the gather.
BOOTSTRAP_TARGET = "results/bootstrap/ci_model3/summary.json"


def _reduced_config(path: Path) -> Path:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["models"] = {
        name: config["models"][name] for name in ("model3", "mod3_null", "table_4_5")
    }
    config["comparisons"] = {"random_cses_slope": config["comparisons"]["random_cses_slope"]}
    config["variance_explained"] = {}
    config["bootstrap"]["chunk_size"] = 10
    config["bootstrap"]["targets"] = {
        "ci_model3": {"kind": "confint", "model": "model3", "nsim": 40, "level": 0.95}
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _results(work: Path) -> dict[str, bytes]:
    """Every result file (not logs or timings), and the scorecard, by relative path."""
    files = {}
    for path in sorted((work / "results").rglob("*")):
        relative = path.relative_to(work)
        if path.is_file() and relative.parts[1] not in NOT_RESULTS:
            files[str(relative)] = path.read_bytes()
    for name in ("scorecard.json", "scorecard.csv"):
        files[f"reports/{name}"] = (work / "reports" / name).read_bytes()
    return files


def _submitted(output: str) -> list[str]:
    return re.findall(r"has been submitted with SLURM jobid (\d+)", output)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = unavailable_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"the SLURM test must run in CI (.ci/run installs it): {reason}")
        pytest.skip(reason)
    with slurm_cluster(tmp_path_factory.mktemp("slurm")) as node:
        yield node


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("local"))
    _reduced_config(work / "config.yaml")
    done = run_snakemake(work, "--cores", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    return work, done.stdout + done.stderr


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    work = copy_workflow(tmp_path_factory.mktemp("slurm_run"))
    _reduced_config(work / "config.yaml")
    done = run_snakemake(work, *CLUSTER_FLAGS)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return work, done.stdout + done.stderr


def test_jobs_went_through_sbatch_and_finished_on_the_node(cluster, slurm_run, capsys):
    _work, output = slurm_run
    submitted = _submitted(output)
    # prepare_data, three fits, one comparison, and the groups: lme4 fits, chunks, figures.
    assert len(submitted) >= 8, output[-3000:]
    states = job_states()
    for job in submitted:
        assert states[job] == ("COMPLETED", cluster), (job, states.get(job))
    # Into the CI log: what was submitted, and where and how it ended.
    with capsys.disabled():
        print("\nSLURM run of the reduced config (tests/workflow/test_slurm.py):")
        for line in re.findall(r"^Job .* has been submitted with SLURM jobid \d+.*$", output, re.M):
            job = re.search(r"SLURM jobid (\d+)", line).group(1)
            state, node = states[job]
            what = re.search(r"slurm_logs/([^/]+)/", line)
            print(f"  SLURM job {job} ({what.group(1) if what else '?'}): {state} on node {node}")
    # The four chunks went as one group job (the plugin names its log after the group).
    assert len(re.findall(r"slurm_logs/group_bootstrap_bootstrap_chunk/\d+\.log", output)) == 1
    # Light jobs ran on the submitting machine.
    for rule in ("bootstrap_gather", "crosscheck", "scorecard", "report"):
        assert f"localrule {rule}:" in output, rule


def test_slurm_results_are_byte_identical_to_a_local_run(local_run, slurm_run):
    local, slurm = _results(local_run[0]), _results(slurm_run[0])
    assert sorted(local) == sorted(slurm)
    assert len(list(k for k in local if k.startswith(CHUNKS))) == 4
    different = [name for name in local if local[name] != slurm[name]]
    assert not different


def test_slurm_and_local_job_tables_list_the_same_jobs(local_run, slurm_run):
    local, slurm = job_counts(local_run[1]), job_counts(slurm_run[1])
    assert local == slurm
    assert local["bootstrap_chunk"] == 4 and local["figure"] == 8


def test_a_cancelled_job_fails_the_run_and_a_rerun_completes_it(
    cluster, local_run, tmp_path_factory
):
    work = copy_workflow(tmp_path_factory.mktemp("cancelled"))
    _reduced_config(work / "config.yaml")
    log = work / "snakemake_first.log"
    with log.open("w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "snakemake", BOOTSTRAP_TARGET, *CLUSTER_FLAGS],
            cwd=work,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # The group job running the four bootstrap chunks one after another: cancel it
        # once it has run a few seconds, so that some chunks are written and some not.
        group_logs = work / ".snakemake" / "slurm_logs" / "group_bootstrap_bootstrap_chunk"
        deadline = time.time() + 600
        job = None
        while time.time() < deadline and job is None:
            found = sorted(group_logs.glob("*.log")) if group_logs.exists() else []
            if found and job_states().get(found[0].stem, ("", ""))[0] == "RUNNING":
                job = found[0].stem
            time.sleep(0.5)
        assert job, "the bootstrap group job never ran"
        while time.time() < deadline and not list((work / CHUNKS).glob("*.csv")):
            time.sleep(0.2)
        subprocess.run(["scancel", job], check=True)
        returncode = process.wait(timeout=900)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    output = log.read_text()
    assert returncode != 0
    # Snakemake reports the group job's failure, naming its SLURM log, and every job in it.
    assert "Error in group bootstrap" in output
    assert f"slurm_logs/group_bootstrap_bootstrap_chunk/{job}.log" in output
    assert output.count("Error in rule bootstrap_chunk:") >= 4
    assert job_states()[job][0] == "CANCELLED"

    # What the cancelled job left: chunks it finished, perhaps one it was writing. A chunk
    # Snakemake counts as done (present, not marked incomplete) must be the whole file.
    local = _results(local_run[0])
    left = {p.name for p in (work / CHUNKS).glob("*.csv")}
    kept = {name for name in left if not marked_incomplete(work, f"{CHUNKS}/{name}")}
    for name in kept:
        assert (work / CHUNKS / name).read_bytes() == local[f"{CHUNKS}/{name}"], name
    assert len(kept) < 4
    assert not (work / "results/bootstrap/ci_model3/summary.json").exists()

    rerun = run_snakemake(work, BOOTSTRAP_TARGET, *CLUSTER_FLAGS)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    table = job_counts(rerun.stdout + rerun.stderr)
    assert table["bootstrap_chunk"] == 4 - len(kept)
    assert "fit_model" not in table  # what had finished is not redone
    bootstrap = {name: content for name, content in local.items() if "bootstrap" in name}
    assert len(bootstrap) == 6  # four chunks, the replicates table and the summary
    for name, content in bootstrap.items():
        assert (work / name).read_bytes() == content, name
