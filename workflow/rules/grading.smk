# Grading others' replications (README, "Grading replications"): one job per file in the
# submissions folder (config grading.submissions). The catalogue of reference models and
# known mistakes is fitted once; each grading job fits only the models its file writes
# (their formulas), so adding a submission grades that one file (and rewrites the index).
localrules:
    grading_catalogue,
    grade_submission,
    grade_index,


rule grading_catalogue:
    """Fit every reference model and every catalogued mistake once, with the engine."""
    input:
        table=data_table(),
        kernels=kernels_file(),
        code=job_code("grading-catalogue"),
    output:
        grading_catalogue_file(),
    log:
        log_file("grading_catalogue"),
    benchmark:
        benchmark_file("grading_catalogue")
    conda:
        "../../envs/hlmrep.yaml"
    params:
        hlmrep=HLMREP,
    shell:
        "{params.hlmrep} grading-catalogue --data {input.table:q} --out {output:q}"
        " 2>&1 | tee {log:q}"


rule grade_submission:
    """Grade one submission number by number: its record and its page.

    The file is found by its key and read by the job itself, never followed; it is not an
    input (its name may be anything), its signature is a parameter instead."""
    input:
        catalogue=grading_catalogue_file(),
        table=data_table(),
        kernels=kernels_file(),
        code=job_code("grade-submission"),
    output:
        json=grade_record("{submission}"),
        html=grade_page("{submission}"),
        feedback=grade_feedback("{submission}"),
    log:
        log_file("grade/{submission}"),
    benchmark:
        benchmark_file("grade/{submission}")
    wildcard_constraints:
        submission="(?!index$)[A-Za-z0-9][A-Za-z0-9._+-]*",
    conda:
        "../../envs/hlmrep.yaml"
    params:
        hlmrep=HLMREP,
        grading=PLAN.grading_arguments(),
        folder=SETTINGS.grading.submissions,
        signature=PLAN.submission_signature,
    shell:
        "{params.hlmrep} grade-submission --folder {params.folder:q} --key {wildcards.submission:q}"
        " --catalogue {input.catalogue:q} --data {input.table:q} {params.grading}"
        " --out-json {output.json:q} --out-html {output.html:q}"
        " --out-feedback {output.feedback:q} 2>&1 | tee {log:q}"


rule grade_index:
    """The index of all grades and summary.csv, one row per submission."""
    input:
        grades=PLAN.grade_records,
        roster=PLAN.roster_input(),
        code=job_code("grade-index"),
    output:
        html=grades_index(),
        csv=grades_summary(),
        canvas=gradebook_file("canvas"),
        moodle=gradebook_file("moodle"),
        moodle_worksheet=gradebook_file("moodle_worksheet"),
    log:
        log_file("grade_index"),
    conda:
        "../../envs/hlmrep.yaml"
    params:
        hlmrep=HLMREP,
        grades=repeated_option("grade", "grades"),
        roster=PLAN.roster_option,
        gradebook=PLAN.gradebook_arguments(),
    shell:
        "{params.hlmrep} grade-index {params.grades} {params.roster}"
        " {params.gradebook}"
        " --out-html {output.html:q} --out-csv {output.csv:q}"
        " --out-canvas {output.canvas:q} --out-moodle {output.moodle:q}"
        " --out-moodle-worksheet {output.moodle_worksheet:q} 2>&1 | tee {log:q}"
