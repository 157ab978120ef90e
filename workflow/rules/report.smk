rule scorecard:
    """Every reference number beside ours, with tolerance and verdict."""
    input:
        unpack(scorecard_inputs),
        code=job_code("scorecard"),
    output:
        json=scorecard_file("json"),
        csv=report(
            scorecard_file("csv"),
            caption="../captions/scorecard.rst",
            category="Scorecard",
        ),
    log:
        log_file("scorecard"),
    benchmark:
        benchmark_file("scorecard")
    conda:
        "../../envs/hlmrep.yaml"
    params:
        hlmrep=HLMREP,
        inputs=keyed(results_inputs()),
    shell:
        "{params.hlmrep} scorecard {params.inputs} --out-json {output.json:q}"
        " --out-csv {output.csv:q} 2>&1 | tee {log:q}"


rule report:
    """The HTML report: scorecard, models, tests, bootstrap, figures, provenance."""
    input:
        unpack(report_inputs_of),
        code=job_code("report"),
    output:
        report(report_file(), caption="../captions/report.rst", category="Report"),
    log:
        log_file("report"),
    benchmark:
        benchmark_file("report")
    conda:
        "../../envs/hlmrep.yaml"
    params:
        hlmrep=HLMREP,
        inputs=keyed(report_inputs()),
        benchmarks=shlex.quote(BENCHMARKS),
        bootstrap_seed=config["bootstrap"]["seed"],
        figures_seed=config["figures"]["seed"],
    shell:
        "{params.hlmrep} report {params.inputs} --benchmarks {params.benchmarks}"
        " --bootstrap-seed {params.bootstrap_seed} --figures-seed {params.figures_seed}"
        " --out {output:q} 2>&1 | tee {log:q}"
