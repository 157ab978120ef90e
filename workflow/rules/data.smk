rule prepare_data:
    """Read and check the HSB files; derive meanses, cses and codings; Table 4.1."""
    input:
        unpack(data_inputs),
        code=package_code("data.py"),
    output:
        table="results/data/hsb.csv",
        summary="results/data/summary.json",
    params:
        hlmrep=HLMREP,
        source=config["data"]["source"],
        meanses=config["data"]["meanses"],
        csv=csv_arguments,
    log:
        "results/logs/prepare_data.log",
    benchmark:
        "results/benchmarks/prepare_data.tsv"
    conda:
        "../../envs/hlmrep.yaml"
    shell:
        "{params.hlmrep} prepare-data --source {params.source} {params.csv}"
        " --meanses {params.meanses}"
        " --out-table {output.table} --out-summary {output.summary} 2>&1 | tee {log}"
