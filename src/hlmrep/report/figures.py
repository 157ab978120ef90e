"""The vignette's and the textbook's figures, drawn from the results files alone.

Each figure function reads files that earlier jobs wrote (never refits a model), and
returns the matplotlib figure, the data table behind it (written beside the figure, so
what was plotted can be checked) and a one-line caption for the report.  Files carry no
timestamps, so a rerun writes identical bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import special

from hlmrep.data.tables import read_prepared, read_school_table
from hlmrep.errors import HlmrepError
from hlmrep.files import write_atomically
from hlmrep.records.figure import FIGURE_CAPTION
from hlmrep.records.fit import FIT, FitRecord

#: The vignette's colour-blind palette (its first three colours), by mean-SES category.
PALETTE = ["#000000", "#E69F00", "#56B4E9"]
CATEGORIES = ["low", "average", "high"]
FIGSIZE = (6.4, 4.4)


@dataclass
class Figure:
    figure: plt.Figure
    data: pd.DataFrame
    caption: str


def r_cut_breaks(values: np.ndarray, n: int = 3) -> np.ndarray:
    """R's ``cut(x, breaks = n)`` break points: n equal-width intervals over the range,
    the outer breaks moved out by range/1000 so that min and max fall inside."""
    low, high = float(np.min(values)), float(np.max(values))
    breaks = np.linspace(low, high, n + 1)
    spread = high - low
    breaks[0], breaks[-1] = low - spread / 1000, high + spread / 1000
    return breaks


def r_cut(values: np.ndarray, n: int = 3) -> np.ndarray:
    """Category index 0..n−1 of R's right-closed intervals (a, b]."""
    breaks = r_cut_breaks(values, n)
    return np.searchsorted(breaks, values, side="left") - 1


#: The roles of the files a figure may read.
ROLES = ("students", "schools", "fit", "observations")
#: What a figure reads, by role (hlmrep.pipeline.plan.FIGURE_INPUTS gives the paths).
Inputs = Mapping[str, Path]


def _students(inputs: Inputs) -> pd.DataFrame:
    return read_prepared(inputs["students"])


def _schools(inputs: Inputs) -> pd.DataFrame:
    return read_school_table(inputs["schools"])


def _fit(inputs: Inputs) -> FitRecord:
    return FIT.read(inputs["fit"])


def _fixed(fit: FitRecord) -> dict[str, float]:
    return {row["term"]: row["estimate"] for row in fit["fixed_effects"]}


def _new_axes(title: str, xlabel: str, ylabel: str) -> tuple[plt.Figure, plt.Axes]:
    fig, ax = plt.subplots(figsize=FIGSIZE, layout="constrained")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return fig, ax


def _school_lines(
    ax: plt.Axes,
    schools: pd.DataFrame,
    students: pd.DataFrame,
    colors: list[str] | str,
    **style: Any,
) -> None:
    """Each school's OLS line over the range of its own cses."""
    span = students.groupby("school")["cses"].agg(["min", "max"])
    for i, row in enumerate(schools.itertuples(index=False)):
        lo, hi = span.loc[row.school]
        color = colors[i] if isinstance(colors, list) else colors
        xs = np.array([lo, hi])
        ax.plot(xs, row.intercept + row.slope * xs, color=color, **style)


def _ols_lines(inputs: Inputs) -> pd.DataFrame:
    """Within-school OLS intercepts and slopes of mathach on cses (model3's school table)."""
    schools = _schools(inputs)
    return schools.rename(columns={"ols[(Intercept)]": "intercept", "ols[cses]": "slope"})[
        ["school", "n", "intercept", "slope"]
    ]


def scatter_all(inputs: Inputs, config: dict) -> Figure:
    students = _students(inputs)
    fig, ax = _new_axes(
        "Math achievement and SES, all students", "cses (SES centred on school mean)", "mathach"
    )
    ax.scatter(
        students["cses"],
        students["mathach"],
        s=3,
        alpha=0.25,
        color=PALETTE[0],
        linewidths=0,
        label=f"{len(students)} students",
    )
    ax.legend(loc="lower right")
    data = students[["school", "cses", "mathach"]]
    return Figure(
        fig,
        data,
        f"All {len(students)} students in {students['school'].nunique()} "
        "schools: mathach against group-centred SES.",
    )


