# What each figure reads: results files only (no model is refitted in a plotting job).
FIGURE_INPUTS = {
    "scatter_all": ["results/data/hsb.csv"],
    "sample_schools": ["results/data/hsb.csv", "results/fits/model3_schools.csv"],
    "model_vs_ols": ["results/data/hsb.csv", "results/fits/model3.json"],
    "lines_by_meanses": ["results/data/hsb.csv", "results/fits/model3_schools.csv"],
    "level1_diagnostics": ["results/fits/model3_observations.csv"],
    "level2_diagnostics": ["results/fits/model3_schools.csv"],
    "figure_4_1": ["results/data/hsb.csv", "results/fits/table_4_5.json"],
    "figure_4_2": ["results/fits/model3_schools.csv"],
}


rule figure:
    """Draw one figure from the results files: PNG, SVG, its data and its caption."""
    input:
        lambda wildcards: FIGURE_INPUTS[wildcards.figure],
        package_code("figures.py"),
    output:
        png="results/figures/{figure}.png",
        svg="results/figures/{figure}.svg",
        data="results/figures/{figure}.csv",
        caption="results/figures/{figure}.json",
    params:
        hlmrep=HLMREP,
        config=shlex.quote(json.dumps(config["figures"], sort_keys=True)),
    log:
        "results/logs/figure/{figure}.log",
    benchmark:
        "results/benchmarks/figure/{figure}.tsv"
    conda:
        "../../envs/hlmrep.yaml"
    shell:
        "{params.hlmrep} figure --name {wildcards.figure} --config {params.config}"
        " --out-prefix results/figures/{wildcards.figure} 2>&1 | tee {log}"
