wildcard_constraints:
    model="|".join(SETTINGS.models),
    comparison="|".join(SETTINGS.comparisons) or "no_comparisons",
    target="|".join(SETTINGS.bootstrap.targets) or "no_targets",
    chunk=r"\d+",
    figure=r"[a-z0-9_]+",


rule compile_kernels:
    """Compile the engine's numba kernels into their cache once, beside the data stage, so
    that no fit or bootstrap job compiles (several at once, on a fresh checkout)."""
    input:
        code=kernel_code(),
    output:
        kernels_file(),
    log:
        log_file("compile_kernels"),
    benchmark:
        benchmark_file("compile_kernels")
    conda:
        "../../envs/hlmrep.yaml"
    params:
        hlmrep=HLMREP,
    shell:
        "{params.hlmrep} compile-kernels --out {output:q} 2>&1 | tee {log:q}"


rule fit_model:
    """Fit one configured model: fit JSON, per-school OLS/EB table, HLM statistics."""
    input:
        table=data_table(),
        kernels=kernels_file(),
        code=job_code("fit-model"),
    output:
        fit=fit_file("{model}"),
        schools=schools_file("{model}"),
        hlm=hlm_file("{model}"),
        observations=observations_file("{model}"),
    log:
        log_file("fit_model/{model}"),
    benchmark:
        benchmark_file("fit_model/{model}")
    conda:
        "../../envs/hlmrep.yaml"
    params:
        hlmrep=HLMREP,
        formula=PLAN.formula_argument,
        estimation=PLAN.estimation_flag,
    shell:
        "{params.hlmrep} fit-model --data {input.table:q} --name {wildcards.model}"
        " --formula {params.formula} {params.estimation} --out-fit {output.fit:q}"
        " --out-schools {output.schools:q} --out-hlm {output.hlm:q}"
        " --out-observations {output.observations:q} 2>&1 | tee {log:q}"


rule model_inference:
    """Profile and Wald intervals (lme4's confint), HLM's robust SEs, lmerTest's df."""
    input:
        table=data_table(),
        fit=fit_file("{model}"),
        kernels=kernels_file(),
        code=job_code("model-inference"),
    output:
        inference_file("{model}"),
    log:
        log_file("model_inference/{model}"),
    benchmark:
        benchmark_file("model_inference/{model}")
    conda:
        "../../envs/hlmrep.yaml"
    params:
        hlmrep=HLMREP,
    shell:
        "{params.hlmrep} model-inference --data {input.table:q} --fit {input.fit:q}"
        " --name {wildcards.model} --out {output:q} 2>&1 | tee {log:q}"


rule compare_models:
    """Likelihood-ratio comparison of two models, as R's anova()."""
    input:
        reduced=PLAN.comparison_fit("reduced"),
        full=PLAN.comparison_fit("full"),
        table=data_table(),
        kernels=kernels_file(),
        code=job_code("compare"),
    output:
        table=comparison_table("{comparison}"),
        details=comparison_file("{comparison}"),
    log:
        log_file("compare_models/{comparison}"),
    benchmark:
        benchmark_file("compare_models/{comparison}")
    conda:
        "../../envs/hlmrep.yaml"
    params:
        hlmrep=HLMREP,
        test=PLAN.comparison_test,
    shell:
        "{params.hlmrep} compare --name {wildcards.comparison} --reduced {input.reduced:q}"
        " --full {input.full:q} --test {params.test} --data {input.table:q}"
        " --out-table {output.table:q} --out-json {output.details:q} 2>&1 | tee {log:q}"


rule variance_explained:
    """Proportion of variance explained between configured pairs of models."""
    input:
        fits=list(PLAN.explained_fits().values()),
        code=job_code("variance-explained"),
    output:
        explained_file(),
    log:
        log_file("variance_explained"),
    benchmark:
        benchmark_file("variance_explained")
    conda:
        "../../envs/hlmrep.yaml"
    params:
        hlmrep=HLMREP,
        pairs=PLAN.explained_pair_arguments(),
        fits=named("fit", PLAN.explained_fits()),
    shell:
        "{params.hlmrep} variance-explained {params.pairs} {params.fits}"
        " --out {output:q} 2>&1 | tee {log:q}"
