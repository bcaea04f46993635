"""The sales trends trainer and gate evaluator (``UseCase.trainer`` / ``evaluator``).

:func:`train` scores every product of the snapshot against the capacity pattern for every
stretch factor in one Spark pass (:func:`.dtw.with_distances`), checks that no distance grows
with the stretch factor, and tracks under one parent run (experiment ``sales_dtw``) one child
run per stretch factor with:

- param ``stretch_factor`` (and ``max_shift_weeks``), metric ``median_distance`` (and mean,
  standard deviation, min, max, outliers, followers);
- ``outliers.csv``: products whose distance's z-score is beyond ``outlier_z``;
- ``distance_histogram.png`` and ``closest_and_farthest.png`` (the three closest and three
  farthest products against the pattern);
- ``model``: the pyfunc of :mod:`.model` for that stretch factor.

The parent carries the pattern, the settings, the snapshot and the chosen child; the chosen
stretch factor's followers are written to ``gold.sales_selection`` (replacing that snapshot
version's rows, so a rerun on the same data leaves one selection) with their distances and
the chosen run's id.

:func:`evaluate` is the gate's measure (gate file ``gates/sales_dtw.json``): ``coverage`` is the
share of the snapshot's products the model gives a finite distance; ``f1`` is the agreement
of its follower set with the current champion's (1.0 without a champion or for the champion
itself), so a new model that would change the selection wholesale is held back.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lakeside.usecases.sales_trends import SELECTION, dtw

log = logging.getLogger(__name__)

SELECTION_TABLE = SELECTION.name
KEY = "Product_Code"


class DistanceGrewError(AssertionError):
    """A distance grew with a larger stretch factor: the DTW computation is wrong."""


def settings_of(params: dict[str, Any]) -> dict[str, Any]:
    """The trainer's settings, checked (see the use case's declaration for their meaning)."""
    factors = sorted(float(f) for f in params["stretch_factors"])
    chosen = float(params["chosen_stretch_factor"])
    if chosen not in factors:
        raise ValueError(f"chosen_stretch_factor {chosen} is not one of the stretch_factors {factors}")
    if float(params["max_distance"]) <= 0 or float(params["level_tolerance"]) < 0:
        raise ValueError("max_distance must be > 0 and level_tolerance >= 0")
    return {"stretch_factors": factors, "chosen_stretch_factor": chosen,
            "max_distance": float(params["max_distance"]), "level_tolerance": float(params["level_tolerance"]),
            "pattern": dict(params.get("pattern") or {}), "outlier_z": float(params.get("outlier_z", 3.0))}


def pattern_of(settings: dict[str, Any], weeks: int) -> np.ndarray:
    from lakeside.datasets.weekly_sales import capacity_pattern

    return capacity_pattern(weeks, **settings["pattern"])


def week_columns(columns: list[str]) -> list[str]:
    weeks = sorted((int(c[1:]) for c in columns if c.startswith("W") and c[1:].isdigit()))
    if not weeks or weeks != list(range(len(weeks))):
        raise ValueError(f"expected weekly columns W0..Wn, got {columns}")
    return [f"W{w}" for w in weeks]


def score(frame, settings: dict[str, Any]):
    """(distances as pandas: key, ``level`` and one column per stretch factor; the pattern).

    The distances are computed by Spark per partition; only products x factors come back."""
    from pyspark.sql import functions as F

    weeks = week_columns(frame.columns)
    pattern = pattern_of(settings, len(weeks))
    scored = dtw.with_distances(frame, pattern, settings["stretch_factors"], weeks, key=KEY)
    levels = frame.select(F.col(KEY).cast("string").alias(KEY),
                          (sum(F.col(w).cast("double") for w in weeks) / len(weeks)).alias("level"))
    table = scored.join(levels, KEY).toPandas().sort_values(KEY, key=_product_order).reset_index(drop=True)
    return table, pattern


def check_monotone(table: pd.DataFrame, factors: list[float]) -> None:
    columns = [dtw.distance_column(i) for i in range(len(factors))]
    grew = dtw.never_larger_with_more_stretch(table[columns].to_numpy())
    if grew:
        row, index = grew[0]
        raise DistanceGrewError(
            f"{len(grew)} distance(s) grew with the stretch factor, e.g. {table[KEY].iloc[row]}: "
            f"{table[columns[index - 1]].iloc[row]:.6g} at {factors[index - 1]} -> "
            f"{table[columns[index]].iloc[row]:.6g} at {factors[index]}")


def train(use_case, snapshot, params: dict[str, Any], spark=None) -> dict[str, Any]:
    import mlflow

    from lakeside import tracking
    from lakeside.retrain import model_name
    from lakeside.tables import Lake

    settings = settings_of(params)
    spark = spark or _spark()
    lake = Lake(snapshot.uri.rsplit("/", 2)[0], backend=_table_backend(), spark=spark)
    source = lake.table(snapshot.table).read(version=snapshot.version)
    table, pattern = score(source, settings)
    check_monotone(table, settings["stretch_factors"])
    weekly = source.select(KEY, *week_columns(source.columns)).toPandas().set_index(KEY)

    experiment = tracking.experiment_id(model_name(use_case))
    children: dict[float, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="sales-dtw-") as scratch, \
            mlflow.start_run(experiment_id=experiment, run_name=f"dtw v{snapshot.version}") as parent:
        mlflow.log_params({"table": snapshot.table, "table_version": snapshot.version, "products": len(table),
                           "stretch_factors": ",".join(map(str, settings["stretch_factors"])),
                           "chosen_stretch_factor": settings["chosen_stretch_factor"],
                           "max_distance": settings["max_distance"], "level_tolerance": settings["level_tolerance"],
                           "outlier_z": settings["outlier_z"], "pattern_settings": str(settings["pattern"])})
        mlflow.log_dict({"pattern": [float(v) for v in pattern]}, "pattern.json")
        for index, factor in enumerate(settings["stretch_factors"]):
            folder = Path(scratch) / f"factor-{index}"
            children[factor] = _child_run(experiment, table, weekly, pattern, factor,
                                          dtw.distance_column(index), settings, folder)
        chosen = children[settings["chosen_stretch_factor"]]
        selection = _selection(table, chosen, settings, snapshot.version)
        mlflow.log_metrics({"followers": len(selection), "products": len(table)})
        mlflow.set_tags({"chosen_run_id": chosen["run_id"], "lakeside.use_case": use_case.name})
        mlflow.log_table(selection, "selection.json")
    write_selection(lake, selection, snapshot.version, chosen["run_id"])
    medians = {str(f): c["median_distance"] for f, c in children.items()}
    log.info("sales_trends: %d products, %d followers at stretch factor %s; medians %s", len(table),
             len(selection), settings["chosen_stretch_factor"], medians)
    return {"model_uri": chosen["model_uri"], "run_id": chosen["run_id"], "parent_run_id": parent.info.run_id,
            "family": "dtw", "metrics": {"followers": len(selection), "median_distance": chosen["median_distance"]},
            "child_runs": {str(f): c["run_id"] for f, c in children.items()}}


def _child_run(experiment: str, table: pd.DataFrame, weekly: pd.DataFrame, pattern: np.ndarray,
               factor: float, column: str, settings: dict[str, Any], folder: Path) -> dict[str, Any]:
    import mlflow

    from lakeside.usecases.sales_trends import model, plots

    folder.mkdir(parents=True, exist_ok=True)
    distance = table[column].to_numpy()
    z = dtw.z_scores(distance)
    outliers = pd.DataFrame({KEY: table[KEY], "distance": distance, "z_score": z})
    outliers = outliers[np.abs(z) > settings["outlier_z"]].sort_values("z_score", ascending=False)
    follows = model.followers(distance, weekly.loc[table[KEY]].to_numpy(dtype=float), pattern,
                              settings["max_distance"], settings["level_tolerance"])
    with mlflow.start_run(experiment_id=experiment, run_name=f"stretch {factor}", nested=True) as run:
        mlflow.log_params({"stretch_factor": factor, "max_shift_weeks": dtw.max_shift(factor, len(pattern))})
        median = float(np.median(distance))
        mlflow.log_metrics({"median_distance": median, "mean_distance": float(distance.mean()),
                            "std_distance": float(distance.std()), "min_distance": float(distance.min()),
                            "max_distance": float(distance.max()), "outliers": len(outliers),
                            "followers": int(follows.sum())})
        outliers.to_csv(folder / "outliers.csv", index=False)
        mlflow.log_artifact(str(folder / "outliers.csv"))
        mlflow.log_artifact(str(plots.histogram(distance, factor, folder / "distance_histogram.png")))
        order = np.argsort(distance, kind="stable")
        picks = {"closest": order[:3], "farthest": order[::-1][:3]}
        curves = {kind: [(table[KEY].iloc[i], float(distance[i]), weekly.loc[table[KEY].iloc[i]].to_numpy(float))
                         for i in rows] for kind, rows in picks.items()}
        mlflow.log_artifact(str(plots.closest_and_farthest(pattern, curves, factor,
                                                           folder / "closest_and_farthest.png")))
        info = model.log_model(pattern, factor, settings["max_distance"], settings["level_tolerance"],
                               folder / "model")
    return {"run_id": run.info.run_id, "model_uri": info.model_uri, "median_distance": median,
            "distance": distance, "follower": follows, "factor": factor}


def _selection(table: pd.DataFrame, chosen: dict[str, Any], settings: dict[str, Any], version: int) -> pd.DataFrame:
    follows = chosen["follower"]
    return pd.DataFrame({
        KEY: table[KEY][follows].astype(str).to_numpy(),
        "distance": chosen["distance"][follows].astype("float64"),
        "level": table["level"][follows].to_numpy(dtype="float64"),
        "stretch_factor": np.full(int(follows.sum()), chosen["factor"], dtype="float64"),
        "snapshot_version": np.full(int(follows.sum()), version, dtype="int64"),
        "run_id": np.full(int(follows.sum()), chosen["run_id"], dtype=object),
    })


def write_selection(lake, selection: pd.DataFrame, version: int, run_id: str) -> int:
    """Replace the snapshot version's rows of the gold selection table; returns its version."""
    import pyarrow as pa

    schema = pa.schema([(KEY, pa.string()), ("distance", pa.float64()), ("level", pa.float64()),
                        ("stretch_factor", pa.float64()), ("snapshot_version", pa.int64()), ("run_id", pa.string())])
    rows = pa.Table.from_pandas(selection, schema=schema, preserve_index=False)
    return lake.table(SELECTION_TABLE).replace_where(
        f"snapshot_version = {int(version)}", rows, metadata={"run_id": run_id, "snapshot_version": str(version)})