def sample_schools(inputs: Inputs, config: dict) -> Figure:
    students = _students(inputs)
    lines = _ols_lines(inputs)
    rng = np.random.default_rng(config["seed"])
    available = lines["school"].unique()
    # A data set with fewer schools than asked for draws all of them (and says so).
    size = min(config["sample_schools"], len(available))
    chosen = sorted(rng.choice(available, size=size, replace=False).tolist())
    sample = students[students["school"].isin(chosen)]
    chosen_lines = lines[lines["school"].isin(chosen)].reset_index(drop=True)
    cmap = plt.get_cmap("viridis", len(chosen))
    colors = [matplotlib.colors.to_hex(cmap(i)) for i in range(len(chosen))]
    color_of = dict(zip(chosen_lines["school"], colors, strict=True))
    fig, ax = _new_axes(
        f"SES and math achievement in {len(chosen)} sampled schools", "cses", "mathach"
    )
    ax.scatter(
        sample["cses"],
        sample["mathach"],
        s=5,
        alpha=0.5,
        linewidths=0,
        c=[color_of[s] for s in sample["school"]],
    )
    _school_lines(ax, chosen_lines, students, colors, linewidth=0.9)
    ax.plot([], [], color="grey", label="within-school OLS line (one per school)")
    ax.legend(loc="lower right")
    return Figure(
        fig,
        chosen_lines,
        f"Within-school OLS lines of mathach on cses for "
        f"{len(chosen)} schools drawn at random (seed {config['seed']})."
        + (
            f" The data have {len(available)} schools, fewer than the "
            f"{config['sample_schools']} asked for (figures.sample_schools): all are shown."
            if size < config["sample_schools"]
            else ""
        ),
    )


def model_vs_ols(inputs: Inputs, config: dict) -> Figure:
    students = _students(inputs)
    fixed = _fixed(_fit(inputs))
    pooled = np.polyfit(students["cses"], students["mathach"], 1)
    xs = np.linspace(students["cses"].min(), students["cses"].max(), 2)
    fig, ax = _new_axes("Hierarchical model (model3) and pooled OLS", "cses", "mathach")
    ax.scatter(students["cses"], students["mathach"], s=3, alpha=0.12, color="grey", linewidths=0)
    ax.plot(
        xs,
        fixed["(Intercept)"] + fixed["cses"] * xs,
        color=PALETTE[1],
        linewidth=2.5,
        label=f"model3 fixed effects: {fixed['(Intercept)']:.2f} + {fixed['cses']:.2f}·cses",
    )
    ax.plot(
        xs,
        pooled[1] + pooled[0] * xs,
        color=PALETTE[2],
        linewidth=2,
        linestyle="--",
        label=f"pooled OLS: {pooled[1]:.2f} + {pooled[0]:.2f}·cses",
    )
    ax.legend(loc="lower right")
    data = pd.DataFrame(
        {
            "line": ["model3", "pooled_ols"],
            "intercept": [fixed["(Intercept)"], pooled[1]],
            "slope": [fixed["cses"], pooled[0]],
        }
    )
    return Figure(
        fig,
        data,
        "The random-coefficients model's average line against the pooled "
        "OLS line that ignores schools (with group-centred SES the slopes nearly coincide; "
        "the intercepts differ by the weighting of schools).",
    )


def lines_by_meanses(inputs: Inputs, config: dict) -> Figure:
    students = _students(inputs)
    lines = _ols_lines(inputs)
    meanses = students.drop_duplicates("school").set_index("school")["meanses"]
    lines["meanses"] = meanses.loc[lines["school"]].to_numpy()
    category = r_cut(lines["meanses"].to_numpy())
    lines["category"] = [CATEGORIES[c] for c in category]
    breaks = r_cut_breaks(lines["meanses"].to_numpy())
    lines["break_lower"] = breaks[category]
    lines["break_upper"] = breaks[category + 1]
    fig, ax = _new_axes("Within-school lines coloured by mean SES", "cses", "mathach")
    _school_lines(ax, lines, students, [PALETTE[c] for c in category], linewidth=0.7, alpha=0.8)
    for c, name in enumerate(CATEGORIES):
        ax.plot(
            [],
            [],
            color=PALETTE[c],
            label=f"{name} mean SES ({breaks[c]:.2f}, {breaks[c + 1]:.2f}]",
        )
    ax.legend(loc="lower right", title="school mean SES (equal-width thirds)")
    return Figure(
        fig,
        lines,
        "Each school's OLS line, coloured by its mean SES in three "
        "equal-width categories (R's cut(breaks = 3)).",
    )


