"""The project's shape: an engine that knows no workflow, rules as the one source of paths,
code dependencies computed from imports, and the smoke configuration.

The code-dependency test edits every package file in a copy of the project, one at a time,
and asks Snakemake (dry run) which jobs would rerun; the expected rules are written out
below from what each stage's module does, independently of hlmrep.pipeline.dependencies.
"""

from __future__ import annotations

import argparse
import ast
import os
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Literal

import pytest
import yaml

from conftest import ROOT, copy_workflow, job_counts

SRC = ROOT / "src" / "hlmrep"
ENGINE = SRC / "engine"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


# ----- the engine never imports the workflow side ----------------------------------------------


@pytest.mark.parametrize("path", sorted(ENGINE.glob("*.py")), ids=lambda p: p.name)
def test_engine_modules_import_only_the_engine_and_errors(path):
    """Static: every import statement of an engine module, inside functions too."""
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    ours = {name for name in imported if name == "hlmrep" or name.startswith("hlmrep.")}
    allowed = {name for name in ours if name.startswith("hlmrep.engine")} | {"hlmrep.errors"}
    assert ours <= allowed, f"{path.name} imports the workflow side: {sorted(ours - allowed)}"


def test_a_fit_loads_no_workflow_module():
    """Runtime: fitting, printing, restoring and refitting load only the engine."""
    program = (
        "import sys\n"
        "from hlmrep.engine import fit, restore, Refittable\n"
        "import numpy as np, pandas as pd\n"
        "rng = np.random.default_rng(1)\n"
        "g = np.repeat(np.arange(20), 10)\n"
        "x = rng.normal(size=g.size)\n"
        "d = pd.DataFrame({'y': rng.normal(size=20)[g] + x + rng.normal(size=g.size),\n"
        "                  'x': x, 'g': g})\n"
        "r = fit('y ~ x + (1 | g)', d)\n"
        "r.summary()\n"
        "restored = restore(r.to_dict(), d)\n"
        "Refittable.from_result(restored)\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('hlmrep'))\n"
        "print('\\n'.join(loaded))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded = done.stdout.split()
    workflow_side = [m for m in loaded if not m.startswith("hlmrep.engine")]
    assert workflow_side == ["hlmrep", "hlmrep.errors"], workflow_side


def test_restore_refuses_a_record_of_other_data(hsb, fit_hsb):
    from hlmrep.engine import restore
    from hlmrep.errors import ModelSpecificationError

    record = fit_hsb("mathach ~ cses + (cses | school)").to_dict()
    restored = restore(record, hsb)
    assert restored.criterion == record["reml_criterion"]
    with pytest.raises(ModelSpecificationError, match="does not belong to these data"):
        restore(record, hsb.iloc[:-50])


# ----- rules are the only place where paths are written ---------------------------------------

#: Modules that are neither the engine nor a job's stage: they may name default paths
#: (the `check` command's defaults for a user at the repository's root).
NOT_STAGES = {"cli.py"}
#: Subpackages that are not stages: the engine (no paths at all), the grading (its own
#: tests), developer tools and the pipeline's parse-time helpers.
NOT_STAGE_PACKAGES = {"engine", "grading", "dev", "pipeline"}


@pytest.mark.parametrize(
    "path",
    sorted(
        p
        for p in SRC.rglob("*.py")
        if p.name not in NOT_STAGES and p.relative_to(SRC).parts[0] not in NOT_STAGE_PACKAGES
    ),
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_stage_modules_write_no_results_paths(path):
    """A stage that rebuilt a path would spell a results folder or a results file's name
    (``results/``, ``hsb.csv``, ``_schools.csv``, ``summary.json``, …), as the stages once
    did; now the rules give every path."""
    import re

    results_name = re.compile(
        r"(^|/)(results|reports)(/|$)|hsb\.csv$|_schools\.csv$|_observations\.csv$"
        r"|summary\.json$|scorecard\.(json|csv)$|report\.html$|crosscheck\.json$"
        r"|variance_explained\.json$"
    )
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert not results_name.search(node.value), (path.name, node.value)


def test_no_job_gets_a_config_section_as_json(tmp_path):
    """Every job's command: config values one by one, never a config section as JSON."""
    work = copy_workflow(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-p", "--forceall"],
        cwd=work,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    commands = [line for line in done.stdout.splitlines() if line.startswith("Shell command:")]
    assert sum(" -m hlmrep " in command for command in commands) > 30
    for command in commands:
        assert '{"' not in command.replace("--status '{\"", ""), command


def _job_commands(work: Path, *options: str) -> list[list[str]]:
    """Every job's ``python -m hlmrep JOB ...`` words in a dry run of the workflow."""
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-p", "--forceall", *options],
        cwd=work,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    commands = []
    for line in done.stdout.splitlines():
        if line.startswith("Shell command:") and " -m hlmrep " in line:
            words = shlex.split(line.split(" -m hlmrep ", 1)[1])
            commands.append(words[: words.index("2>&1")])
    return commands


def test_every_rule_command_parses_by_its_job_functions_signature(tmp_path):
    """The rule's flags are the job function's parameters: a flag the function does not
    take, or a required parameter the rule leaves out, fails here, not on a cluster node."""
    from hlmrep.cli import JOBS, job_function, job_parser

    work = copy_workflow(tmp_path)
    shutil.copytree(ROOT / ".test" / "submissions", work / "submissions")  # the grading jobs
    shutil.copytree(ROOT / ".test", work / ".test", ignore=shutil.ignore_patterns("results"))
    # The default configuration, and the smoke one (no lme4 cross-check, one chunk each).
    commands = _job_commands(work) + _job_commands(work, "--directory", ".test")
    used = {words[0] for words in commands}
    assert used == set(JOBS), set(JOBS) ^ used  # every job has a rule, every rule a job
    for words in commands:
        parser = job_parser(words[0], job_function(words[0]))
        parser.exit_on_error = False
        try:
            parser.parse_args(words[1:])
        except (argparse.ArgumentError, SystemExit) as error:
            raise AssertionError(f"{shlex.join(words)}: {error}") from error


def test_a_job_parser_is_its_functions_signature():
    """Types become flags: a path, a switch, a choice, a repeated path, KEY=PATH pairs."""
    from hlmrep.cli import job_parser

    def job(
        *,
        data: Path,
        ml: bool = False,
        kind: Literal["confint", "lrt"],
        fit: list[Path],
        input: dict[str, Path],
        comparison: Path | None = None,
        meanses: Literal["sample", "school_file"] = "sample",
        level: float = 0.95,
    ) -> None:
        """A job."""

    parsed = job_parser("example", job).parse_args(
        ["--data", "d.csv", "--kind", "lrt", "--fit", "a", "--fit", "b", "--input", "k=v"]
    )
    assert parsed.data == Path("d.csv") and parsed.ml is False and parsed.kind == "lrt"
    assert parsed.fit == [Path("a"), Path("b")] and parsed.input == ["k=v"]
    assert parsed.comparison is None
    assert parsed.meanses == "sample" and parsed.level == 0.95  # the function's defaults
    with pytest.raises(SystemExit):  # --kind is required; a choice outside Literal refused
        job_parser("example", job).parse_args(["--data", "d", "--fit", "a", "--kind", "x"])

    def positional(data: Path) -> None:
        """Not keyword-only: refused when the parser is built."""

    with pytest.raises(TypeError, match="keyword-only"):
        job_parser("example", positional)


# ----- the config check names what needs a missing model --------------------------------------


def test_removing_model3_names_the_figures_that_need_it(tmp_path):
    work = copy_workflow(tmp_path)
    config = yaml.safe_load((work / "config.yaml").read_text())
    del config["models"]["model3"]
    config["comparisons"].pop("random_cses_slope")
    config["variance_explained"].pop("table_4_5_vs_4_4")
    config["variance_explained"].pop("model3_to_model3a")
    config["bootstrap"]["targets"].pop("ci_model3")
    config["bootstrap"]["targets"].pop("pb_cses_slope")
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n"], cwd=work, capture_output=True, text=True
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "models.model3 is not configured, but figure sample_schools" in output
    assert "figure figure_4_2 read its results" in output
    assert "MissingInputException" not in output


def test_the_scorecards_needs_are_what_it_reads(pipeline):
    """config.SCORECARD_NEEDS (what the parse-time warning names) against the files the
    scorecard actually reads on the default run."""
    from conftest import results_keys
    from hlmrep.pipeline.config import SCORECARD_NEEDS
    from hlmrep.replication.scorecard import explanations, textbook_rows, vignette_rows
    from hlmrep.replication.textbook import Results

    results = Results(results_keys(pipeline / "results"))
    textbook_rows(results, explanations())
    vignette_rows(results, explanations())
    read = {key for key, path in results.inputs.items() if str(path) in results.files}
    section = {"fits": "models", "hlm": "models", "comparisons": "comparisons",
               "bootstrap": "targets"}  # fmt: skip
    needed = {
        (section[key.split("/")[0]], key.split("/")[1])
        for key in read
        if key.split("/")[0] in section
    }
    declared = {
        (kind, name)
        for kind, names in SCORECARD_NEEDS.items()
        if kind != "variance_explained"
        for name in names
    }
    assert needed == declared
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert set(SCORECARD_NEEDS["variance_explained"]) == set(config["variance_explained"])


# ----- the smoke configuration, Snakemake's report, and the code dependencies -------------------


def _snakemake_in(work: Path):
    """Snakemake on the copy ``work``, importing the copy's package (PYTHONPATH)."""
    env = {**os.environ, "PYTHONPATH": str(work / "src")}

    def snakemake(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "snakemake", "--directory", ".test", *args],
            cwd=work,
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
        )

    return snakemake


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """A copy of the project (src included) run once with the smoke configuration; every
    Snakemake call on it imports the copy's package, so its files can be edited without
    touching the checkout."""
    work = tmp_path_factory.mktemp("smoke")
    copy_workflow(work)
    shutil.copytree(ROOT / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        ROOT / ".test",
        work / ".test",
        ignore=shutil.ignore_patterns("results", "reports", ".snakemake", "*.zip"),
    )
    snakemake = _snakemake_in(work)
    done = snakemake("--cores", "2")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return work, snakemake


def test_the_smoke_configuration_runs_the_whole_workflow(smoke):
    work, _ = smoke
    assert (work / ".test/reports/report.html").exists()
    card = (work / ".test/reports/scorecard.csv").read_text()
    assert "textbook.table_4_4.gamma10" in card


def test_snakemake_report_holds_figures_scorecard_and_our_report(smoke):
    work, snakemake = smoke
    done = snakemake("--report", "report.zip")
    assert done.returncode == 0, done.stderr[-2000:]
    names = zipfile.ZipFile(work / ".test/report.zip").namelist()
    assert sum(name.endswith(".png") for name in names) == 8
    assert any(name.endswith("scorecard.csv") for name in names)
    assert any(name.endswith("/report.html") and "raw" in name for name in names)


#: The grading of submissions (.test/submissions holds two): the catalogue of reference
#: models and mistakes, then one job per submission and the index.
GRADES = {"grade_submission", "grade_index"}
GRADING = {"grading_catalogue"} | GRADES
FROM_FITS = {
    "fit_model", "model_inference", "compare_models", "variance_explained",
    "bootstrap_chunk", "bootstrap_gather", "figure", "crosscheck", "scorecard", "report",
}  # fmt: skip
ALL = {"prepare_data"} | FROM_FITS | GRADING
#: What runs the engine's fits: the workflow's models, the grading catalogue, and the
#: grading jobs (which fit the models a submission writes, and its intervals).
ENGINE = FROM_FITS | GRADING
#: The job that compiles numba's kernels into their cache, which the engine's jobs wait for.
COMPILE = {"compile_kernels"}
FROM_COMPARISONS = {"compare_models", "bootstrap_chunk", "bootstrap_gather", "scorecard",
                    "report"}  # fmt: skip
SCORECARD = {"scorecard", "report"}
#: Which rules an edit to each package file reruns, downstream jobs included (an edit to a
#: file not listed reruns nothing: parse-time and command-line only code).
EXPECTED = {
    "__init__.py": ALL | COMPILE,
    "__main__.py": ALL | COMPILE,
    "cli.py": ALL | COMPILE,
    "errors.py": ALL | COMPILE,
    # The numerical code paths every process pins (the CLI calls it first).
    "code_paths.py": ALL | COMPILE,
    # Time and memory bounds of the grading jobs.
    "grading/limits.py": GRADES,
    "files.py": ALL,
    # How a job runs (its own process or a fork of the run's server), not what it computes:
    # the results are the same either way (tests/workflow/test_job_server.py).
    "job_server.py": set(),
    # The user's cache folder: the cross-check's module keeps its answer there (whether R
    # has lme4, asked when the workflow is parsed), so its job reruns.
    "user_cache.py": {"crosscheck", "report"},
    # The data stage: every later job reads the prepared table it writes.
    "data/*": ALL,
    # The typed records: the mechanism, read or written by every job (the data stage
    # writes its summary with it, and every later job reruns); each kind, by the jobs that
    # write or read it.
    # (the compiled kernels' marker is a record too: its kind's reader and writer)
    "records/__init__.py": ALL | COMPILE,
    "records/kernels.py": ENGINE | COMPILE,
    "records/figure.py": {"figure", "report"},
    "records/data_summary.py": ALL,
    # (the grading jobs import the bootstrap's code, which reads and writes them)
    "records/fit.py": FROM_FITS | GRADES,
    "records/hlm.py": FROM_FITS,
    "records/inference.py": {"model_inference", "report"},
    "records/comparison.py": FROM_COMPARISONS | GRADES,
    "records/variance_explained.py": {"variance_explained", "scorecard", "report"},
    "records/bootstrap.py": {"bootstrap_gather", "scorecard", "report"} | GRADES,
    "records/crosscheck.py": {"crosscheck", "report"},
    "records/scorecard.py": SCORECARD,
    "records/catalogue.py": GRADING,
    "records/grade.py": GRADES,
    # The compiled kernels (and the warm-up that calls them): recompiled, and every job
    # that runs the engine reruns.
    "engine/__init__.py": ENGINE | COMPILE,
    "engine/kernel.py": ENGINE | COMPILE,
    "engine/kernel_cache.py": ENGINE | COMPILE,
    "engine/warmup.py": ENGINE | COMPILE,
    "models/kernels.py": ENGINE | COMPILE,
    "engine/*": ENGINE,
    # The F tests: the inference job's, and the grading catalogue's (lmerTest's and
    # lme4's F tables of each candidate), whose grades follow it. ranova: the inference
    # job's (and the command line's) alone.
    "engine/f_tests.py": {"model_inference", "report"} | GRADING,
    "engine/ranova.py": {"model_inference", "report"},
    # Restoring a fit from its record (and reading its criterion back): the bootstrap,
    # the cross-check, the comparisons and the inference; the fits themselves never restore.
    # The grading jobs too: a printed bootstrap interval is graded against a bootstrap of
    # the model by the bootstrap's own code.
    "engine/fit_record.py": FROM_COMPARISONS | {"crosscheck", "model_inference"} | GRADES,
    "engine/simulate.py": {"bootstrap_chunk", "bootstrap_gather", "scorecard", "report"} | GRADES,
    # (the grading catalogue takes its ICC from the school statistics' definition)
    "models/__init__.py": FROM_FITS | GRADING,
    "models/fits.py": FROM_FITS,
    "models/school_statistics.py": FROM_FITS | GRADING,
    "models/comparisons.py": FROM_COMPARISONS,
    "models/inference.py": {"model_inference", "report"},
    "models/variance_explained.py": {"variance_explained", "scorecard", "report"},
    "bootstrap/__init__.py": {"bootstrap_chunk", "bootstrap_gather", "scorecard", "report"}
    | GRADES,
    "bootstrap/chunks.py": {"bootstrap_chunk", "bootstrap_gather", "scorecard", "report"} | GRADES,
    "bootstrap/summary.py": {"bootstrap_gather", "scorecard", "report"} | GRADES,
    "report/figures.py": {"figure", "report"},
    "replication/crosscheck.py": {"crosscheck", "report"},
    "replication/scorecard.py": SCORECARD,
    "replication/textbook.py": SCORECARD,
    # The printed reference numbers: the scorecard's, and the grading's (the catalogue
    # holds the printed numbers as a candidate).
    "replication/reference/*": SCORECARD | GRADING,
    # The replication package: the scorecard, the cross-check, and the grading (whose
    # references read the reference numbers).
    "replication/__init__.py": SCORECARD | {"crosscheck"} | GRADING,
    "report/html.py": {"report"},
    # The report package holds the templates the grade pages use too.
    "report/__init__.py": {"figure", "report"} | GRADES,
    "report/templates/*": {"report"} | GRADES,
    "pipeline/*": set(),
    "dev/*": set(),
    # The readers of printouts, one module per program, found by their registry: the
    # grading of submissions.
    "grading/readers/*": GRADES,
    # `python -m hlmrep read`: a user command, no job runs it.
    "grading/neutral_form.py": set(),
    # Fitting the references and the mistakes of the catalogue (its YAML files are data of
    # the grading package, which every grading job imports).
    "grading/*": GRADING,
    # Comparing numbers: the grading jobs, not the catalogue.
    "grading/verdicts.py": GRADES,
    # The grading settings' defaults: the grading jobs' signatures.
    "grading/settings.py": GRADES,
    "grading/matching.py": GRADES,
    "grading/diagnosis.py": GRADES,
    "grading/grade.py": GRADES,
    "grading/pages.py": GRADES,
    "grading/submission.py": GRADES,
    "grading/inventory.py": GRADES,
    # A platform's download: its members listed and read, its names decoded for the books.
    "grading/archives.py": GRADES,
    "grading/platforms.py": GRADES,
    "grading/answer_sheet.py": GRADES,
    # Fitting what a submission wrote, mistakes combined, its printed intervals: the
    # grading jobs' own fits.
    "grading/their_model.py": GRADES,
    "grading/combinations.py": GRADES,
    "grading/intervals.py": GRADES,
    # The neutral printout, the readers and the documents they are taken out of, and the
    # grade books: the grading jobs and the index.
    "grading/printout.py": GRADES,
    "grading/documents.py": GRADES,
    "grading/gradebook.py": GRADES,
    # User commands only: `grade FILE`, `fit DATA FORMULA`, `check`.
    "grading/console.py": set(),
    "models/console.py": set(),
    "replication/check.py": set(),
    "replication/reference/README.md": set(),
}


def _expected(relative: str) -> set[str]:
    """The file's own entry, else that of its nearest folder (``replication/reference/*``
    before ``replication/*``)."""
    if relative in EXPECTED:
        return EXPECTED[relative]
    parts = relative.split("/")[:-1]
    while parts:
        folder = "/".join(parts) + "/*"
        if folder in EXPECTED:
            return EXPECTED[folder]
        parts.pop()
    raise AssertionError(f"no expectation for {relative}: add it to EXPECTED")


def _edit_and_dry_run(work: Path, relatives: list[str]) -> dict[str, set[str]]:
    """For each file, in turn: edit it, ask Snakemake what would rerun, restore it."""
    snakemake = _snakemake_in(work)
    package = work / "src" / "hlmrep"
    rerun: dict[str, set[str]] = {}
    for relative in relatives:
        path = package / relative
        original, stat = path.read_bytes(), path.stat()
        path.write_bytes(original + (b"\n# edited\n" if path.suffix != ".j2" else b"\n"))
        try:
            done = snakemake("-n")
        finally:
            path.write_bytes(original)
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert done.returncode == 0, (relative, done.stderr[-2000:])
        output = done.stdout + done.stderr
        rerun[relative] = set(job_counts(output)) - {"all"} if "Job stats:" in output else set()
    return rerun


@pytest.mark.slow
def test_editing_each_package_file_reruns_exactly_the_jobs_that_run_it(smoke):
    work, snakemake = smoke
    package = work / "src" / "hlmrep"
    relatives = sorted(
        str(p.relative_to(package))
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert len(relatives) > 25
    rerun = _edit_and_dry_run(work, relatives)
    wrong = {
        relative: {"missing": _expected(relative) - got, "extra": got - _expected(relative)}
        for relative, got in rerun.items()
        if got != _expected(relative)
    }
    assert not wrong, wrong
    assert "Nothing to be done" in snakemake("-n").stdout  # every file restored


#: The worked example of docs/architecture.md: a new job parameter is one parameter of the
#: job function and one flag in its rule. (Last in this file: it leaves the smoke copy's
#: variance-explained results rebuilt with the edit.)
NEW_PARAMETER = {
    "src/hlmrep/models/variance_explained.py": [
        (
            "    *, pair: dict[str, str], fit: dict[str, Path], out: Path\n",
            "    *, pair: dict[str, str], fit: dict[str, Path], out: Path, digits: int = 17\n",
        ),
        (
            "            **variance_explained(loaded[base], loaded[model]),\n",
            "            **{key: round(value, digits) for key, value in"
            " variance_explained(loaded[base], loaded[model]).items()},\n",
        ),
    ],
    "workflow/rules/models.smk": [
        (
            "variance-explained {params.pairs} {params.fits}",
            "variance-explained {params.pairs} {params.fits} --digits 3",
        )
    ],
}


@pytest.mark.slow
def test_a_new_job_parameter_is_its_function_and_its_rule(smoke):
    work, snakemake = smoke
    target = work / ".test/results/variance_explained.json"
    import json

    before = json.loads(target.read_text())
    assert any(
        round(v, 3) != v for pair in before.values() for v in pair.values() if isinstance(v, float)
    )
    for relative, edits in NEW_PARAMETER.items():  # only these two files change
        path = work / relative
        text = path.read_text()
        for old, new in edits:
            assert old in text, (relative, old)
            text = text.replace(old, new)
        path.write_text(text)
    done = snakemake("--cores", "1", "results/variance_explained.json")
    assert done.returncode == 0, done.stderr[-3000:]
    after = json.loads(target.read_text())
    assert after.keys() == before.keys()
    for name, pair in after.items():
        for key, value in pair.items():
            if isinstance(value, float):
                assert value == round(before[name][key], 3), (name, key)
