# The plan the rules read (one hlmrep.pipeline.plan.Plan), made from the checked config.
# Rules name its methods for their inputs and parameters (no inline lambdas); what is
# left here needs Snakemake's `workflow` (conda or not, the main process or a job's);
# every path comes from hlmrep.pipeline.paths.

import os
import shlex
import sys

from hlmrep import job_server
from hlmrep.pipeline.config import check_models_needed
from hlmrep.pipeline.paths import (
    BENCHMARKS,
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
from hlmrep.pipeline.plan import (
    Plan,
    WorkflowConfig,
    job_code,
    kernel_code,
    keyed,
    models_figures_read,
    named,
    repeated_option,
)
from hlmrep.pipeline.run_end import cancel_pending_timers
from hlmrep.replication.crosscheck import plan as crosscheck_plan
from snakemake.settings.types import DeploymentMethod

# Without conda, jobs run the Python that runs Snakemake, whatever PATH a cluster node
# gives them; in a conda environment (envs/hlmrep.yaml), its python.
USES_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
SETTINGS = WorkflowConfig.from_mapping(config)

# A model that a figure reads must be configured: say which, at parse time (and warn of
# what the scorecard will report missing).
check_models_needed(config, models_figures_read())


def lme4_crosscheck_plan():
    """Whether the lme4 cross-check runs, decided once, by the main Snakemake process.

    The main process looks for R with lme4 (and stops here if crosscheck.lme4 is true and
    there is none). A job process (a cluster job re-reading the workflow on its node) does
    not look again: the crosscheck rule, which reads the decision, is a local rule, and the
    lme4_fit jobs need R wherever they run.
    """
    if not workflow.is_main_process:
        return {
            "mode": SETTINGS.crosscheck.lme4,
            "run": True,
            "reason": "decided by the main Snakemake process",
        }
    # (Positional: a line starting with "conda=" would read as Snakemake's directive.)
    return crosscheck_plan(SETTINGS.crosscheck.lme4, SETTINGS.crosscheck.rscript, USES_CONDA)


PLAN = Plan(
    SETTINGS,
    "python" if USES_CONDA else shlex.quote(sys.executable),
    f"{workflow.basedir}/src",
    lme4_crosscheck_plan(),
)
HLMREP = PLAN.hlmrep


# While the run lasts, the jobs run as forks of one process that has done their imports
# (hlmrep.job_server): each job is the same command, and one the server cannot run exactly
# as its own process would (another machine, interpreter or environment) runs on its own.
# It starts here, while Snakemake builds the DAG, not in onstart: its 1.5 s of imports
# then overlap Snakemake's second, and the first jobs find it ready. Not for a dry run, in
# conda environments or in a cluster job's Snakemake; stopped by the hooks or at exit.
if workflow.is_main_process and not USES_CONDA and not workflow.output_settings.dryrun:
    os.environ.update(job_server.start(src=f"{workflow.basedir}/src"))


onsuccess:
    job_server.stop(os.environ)
    cancel_pending_timers()


onerror:
    job_server.stop(os.environ)
    cancel_pending_timers()