def level1_diagnostics(inputs: Inputs, config: dict) -> Figure:
    obs = pd.read_csv(inputs["observations"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 4.2), layout="constrained")
    fig.suptitle("model3, level 1: residuals")
    left.scatter(
        obs["fitted"],
        obs["residual"],
        s=3,
        alpha=0.25,
        color=PALETTE[0],
        linewidths=0,
        label="student",
    )
    left.axhline(0, color=PALETTE[1], linewidth=1.5, label="zero")
    left.set_xlabel("fitted value")
    left.set_ylabel("residual")
    left.set_title("residuals against fitted values")
    left.legend(loc="lower left")
    theoretical, ordered = _qq(obs["scaled_residual"].to_numpy())
    right.scatter(
        theoretical, ordered, s=3, color=PALETTE[0], linewidths=0, label="scaled residual"
    )
    right.plot(theoretical[[0, -1]], theoretical[[0, -1]], color=PALETTE[1], label="y = x")
    right.set_xlabel("normal quantile")
    right.set_ylabel("residual / σ̂")
    right.set_title("normal QQ plot")
    right.legend(loc="upper left")
    data = pd.DataFrame({"normal_quantile": theoretical, "scaled_residual_sorted": ordered})
    return Figure(
        fig, data, "Level-1 residuals of model3 against fitted values, and their normal QQ plot."
    )


def _qq(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R's qqnorm: sorted values against normal quantiles at ppoints(n)."""
    n = len(values)
    a = 3 / 8 if n <= 10 else 1 / 2
    probabilities = (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)
    return special.ndtri(probabilities), np.sort(values)


def level2_diagnostics(inputs: Inputs, config: dict) -> Figure:
    schools = _schools(inputs)
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.2), layout="constrained")
    fig.suptitle("model3, level 2: conditional modes of the school effects")
    frames = []
    for ax, term, label in ((axes[0], "(Intercept)", "intercept"), (axes[1], "cses", "cses slope")):
        theoretical, ordered = _qq(schools[f"mode[{term}]"].to_numpy())
        ax.scatter(theoretical, ordered, s=10, color=PALETTE[0], label="school")
        slope = np.std(ordered, ddof=1)
        ax.plot(
            theoretical[[0, -1]],
            slope * theoretical[[0, -1]],
            color=PALETTE[1],
            label="normal line (sd of modes)",
        )
        ax.set_title(f"{label}: normal QQ plot")
        ax.set_xlabel("normal quantile")
        ax.set_ylabel(f"conditional mode, {label}")
        ax.legend(loc="upper left")
        frames.append(
            pd.DataFrame({"term": term, "normal_quantile": theoretical, "mode_sorted": ordered})
        )
    return Figure(
        fig,
        pd.concat(frames, ignore_index=True),
        "Normal QQ plots of model3's school intercept and cses-slope effects (conditional modes).",
    )


def figure_4_1(inputs: Inputs, config: dict) -> Figure:
    fit = _fit(inputs)
    g = _fixed(fit)
    students = _students(inputs)
    school_meanses = students.drop_duplicates("school")["meanses_school_file"]
    centre, spread = school_meanses.mean(), school_meanses.std(ddof=1)
    levels = {"low": centre - spread, "average": centre, "high": centre + spread}
    xs = np.array([-2.0, 2.0])
    fig, ax = _new_axes(
        "Figure 4.1: predicted school lines (Table 4.5 model)", "cses", "predicted mathach"
    )
    rows = []
    for sector, style in (("Public", "-"), ("Catholic", "--")):
        catholic = 1.0 if sector == "Catholic" else 0.0
        for c, (level, m) in enumerate(levels.items()):
            b0 = g["(Intercept)"] + g["meanses_school_file"] * m + g["sectorCatholic"] * catholic
            b1 = g["cses"] + g["cses:meanses_school_file"] * m + g["cses:sectorCatholic"] * catholic
            ax.plot(
                xs,
                b0 + b1 * xs,
                linestyle=style,
                color=PALETTE[c],
                label=f"{sector}, {level} MEAN SES ({m:+.2f})",
            )
            rows.append(
                {
                    "sector": sector,
                    "meanses_level": level,
                    "meanses": m,
                    "intercept": b0,
                    "slope": b1,
                }
            )
    ax.legend(loc="upper left", fontsize=8)
    return Figure(
        fig,
        pd.DataFrame(rows),
        "Model-implied school lines from Table 4.5 for "
        "public (solid) and Catholic (dashed) schools at MEAN SES one SD below, at "
        "and above the mean.",
    )


