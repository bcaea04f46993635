"""UCI "Appliances energy prediction": a house's appliance energy use every 10 minutes with the
temperature and humidity of its rooms and the weather outside (../shared/use-cases.md §4).

One row per 10-minute step (``date``, "2016-01-11 17:00:00"): ``Appliances`` and ``lights``
(Wh used in the step), ``T1``..``T9`` (°C) and ``RH_1``..``RH_9`` (% humidity) of nine places
(T6/RH_6 outside the north wall), the weather station's ``T_out``, ``Press_mm_hg``, ``RH_out``,
``Windspeed``, ``Visibility``, ``Tdewpoint``, and two random variables ``rv1`` and ``rv2``
(equal in the public file: a check that a model ignores noise). 19,735 rows from 2016-01-11
17:00 to 2016-05-27 18:00.

The generator follows the public set's mechanics:

- outside temperature on a seasonal curve (about 2 °C in January to 15 °C in late May) with a
  daily cycle and multi-day weather anomalies; humidity falls as it warms; the dew point
  follows both;
- indoor temperatures and humidities follow the outside weather with a lag of hours (the
  building's inertia) around each room's own level, heated in the evening;
- appliance energy is a base load plus morning and evening peaks scaled by a household
  activity level that drifts over days, weekend mornings later, and short spikes (cooking,
  washing), in whole 10 Wh as metered; lights mostly off, on in the dark evenings.

Ingest refuses (quarantine, with the reason): a time off the 10-minute grid, a time already
seen (the key is ``date``), a cell that is not a number, a humidity outside 0-100 and a negative
energy.

:func:`daily_raw` lands the 144 steps of one day, drawn for that day alone (a day does not
continue the previous day's anomalies).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from lakeside.datasets._spec import Column, RowCheck, SourceSpec, read_text_csv

ROWS = 19_735
START = dt.datetime(2016, 1, 11, 17, 0)
STEP = dt.timedelta(minutes=10)
STEPS_PER_DAY = 144
ROOMS = tuple(range(1, 10))
TEMPERATURES = tuple(f"T{room}" for room in ROOMS)
HUMIDITIES = tuple(f"RH_{room}" for room in ROOMS)
WEATHER = ("T_out", "Press_mm_hg", "RH_out", "Windspeed", "Visibility", "Tdewpoint")
FEATURES = ("Appliances", "lights", *[name for room in ROOMS for name in (f"T{room}", f"RH_{room}")], *WEATHER,
            "rv1", "rv2")
"""The 28 numeric columns, in the public file's order."""
TARGET = "Appliances"


def _numeric(name: str) -> Column:
    if name in ("Appliances", "lights"):
        return Column(name, "double", min=0)
    if name.startswith("RH_"):
        return Column(name, "double", min=0, max=100)
    return Column(name, "double")


SPEC = SourceSpec(
    name="appliances_energy",
    description="A house's appliance energy use every 10 minutes, with room and weather readings.",
    key=("date",),
    columns=(Column("date", "timestamp"), *(_numeric(name) for name in FEATURES)),
    row_checks=(
        RowCheck("time off the 10-minute grid", "minute({date}) % 10 <> 0 OR second({date}) <> 0"),
    ),
)

# Each room's level (°C, % humidity) and how strongly it follows the outside (T6: outside).
_ROOM_TEMPERATURE = np.array([21.7, 20.3, 22.3, 20.9, 19.6, 7.9, 20.3, 22.0, 19.5])
_ROOM_FOLLOWS_OUT = np.array([0.12, 0.18, 0.10, 0.14, 0.12, 0.95, 0.10, 0.12, 0.10])
_ROOM_HUMIDITY = np.array([40.3, 40.4, 39.2, 39.0, 51.0, 54.6, 35.4, 42.9, 41.6])
_INDOOR_LAG_STEPS = 18  # three hours


