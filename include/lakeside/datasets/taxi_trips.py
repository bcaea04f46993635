"""NYC yellow taxi trips with coordinates (2015 era): schema, loader and generator.

Trips: the coordinate-era columns of the TLC yellow trip records, plus ``trip_id`` (the public
files have no key). The generator models:

- pickups where taxis really go: mostly Manhattan (clusters stretched along the avenues),
  some at JFK and LaGuardia, some in Brooklyn, Queens and the Bronx; candidate points that
  land in the water are redrawn;
- a daily cycle of pickup times (quiet at 4-5 am, busiest in the evening);
- dropoffs around the same hotspots: airport pickups head mostly to Manhattan, 4% of Manhattan
  trips head to an airport, other trips choose a hotspot by popularity discounted by distance
  (a gravity model), staying in their own neighbourhood most often;
- ``trip_distance`` = straight-line distance x a detour factor around 1.3;
- a duration from a speed that drops in rush hours and rises on long trips;
- the 2015 meter: ``fare_amount`` = 2.50 + 0.50 per 1/5 mile + 0.50 per minute in slow
  traffic, or the $52 flat fare between JFK and Manhattan; card payers (about 60%) tip 15-30%
  of the fare, cash tips are not recorded; ``total_amount`` adds the tip, the 0.50 MTA tax, the
  0.30 improvement surcharge and the 0.50 / 1.00 night and rush-hour extras;
- GPS glitches as in the public data: about 1.5% of trips with both ends at (0, 0) and about
  0.5% with one end drifted into the water; such points fall outside every zone.

Zones to place the trips in are their own reference source, :mod:`lakeside.datasets.taxi_zones`
(the generator uses its borough polygons to keep points on land).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from lakeside.datasets import taxi_zones
from lakeside.datasets._spec import Column, SourceSpec, read_text_csv

ZERO_GPS_SHARE = 0.015
WATER_SHARE = 0.005
CARD_SHARE = 0.6
JFK_FLAT_FARE = 52.0
MTA_TAX = 0.5
IMPROVEMENT_SURCHARGE = 0.3
EARTH_RADIUS_MILES = 3958.8
MANHATTAN_AXIS_DEGREES = 29.0  # the avenues run 29 degrees east of true north
GRAVITY_KM = 2.5  # how fast a destination's pull fades with distance

SPEC = SourceSpec(
    name="taxi_trips",
    description="NYC yellow taxi trips with pickup and dropoff coordinates (2015 - June 2016 files).",
    key=("trip_id",),
    columns=(
        Column("trip_id", "long", min=1),
        Column("tpep_pickup_datetime", "timestamp"),
        Column("tpep_dropoff_datetime", "timestamp"),
        Column("passenger_count", "int", min=1, max=6),
        Column("trip_distance", "double", min=0),
        Column("pickup_longitude", "double", min=-180, max=180),
        Column("pickup_latitude", "double", min=-90, max=90),
        Column("dropoff_longitude", "double", min=-180, max=180),
        Column("dropoff_latitude", "double", min=-90, max=90),
        Column("fare_amount", "double", min=0),
        Column("tip_amount", "double", min=0),
        Column("total_amount", "double", min=0),
    ),
)

_TIMESTAMP_COLUMNS = ("tpep_pickup_datetime", "tpep_dropoff_datetime")
_SILVER_DTYPES = {"long": "int64", "int": "int32", "double": "float64", "timestamp": "datetime64[ns]"}
_DTYPES = {c.name: _SILVER_DTYPES[c.kind] for c in SPEC.columns}
_KEYED_COLUMNS = [c for c in SPEC.column_names if c != "trip_id"]
# 2009 and 2010 files name the same columns otherwise.
_COLUMN_ALIASES = {
    "Trip_Pickup_DateTime": "tpep_pickup_datetime", "Trip_Dropoff_DateTime": "tpep_dropoff_datetime",
    "pickup_datetime": "tpep_pickup_datetime", "dropoff_datetime": "tpep_dropoff_datetime",
    "Passenger_Count": "passenger_count", "Trip_Distance": "trip_distance",
    "Start_Lon": "pickup_longitude", "Start_Lat": "pickup_latitude",
    "End_Lon": "dropoff_longitude", "End_Lat": "dropoff_latitude",
    "Fare_Amt": "fare_amount", "Tip_Amt": "tip_amount", "Total_Amt": "total_amount",
}


@dataclass(frozen=True)
class Hotspot:
    name: str
    borough: str
    lat: float
    lon: float
    sd_along_km: float  # spread along the Manhattan axis
    sd_across_km: float
    weight: float


HOTSPOTS = (
    Hotspot("Midtown East", "Manhattan", 40.755, -73.975, 0.9, 0.35, 0.16),
    Hotspot("Midtown West", "Manhattan", 40.758, -73.988, 0.8, 0.35, 0.14),
    Hotspot("Upper East Side", "Manhattan", 40.773, -73.958, 1.2, 0.35, 0.12),
    Hotspot("Upper West Side", "Manhattan", 40.787, -73.975, 1.0, 0.3, 0.08),
    Hotspot("Chelsea-Flatiron", "Manhattan", 40.742, -73.994, 0.8, 0.4, 0.10),
    Hotspot("Greenwich-East Village", "Manhattan", 40.729, -73.990, 0.8, 0.5, 0.09),
    Hotspot("Lower Manhattan", "Manhattan", 40.712, -74.008, 0.7, 0.4, 0.06),
    Hotspot("Harlem", "Manhattan", 40.810, -73.948, 1.2, 0.5, 0.03),
    Hotspot("JFK", "Queens", 40.6441, -73.7822, 0.5, 0.5, 0.025),
    Hotspot("LaGuardia", "Queens", 40.7740, -73.8718, 0.3, 0.3, 0.025),
    Hotspot("Williamsburg", "Brooklyn", 40.714, -73.957, 0.8, 0.8, 0.02),
    Hotspot("Downtown Brooklyn-Park Slope", "Brooklyn", 40.683, -73.985, 1.2, 1.2, 0.025),
    Hotspot("Long Island City-Astoria", "Queens", 40.752, -73.932, 1.0, 1.0, 0.02),
    Hotspot("Central Queens", "Queens", 40.725, -73.850, 3.0, 3.0, 0.01),
    Hotspot("South Bronx", "Bronx", 40.830, -73.905, 2.0, 2.0, 0.01),
)
AIRPORTS = ("JFK", "LaGuardia")
_HOTSPOT_FIELDS = {name: np.array([getattr(h, name) for h in HOTSPOTS])
                   for name in ("lat", "lon", "sd_along_km", "sd_across_km")}
# Where GPS drift lands: the Hudson, the East River, the Upper Bay, Jamaica Bay, Flushing Bay.
WATER_POINTS = ((40.760, -74.012), (40.730, -73.967), (40.665, -74.045), (40.615, -73.830), (40.772, -73.855))
# Relative number of pickups per hour of the day.
HOURLY_PICKUPS = np.array([
    0.55, 0.40, 0.30, 0.22, 0.16, 0.18, 0.40, 0.70, 0.85, 0.85, 0.80, 0.82,
    0.88, 0.88, 0.90, 0.88, 0.80, 0.95, 1.10, 1.15, 1.05, 1.00, 0.95, 0.80,
])
RUSH_HOURS = (7, 8, 9, 16, 17, 18)
PASSENGER_SHARES = np.array([0.71, 0.14, 0.04, 0.02, 0.055, 0.035])
CARD_TIP_RATES = (np.array([0.0, 0.15, 0.20, 0.25, 0.30]), np.array([0.08, 0.22, 0.45, 0.17, 0.08]))


def generate(rows: int, seed: int = 0, day: str = "2015-01-15") -> pd.DataFrame:
    """Trips picked up on ``day``: timestamps datetime64[ns] (naive local time), trip_id int64,
    passenger_count int32, the rest float64.

    ``trip_id`` is ``yyyymmdd * 10**9 + n`` (n = 1..rows in pickup order), unique across days.
    """
    if not 0 <= rows < 10**9:
        raise ValueError("rows must be between 0 and 999,999,999")
    rng = np.random.default_rng(seed)
    land = _land()
    start = pd.Timestamp(day).normalize()
    pickup_at = np.sort(_pickup_seconds(rng, rows))
    origin = rng.choice(len(HOTSPOTS), rows, p=_weights(HOTSPOTS))
    pick_lon, pick_lat = _points_near(rng, land, origin)
    drop_lon, drop_lat, destination = _dropoffs(rng, land, origin)

    crow_miles = _haversine_miles(pick_lon, pick_lat, drop_lon, drop_lat)
    distance = np.round(np.maximum(crow_miles * rng.lognormal(np.log(1.3), 0.12, rows), 0.1), 2)
    hour = pickup_at // 3600
    minutes = _duration_minutes(rng, distance, hour)
    fare = _fare(rng, distance, minutes, hour, origin, destination)
    tip = _tip(rng, fare)
    total = np.round(fare + tip + MTA_TAX + IMPROVEMENT_SURCHARGE + _extra(hour, start.dayofweek), 2)
    pick_lon, pick_lat, drop_lon, drop_lat = _gps_glitches(rng, land, pick_lon, pick_lat, drop_lon, drop_lat)

    pickup = start + pd.to_timedelta(pickup_at, unit="s")
    dropoff = pickup + pd.to_timedelta(np.round(minutes * 60), unit="s")
    return pd.DataFrame({
        "trip_id": int(start.strftime("%Y%m%d")) * 10**9 + np.arange(1, rows + 1),
        "tpep_pickup_datetime": pickup,
        "tpep_dropoff_datetime": dropoff,
        "passenger_count": rng.choice(6, rows, p=PASSENGER_SHARES) + 1,
        "trip_distance": distance,
        "pickup_longitude": pick_lon,
        "pickup_latitude": pick_lat,
        "dropoff_longitude": drop_lon,
        "dropoff_latitude": drop_lat,
        "fare_amount": fare,
        "tip_amount": tip,
        "total_amount": total,
    }).astype(_DTYPES)


def load(path: str) -> pd.DataFrame:
    """Read a TLC yellow trip file with coordinates (2009 - June 2016; CSV or Parquet, path or
    URL) into :func:`generate`'s shape. Public files have no key: ``trip_id`` is derived from the
    record's values (:func:`trip_key`), so the same trip gets the same id in any file and order;
    a file written by :func:`to_raw` keeps its own. The 2009 column names (``Trip_Pickup_DateTime``,
    ``Start_Lon``, ``Fare_Amt``, ...) and 2010's (``pickup_datetime``) are read too.
    """
    if str(path).lower().endswith((".parquet", ".pq")):
        raw = _parquet_as_text(path)
    else:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, low_memory=False)
        raw.columns = raw.columns.str.strip()
        raw = raw.rename(columns=_COLUMN_ALIASES)
    missing = [c for c in SPEC.column_names if c != "trip_id" and c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: not a yellow taxi (with coordinates) file, missing columns: {', '.join(missing)}")
    keyed = "trip_id" in raw.columns
    if not keyed:
        raw["trip_id"] = "1"
    typed = SPEC.typed(raw)
    if not keyed:
        typed["trip_id"] = trip_key(typed)
    return typed


def trip_key(trips: pd.DataFrame) -> pd.Series:
    """A deterministic ``trip_id`` for records without one: a 63-bit hash of the record's typed
    values (every column but ``trip_id``), at least 1. Identical records share an id, so ingest
    refuses the repeat as a duplicate key (the public files do repeat some records)."""
    hashed = pd.util.hash_pandas_object(trips[_KEYED_COLUMNS], index=False).to_numpy(dtype=np.uint64)
    return pd.Series(np.maximum((hashed >> np.uint64(1)).astype(np.int64), 1), index=trips.index, name="trip_id")


def backfill(path: str, landing_root) -> list[str]:
    """Split a public TLC file (CSV or Parquet) into landing files, one per pickup day
    (``<landing_root>/taxi_trips/<day>/<file stem>.csv``, keys included), for daily_ingest to
    take day by day. Returns the files written."""
    from pathlib import Path

    trips = load(path)
    stem = Path(str(path)).name.split(".")[0]
    written = []
    days = trips["tpep_pickup_datetime"].dt.strftime("%Y-%m-%d").fillna("unknown-day")
    for day, rows in trips.groupby(days, sort=True):
        target = Path(landing_root) / SPEC.name / day / f"{stem}.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        to_raw(rows).to_csv(target, index=False)
        written.append(str(target))
    return written


def daily_raw(day, rows: int, seed: int = 0) -> pd.DataFrame:
    """The text of one day's raw trips file (each day its own draw)."""
    day = pd.Timestamp(str(day)[:10])
    return to_raw(generate(rows, seed=seed * 100_003 + day.toordinal(), day=day.strftime("%Y-%m-%d")))