def figure_4_2(inputs: Inputs, config: dict) -> Figure:
    schools = _schools(inputs)
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.2), layout="constrained")
    fig.suptitle("Figure 4.2: OLS and empirical Bayes estimates (model3)")
    for ax, term, label in ((axes[0], "(Intercept)", "intercept"), (axes[1], "cses", "slope")):
        ols, eb = schools[f"ols[{term}]"], schools[f"eb[{term}]"]
        ax.scatter(ols, eb, s=10, color=PALETTE[0], label="school")
        lims = [min(ols.min(), eb.min()), max(ols.max(), eb.max())]
        ax.plot(lims, lims, color=PALETTE[2], linestyle="--", label="EB = OLS (no shrinkage)")
        ax.set_xlabel(f"OLS {label}")
        ax.set_ylabel(f"empirical Bayes {label}")
        ax.set_title(f"{label}s")
        ax.legend(loc="upper left")
    data = schools[["school", "n", "ols[(Intercept)]", "eb[(Intercept)]", "ols[cses]", "eb[cses]"]]
    return Figure(
        fig,
        data,
        "School OLS against empirical Bayes intercepts and slopes under "
        "the random-coefficients model: the EB slopes are shrunk strongly.",
    )


FIGURES: dict[str, Callable[[Inputs, dict], Figure]] = {
    "scatter_all": scatter_all,
    "sample_schools": sample_schools,
    "model_vs_ols": model_vs_ols,
    "lines_by_meanses": lines_by_meanses,
    "level1_diagnostics": level1_diagnostics,
    "level2_diagnostics": level2_diagnostics,
    "figure_4_1": figure_4_1,
    "figure_4_2": figure_4_2,
}


def figure_job(
    *, name: str, input: dict[str, Path], seed: int, sample_schools: int, out_prefix: Path
) -> Figure:
    """Draw one figure from results files: PNG (report), SVG (print), its data, its caption.

    ``input`` maps each role the figure reads (students, schools, fit, observations) to
    the file the rule gives; ``seed`` and ``sample_schools`` are config's ``figures``.
    The SVG's ids are salted with a constant, so a rerun writes identical bytes.
    """
    inputs = input
    config = {"seed": seed, "sample_schools": sample_schools}
    matplotlib.rcParams["svg.hashsalt"] = "hlmrep"
    if name not in FIGURES:
        raise HlmrepError(f"no figure {name!r}; the figures are {sorted(FIGURES)}")
    try:
        drawn = FIGURES[name]({role: Path(path) for role, path in inputs.items()}, config)
    except KeyError as error:
        if error.args and error.args[0] in ROLES:
            raise HlmrepError(
                f"figure {name!r} reads a {error.args[0]!r} file, but its rule gave only "
                f"{sorted(inputs)} (hlmrep.pipeline.plan.FIGURE_INPUTS)"
            ) from error
        raise
    out_prefix = Path(out_prefix)
    write_atomically(
        out_prefix.with_suffix(".png"),
        lambda p: drawn.figure.savefig(p, format="png", dpi=110, metadata={"Software": None}),
    )
    write_atomically(
        out_prefix.with_suffix(".svg"),
        lambda p: drawn.figure.savefig(p, format="svg", metadata={"Date": None, "Creator": None}),
    )
    write_atomically(
        out_prefix.with_suffix(".csv"),
        lambda p: drawn.data.to_csv(p, index=False, float_format="%.10g"),
    )
    FIGURE_CAPTION.write(out_prefix.with_suffix(".json"), {"name": name, "caption": drawn.caption})
    plt.close(drawn.figure)
    return drawn
