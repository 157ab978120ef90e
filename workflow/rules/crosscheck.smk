# The crosscheck job reads the parse-time plan (was R with lme4 found?), so it runs where
# that plan was made: in the main Snakemake process's machine, never on a cluster node.
localrules:
    crosscheck,


rule lme4_fit:
    """Fit one configured model with R's lme4 (lmer, default control), for the cross-check."""
    input:
        table="results/data/hsb.csv",
        summary="results/data/summary.json",
        script=f"{workflow.basedir}/workflow/scripts/lme4_fit.R",
    output:
        "results/lme4/{model}.json",
    params:
        rscript=shlex.quote(config["crosscheck"]["rscript"]),
        formula=lambda wildcards: shlex.quote(r_formula(wildcards.model)),
        reml=lambda wildcards: "TRUE" if config["models"][wildcards.model]["reml"] else "FALSE",
    log:
        "results/logs/lme4_fit/{model}.log",
    benchmark:
        "results/benchmarks/lme4_fit/{model}.tsv"
    conda:
        "../../envs/lme4.yaml"
    shell:
        "{params.rscript} --vanilla {input.script} --data {input.table}"
        " --summary {input.summary} --name {wildcards.model} --formula {params.formula}"
        " --reml {params.reml} --out {output} > {log} 2>&1"


rule crosscheck:
    """Our fits beside lme4's: per-model agreement, or why the cross-check did not run."""
    input:
        fits=[fit_file(name) for name in config["models"]],
        lme4=crosscheck_lme4_files(),
        table="results/data/hsb.csv",
        code=package_code(*ENGINE, "crosscheck.py"),
    output:
        "results/crosscheck.json",
    params:
        hlmrep=HLMREP,
        # The plan (whether R with lme4 was found, and why not) is a parameter, so that
        # installing R or switching the mode reruns this job.
        status=shlex.quote(json.dumps(CROSSCHECK, sort_keys=True)),
        models=shlex.quote(json.dumps(config["models"], sort_keys=True)),
        fits=" ".join(f"--fit {name}={fit_file(name)}" for name in config["models"]),
        lme4=" ".join(f"--lme4 {name}={path}" for name, path in
                      zip(config["models"], crosscheck_lme4_files())),
    log:
        "results/logs/crosscheck.log",
    benchmark:
        "results/benchmarks/crosscheck.tsv"
    conda:
        "../../envs/hlmrep.yaml"
    shell:
        "{params.hlmrep} crosscheck --status {params.status} --models {params.models}"
        " --data {input.table} {params.fits} {params.lme4} --out {output} 2>&1 | tee {log}"
