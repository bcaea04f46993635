"""DTW distances: dtaidistance's C kernel against the plain dynamic programme at every window,
monotonicity in the stretch factor, the Spark per-partition transform, the model's input checks."""

import numpy as np
import pandas as pd
import pytest

from lakeside.datasets import weekly_sales
from lakeside.serving.payloads import PayloadError
from lakeside.usecases.sales_trends import dtw, model, train

FACTORS = dtw.STRETCH_FACTORS


@pytest.fixture(scope="module")
def sales():
    frame = weekly_sales.generate(120, seed=5)
    return frame, frame[[f"W{w}" for w in range(52)]].to_numpy(dtype=float)


@pytest.mark.parametrize("factor", FACTORS)
def test_the_c_kernel_equals_the_reference_on_random_series(factor):
    rng = np.random.default_rng(int(factor * 1000))
    pattern = rng.normal(5, 3, 52)
    series = np.vstack([rng.normal(5, 3, (15, 52)), rng.poisson(4, (15, 52))])
    fast = dtw.distances(series, pattern, factor)
    reference = np.array([dtw.reference_distance(row, pattern, factor) for row in series])
    np.testing.assert_allclose(fast, reference, rtol=1e-12, atol=1e-12)


def test_the_window_is_the_stretch_factor_times_the_length_rounded():
    assert [dtw.max_shift(f, 52) for f in FACTORS] == [0, 1, 1, 3, 5, 13, 26]
    pattern, series = np.arange(10.0), np.arange(10.0)[None, ::-1]
    assert dtw.distances(series, pattern, 0.0)[0] == pytest.approx(np.linalg.norm(series[0] - pattern))
    with pytest.raises(ValueError, match="between 0 and 1"):
        dtw.max_shift(1.5, 52)


def test_distances_never_grow_with_the_stretch_factor(sales):
    frame, series = sales
    pattern = weekly_sales.capacity_pattern()
    table = np.column_stack([dtw.distances(series, pattern, f) for f in FACTORS])
    assert dtw.never_larger_with_more_stretch(table) == []
    assert (table[:, -1] < table[:, 0]).mean() > 0.9, "warping helps most products"
    broken = table.copy()
    broken[7, 3] = broken[7, 2] + 1.0
    assert dtw.never_larger_with_more_stretch(broken) == [(7, 3)]
    named = pd.DataFrame({"Product_Code": frame["Product_Code"],
                          **{dtw.distance_column(i): broken[:, i] for i in range(len(FACTORS))}})
    with pytest.raises(train.DistanceGrewError, match="P8: .* at 0.025 -> .* at 0.05"):
        train.check_monotone(named, list(FACTORS))


def test_spark_partitions_give_the_kernel_distances(spark, sales):
    frame, series = sales
    pattern = weekly_sales.capacity_pattern()
    data = spark.createDataFrame(frame[["Product_Code", *[f"W{w}" for w in range(52)]]]).repartition(3)
    factors = [0.0, 0.1, 0.5]
    result = dtw.with_distances(data, pattern, factors, [f"W{w}" for w in range(52)]).toPandas()
    result = result.set_index("Product_Code").loc[frame["Product_Code"]]
    for i, factor in enumerate(factors):
        np.testing.assert_allclose(result[dtw.distance_column(i)].to_numpy(), dtw.distances(series, pattern, factor))


def test_followers_are_close_and_at_the_pattern_level():
    pattern = np.full(4, 10.0)
    series = np.array([[10, 10, 10, 10], [20, 20, 20, 20], [10, 10, 10, 10]], dtype=float)
    flags = model.followers(np.array([1.0, 1.0, 50.0]), series, pattern, max_distance=5, level_tolerance=0.25)
    assert flags.tolist() == [True, False, False]


@pytest.mark.parametrize("value, words", [(-1.0, "negative count"), (np.nan, "not a finite number"),
                                          (np.inf, "not a finite number")])
def test_counts_that_are_not_sales_name_the_week_and_the_row(value, words):
    series = np.ones((3, 52))
    series[2, 17] = value
    with pytest.raises(PayloadError, match=words) as error:
        model.check_counts(series)
    assert (error.value.field, error.value.row, error.value.status) == ("W17", 2, 422)


def test_settings_are_checked():
    params = {"stretch_factors": [0.5, 0.0], "chosen_stretch_factor": 0.1, "max_distance": 10, "level_tolerance": 0.2}
    with pytest.raises(ValueError, match="chosen_stretch_factor 0.1 is not one of"):
        train.settings_of(params)
    assert train.settings_of({**params, "chosen_stretch_factor": 0.5})["stretch_factors"] == [0.0, 0.5]
