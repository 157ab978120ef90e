wildcard_constraints:
    model="|".join(config["models"]),
    comparison="|".join(config["comparisons"]) or "no_comparisons",
    target="|".join(config["bootstrap"]["targets"]) or "no_targets",
    chunk=r"\d+",
    figure=r"[a-z0-9_]+",


rule fit_model:
    """Fit one configured model: fit JSON, per-school OLS/EB table, HLM statistics."""
    input:
        table="results/data/hsb.csv",
        code=package_code(*ENGINE, "hlm.py", "models.py"),
    output:
        fit="results/fits/{model}.json",
        schools="results/fits/{model}_schools.csv",
        hlm="results/hlm/{model}.json",
        observations="results/fits/{model}_observations.csv",
    params:
        hlmrep=HLMREP,
        formula=lambda wildcards: shlex.quote(config["models"][wildcards.model]["formula"]),
        estimation=lambda wildcards: "" if config["models"][wildcards.model]["reml"] else "--ml",
    log:
        "results/logs/fit_model/{model}.log",
    benchmark:
        "results/benchmarks/fit_model/{model}.tsv"
    conda:
        "../../envs/hlmrep.yaml"
    shell:
        "{params.hlmrep} fit-model --data {input.table} --name {wildcards.model}"
        " --formula {params.formula} {params.estimation} --out-fit {output.fit}"
        " --out-schools {output.schools} --out-hlm {output.hlm}"
        " --out-observations {output.observations} 2>&1 | tee {log}"


rule compare_models:
    """Likelihood-ratio comparison of two models, as R's anova()."""
    input:
        reduced=lambda wildcards: fit_file(config["comparisons"][wildcards.comparison]["reduced"]),
        full=lambda wildcards: fit_file(config["comparisons"][wildcards.comparison]["full"]),
        table="results/data/hsb.csv",
        code=package_code(*ENGINE, "compare.py"),
    output:
        table="results/comparisons/{comparison}.csv",
        details="results/comparisons/{comparison}.json",
    params:
        hlmrep=HLMREP,
        test=lambda wildcards: config["comparisons"][wildcards.comparison]["test"],
    log:
        "results/logs/compare_models/{comparison}.log",
    benchmark:
        "results/benchmarks/compare_models/{comparison}.tsv"
    conda:
        "../../envs/hlmrep.yaml"
    shell:
        "{params.hlmrep} compare --name {wildcards.comparison} --reduced {input.reduced}"
        " --full {input.full} --test {params.test} --data {input.table}"
        " --out-table {output.table} --out-json {output.details} 2>&1 | tee {log}"


rule variance_explained:
    """Proportion of variance explained between configured pairs of models."""
    input:
        fits=[fit_file(name) for name in explained_models()],
        code=package_code("hlm.py", "models.py"),
    output:
        "results/variance_explained.json",
    params:
        hlmrep=HLMREP,
        pairs=shlex.quote(json.dumps(config["variance_explained"], sort_keys=True)),
        fits=" ".join(f"--fit {name}={fit_file(name)}" for name in explained_models()),
    log:
        "results/logs/variance_explained.log",
    benchmark:
        "results/benchmarks/variance_explained.tsv"
    conda:
        "../../envs/hlmrep.yaml"
    shell:
        "{params.hlmrep} variance-explained --pairs {params.pairs} {params.fits}"
        " --out {output} 2>&1 | tee {log}"
