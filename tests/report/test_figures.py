"""Figures: each drawn from results files, with the data behind it checked, and stable bytes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hlmrep.report.figures import FIGURES, figure_job, r_cut, r_cut_breaks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def figures(pipeline):
    return pipeline / "results" / "figures"


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_figure_has_png_svg_data_and_caption(figures, name):
    png = (figures / f"{name}.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (figures / f"{name}.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "<dc:date>" not in svg  # no timestamps
    caption = json.loads((figures / f"{name}.json").read_text())["caption"]
    assert 20 < len(caption) < 300 and caption.endswith(".")
    assert len(pd.read_csv(figures / f"{name}.csv")) > 0


def test_sample_of_40_schools_with_their_ols_lines(figures, pipeline):
    data = pd.read_csv(figures / "sample_schools.csv")
    assert data["school"].nunique() == 40 == len(data)
    schools = pd.read_csv(pipeline / "results/fits/model3_schools.csv").set_index("school")
    assert np.allclose(data["slope"], schools.loc[data["school"], "ols[cses]"])
    # An OLS line checked independently: numpy's least squares for the first school.
    students = pd.read_csv(pipeline / "results/data/hsb.csv")
    first = students[students["school"] == data["school"].iloc[0]]
    slope, intercept = np.polyfit(first["cses"], first["mathach"], 1)
    assert (intercept, slope) == pytest.approx((data["intercept"].iloc[0], data["slope"].iloc[0]))


def test_r_cut_matches_r():
    # R: levels(cut(1:4, breaks = 3)) is "(0.997,2]" "(2,3]" "(3,4]"
    assert np.allclose(r_cut_breaks(np.array([1.0, 2, 3, 4])), [0.997, 2.0, 3.0, 4.003])
    assert list(r_cut(np.array([1.0, 2, 2.5, 3, 4]))) == [0, 0, 1, 1, 2]


def test_three_meanses_categories_with_equal_width_boundaries(figures):
    data = pd.read_csv(figures / "lines_by_meanses.csv")
    assert sorted(data["category"].unique()) == ["average", "high", "low"]
    low, high = data["meanses"].min(), data["meanses"].max()
    width = (high - low) / 3
    expected = [low - (high - low) / 1000, low + width, low + 2 * width, high + (high - low) / 1000]
    for index, name in enumerate(["low", "average", "high"]):
        rows = data[data["category"] == name]
        assert np.allclose(rows["break_lower"], expected[index])
        assert np.allclose(rows["break_upper"], expected[index + 1])
        assert (
            (rows["meanses"] > rows["break_lower"]) & (rows["meanses"] <= rows["break_upper"])
        ).all()
    assert len(data) == 160


def test_level2_qq_points_are_the_sorted_conditional_modes(figures, pipeline):
    data = pd.read_csv(figures / "level2_diagnostics.csv")
    schools = pd.read_csv(pipeline / "results/fits/model3_schools.csv")
    for term in ("(Intercept)", "cses"):
        rows = data[data["term"] == term]
        assert np.allclose(rows["mode_sorted"], np.sort(schools[f"mode[{term}]"]))
        n = len(rows)
        assert np.allclose(rows["normal_quantile"], stats.norm.ppf((np.arange(1, n + 1) - 0.5) / n))


def test_level1_qq_points_are_the_sorted_scaled_residuals(figures, pipeline):
    data = pd.read_csv(figures / "level1_diagnostics.csv")
    observations = pd.read_csv(pipeline / "results/fits/model3_observations.csv")
    assert len(data) == 7185
    assert np.allclose(data["scaled_residual_sorted"], np.sort(observations["scaled_residual"]))
    model3 = json.loads((pipeline / "results/fits/model3.json").read_text())
    quantiles = np.quantile(observations["scaled_residual"], [0, 0.25, 0.5, 0.75, 1])
    assert np.allclose(quantiles, list(model3["scaled_residuals"].values()))


def test_figure_4_1_lines_follow_the_table_4_5_fit(figures, pipeline):
    data = pd.read_csv(figures / "figure_4_1.csv")
    fit = json.loads((pipeline / "results/fits/table_4_5.json").read_text())
    g = {row["term"]: row["estimate"] for row in fit["fixed_effects"]}
    row = data[(data["sector"] == "Catholic") & (data["meanses_level"] == "high")].iloc[0]
    assert row["slope"] == pytest.approx(
        g["cses"] + g["cses:meanses_school_file"] * row["meanses"] + g["cses:sectorCatholic"]
    )
    assert len(data) == 6


def test_figure_4_2_shows_shrinkage(figures):
    data = pd.read_csv(figures / "figure_4_2.csv")
    assert len(data) == 160
    assert data["eb[cses]"].std() < 0.5 * data["ols[cses]"].std()  # slopes shrunk strongly
    assert data["eb[(Intercept)]"].std() > 0.8 * data["ols[(Intercept)]"].std()


def test_rerun_writes_identical_bytes(pipeline, tmp_path):
    """The job itself makes its files deterministic (the SVG's ids), called directly too."""
    for attempt in ("a", "b"):
        figure_job(
            name="figure_4_2",
            input={"schools": pipeline / "results/fits/model3_schools.csv"},
            seed=4040,
            sample_schools=40,
            out_prefix=tmp_path / attempt / "f",
        )
    for suffix in (".png", ".svg", ".csv", ".json"):
        first = (tmp_path / "a" / f"f{suffix}").read_bytes()
        assert first == (tmp_path / "b" / f"f{suffix}").read_bytes(), suffix
