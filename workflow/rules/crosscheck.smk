# The crosscheck job reads the parse-time plan (was R with lme4 found?), so it runs where
# that plan was made: in the main Snakemake process's machine, never on a cluster node.
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
        rscript=shlex.quote(config["crosscheck"]["rscript"]),
        formula=r_formula_argument,
        reml=r_reml_argument,
    shell:
        "{params.rscript} --vanilla {input.script:q} --data {input.table:q}"
        " --summary {input.summary:q} --name {wildcards.model} --formula {params.formula}"
        " --reml {params.reml} --out {output:q} > {log:q} 2>&1"


rule crosscheck:
    """Our fits beside lme4's: per-model agreement, or why the cross-check did not run."""
    input:
        fits=[fit_file(name) for name in config["models"]],
        lme4=list(crosscheck_lme4_files().values()),
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
        status=shlex.quote(json.dumps(CROSSCHECK, sort_keys=True)),
        fits=named("fit", {name: fit_file(name) for name in config["models"]}),
        lme4=named("lme4", crosscheck_lme4_files()),
    shell:
        "{params.hlmrep} crosscheck --status {params.status}"
        " --data {input.table:q} {params.fits} {params.lme4} --out {output:q} 2>&1 | tee {log:q}"
