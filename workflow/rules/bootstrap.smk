rule bootstrap_chunk:
    """One chunk of parametric-bootstrap replicates of one target."""
    input:
        table="results/data/hsb.csv",
        fits=lambda wildcards: bootstrap_fit_files(wildcards.target),
        comparison=lambda wildcards: bootstrap_comparison_files(wildcards.target),
        code=package_code(*ENGINE, "bootstrap.py"),
    output:
        "results/bootstrap/{target}/chunks/{chunk}.csv",
    params:
        hlmrep=HLMREP,
        spec=lambda wildcards: shlex.quote(json.dumps(bootstrap_target(wildcards.target), sort_keys=True)),
        seed=config["bootstrap"]["seed"],
        chunk_size=config["bootstrap"]["chunk_size"],
        fits=lambda wildcards, input: " ".join(f"--fit {path}" for path in input.fits),
        comparison=lambda wildcards, input: " ".join(
            f"--comparison {path}" for path in input.comparison
        ),
    log:
        "results/logs/bootstrap/{target}/chunk_{chunk}.log",
    benchmark:
        "results/benchmarks/bootstrap/{target}/chunk_{chunk}.tsv"
    conda:
        "../../envs/hlmrep.yaml"
    shell:
        "{params.hlmrep} bootstrap-chunk --name {wildcards.target} --spec {params.spec}"
        " --seed {params.seed} --chunk {wildcards.chunk} --chunk-size {params.chunk_size}"
        " --data {input.table} {params.fits} {params.comparison} --out {output}"
        " 2>&1 | tee {log}"


rule bootstrap_gather:
    """All chunks of a target in replicate order; intervals or the bootstrap p-value."""
    input:
        chunks=lambda wildcards: bootstrap_chunk_files(wildcards.target),
        comparison=lambda wildcards: bootstrap_comparison_files(wildcards.target),
    output:
        table="results/bootstrap/{target}/replicates.csv",
        summary="results/bootstrap/{target}/summary.json",
    params:
        hlmrep=HLMREP,
        spec=lambda wildcards: shlex.quote(json.dumps(bootstrap_target(wildcards.target), sort_keys=True)),
        chunks=lambda wildcards, input: " ".join(f"--chunk {path}" for path in input.chunks),
        comparison=lambda wildcards, input: " ".join(
            f"--comparison {path}" for path in input.comparison
        ),
    log:
        "results/logs/bootstrap/{target}/gather.log",
    benchmark:
        "results/benchmarks/bootstrap/{target}/gather.tsv"
    conda:
        "../../envs/hlmrep.yaml"
    shell:
        "{params.hlmrep} bootstrap-gather --name {wildcards.target} --spec {params.spec}"
        " {params.chunks} {params.comparison} --out-table {output.table}"
        " --out-summary {output.summary} 2>&1 | tee {log}"
