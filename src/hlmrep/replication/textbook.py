"""Where each reference number of the textbook and the vignette is found in ``results/``.

One place maps a reference key (``table_4_4.tau11``, ``lrt.fixed_minority.chisq``) to the
results file and field that answer it, so tests and the report read the same numbers.
Nothing here computes a statistic: every value is read from a file a job wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from hlmrep.records import RecordKind
from hlmrep.records.bootstrap import BOOTSTRAP_SUMMARY, BootstrapSummary
from hlmrep.records.comparison import COMPARISON, ComparisonRecord
from hlmrep.records.data_summary import DATA_SUMMARY, DataSummary
from hlmrep.records.fit import FIT, FitRecord
from hlmrep.records.hlm import HLM, HlmRecord
from hlmrep.records.variance_explained import VARIANCE_EXPLAINED, ExplainedPair

#: The kind of every results file read by key, each checked when read: a key's own entry
#: (``data/summary``) or its folder's (``fits/model3`` is a fit record).
RECORD_KINDS: dict[str, RecordKind[Any]] = {
    "data/summary": DATA_SUMMARY,
    "fits": FIT,
    "hlm": HLM,
    "comparisons": COMPARISON,
    "variance_explained": VARIANCE_EXPLAINED,
    "bootstrap": BOOTSTRAP_SUMMARY,
}


def record_kind(key: str, kinds: Mapping[str, RecordKind[Any]] = RECORD_KINDS) -> RecordKind[Any]:
    """The record kind of the results file under ``key`` (a key of no kind is an error of
    the caller: every results file read by key is a typed record)."""
    kind = kinds.get(key) or kinds.get(key.split("/", 1)[0])
    if kind is None:
        raise KeyError(f"results key {key!r} names no record kind (known: {sorted(kinds)})")
    return kind


#: Models of the default config that answer each textbook table.
TEXTBOOK_MODELS = {
    "table_4_2": "table_4_2",
    "table_4_3": "table_4_3",
    "table_4_4": "model3",
    "table_4_5": "table_4_5",
}
#: The models in the book's order: Tables 4.2–4.5, then the reduced model of Table 4.5's
#: deviance test (pp. 84–86).
TEXTBOOK_ORDER = [*TEXTBOOK_MODELS.values(), "table_4_5_no_slope"]
#: The textbook's MEANSES is the school file's (see README); its fixed-effect name here.
MEANSES = "meanses_school_file"


class Results:
    """Lazy reader of the results files a job was given, by key, each a typed record.

    Keys name what a file holds, ``kind/name``: ``fits/model3``, ``hlm/model3``,
    ``comparisons/fixed_minority``, ``bootstrap/ci_model3``, ``variance_explained``,
    ``data/summary`` (:data:`RECORD_KINDS`).  The rule gives each key its path (the rules
    are the only place where paths are written); a key it does not give is a model or test
    not configured, and its numbers are missing.
    """

    def __init__(self, inputs: Mapping[str, str | Path]) -> None:
        self.inputs = {key: Path(path) for key, path in inputs.items()}
        #: Every file read, so that what was built from them can be checked for staleness.
        self.files: dict[str, Path] = {}
        self._records: dict[str, Any] = {}  # one read per file; files do not change meanwhile

    def record(self, key: str) -> Any:
        """The record under ``key``, of the kind the key names (:func:`record_kind`)."""
        if key not in self._records:
            path = self.inputs.get(key)
            if path is None or not path.exists():  # not configured: its rows are missing
                raise FileNotFoundError(f"no results file for {key!r}: not configured or not run")
            self.files[str(path)] = path
            self._records[key] = record_kind(key).read(path)
        return self._records[key]

    def fit(self, model: str) -> FitRecord:
        record: FitRecord = self.record(f"fits/{model}")
        return record

    def hlm(self, model: str) -> HlmRecord:
        record: HlmRecord = self.record(f"hlm/{model}")
        return record

    def comparison(self, name: str) -> ComparisonRecord:
        record: ComparisonRecord = self.record(f"comparisons/{name}")
        return record

    def bootstrap(self, target: str) -> BootstrapSummary:
        record: BootstrapSummary = self.record(f"bootstrap/{target}")
        return record

    def explained(self, name: str) -> ExplainedPair:
        pair: ExplainedPair = self.record("variance_explained")[name]
        return pair

    def data_summary(self) -> DataSummary:
        record: DataSummary = self.record("data/summary")
        return record

    # ----- accessors used by the mappings --------------------------------------------------
    def fixed(
        self,
        model: str,
        term: str,
        what: Literal["estimate", "std_error", "t_value"] = "estimate",
    ) -> float:
        for row in self.fit(model)["fixed_effects"]:
            if row["term"] == term:
                return float(row[what])
        raise KeyError(f"{model} has no fixed effect {term!r}")

    def tau(self, model: str, a: str, b: str | None = None) -> float:
        random = self.fit(model)["random_effects"]
        i = random["terms"].index(a)
        j = random["terms"].index(b if b is not None else a)
        return float(random["covariance"][i][j])

    def correlation(self, model: str, a: str, b: str) -> float:
        for row in self.fit(model)["random_effects"]["correlation"]:
            if {row["term1"], row["term2"]} == {a, b}:
                return float(row["correlation"])
        raise KeyError(f"{model} has no correlation of {a} and {b}")


Accessor = Callable[[Results], Any]


def _table_4_2(r: Results) -> dict[str, Any]:
    m = TEXTBOOK_MODELS["table_4_2"]
    return {
        "gamma00": r.fixed(m, "(Intercept)"),
        "gamma00_se": r.fixed(m, "(Intercept)", "std_error"),
        "tau00": r.tau(m, "(Intercept)"),
        "sigma2": r.fit(m)["residual_variance"],
        "chisq_tau00": r.hlm(m)["chisq_homogeneity"]["(Intercept)"]["chisq"],
        "chisq_tau00_df": r.hlm(m)["chisq_homogeneity"]["(Intercept)"]["df"],
        "icc": r.hlm(m)["icc"],
        "reliability_beta0": r.hlm(m)["reliability"]["(Intercept)"],
        "plausible_range_95": r.hlm(m)["plausible_value_range_95"],
        "n_students": r.fit(m)["n_obs"],
        "n_schools": r.fit(m)["n_groups"],
    }


def _table_4_3(r: Results) -> dict[str, Any]:
    m = TEXTBOOK_MODELS["table_4_3"]
    return {
        "gamma00": r.fixed(m, "(Intercept)"),
        "gamma00_se": r.fixed(m, "(Intercept)", "std_error"),
        "gamma01_meanses": r.fixed(m, MEANSES),
        "gamma01_se": r.fixed(m, MEANSES, "std_error"),
        "tau00": r.tau(m, "(Intercept)"),
        "sigma2": r.fit(m)["residual_variance"],
        "chisq_tau00": r.hlm(m)["chisq_homogeneity"]["(Intercept)"]["chisq"],
        "chisq_tau00_df": r.hlm(m)["chisq_homogeneity"]["(Intercept)"]["df"],
        "proportion_tau00_explained": r.explained("table_4_3_vs_4_2")["tau[(Intercept)]"],
        "conditional_icc": r.hlm(m)["icc"],
        "reliability_beta0": r.hlm(m)["reliability"]["(Intercept)"],
    }


def _table_4_4(r: Results) -> dict[str, Any]:
    m = TEXTBOOK_MODELS["table_4_4"]
    chisq = r.hlm(m)["chisq_homogeneity"]
    return {
        "gamma00": r.fixed(m, "(Intercept)"),
        "gamma00_se": r.fixed(m, "(Intercept)", "std_error"),
        "gamma10": r.fixed(m, "cses"),
        "gamma10_se": r.fixed(m, "cses", "std_error"),
        "tau00": r.tau(m, "(Intercept)"),
        "tau11": r.tau(m, "cses"),
        "tau01": r.tau(m, "(Intercept)", "cses"),
        "corr_beta0_beta1": r.correlation(m, "(Intercept)", "cses"),
        "sigma2": r.fit(m)["residual_variance"],
        "chisq_tau00": chisq["(Intercept)"]["chisq"],
        "chisq_tau00_df": chisq["(Intercept)"]["df"],
        "chisq_tau11": chisq["cses"]["chisq"],
        "chisq_tau11_df": chisq["cses"]["df"],
        "reliability_beta0": r.hlm(m)["reliability"]["(Intercept)"],
        "reliability_beta1": r.hlm(m)["reliability"]["cses"],
    }


def _table_4_5(r: Results) -> dict[str, Any]:
    m = TEXTBOOK_MODELS["table_4_5"]
    chisq = r.hlm(m)["chisq_homogeneity"]
    terms = {
        "gamma00": "(Intercept)",
        "gamma01": MEANSES,
        "gamma02": "sectorCatholic",
        "gamma10": "cses",
        "gamma11": f"cses:{MEANSES}",
        "gamma12": "cses:sectorCatholic",
    }
    out = {
        "gamma00": r.fixed(m, terms["gamma00"]),
        "gamma01_meanses": r.fixed(m, terms["gamma01"]),
        "gamma02_sector": r.fixed(m, terms["gamma02"]),
        "gamma10": r.fixed(m, terms["gamma10"]),
        "gamma11_meanses": r.fixed(m, terms["gamma11"]),
        "gamma12_sector": r.fixed(m, terms["gamma12"]),
        "tau00": r.tau(m, "(Intercept)"),
        "tau11": r.tau(m, "cses"),
        "tau01": r.tau(m, "(Intercept)", "cses"),
        "sigma2": r.fit(m)["residual_variance"],
        "chisq_tau00": chisq["(Intercept)"]["chisq"],
        "chisq_tau00_df": chisq["(Intercept)"]["df"],
        "chisq_tau11": chisq["cses"]["chisq"],
        "chisq_tau11_df": chisq["cses"]["df"],
        "proportion_tau00_explained": r.explained("table_4_5_vs_4_4")["tau[(Intercept)]"],
        "proportion_tau11_explained": r.explained("table_4_5_vs_4_4")["tau[cses]"],
    }
    for key, term in terms.items():
        out[f"{key}_se"] = r.fixed(m, term, "std_error")
    return out


def _deviance_tests(r: Results) -> dict[str, Any]:
    test = r.comparison("table_4_5_slope_variance")
    return {
        "reml_deviance_full": r.fit(test["full"])["reml_criterion"],
        "reml_deviance_no_slope_variance": r.fit(test["reduced"])["reml_criterion"],
        "lr_no_slope_variance": test["chisq"],
        "lr_no_slope_variance_df": test["df"],
    }


def _table_4_1(r: Results) -> dict[str, Any]:
    return dict(r.data_summary()["table_4_1"])


TEXTBOOK: dict[str, Accessor] = {
    "table_4_1": _table_4_1,
    "table_4_2": _table_4_2,
    "table_4_3": _table_4_3,
    "table_4_4": _table_4_4,
    "table_4_5": _table_4_5,
    "deviance_tests": _deviance_tests,
}


def textbook_values(results: Results) -> dict[str, dict[str, Any]]:
    """Our value for every textbook reference key, read from the results files."""
    return {table: accessor(results) for table, accessor in TEXTBOOK.items()}
