"""The served model family: every (store, item) model of one run as one MLflow pyfunc.

The artifact ``models`` is a gzipped JSON-lines file, one line per series: ``store``, ``item``
and the engine's fitted parameters (:mod:`.engines`, JSON, no pickle). The model config holds
the engine, the horizon limit and the training date. A series' model is parsed the first time
it is asked for and kept (a bounded cache).

Input: rows of ``store``, ``item``, ``horizon`` (days, 1 to the limit). Output: for each input
row, ``horizon`` rows of ``store``, ``item``, ``ds`` (ISO date), ``yhat``, ``yhat_lower``,
``yhat_upper``: the days after the training data's last day, as in the forecast table.

An unknown store-item is refused with a 404, a horizon out of range with a 422, each naming the
field and the row (:class:`~lakeside.serving.payloads.PayloadError`).
"""

from __future__ import annotations

import gzip
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

MODELS_ARTIFACT = "models"
CACHE_SERIES = 256
OUTPUT_COLUMNS = ("store", "item", "ds", "yhat", "yhat_lower", "yhat_upper")


def write_models(models: pd.DataFrame, path: Path) -> Path:
    """``models`` (``store``, ``item``, ``params``) as the family's JSON-lines file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for store, item, params in models[["store", "item", "params"]].itertuples(index=False):
            out.write(json.dumps({"store": int(store), "item": int(item), "params": params}) + "\n")
    return path


def read_models(path: str | Path) -> dict[tuple[int, int], str]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return {(row["store"], row["item"]): row["params"] for row in map(json.loads, lines)}


class DemandForecastFamily(mlflow.pyfunc.PythonModel):
    """Forecasts of any store-item of the family, from its own fitted model."""

    def load_context(self, context) -> None:
        from lakeside.usecases.demand_forecast import engines

        config = context.model_config or {}
        self.engine = engines.check_engine(str(config["engine"]))
        self.max_horizon = int(config["max_horizon"])
        self.params = read_models(context.artifacts[MODELS_ARTIFACT])
        self._fitted: OrderedDict[tuple[int, int], Any] = OrderedDict()

    def predict(self, context, model_input, params: dict[str, Any] | None = None) -> pd.DataFrame:
        from lakeside.usecases.demand_forecast import engines

        requests = self._checked(pd.DataFrame(model_input))
        frames = []
        for store, item, horizon in requests:
            rows = engines.forecast(self.engine, self._model(store, item), self.max_horizon, history=False,
                                    seed=engines.series_seed(store, item)).head(horizon)
            frames.append(rows.assign(store=store, item=item, ds=pd.to_datetime(rows["ds"]).dt.strftime("%Y-%m-%d")))
        if not frames:
            return pd.DataFrame(columns=list(OUTPUT_COLUMNS))
        return pd.concat(frames, ignore_index=True)[list(OUTPUT_COLUMNS)]

    def _checked(self, frame: pd.DataFrame) -> list[tuple[int, int, int]]:
        from lakeside.serving.payloads import PayloadError

        missing = [c for c in ("store", "item", "horizon") if c not in frame.columns]
        if missing:
            raise PayloadError(f"missing column {missing[0]!r}: send store, item and horizon", field=missing[0])
        checked = []
        for row, (store, item, horizon) in enumerate(frame[["store", "item", "horizon"]].itertuples(index=False)):
            for name, value in (("store", store), ("item", item), ("horizon", horizon)):
                if pd.isna(value) or float(value) != int(value):
                    raise PayloadError(f"{name!r} must be a whole number, got {value!r}", field=name, row=row)
            store, item, horizon = int(store), int(item), int(horizon)
            if (store, item) not in self.params:
                stores = sorted({s for s, _ in self.params})
                raise PayloadError(
                    f"no model for store {store}, item {item}: this family has {len(self.params)} store-items "
                    f"(stores {stores[0]}-{stores[-1]})" if stores else "this family has no model",
                    status=404, field="item" if any(s == store for s, _ in self.params) else "store", row=row)
            if not 1 <= horizon <= self.max_horizon:
                raise PayloadError(f"horizon {horizon} is out of range: 1 to {self.max_horizon} days",
                                   field="horizon", row=row)
            checked.append((store, item, horizon))
        return checked

    def _model(self, store: int, item: int):
        from lakeside.usecases.demand_forecast import engines

        key = (store, item)
        if key in self._fitted:
            self._fitted.move_to_end(key)
            return self._fitted[key]
        fitted = engines.load(self.engine, self.params[key])
        self._fitted[key] = fitted
        if len(self._fitted) > CACHE_SERIES:
            self._fitted.popitem(last=False)
        return fitted


def signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("long", "store"), ColSpec("long", "item"), ColSpec("long", "horizon")]),
        outputs=Schema([ColSpec("long", "store"), ColSpec("long", "item"), ColSpec("string", "ds"),
                        ColSpec("double", "yhat"), ColSpec("double", "yhat_lower"), ColSpec("double", "yhat_upper")]),
    )


def log_model(models: pd.DataFrame, engine: str, max_horizon: int, training_date: str, folder: Path,
              name: str = "model"):
    """Log the family of ``models`` (``store``, ``item``, ``params``) in the active run; MLflow's ``ModelInfo``."""
    from importlib.metadata import version

    import mlflow

    if models.empty:
        raise ValueError("no fitted series to make a model family of")
    path = write_models(models, folder / "models.jsonl.gz")
    first = models.iloc[0]
    example = pd.DataFrame({"store": [int(first["store"])], "item": [int(first["item"])], "horizon": [7]})
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=DemandForecastFamily(),
        artifacts={MODELS_ARTIFACT: str(path)},
        model_config={"engine": engine, "max_horizon": int(max_horizon), "training_date": training_date,
                      "series": int(len(models)), "stores": sorted({int(s) for s in models["store"]})},
        signature=signature(),
        input_example=example,
        # Given, not inferred: inference loads the model in a subprocess.
        pip_requirements=[f"{name}=={version(name)}" for name in
                          ("mlflow", "prophet", "statsforecast", "numpy", "pandas", "scipy")],
    )