def generate(rows: int = ROWS, seed: int = 0, start: dt.datetime = START) -> pd.DataFrame:
    """``rows`` consecutive 10-minute steps from ``start``: ``date`` datetime64[ns], the rest float64."""
    if rows < 0:
        raise ValueError("rows must be >= 0")
    rng = np.random.default_rng(seed)
    date = pd.date_range(pd.Timestamp(start).floor("10min"), periods=rows, freq="10min")
    day_of_year = date.dayofyear.to_numpy() + date.hour.to_numpy() / 24
    hour = date.hour.to_numpy() + date.minute.to_numpy() / 60
    weekend = date.dayofweek.to_numpy() >= 5

    anomaly = _slow_noise(rng, rows, scale=2.5, days=3.0)
    season = np.cos(2 * np.pi * (day_of_year - 15) / 365.25)
    t_out = 8.0 - 8.0 * season + 3.0 * np.sin(2 * np.pi * (hour - 9) / 24) + anomaly
    rh_out = np.clip(80 - 1.6 * (t_out - 7) + _slow_noise(rng, rows, scale=6.0, days=1.0), 25, 100)
    press = 755 + _slow_noise(rng, rows, scale=7.0, days=4.0)
    wind = np.clip(np.abs(4 + _slow_noise(rng, rows, scale=2.5, days=0.5) + rng.normal(0, 0.6, rows)), 0, 14)
    visibility = np.clip(40 - 0.2 * (rh_out - 80) + _slow_noise(rng, rows, scale=10.0, days=0.7), 1, 66)
    dew = t_out - (100 - rh_out) / 5

    lagged = np.concatenate([np.full(_INDOOR_LAG_STEPS, t_out[0]), t_out[:-_INDOOR_LAG_STEPS]])[:rows]
    heating = np.where((hour >= 17) & (hour < 23), 0.8, 0.0)
    temperature = (_ROOM_TEMPERATURE[None, :] + _ROOM_FOLLOWS_OUT[None, :] * (lagged[:, None] - 7.9)
                   + heating[:, None] * (1 - _ROOM_FOLLOWS_OUT[None, :]) + rng.normal(0, 0.15, (rows, 9)))
    humidity = np.clip(_ROOM_HUMIDITY[None, :] + 0.15 * (rh_out[:, None] - 80)
                       + 3.0 * _slow_noise(rng, rows, scale=1.0, days=1.5)[:, None] + rng.normal(0, 0.8, (rows, 9)),
                       1, 99)

    activity = np.exp(_slow_noise(rng, rows, scale=0.25, days=2.0))
    morning = np.exp(-0.5 * ((hour - np.where(weekend, 10.0, 7.5)) / 1.0) ** 2)
    evening = np.exp(-0.5 * ((hour - 19.0) / 1.5) ** 2)
    load = 45 + activity * (110 * morning + 160 * evening) + 15 * np.sin(2 * np.pi * hour / 24) ** 2
    spikes = np.where(rng.random(rows) < 0.04 * (0.3 + morning + evening), rng.lognormal(5.4, 0.5, rows), 0.0)
    appliances = np.clip(np.round((load + spikes + rng.normal(0, 12, rows)) / 10) * 10, 10, 1080)
    dark = (hour >= 17) | (hour < 7)
    lights = np.where(dark & (rng.random(rows) < 0.35 * activity.clip(0, 2)), rng.choice([10.0, 20.0, 30.0], rows),
                      0.0)
    noise = rng.uniform(0, 50, rows)

    columns: dict[str, np.ndarray] = {"Appliances": appliances, "lights": lights}
    for index, room in enumerate(ROOMS):
        columns[f"T{room}"] = np.round(temperature[:, index], 3)
        columns[f"RH_{room}"] = np.round(humidity[:, index], 3)
    columns |= {"T_out": np.round(t_out, 2), "Press_mm_hg": np.round(press, 1), "RH_out": np.round(rh_out, 1),
                "Windspeed": np.round(wind, 2), "Visibility": np.round(visibility, 1), "Tdewpoint": np.round(dew, 2),
                "rv1": noise, "rv2": noise.copy()}
    frame = pd.DataFrame({"date": date.to_numpy(dtype="datetime64[ns]"), **columns})
    return frame.astype({name: "float64" for name in FEATURES})[SPEC.column_names]


def load(path: str) -> pd.DataFrame:
    """Read the public ``energydata_complete.csv`` (quoted header, "2016-01-11 17:00:00" times)
    into :func:`generate`'s shape."""
    return SPEC.typed(read_text_csv(path, SPEC, "appliances energy"))


def to_raw(frame: pd.DataFrame) -> pd.DataFrame:
    """The text of the public file: "2016-01-11 17:00:00", "60", "19.89", "47.5966666666667"."""
    text = {"date": pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d %H:%M:%S")}
    text |= {name: frame[name].map(_number_text) for name in FEATURES}
    return pd.DataFrame(text)


def daily_raw(day: dt.date, rows: int = STEPS_PER_DAY, seed: int = 0) -> pd.DataFrame:
    """The text of one day's file: its (at most 144) steps from midnight."""
    start = dt.datetime.combine(day, dt.time())
    return to_raw(generate(min(rows, STEPS_PER_DAY), seed=seed * 100_003 + day.toordinal(), start=start))


def _slow_noise(rng: np.random.Generator, rows: int, scale: float, days: float) -> np.ndarray:
    """An AR(1) process with standard deviation ``scale`` whose memory is about ``days`` days."""
    from scipy.signal import lfilter

    phi = float(np.exp(-1.0 / (days * STEPS_PER_DAY)))
    shocks = rng.normal(0.0, scale * np.sqrt(1 - phi**2), rows)
    if rows:
        shocks[0] = rng.normal(0.0, scale)
    return lfilter([1.0], [1.0, -phi], shocks)


def _number_text(value: float) -> str:
    return repr(int(value)) if float(value).is_integer() else repr(float(value))
