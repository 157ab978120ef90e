rule bootstrap_chunk:
    """One chunk of parametric-bootstrap replicates of one target."""
    input:
        table=data_table(),
        kernels=kernels_file(),
        fits=PLAN.bootstrap_fits,
        comparison=PLAN.bootstrap_comparisons,
        code=job_code("bootstrap-chunk"),
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
        target=PLAN.bootstrap_chunk_arguments,
        seed=SETTINGS.bootstrap.seed,
        chunk_size=PLAN.bootstrap_chunk_size,
        fits=repeated_option("fit", "fits"),
        comparison=repeated_option("comparison", "comparison"),
    shell:
        "{params.hlmrep} bootstrap-chunk --name {wildcards.target} {params.target}"
        " --seed {params.seed} --chunk {wildcards.chunk} --chunk-size {params.chunk_size}"
        " --data {input.table:q} {params.fits} {params.comparison} --out {output:q}"
        " 2>&1 | tee {log:q}"


rule bootstrap_gather:
    """All chunks of a target in replicate order; intervals or the bootstrap p-value."""
    input:
        chunks=PLAN.bootstrap_chunks,
        comparison=PLAN.bootstrap_comparisons,
        code=job_code("bootstrap-gather"),
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
        target=PLAN.bootstrap_gather_arguments,
        chunks=repeated_option("chunk", "chunks"),
        comparison=repeated_option("comparison", "comparison"),
    shell:
        "{params.hlmrep} bootstrap-gather --name {wildcards.target} {params.target}"
        " {params.chunks} {params.comparison} --out-table {output.table:q}"
        " --out-summary {output.summary:q} 2>&1 | tee {log:q}"
