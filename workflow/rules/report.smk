rule scorecard:
    """Every reference number beside ours, with tolerance and verdict (reports/)."""
    input:
        final_results(),
        package_code("scorecard.py", "textbook.py", "reference/seed_lme4.yaml",
                     "reference/textbook_ch4.yaml", "reference/explanations.yaml"),
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
        crosscheck="results/crosscheck.json",
        code=package_code("report.py", "templates/report.html.j2"),
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
