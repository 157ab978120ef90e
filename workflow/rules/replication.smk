# The replication stage (hlmrep.replication): our fits beside lme4's, and every reference
# number beside ours. The crosscheck job reads the parse-time plan (was R with lme4
# found?), so it runs where that plan was made: in the main Snakemake process's machine,
# never on a cluster node.
localrules:
    crosscheck,


rule lme4_fit:
    """Fit one configured model with R's lme4 (lmer, default control), for the cross-check."""
    input:
        table=data_table(),
        summary=data_summary(),
        script=f"{workflow.basedir}/workflow/scripts/lme4_fit.R",
    output:
        lme4_file("{model}"),
    log:
        log_file("lme4_fit/{model}"),
    benchmark:
        benchmark_file("lme4_fit/{model}")
    conda:
        "../../envs/lme4.yaml"
    params:
        rscript=shlex.quote(SETTINGS.crosscheck.rscript),
        formula=PLAN.r_formula_argument,
        reml=PLAN.r_reml_argument,
    shell:
        "{params.rscript} --vanilla {input.script:q} --data {input.table:q}"
        " --summary {input.summary:q} --name {wildcards.model} --formula {params.formula}"
        " --reml {params.reml} --out {output:q} > {log:q} 2>&1"


rule crosscheck:
    """Our fits beside lme4's: per-model agreement, or why the cross-check did not run."""
    input:
        fits=list(PLAN.fits().values()),
        lme4=list(PLAN.lme4_files().values()),
        table=data_table(),
        kernels=kernels_file(),
        code=job_code("crosscheck"),
    output:
        crosscheck_file(),
    log:
        log_file("crosscheck"),
    benchmark:
        benchmark_file("crosscheck")
    conda:
        "../../envs/hlmrep.yaml"
    params:
        hlmrep=HLMREP,
        # The plan (whether R with lme4 was found, and why not) is a parameter, so that
        # installing R or switching the mode reruns this job. It is not config: it is what
        # the main process found when it parsed the workflow.
        status=PLAN.crosscheck_status(),
        fits=named("fit", PLAN.fits()),
        lme4=named("lme4", PLAN.lme4_files()),
    shell:
        "{params.hlmrep} crosscheck --status {params.status}"
        " --data {input.table:q} {params.fits} {params.lme4} --out {output:q} 2>&1 | tee {log:q}"


rule scorecard:
    """Every reference number beside ours, with tolerance and verdict."""
    input:
        unpack(PLAN.results_inputs),
        code=job_code("scorecard"),
    output:
        json=scorecard_file("json"),
        csv=report(
            scorecard_file("csv"),
            caption="../captions/scorecard.rst",
            category="Scorecard",
        ),
    log:
        log_file("scorecard"),
    benchmark:
        benchmark_file("scorecard")
    conda:
        "../../envs/hlmrep.yaml"
    params:
        hlmrep=HLMREP,
        inputs=keyed(PLAN.results_inputs()),
    shell:
        "{params.hlmrep} scorecard {params.inputs} --out-json {output.json:q}"
        " --out-csv {output.csv:q} 2>&1 | tee {log:q}"
