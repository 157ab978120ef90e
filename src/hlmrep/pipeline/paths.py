"""Every file name of the workflow, written once: the rules' inputs and outputs
(:mod:`hlmrep.pipeline.plan` builds them from these) and the user commands' defaults (``check``,
``grade``) read them from here.

Paths are relative to the working directory Snakemake runs in (the project, or the folder
``--directory`` names). No stage module spells a results path: each job is given its paths.
"""

from __future__ import annotations

RESULTS = "results"
REPORTS = "reports"


def kernels_file() -> str:
    return f"{RESULTS}/kernels.json"


def data_table() -> str:
    return f"{RESULTS}/data/hsb.csv"


def data_summary() -> str:
    return f"{RESULTS}/data/summary.json"


def fit_file(model: str) -> str:
    return f"{RESULTS}/fits/{model}.json"


def inference_file(model: str) -> str:
    return f"{RESULTS}/inference/{model}.json"


def schools_file(model: str) -> str:
    return f"{RESULTS}/fits/{model}_schools.csv"


def observations_file(model: str) -> str:
    return f"{RESULTS}/fits/{model}_observations.csv"


def hlm_file(model: str) -> str:
    return f"{RESULTS}/hlm/{model}.json"


def comparison_table(name: str) -> str:
    return f"{RESULTS}/comparisons/{name}.csv"


def comparison_file(name: str) -> str:
    return f"{RESULTS}/comparisons/{name}.json"


def explained_file() -> str:
    return f"{RESULTS}/variance_explained.json"


def chunk_file(target: str, chunk: str | int) -> str:
    return f"{RESULTS}/bootstrap/{target}/chunks/{chunk}.csv"


def replicates_file(target: str) -> str:
    return f"{RESULTS}/bootstrap/{target}/replicates.csv"


def bootstrap_summary(target: str) -> str:
    return f"{RESULTS}/bootstrap/{target}/summary.json"


def figure_file(name: str, suffix: str) -> str:
    return f"{RESULTS}/figures/{name}.{suffix}"


def lme4_file(model: str) -> str:
    return f"{RESULTS}/lme4/{model}.json"


def grading_catalogue_file() -> str:
    return f"{RESULTS}/grading/catalogue.json"


def grade_record(submission: str) -> str:
    return f"{RESULTS}/grades/{submission}.json"


def grade_page(submission: str) -> str:
    return f"{REPORTS}/grades/{submission}.html"


def grades_index() -> str:
    return f"{REPORTS}/grades/index.html"


def grades_summary() -> str:
    return f"{REPORTS}/grades/summary.csv"


def grade_feedback(submission: str) -> str:
    return f"{REPORTS}/grades/feedback/{submission}.txt"


def gradebook_file(platform: str) -> str:
    """The grade book a platform imports: canvas or moodle."""
    return f"{REPORTS}/grades/{platform}.csv"


def crosscheck_file() -> str:
    return f"{RESULTS}/crosscheck.json"


def scorecard_file(suffix: str) -> str:
    return f"{REPORTS}/scorecard.{suffix}"


def report_file() -> str:
    return f"{REPORTS}/report.html"


def log_file(name: str) -> str:
    return f"{RESULTS}/logs/{name}.log"


def benchmark_file(name: str) -> str:
    return f"{RESULTS}/benchmarks/{name}.tsv"


BENCHMARKS = f"{RESULTS}/benchmarks"
