"""Dynamic time warping distances of many series to one pattern.

The distance is dtaidistance's: the square root of the smallest sum of squared differences
along a warping path, where a path may pair week ``i`` of one series with week ``j`` of the
other only when ``|i - j| <= shift``. The stretch factor is that shift as a fraction of the
series' length: ``shift = round(stretch_factor * length)`` (half up), so 0 is the Euclidean
distance and a larger factor allows more warping and never gives a larger distance.

:func:`distances` runs dtaidistance's C kernel over a block of series at once (one call for
the whole block, no Python call per series); :func:`reference_distance` is the plain dynamic
programme it is checked against. :func:`with_distances` is the Spark transform: each partition
is a batch of products handed to the C kernel through ``mapInArrow``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

STRETCH_FACTORS = (0.0, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5)


def max_shift(stretch_factor: float, length: int) -> int:
    """Weeks a warping path may move away from the diagonal."""
    if not 0.0 <= stretch_factor <= 1.0:
        raise ValueError(f"stretch_factor must be between 0 and 1, got {stretch_factor}")
    return int(math.floor(stretch_factor * length + 0.5))


def distances(series: np.ndarray, pattern: np.ndarray, stretch_factor: float, *, parallel: bool = False) -> np.ndarray:
    """DTW distance of each row of ``series`` (products x weeks) to ``pattern``, float64.

    ``parallel`` lets dtaidistance use its OpenMP threads (leave it off inside Spark tasks,
    which already use every core).
    """
    from dtaidistance import dtw

    pattern = np.ascontiguousarray(pattern, dtype=np.float64)
    series = np.asarray(series, dtype=np.float64)
    if series.ndim != 2 or series.shape[1] != len(pattern):
        raise ValueError(f"series must be products x {len(pattern)} weeks, got shape {series.shape}")
    if len(series) == 0:
        return np.empty(0, dtype=np.float64)
    stacked = np.ascontiguousarray(np.vstack([pattern[None, :], series]))
    window = max_shift(stretch_factor, len(pattern)) + 1  # dtaidistance: |i - j| < window
    result = dtw.distance_matrix_fast(stacked, block=((0, 1), (1, len(stacked))), compact=True,
                                      window=window, parallel=parallel)
    return np.asarray(result, dtype=np.float64)


def reference_distance(a: Sequence[float], b: Sequence[float], stretch_factor: float) -> float:
    """The textbook dynamic programme (no pruning, no C): what :func:`distances` must equal."""
    n, m = len(a), len(b)
    shift = max(max_shift(stretch_factor, max(n, m)), abs(n - m))
    cost = [[math.inf] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    for i in range(1, n + 1):
        for j in range(max(1, i - shift), min(m, i + shift) + 1):
            step = (a[i - 1] - b[j - 1]) ** 2
            cost[i][j] = step + min(cost[i - 1][j - 1], cost[i - 1][j], cost[i][j - 1])
    return math.sqrt(cost[n][m])


def with_distances(frame, pattern: np.ndarray, stretch_factors: Sequence[float], week_columns: Sequence[str],
                   key: str = "Product_Code"):
    """Spark transform: ``key`` and one ``distance_<i>`` column (double) per stretch factor,
    computed per partition in Arrow batches (the C kernel over each batch).

    Column ``distance_<i>`` belongs to ``stretch_factors[i]`` (see :func:`distance_column`).
    The weeks cross into Python as one array column read straight from Arrow (``mapInArrow``):
    52 separate columns through pandas cost more than the kernel itself.
    """
    from pyspark.sql import functions as F

    pattern = np.asarray(pattern, dtype=np.float64)
    factors = [float(f) for f in stretch_factors]
    weeks = len(week_columns)
    schema = f"`{key}` string, " + ", ".join(f"{distance_column(i)} double" for i in range(len(factors)))

    def per_batch(batches: Iterator) -> Iterator:
        import pyarrow as pa

        for batch in batches:
            values = batch.column(1).flatten().to_numpy(zero_copy_only=False).reshape(-1, weeks)
            columns = [batch.column(0).cast(pa.string())]
            columns += [pa.array(distances(values, pattern, factor)) for factor in factors]
            yield pa.RecordBatch.from_arrays(columns, names=[key, *map(distance_column, range(len(factors)))])

    series = F.array(*[F.col(f"`{week}`").cast("double") for week in week_columns]).alias("_weeks")
    return frame.select(F.col(f"`{key}`").cast("string").alias(key), series).mapInArrow(per_batch, schema)


def distance_column(index: int) -> str:
    return f"distance_{index}"


def z_scores(values: np.ndarray) -> np.ndarray:
    """Standard scores (0 when every value is the same)."""
    values = np.asarray(values, dtype=np.float64)
    spread = values.std()
    return np.zeros_like(values) if spread == 0 else (values - values.mean()) / spread


def never_larger_with_more_stretch(table: np.ndarray, tolerance: float = 1e-9) -> list[tuple[int, int]]:
    """(product row, factor index) where a distance grew with the next larger stretch factor;
    ``table`` is products x factors in increasing factor order. Empty when monotone."""
    grew = np.diff(table, axis=1) > tolerance * np.maximum(1.0, np.abs(table[:, :-1]))
    rows, columns = np.nonzero(grew)
    return [(int(r), int(c) + 1) for r, c in zip(rows, columns)]