def evaluate(use_case, model_uri: str, snapshot) -> dict[str, float]:
    """The gate's metrics of ``model_uri`` on the pinned snapshot (see the module's docstring)."""
    import mlflow

    from lakeside import snapshot as snapshots
    from lakeside.registry import champion_version
    from lakeside.retrain import model_name

    frame = snapshots.load(snapshot)
    series = frame[week_columns(list(frame.columns))].to_numpy(dtype=float)
    scored = mlflow.pyfunc.load_model(model_uri).predict(series)
    coverage = float(np.isfinite(scored["distance"].to_numpy()).mean())
    name = model_name(use_case)
    champion = champion_version(name)
    if champion is None or model_uri == f"models:/{name}/{champion}":
        return {"coverage": coverage, "f1": 1.0}
    previous = mlflow.pyfunc.load_model(f"models:/{name}/{champion}").predict(series)["follower"].to_numpy()
    mine = scored["follower"].to_numpy()
    both = float((mine & previous).sum())
    agreement = 1.0 if not mine.any() and not previous.any() else 2 * both / float(mine.sum() + previous.sum())
    return {"coverage": coverage, "f1": agreement}


def _product_order(codes: pd.Series) -> pd.Series:
    """P2 before P10: by the number at the end of the code."""
    return pd.to_numeric(codes.astype(str).str.extract(r"(\d+)$", expand=False), errors="coerce")


def _table_backend() -> str:
    from lakeside.config import settings

    return settings().table_backend


def _spark():
    from lakeside.spark import get_spark

    return get_spark("sales_trends")
