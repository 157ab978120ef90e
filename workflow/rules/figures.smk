# What each figure reads, by role: the one table of figure inputs. Each entry is a kind of
# results file and the model it belongs to; figure_inputs() turns it into paths. No model
# is refitted in a plotting job. The rule below reads this table for its inputs and
# arguments, and the report for its figures.
FIGURES = {
    "scatter_all": {"students": ("table", None)},
    "sample_schools": {"students": ("table", None), "schools": ("schools", "model3")},
    "model_vs_ols": {"students": ("table", None), "fit": ("fit", "model3")},
    "lines_by_meanses": {"students": ("table", None), "schools": ("schools", "model3")},
    "level1_diagnostics": {"observations": ("observations", "model3")},
    "level2_diagnostics": {"schools": ("schools", "model3")},
    "figure_4_1": {"students": ("table", None), "fit": ("fit", "table_4_5")},
    "figure_4_2": {"schools": ("schools", "model3")},
}
FIGURE_PATHS = {
    "table": table_of_model,
    "schools": schools_file,
    "fit": fit_file,
    "observations": observations_file,
}


# A model that a figure or the scorecard reads must be configured: say which, at parse time.
check_models_needed(
    config,
    {
        f"figure {name}": sorted({model for _, model in roles.values() if model})
        for name, roles in FIGURES.items()
    },
)


rule figure:
    """Draw one figure from the results files: PNG, SVG, its data and its caption."""
    input:
        unpack(figure_inputs_of),
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
        inputs=figure_input_arguments,
        seed=config["figures"]["seed"],
        sample_schools=config["figures"]["sample_schools"],
        prefix=figure_prefix,
    shell:
        "{params.hlmrep} figure --name {wildcards.figure} {params.inputs}"
        " --seed {params.seed} --sample-schools {params.sample_schools}"
        " --out-prefix {params.prefix} 2>&1 | tee {log:q}"
