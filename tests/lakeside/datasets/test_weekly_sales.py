import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lakeside.datasets import weekly_sales

WEEK_COLUMNS = [f"W{w}" for w in range(52)]
NORMALIZED_COLUMNS = [f"Normalized_{w}" for w in range(52)]
HEADER = ",".join(["Product_Code", *WEEK_COLUMNS, "MIN", "MAX", *[f"Normalized {w}" for w in range(52)]])
P1_COUNTS = [11, 12, 10, 8, 13, 12, 14, 21, 6, 14, 11, 14, 16, 9, 9, 9, 14, 9, 3, 12, 5, 11, 7, 12, 5, 9,
             7, 10, 5, 11, 7, 10, 12, 6, 5, 14, 10, 23, 20, 7, 7, 11, 12, 9, 11, 7, 9, 13, 9, 7, 11, 6]


def _public_line(code: str, counts: list[int]) -> str:
    """A row as the UCI file writes it: normalised values with at most two decimals ("0.4", "0", "1")."""
    low, high = min(counts), max(counts)
    normalized = [0.0 if high == low else round((c - low) / (high - low), 2) for c in counts]
    texts = [f"{v:.2f}".rstrip("0").rstrip(".") for v in normalized]
    return ",".join([code, *map(str, counts), str(low), str(high), *texts])


@pytest.fixture(scope="module")
def sales() -> pd.DataFrame:
    return weekly_sales.generate(seed=2)


def test_columns_and_dtypes_follow_the_spec(sales):
    assert list(sales.columns) == weekly_sales.SPEC.column_names == HEADER.replace("Normalized ", "Normalized_").split(",")
    assert weekly_sales.SPEC.file_names == HEADER.split(",")
    kinds = {"int": "int32", "double": "float64", "string": "object"}
    for column in weekly_sales.SPEC.columns:
        assert str(sales[column.name].dtype) == kinds[column.kind], column.name
    assert sales.shape == (811, 107)
    assert sales["Product_Code"].tolist() == [f"P{p}" for p in range(1, 812)]


def test_same_seed_same_frame_other_seed_other_frame():
    pd.testing.assert_frame_equal(weekly_sales.generate(50, seed=4), weekly_sales.generate(50, seed=4))
    assert not weekly_sales.generate(50, seed=4).equals(weekly_sales.generate(50, seed=5))


def test_counts_are_mostly_small_with_some_large_products(sales):
    counts = sales[WEEK_COLUMNS].to_numpy()
    assert (counts >= 0).all()
    assert (counts <= 20).mean() > 0.8
    product_means = counts.mean(axis=1)
    assert (product_means < 3).mean() > 0.1
    assert (product_means > 20).sum() >= 10


def test_min_max_and_normalized_describe_each_row(sales):
    counts = sales[WEEK_COLUMNS].to_numpy()
    assert (sales["MIN"].to_numpy() == counts.min(axis=1)).all()
    assert (sales["MAX"].to_numpy() == counts.max(axis=1)).all()
    normalized = sales[NORMALIZED_COLUMNS].to_numpy()
    span = (sales["MAX"] - sales["MIN"]).to_numpy()[:, None]
    expected = np.round((counts - sales["MIN"].to_numpy()[:, None]) / np.where(span > 0, span, 1), 2)
    assert np.array_equal(normalized, expected)
    assert normalized.min() == 0 and normalized.max() == 1


def test_a_constant_product_normalizes_to_zero():
    small = weekly_sales.generate(products=400, weeks=3, seed=1)
    constant = small[small["MIN"] == small["MAX"]]
    assert len(constant) > 0
    assert (constant[["Normalized_0", "Normalized_1", "Normalized_2"]] == 0).all().all()


def test_other_week_counts_follow_their_own_spec():
    short = weekly_sales.generate(products=5, weeks=10)
    assert list(short.columns) == weekly_sales.weekly_spec(10).column_names


