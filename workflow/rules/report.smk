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


rule report:
    """The HTML report: scorecard, models, tests, bootstrap, figures, provenance."""
    input:
        scorecard="reports/scorecard.json",
        results=final_results(),
    output:
        "reports/report.html",
    params:
        hlmrep=HLMREP,
        config=shlex.quote(json.dumps({**config, "figure_names": list(FIGURE_INPUTS)},
                                      sort_keys=True)),
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    conda:
        "../../envs/hlmrep.yaml"
    shell:
        "{params.hlmrep} report --config {params.config} --out {output} 2>&1 | tee {log}"
