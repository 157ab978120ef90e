rule prepare_data:
    """Read and check the HSB files; derive meanses, cses and codings; Table 4.1."""
    input:
        unpack(PLAN.data_inputs),
        code=job_code("prepare-data"),
    output:
        table=data_table(),
        summary=data_summary(),
    log:
        log_file("prepare_data"),
    benchmark:
        benchmark_file("prepare_data")
    conda:
        "../../envs/hlmrep.yaml"
    params:
        hlmrep=HLMREP,
        source=SETTINGS.data.source,
        meanses=SETTINGS.data.meanses,
        csv=PLAN.csv_arguments,
    shell:
        "{params.hlmrep} prepare-data --source {params.source} {params.csv}"
        " --meanses {params.meanses}"
        " --out-table {output.table:q} --out-summary {output.summary:q} 2>&1 | tee {log:q}"
