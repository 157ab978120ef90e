"""The fit job's observations file is written by hlmrep.files.write_columns_csv, in a
third of pandas' time at a million rows: it must be the bytes pandas' to_csv writes, for
any floats (NaN, infinities, signed zeros, subnormals) and any group labels (commas,
quotes, line breaks, numbers, missing ones)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from hlmrep.files import CSV_CHUNK_ROWS, write_columns_csv

LABELS = st.one_of(
    st.text(max_size=8),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True),
    st.none(),
)


def _ours(tmp_path, columns, float_format="%.10g") -> str:
    path = tmp_path / "ours.csv"
    write_columns_csv(path, columns, float_format)
    return path.read_bytes().decode("utf-8")


@settings(max_examples=200, deadline=None)
@given(
    floats=st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=30),
    labels=st.lists(LABELS, min_size=30, max_size=30),
    float_format=st.sampled_from(["%.10g", "%.17g", "%.3f"]),
)
def test_any_column_is_written_as_pandas_writes_it(tmp_path_factory, floats, labels, float_format):
    n = len(floats)
    columns = {
        "row": np.arange(n),
        # (a None appended and cut: a one-dimensional object array even when n is 0)
        "school, id": np.array([*labels[:n], None], dtype=object)[:n],
        "fitted": np.array(floats, dtype=float),
        "residual": -np.array(floats, dtype=float),
        "flag": np.array(floats, dtype=float) > 0,
    }
    folder = tmp_path_factory.mktemp("csv")
    expected = pd.DataFrame(columns).to_csv(index=False, float_format=float_format)
    assert _ours(folder, columns, float_format) == expected


def test_a_file_longer_than_a_chunk_is_whole(tmp_path):
    rng = np.random.default_rng(7)
    n = 2 * CSV_CHUNK_ROWS + 3
    columns = {
        "row": np.arange(n),
        "school": np.asarray(rng.integers(1, 9999, n).astype(str), dtype=object),
        "fitted": rng.normal(12, 3, n),
        "residual": rng.normal(0, 6, n) * 10.0 ** rng.integers(-20, 20, n),
    }
    expected = pd.DataFrame(columns).to_csv(index=False, float_format="%.10g")
    assert _ours(tmp_path, columns) == expected
