"""Zone polygons as reference-table rows: geometry as WKB, area, and the H3 cover.

:func:`prepare` takes zones as text (``zone_id``, ``zone``, ``borough``, ``geometry_wkt`` in
WGS84 lon/lat) and returns the rows of the zones table, sorted by ``zone_id`` (the order of the
edge rule, see :mod:`lakeside.spatial.index`), and the refused zones with their reason:

- an invalid polygon (self-intersection, a ring not closed, ...) is repaired with shapely's
  ``make_valid`` and kept when the repair is polygonal; ``geometry_note`` says what was wrong;
- a zone is refused when its WKT cannot be read, it is empty, not a polygon, still not
  polygonal after repair, its coordinates are not lon/lat degrees, or its id repeats.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import shapely

from lakeside.spatial.index import ZoneIndex, cover

ZONE_COLUMNS = ("zone_id", "zone", "borough", "geometry_wkt")
TABLE_COLUMNS = ("zone_id", "zone", "borough", "geometry", "area_km2", "h3_resolution",
                 "interior_cells", "boundary_cells", "geometry_note")
POLYGONAL = ("Polygon", "MultiPolygon")


def prepare(zones: pd.DataFrame, resolution: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows of the zones table, refused zones with ``_reason``)."""
    missing = [c for c in ZONE_COLUMNS if c not in zones.columns]
    if missing:
        raise ValueError(f"zones lack columns: {', '.join(missing)}")
    zones = zones[list(ZONE_COLUMNS)].astype(str).reset_index(drop=True)
    geometries, notes, reasons = [], [], []
    for wkt in zones["geometry_wkt"]:
        geometry, note, reason = _checked(wkt)
        geometries.append(geometry)
        notes.append(note)
        reasons.append(reason)
    reasons = _refuse_repeated_ids(zones["zone_id"], reasons)
    refused = pd.Series([r is not None for r in reasons])
    quarantine = zones[refused.to_numpy()].assign(_reason=[r for r in reasons if r is not None])
    kept = ~refused.to_numpy()
    good = np.array(geometries, dtype=object)[kept]
    rows = zones[kept].drop(columns="geometry_wkt").assign(
        geometry=list(shapely.to_wkb(good)) if len(good) else [],
        area_km2=area_km2(good),
        geometry_note=np.array(notes, dtype=object)[kept],
    )
    covers = [cover(g, resolution) for g in good]
    rows["h3_resolution"] = np.int32(resolution)
    rows["interior_cells"] = [c[0].astype(np.int64) for c in covers]
    rows["boundary_cells"] = [c[1].astype(np.int64) for c in covers]
    rows = rows.sort_values("zone_id", kind="stable").reset_index(drop=True)
    return rows[list(TABLE_COLUMNS)], quarantine.reset_index(drop=True)


def as_arrow(rows: pd.DataFrame):
    """The rows with the table's types (a column of nulls keeps its type)."""
    import pyarrow as pa

    schema = pa.schema([
        ("zone_id", pa.string()), ("zone", pa.string()), ("borough", pa.string()), ("geometry", pa.binary()),
        ("area_km2", pa.float64()), ("h3_resolution", pa.int32()), ("interior_cells", pa.list_(pa.int64())),
        ("boundary_cells", pa.list_(pa.int64())), ("geometry_note", pa.string()),
    ])
    return pa.Table.from_pandas(rows[list(TABLE_COLUMNS)], schema=schema, preserve_index=False)


def index_of(rows: pd.DataFrame) -> ZoneIndex:
    """The cell index of a zones table's rows (in their order, sorted by zone_id)."""
    resolutions = set(rows["h3_resolution"].astype(int))
    if len(resolutions) != 1:
        raise ValueError(f"the zones' covers are at several H3 resolutions: {sorted(resolutions)}")
    covers = [(np.asarray(i, dtype=np.uint64), np.asarray(b, dtype=np.uint64))
              for i, b in zip(rows["interior_cells"], rows["boundary_cells"])]
    geometries = shapely.from_wkb(np.asarray(list(rows["geometry"]), dtype=object))
    return ZoneIndex.build(geometries, resolutions.pop(), covers)


def fingerprint(rows: pd.DataFrame) -> str:
    """A digest of the zones' ids, names, groups, geometries and resolution (a new table version
    is written only when it changes)."""
    digest = hashlib.sha256()
    for row in rows[["zone_id", "zone", "borough", "geometry", "h3_resolution"]].itertuples(index=False):
        for value in row:
            digest.update(value if isinstance(value, bytes) else str(value).encode())
            digest.update(b"\x00")
    return digest.hexdigest()


def area_km2(geometries) -> np.ndarray:
    """Geodesic area on the WGS84 ellipsoid, km²."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    return np.array([abs(geod.geometry_area_perimeter(g)[0]) / 1e6 for g in geometries], dtype=np.float64)


def _checked(wkt: str):
    """(geometry, note, refusal reason) of one zone's WKT."""
    try:
        geometry = shapely.from_wkt(wkt)
    except shapely.errors.GEOSException as error:
        return None, None, f"geometry: unreadable WKT ({error})"
    if geometry is None or geometry.is_empty:
        return None, None, "geometry: empty"
    if geometry.geom_type not in POLYGONAL:
        return None, None, f"geometry: a {geometry.geom_type}, not a polygon"
    x0, y0, x1, y1 = geometry.bounds
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        return None, None, (f"geometry: coordinates are not lon/lat degrees (bounds {x0:.6g}, {y0:.6g}, "
                            f"{x1:.6g}, {y1:.6g}); reproject to WGS84 first")
    if geometry.is_valid:
        return geometry, None, None
    problem = shapely.is_valid_reason(geometry)
    repaired = _polygonal_part(shapely.make_valid(geometry))
    if repaired is None:
        return None, None, f"geometry: invalid ({problem}) and make_valid leaves no polygon"
    return repaired, f"repaired by make_valid: {problem}", None


def _polygonal_part(geometry):
    if geometry.geom_type in POLYGONAL:
        return geometry
    parts = [p for p in shapely.get_parts(geometry) if p.geom_type in POLYGONAL and not p.is_empty]
    return shapely.union_all(parts) if parts else None


def _refuse_repeated_ids(ids: pd.Series, reasons: list) -> list:
    repeated = ids.duplicated(keep="first").to_numpy()
    return [f"zone_id: {zone_id!r} repeats an earlier zone" if dup and reason is None else reason
            for zone_id, dup, reason in zip(ids, repeated, reasons)]