def test_capacity_is_higher_in_summer_with_a_dip_in_every_third_week():
    pattern = weekly_sales.capacity_pattern()
    assert pattern.shape == (52,) and pattern.dtype == np.float64
    starts = [dt.date(2019, 1, 1) + dt.timedelta(days=7 * w) for w in range(52)]
    dips = [w for w, start in enumerate(starts) if 15 <= start.day <= 21]
    assert len(dips) == 12 and len({starts[w].month for w in dips}) == 12
    for week in dips:
        assert pattern[week] < pattern[week - 1] and pattern[week] < pattern[week + 1]
    regular = np.delete(pattern, dips)
    assert set(regular) == {weekly_sales.BASE_CAPACITY, weekly_sales.SUMMER_CAPACITY}
    july, january = pattern[26:30], pattern[0:4]
    assert july.mean() > january.mean()
    assert len(weekly_sales.capacity_pattern(104)) == 104


def test_some_products_follow_the_factory_pattern_and_others_do_not(sales):
    pattern = weekly_sales.capacity_pattern()
    counts = sales[WEEK_COLUMNS].to_numpy().astype(float)
    varying = counts.std(axis=1) > 0
    correlation = np.array([np.corrcoef(row, pattern)[0, 1] for row in counts[varying]])
    assert 0.2 < (correlation > 0.7).mean() < 0.5
    assert (correlation < 0.4).mean() > 0.4
    followers = counts[varying][correlation > 0.7]
    assert 7 < np.median(followers.mean(axis=1)) < 13, "followers sell around the capacity level"


def test_load_reads_the_uci_file(tmp_path):
    path = tmp_path / "Sales_Transactions_Dataset_Weekly.csv"
    path.write_text("\n".join([HEADER, _public_line("P1", P1_COUNTS), _public_line("P2", [0] * 52)]) + "\n")
    loaded = weekly_sales.load(str(path))
    assert list(loaded.columns) == weekly_sales.SPEC.column_names
    assert loaded.dtypes.equals(weekly_sales.generate(3).dtypes)
    assert loaded.loc[0, WEEK_COLUMNS].tolist() == P1_COUNTS
    assert loaded.loc[0, ["MIN", "MAX"]].tolist() == [3, 23]
    assert loaded.loc[0, "Normalized_7"] == 0.9  # (21 - 3) / 20
    assert (loaded.loc[1, NORMALIZED_COLUMNS] == 0).all()


def test_generated_rows_survive_the_uci_text_format(tmp_path):
    sales = weekly_sales.generate(60, seed=9)
    path = tmp_path / "weekly.csv"
    weekly_sales.to_raw(sales).to_csv(path, index=False)
    assert path.read_text().splitlines()[0] == HEADER
    pd.testing.assert_frame_equal(weekly_sales.load(str(path)), sales)


def test_load_names_the_missing_columns(tmp_path):
    path = tmp_path / "counts_only.csv"
    path.write_text(",".join(["Product_Code", *WEEK_COLUMNS]) + "\n" + ",".join(["P1", *["1"] * 52]) + "\n")
    with pytest.raises(ValueError, match="missing columns: MIN, MAX, Normalized 0"):
        weekly_sales.load(str(path))


def test_the_capacity_pattern_is_configurable():
    default = weekly_sales.capacity_pattern()
    flat = weekly_sales.capacity_pattern(summer=10.0, dip=1.0)
    assert set(flat) == {10.0}
    longer_summer = weekly_sales.capacity_pattern(summer_months=(5, 6, 7, 8, 9))
    assert (longer_summer >= default).all() and (longer_summer > default).sum() >= 8
    with pytest.raises(ValueError, match="dip"):
        weekly_sales.capacity_pattern(dip=1.5)


def test_a_weekly_landing_is_the_same_file_all_week_and_new_the_next():
    monday, sunday = dt.date(2024, 1, 1), dt.date(2024, 1, 7)
    first = weekly_sales.daily_raw(monday, rows=20)
    assert list(first.columns) == HEADER.split(",")
    pd.testing.assert_frame_equal(first, weekly_sales.daily_raw(sunday, rows=20))
    assert not first.equals(weekly_sales.daily_raw(dt.date(2024, 1, 8), rows=20))
