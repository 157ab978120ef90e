rule bootstrap_chunk:
    """One chunk of parametric-bootstrap replicates of one target."""
    input:
        table=data_table(),
        kernels=kernels_file(),
        fits=lambda wildcards: bootstrap_fit_files(wildcards.target),
        comparison=lambda wildcards: bootstrap_comparison_files(wildcards.target),
        code=package_code("hlmrep.bootstrap.chunks"),
    output:
        chunk_file("{target}", "{chunk}"),
    log:
        log_file("bootstrap/{target}/chunk_{chunk}"),
    benchmark:
        benchmark_file("bootstrap/{target}/chunk_{chunk}")
    conda:
        "../../envs/hlmrep.yaml"
    params:
        hlmrep=HLMREP,
        target=lambda wildcards: bootstrap_target_arguments(wildcards.target),
        seed=config["bootstrap"]["seed"],
        chunk_size=lambda wildcards: bootstrap_chunk_size(wildcards.target),
        fits=lambda wildcards, input: " ".join(shlex.quote(f"--fit={path}") for path in input.fits),
        comparison=lambda wildcards, input: " ".join(
            shlex.quote(f"--comparison={path}") for path in input.comparison
        ),
    shell:
        "{params.hlmrep} bootstrap-chunk --name {wildcards.target} {params.target}"
        " --seed {params.seed} --chunk {wildcards.chunk} --chunk-size {params.chunk_size}"
        " --data {input.table:q} {params.fits} {params.comparison} --out {output:q}"
        " 2>&1 | tee {log:q}"


rule bootstrap_gather:
    """All chunks of a target in replicate order; intervals or the bootstrap p-value."""
    input:
        chunks=lambda wildcards: bootstrap_chunk_files(wildcards.target),
        comparison=lambda wildcards: bootstrap_comparison_files(wildcards.target),
        code=package_code("hlmrep.bootstrap.summary"),
    output:
        table=replicates_file("{target}"),
        summary=bootstrap_summary("{target}"),
    log:
        log_file("bootstrap/{target}/gather"),
    benchmark:
        benchmark_file("bootstrap/{target}/gather")
    conda:
        "../../envs/hlmrep.yaml"
    params:
        hlmrep=HLMREP,
        target=lambda wildcards: bootstrap_target_arguments(wildcards.target, summary=True),
        chunks=lambda wildcards, input: " ".join(
            shlex.quote(f"--chunk={path}") for path in input.chunks
        ),
        comparison=lambda wildcards, input: " ".join(
            shlex.quote(f"--comparison={path}") for path in input.comparison
        ),
    shell:
        "{params.hlmrep} bootstrap-gather --name {wildcards.target} {params.target}"
        " {params.chunks} {params.comparison} --out-table {output.table:q}"
        " --out-summary {output.summary:q} 2>&1 | tee {log:q}"