def _parquet_as_text(path: str) -> pd.DataFrame:
    import pyarrow.parquet as pq

    frame = pq.read_table(path).to_pandas()
    frame = frame.rename(columns={c: c.strip() for c in frame.columns}).rename(columns=_COLUMN_ALIASES)
    text = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_datetime64_any_dtype(column):
            text[name] = column.dt.strftime("%Y-%m-%d %H:%M:%S").fillna("")
        elif pd.api.types.is_float_dtype(column):
            text[name] = column.map(lambda v: "" if pd.isna(v) else repr(float(v)))
        else:
            text[name] = column.astype(str).where(column.notna(), "")
    return pd.DataFrame(text)


def to_raw(df: pd.DataFrame) -> pd.DataFrame:
    """The text of a public file for these trips (timestamps "2015-01-15 19:05:39")."""
    return pd.DataFrame({
        name: df[name].dt.strftime("%Y-%m-%d %H:%M:%S") if name in _TIMESTAMP_COLUMNS
        else df[name].map(repr) if _DTYPES[name] == "float64" else df[name].astype(str)
        for name in SPEC.column_names
    })


class _Land:
    """Is a point on NYC land? Exact against the borough polygons, sped up by a grid.

    Grid cells wholly on land or wholly off it answer at once; only points in cells crossing
    the shore are tested against the polygons.
    """

    CELL_DEGREES = 0.0025

    def __init__(self, geometry) -> None:
        self.geometry = geometry
        shapely.prepare(geometry)
        self.x0, self.y0, x1, y1 = geometry.bounds
        self.nx = int(np.ceil((x1 - self.x0) / self.CELL_DEGREES))
        self.ny = int(np.ceil((y1 - self.y0) / self.CELL_DEGREES))
        gx, gy = np.meshgrid(self.x0 + np.arange(self.nx) * self.CELL_DEGREES,
                             self.y0 + np.arange(self.ny) * self.CELL_DEGREES)
        cells = shapely.box(gx, gy, gx + self.CELL_DEGREES, gy + self.CELL_DEGREES)
        # 1: all land, 0: no land, -1: shore (test exactly).
        self.cell_state = np.where(shapely.contains(geometry, cells), 1,
                                   np.where(shapely.intersects(geometry, cells), -1, 0)).astype(np.int8)

    def contains(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        col = np.floor((lon - self.x0) / self.CELL_DEGREES).astype(np.int64)
        row = np.floor((lat - self.y0) / self.CELL_DEGREES).astype(np.int64)
        inside_grid = (col >= 0) & (col < self.nx) & (row >= 0) & (row < self.ny)
        state = np.zeros(len(lon), dtype=np.int8)
        state[inside_grid] = self.cell_state[row[inside_grid], col[inside_grid]]
        on_land = state == 1
        shore = state == -1
        on_land[shore] = shapely.contains_xy(self.geometry, lon[shore], lat[shore])
        return on_land


@functools.cache
def _land() -> _Land:
    boroughs = taxi_zones.generate("borough")
    return _Land(shapely.union_all(shapely.from_wkt(boroughs["geometry_wkt"].to_numpy())))


def _weights(hotspots) -> np.ndarray:
    weights = np.array([h.weight for h in hotspots])
    return weights / weights.sum()


def _pickup_seconds(rng: np.random.Generator, rows: int) -> np.ndarray:
    hour = rng.choice(24, rows, p=HOURLY_PICKUPS / HOURLY_PICKUPS.sum())
    return hour * 3600 + rng.integers(0, 3600, rows)


def _points_near(rng: np.random.Generator, land: _Land, spot: np.ndarray, rounds: int = 100):
    """A point on land around each hotspot index, redrawing those that land in the water."""
    lon, lat = np.empty(len(spot)), np.empty(len(spot))
    todo = np.arange(len(spot))
    for _ in range(rounds):
        if not len(todo):
            break
        lon[todo], lat[todo] = _jitter(rng, spot[todo])
        todo = todo[~land.contains(lon[todo], lat[todo])]
    return lon, lat


def _jitter(rng: np.random.Generator, spot: np.ndarray):
    along = rng.normal(0.0, _HOTSPOT_FIELDS["sd_along_km"][spot])
    across = rng.normal(0.0, _HOTSPOT_FIELDS["sd_across_km"][spot])
    north_km, east_km = _rotate(along, across)
    lat = _HOTSPOT_FIELDS["lat"][spot]
    return _HOTSPOT_FIELDS["lon"][spot] + _km_to_lon(east_km, lat), lat + north_km / 111.0


def _rotate(along_km: np.ndarray, across_km: np.ndarray):
    """(along, across) the Manhattan axis -> (north, east) in km."""
    angle = np.radians(MANHATTAN_AXIS_DEGREES)
    north = along_km * np.cos(angle) - across_km * np.sin(angle)
    east = along_km * np.sin(angle) + across_km * np.cos(angle)
    return north, east


def _km_to_lon(east_km: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return east_km / (111.0 * np.cos(np.radians(lat)))


def _dropoffs(rng: np.random.Generator, land: _Land, origin: np.ndarray):
    """Dropoff points and the hotspot each was drawn around.

    Airport pickups go to the city's hotspots by popularity; 4% of Manhattan pickups go to an
    airport; every other trip picks a hotspot by popularity discounted by distance (a gravity
    model), its own hotspot being the likeliest.
    """
    rows = len(origin)
    names = [h.name for h in HOTSPOTS]
    airports = [names.index(a) for a in AIRPORTS]
    city = [i for i in range(len(HOTSPOTS)) if i not in airports]
    from_airport = np.isin(origin, airports)
    to_airport = np.array([h.borough == "Manhattan" for h in HOTSPOTS])[origin] & (rng.random(rows) < 0.04)
    local = ~from_airport & ~to_airport

    destination = np.empty(rows, dtype=np.int64)
    destination[from_airport] = rng.choice(city, from_airport.sum(), p=_weights([HOTSPOTS[i] for i in city]))
    destination[to_airport] = rng.choice(airports, to_airport.sum(), p=[0.4, 0.6])
    destination[local] = _gravity_choice(rng, origin[local])
    lon, lat = _points_near(rng, land, destination)
    return lon, lat, destination


def _gravity_choice(rng: np.random.Generator, origin: np.ndarray) -> np.ndarray:
    lon = np.array([h.lon for h in HOTSPOTS])
    lat = np.array([h.lat for h in HOTSPOTS])
    km = _haversine_miles(lon[:, None], lat[:, None], lon[None, :], lat[None, :]) * 1.609344
    attraction = _weights(HOTSPOTS)[None, :] * np.exp(-km / GRAVITY_KM)
    attraction[:, [h.name in AIRPORTS for h in HOTSPOTS]] = 0.0
    cumulative = np.cumsum(attraction / attraction.sum(axis=1, keepdims=True), axis=1)
    draw = rng.random(len(origin))[:, None]
    return np.minimum((draw > cumulative[origin]).sum(axis=1), len(HOTSPOTS) - 1)


def _haversine_miles(lon1, lat1, lon2, lat2) -> np.ndarray:
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * np.arcsin(np.sqrt(a))


def _duration_minutes(rng: np.random.Generator, miles: np.ndarray, hour: np.ndarray) -> np.ndarray:
    rush = np.isin(hour, RUSH_HOURS)
    night = (hour >= 22) | (hour < 6)
    city_mph = np.where(rush, 8.0, np.where(night, 14.0, 10.0))
    mph = city_mph * (1 + 0.8 * (1 - np.exp(-miles / 6)))
    return 1.0 + miles / mph * 60 * rng.lognormal(0.0, 0.15, len(miles))


def _fare(rng, miles, minutes, hour, origin, destination) -> np.ndarray:
    """2015 meter: 2.50 + 0.50 per 1/5 mile + 0.50 per minute in slow traffic; $52 JFK <-> Manhattan."""
    rush = np.isin(hour, RUSH_HOURS)
    slow_minutes = minutes * np.clip(rng.normal(np.where(rush, 0.5, 0.35), 0.1), 0.0, 0.9)
    metered = 2.5 + 0.5 * (np.floor(miles * 5) + np.floor(slow_minutes))
    jfk = [h.name for h in HOTSPOTS].index("JFK")
    in_manhattan = np.array([h.borough == "Manhattan" for h in HOTSPOTS])
    flat = ((origin == jfk) & in_manhattan[destination]) | ((destination == jfk) & in_manhattan[origin])
    return np.where(flat, JFK_FLAT_FARE, metered)


def _tip(rng: np.random.Generator, fare: np.ndarray) -> np.ndarray:
    card = rng.random(len(fare)) < CARD_SHARE
    rates, shares = CARD_TIP_RATES
    rate = np.where(card, rng.choice(rates, len(fare), p=shares), 0.0)
    return np.round(fare * rate, 2)


def _extra(hour: np.ndarray, weekday: int) -> np.ndarray:
    night = (hour >= 20) | (hour < 6)
    rush = (weekday < 5) & (hour >= 16) & (hour < 20)
    return np.where(night, 0.5, np.where(rush, 1.0, 0.0))


def _gps_glitches(rng, land, pick_lon, pick_lat, drop_lon, drop_lat):
    """Both ends at (0, 0) for some trips; one end drifted into the water for others."""
    rows = len(pick_lon)
    zero = rng.random(rows) < ZERO_GPS_SHARE
    pick_water = ~zero & (rng.random(rows) < WATER_SHARE / 2)
    drop_water = ~zero & (rng.random(rows) < WATER_SHARE / 2)
    pick_lon, pick_lat, drop_lon, drop_lat = (a.copy() for a in (pick_lon, pick_lat, drop_lon, drop_lat))
    pick_lon[pick_water], pick_lat[pick_water] = _water_points(rng, land, pick_water.sum())
    drop_lon[drop_water], drop_lat[drop_water] = _water_points(rng, land, drop_water.sum())
    for coordinate in (pick_lon, pick_lat, drop_lon, drop_lat):
        coordinate[zero] = 0.0
    return pick_lon, pick_lat, drop_lon, drop_lat


def _water_points(rng: np.random.Generator, land: _Land, n: int, rounds: int = 100):
    lon, lat = np.empty(n), np.empty(n)
    todo = np.arange(n)
    centers = np.array(WATER_POINTS)
    for _ in range(rounds):
        if not len(todo):
            break
        center = centers[rng.integers(0, len(centers), len(todo))]
        lat[todo] = center[:, 0] + rng.normal(0, 0.002, len(todo))
        lon[todo] = center[:, 1] + rng.normal(0, 0.002, len(todo))
        todo = todo[land.contains(lon[todo], lat[todo])]
    return lon, lat
