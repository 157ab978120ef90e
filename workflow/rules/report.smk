rule scorecard:
    """Every reference number beside ours, with tolerance and verdict (reports/)."""
    input:
        final_results(),
    output:
        json="reports/scorecard.json",
        csv="reports/scorecard.csv",
    params:
        hlmrep=HLMREP,
    log:
        "results/logs/scorecard.log",
    benchmark:
        "results/benchmarks/scorecard.tsv"
    conda:
        "../../envs/hlmrep.yaml"
    shell:
        "{params.hlmrep} scorecard --results results --out-json {output.json}"
        " --out-csv {output.csv} 2>&1 | tee {log}"
