"""Windows of the energy series as indexes into one table of scaled rows (Spark transforms).

A sample is the ``lookback`` rows up to and including its *anchor* (the last row the model
sees) and the target ``horizon`` steps after it. A window of 864 × 28 floats is 190 KB; the
public series has ~19,000 of them, about 1.9 GB as copies, so ``gold.energy_windows`` holds
per sample only the anchor, the offset of its first row, the target's time and value and its
split, and the trainer slices the rows out of ``gold.energy_features`` lazily.

The split is by time, 70/15/15 of the rows, with ``lookback + horizon`` rows between two parts
(:func:`split_bounds`), so no row of a validation or test window is in any training window.
A window lies wholly in one part or is skipped; windows over a hole in the 10-minute grid
(steps missing from silver) are skipped too. Both are counted (:func:`skip_counts`).

The scaler (mean and standard deviation per feature) is fitted on the training part's rows
only (:func:`fit_scaler`): changing a validation or test value changes no training input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lakeside.datasets.appliances_energy import FEATURES, TARGET

STEP_SECONDS = 600
SPLITS = ("train", "val", "test")
SHARES = (0.70, 0.15, 0.15)


@dataclass(frozen=True)
class Bounds:
    """Row ranges ``[start, end)`` of each part; the rows between two parts are the gap."""

    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]
    gap: int

    def to_dict(self) -> dict:
        return asdict(self)

    def part_of(self, row):
        """A Spark column: the part holding ``row`` (a column), or null in a gap."""
        part = F.lit(None).cast("string")
        for name in reversed(SPLITS):
            start, end = getattr(self, name)
            part = F.when((row >= start) & (row < end), F.lit(name)).otherwise(part)
        return part


def split_bounds(rows: int, lookback: int, horizon: int) -> Bounds:
    """70/15/15 of the rows left after two gaps of ``lookback + horizon`` rows."""
    gap = lookback + horizon
    usable = rows - 2 * gap
    if usable < 3 * gap:
        raise ValueError(f"{rows} rows are too few for windows of {lookback} + {horizon} steps "
                         f"(need at least {5 * gap})")
    train = int(usable * SHARES[0])
    val = int(usable * SHARES[1])
    val_start = train + gap
    test_start = val_start + val + gap
    return Bounds(train=(0, train), val=(val_start, val_start + val), test=(test_start, rows), gap=gap)


def numbered(silver: DataFrame) -> DataFrame:
    """The series in time order with ``row`` (0-based position) and ``step`` (10-minute steps since
    the first time: equal to ``row`` unless steps are missing)."""
    seconds = F.unix_timestamp("date")
    first = silver.select(F.min(seconds).alias("first")).first()["first"]
    if first is None:
        raise ValueError("the energy table is empty")
    order = Window.orderBy("date")
    return silver.select("date", *FEATURES).withColumn("row", F.row_number().over(order) - 1).withColumn(
        "step", ((seconds - F.lit(first)) / STEP_SECONDS).cast("long"))


def fit_scaler(rows: DataFrame, bounds: Bounds) -> dict[str, dict[str, float]]:
    """Mean and (population) standard deviation of each feature over the training part's rows;
    a constant feature gets 1.0 (it scales to 0)."""
    start, end = bounds.train
    train = rows.filter((F.col("row") >= start) & (F.col("row") < end))
    stats = train.agg(*[F.avg(name).alias(f"m_{name}") for name in FEATURES],
                      *[F.stddev_pop(name).alias(f"s_{name}") for name in FEATURES]).first()
    return {name: {"mean": float(stats[f"m_{name}"]),
                   "std": float(stats[f"s_{name}"]) if stats[f"s_{name}"] and stats[f"s_{name}"] > 1e-12 else 1.0}
            for name in FEATURES}


def scaled(rows: DataFrame, scaler: dict[str, dict[str, float]]) -> DataFrame:
    """``gold.energy_features``: ``row``, ``date`` and each feature scaled, in time order."""
    return rows.select(
        F.col("row").cast("long"), "date",
        *[((F.col(name) - scaler[name]["mean"]) / scaler[name]["std"]).cast("double").alias(name)
          for name in FEATURES],
    )


def windows(rows: DataFrame, bounds: Bounds, lookback: int, horizon: int) -> DataFrame:
    """Every window position with its ``split`` (null: skipped) and ``skip`` reason (``gap``: it
    touches a gap or spans two parts; ``hole``: steps are missing inside it).

    Columns: ``anchor`` (row of the last input), ``first_row``, ``anchor_time``, ``target_row``,
    ``target_time``, ``target_value`` (raw Wh), ``split``, ``skip``."""
    order = Window.orderBy("row")
    framed = rows.select(
        F.col("row").alias("anchor"), F.col("date").alias("anchor_time"),
        (F.col("row") - (lookback - 1)).alias("first_row"),
        F.lag("step", lookback - 1).over(order).alias("first_step"),
        F.col("step").alias("anchor_step"),
        F.lead("step", horizon).over(order).alias("target_step"),
        F.lead("date", horizon).over(order).alias("target_time"),
        F.lead(TARGET, horizon).over(order).alias("target_value"),
    ).filter(F.col("first_step").isNotNull() & F.col("target_step").isNotNull())
    first_part, target_part = bounds.part_of(F.col("first_row")), bounds.part_of(F.col("anchor") + horizon)
    contiguous = (F.col("target_step") - F.col("first_step")) == lookback - 1 + horizon
    same_part = first_part.isNotNull() & target_part.isNotNull() & (first_part == target_part)
    return framed.select(
        F.col("anchor").cast("long"), F.col("first_row").cast("long"), "anchor_time",
        (F.col("anchor") + horizon).cast("long").alias("target_row"), "target_time",
        F.col("target_value").cast("double"),
        F.when(same_part & contiguous, first_part).alias("split"),
        F.when(~same_part, F.lit("gap")).when(~contiguous, F.lit("hole")).alias("skip"),
    )


def kept(positions: DataFrame) -> DataFrame:
    """``gold.energy_windows``: the windows that lie in one part."""
    return positions.filter(F.col("split").isNotNull()).drop("skip")


def skip_counts(positions: DataFrame) -> dict[str, int]:
    """Window positions kept per part and skipped per reason."""
    counts = {f"windows_{name}": 0 for name in SPLITS} | {"skipped_gap": 0, "skipped_hole": 0}
    for row in positions.groupBy("split", "skip").count().collect():
        key = f"windows_{row['split']}" if row["split"] else f"skipped_{row['skip']}"
        counts[key] = int(row["count"])
    return counts
