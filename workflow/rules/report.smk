# The report stage (hlmrep.report): the figures, each drawn from results files by role
# (hlmrep.pipeline.plan.FIGURE_INPUTS: no model is refitted in a plotting job), and the HTML
# report that reads every results file, the scorecard and the figures.


rule figure:
    """Draw one figure from the results files: PNG, SVG, its data and its caption."""
    input:
        unpack(PLAN.figure_inputs_of),
        code=job_code("figure"),
    output:
        png=report(
            figure_file("{figure}", "png"),
            caption="../captions/figure.rst",
            category="Figures",
            labels={"figure": "{figure}"},
        ),
        svg=figure_file("{figure}", "svg"),
        data=figure_file("{figure}", "csv"),
        caption=figure_file("{figure}", "json"),
    log:
        log_file("figure/{figure}"),
    benchmark:
        benchmark_file("figure/{figure}")
    conda:
        "../../envs/hlmrep.yaml"
    params:
        hlmrep=HLMREP,
        inputs=PLAN.figure_input_arguments,
        seed=SETTINGS.figures.seed,
        sample_schools=SETTINGS.figures.sample_schools,
        prefix=PLAN.figure_prefix,
    shell:
        "{params.hlmrep} figure --name {wildcards.figure} {params.inputs}"
        " --seed {params.seed} --sample-schools {params.sample_schools}"
        " --out-prefix {params.prefix} 2>&1 | tee {log:q}"


rule report:
    """The HTML report: scorecard, models, tests, bootstrap, figures, provenance."""
    input:
        unpack(PLAN.report_inputs),
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
        inputs=keyed(PLAN.report_inputs()),
        benchmarks=shlex.quote(BENCHMARKS),
        bootstrap_seed=SETTINGS.bootstrap.seed,
        figures_seed=SETTINGS.figures.seed,
    shell:
        "{params.hlmrep} report {params.inputs} --benchmarks {params.benchmarks}"
        " --bootstrap-seed {params.bootstrap_seed} --figures-seed {params.figures_seed}"
        " --out {output:q} 2>&1 | tee {log:q}"
