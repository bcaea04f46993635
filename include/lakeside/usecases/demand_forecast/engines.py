"""The forecasting engines: fit one daily series, serialise the fitted parameters as JSON, and
forecast from that JSON.

- ``prophet``: Prophet configured exactly as ../shared/use-cases.md §3 (:data:`PROPHET_SETTINGS`),
  serialised with ``prophet.serialize.model_to_json`` (parameters and the history it needs to
  place future days; no pickle).
- ``auto_ets``: statsforecast's ``AutoETS`` with a weekly season; its state (components,
  smoothing parameters, last state vector, variance, in-sample fit) is serialised as plain
  numbers.

:func:`forecast` is the one path from a series' JSON to forecast rows: the Spark job's tables
and the served model both call it, so their answers agree. Prophet draws its intervals by
simulation; the draw is seeded per series (:func:`series_seed`) and future days are always
simulated over the family's whole horizon, so an answer for 30 days is the first 30 rows of the
table's 90.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import pandas as pd

ENGINES = ("prophet", "auto_ets")
INTERVAL_WIDTH = 0.95
PROPHET_SETTINGS: dict[str, Any] = {
    "interval_width": INTERVAL_WIDTH,
    "growth": "linear",
    "daily_seasonality": False,
    "weekly_seasonality": True,
    "yearly_seasonality": True,
    "seasonality_mode": "multiplicative",
}
ETS_SEASON_DAYS = 7
FORECAST_COLUMNS = ("ds", "yhat", "yhat_lower", "yhat_upper")


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: one of {', '.join(ENGINES)}")
    return engine


def quiet() -> None:
    """Import Prophet with its logs turned down. Prophet sets its logger to INFO when imported
    (and warns on every fit with less than two years of history), cmdstanpy installs its own
    INFO handler unless its logger has one (two lines a fit), and Prophet logs an ERROR about
    plotly at import."""
    stan = logging.getLogger("cmdstanpy")
    if not stan.handlers:
        stan.addHandler(logging.NullHandler())
    stan.setLevel(logging.WARNING)
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)
    import prophet  # noqa: F401 - sets its logger's level on import

    logging.getLogger("prophet").setLevel(logging.ERROR)


def series_seed(store: int, item: int) -> int:
    return (int(store) * 100_003 + int(item)) % (2**32)


def fit(engine: str, history: pd.DataFrame) -> str:
    """Fit ``history`` (``ds`` datetime64, ``y`` float, one row per day, in order); the JSON."""
    if check_engine(engine) == "prophet":
        return _fit_prophet(history)
    return _fit_ets(history)


def load(engine: str, params: str) -> Any:
    """The fitted model of a JSON text (what :func:`forecast` takes)."""
    if check_engine(engine) == "prophet":
        quiet()
        from prophet.serialize import model_from_json

        return model_from_json(params)
    return _EtsFit.from_json(params)


def forecast(engine: str, fitted: Any, periods: int, *, history: bool, seed: int) -> pd.DataFrame:
    """``ds``, ``yhat``, ``yhat_lower``, ``yhat_upper``: the history's days when ``history``,
    then ``periods`` days after it (``periods`` may be 0)."""
    if check_engine(engine) == "prophet":
        return _forecast_prophet(fitted, periods, history, seed)
    return fitted.forecast(periods, history)


def last_day(engine: str, fitted: Any) -> pd.Timestamp:
    if check_engine(engine) == "prophet":
        return pd.Timestamp(fitted.history_dates.max())
    return fitted.end


def _fit_prophet(history: pd.DataFrame) -> str:
    quiet()
    from prophet import Prophet
    from prophet.serialize import model_to_json

    model = Prophet(**PROPHET_SETTINGS)
    model.fit(history[["ds", "y"]])
    return model_to_json(model)


def _forecast_prophet(model, periods: int, history: bool, seed: int) -> pd.DataFrame:
    parts = []
    state = np.random.get_state()
    try:
        if history:
            np.random.seed(seed)
            parts.append(model.predict(model.history[["ds"]].copy()))
        if periods > 0:
            np.random.seed(seed + 1)
            future = model.make_future_dataframe(periods=periods, freq="d", include_history=False)
            parts.append(model.predict(future))
    finally:
        np.random.set_state(state)
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "ds" else "float64")
                             for c in FORECAST_COLUMNS})
    return pd.concat(parts, ignore_index=True)[list(FORECAST_COLUMNS)]


def _fit_ets(history: pd.DataFrame) -> str:
    from statsforecast.models import AutoETS

    y = history["y"].to_numpy(dtype="float64")
    model = AutoETS(season_length=ETS_SEASON_DAYS).fit(y).model_
    return _EtsFit(
        start=pd.Timestamp(history["ds"].iloc[0]), end=pd.Timestamp(history["ds"].iloc[-1]),
        components=str(model["components"]), m=int(model["m"]), par=np.asarray(model["par"], dtype="float64"),
        last_state=np.asarray(model["states"][-1], dtype="float64"), sigma2=float(model["sigma2"]),
        n_params=int(model["n_params"]), fitted=np.asarray(model["fitted"], dtype="float64"),
        residuals=np.asarray(model["actual_residuals"], dtype="float64"),
    ).to_json()


class _EtsFit:
    """An AutoETS fit as numbers: enough for statsforecast's point forecast and intervals."""

    FIELDS = ("components", "m", "par", "last_state", "sigma2", "n_params", "fitted", "residuals")

    def __init__(self, *, start, end, components, m, par, last_state, sigma2, n_params, fitted, residuals):
        self.start, self.end = pd.Timestamp(start), pd.Timestamp(end)
        self.components, self.m, self.sigma2, self.n_params = components, m, sigma2, n_params
        self.par, self.last_state = np.asarray(par, dtype="float64"), np.asarray(last_state, dtype="float64")
        self.fitted, self.residuals = np.asarray(fitted, dtype="float64"), np.asarray(residuals, dtype="float64")

    def to_json(self) -> str:
        values = {name: getattr(self, name) for name in self.FIELDS}
        values = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in values.items()}
        return json.dumps({"start": self.start.date().isoformat(), "end": self.end.date().isoformat(), **values})

    @classmethod
    def from_json(cls, text: str) -> "_EtsFit":
        return cls(**json.loads(text))

    def forecast(self, periods: int, history: bool) -> pd.DataFrame:
        from scipy.stats import norm
        from statsforecast.ets import forecast_ets

        level = int(round(INTERVAL_WIDTH * 100))
        parts = []
        if history:
            usable = np.isfinite(self.residuals)
            se = np.sqrt(np.sum(self.residuals[usable] ** 2) / max(usable.sum() - self.n_params, 1))
            spread = norm.ppf(0.5 + INTERVAL_WIDTH / 2) * se
            parts.append(pd.DataFrame({
                "ds": pd.date_range(self.start, self.end, freq="D"), "yhat": self.fitted,
                "yhat_lower": self.fitted - spread, "yhat_upper": self.fitted + spread}))
        if periods > 0:
            state = {"components": self.components, "m": self.m, "par": self.par,
                     "states": self.last_state[None, :], "sigma2": self.sigma2, "n_params": self.n_params,
                     "fitted": self.fitted, "residuals": self.residuals}
            out = forecast_ets(state, h=periods, level=[level])
            parts.append(pd.DataFrame({
                "ds": pd.date_range(self.end + pd.Timedelta(days=1), periods=periods, freq="D"),
                "yhat": out["mean"], "yhat_lower": out[f"lo-{level}"], "yhat_upper": out[f"hi-{level}"]}))
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "ds" else "float64")
                                 for c in FORECAST_COLUMNS})
        return pd.concat(parts, ignore_index=True)
