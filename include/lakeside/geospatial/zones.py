"""The zone reference tables: NTA (or TLC taxi-zone) polygons and borough polygons.

``refresh`` reads a zone file (GeoJSON, shapefile, WKT-in-CSV; default: the packaged NTA or
borough polygons), prepares its rows (:func:`lakeside.spatial.zones.prepare`: WKB, area, H3
cover, repaired or refused geometries) and overwrites the table only when the content differs
from the current version: a new zone file is a new table version, the same file is none.
"""

from __future__ import annotations

import pandas as pd

from lakeside.datasets import taxi_zones
from lakeside.geospatial import BOROUGHS_TABLE, DEFAULT_H3_RESOLUTION, ZONES_QUARANTINE, ZONES_TABLE
from lakeside.spatial import zones as spatial_zones
from lakeside.tables import Lake

LEVEL_TABLES = {"nta": ZONES_TABLE, "borough": BOROUGHS_TABLE}
FINGERPRINT_KEY = "zones_fingerprint"


def refresh(lake: Lake, level: str = "nta", path: str | None = None,
            resolution: int = DEFAULT_H3_RESOLUTION, run_id: str = "manual") -> dict:
    """Write ``reference.taxi_zones`` (level "nta") or ``reference.taxi_boroughs`` when changed.

    Returns the table, its version, whether it changed, and the zones kept and refused.
    """
    if level not in LEVEL_TABLES:
        raise ValueError(f"zone level must be one of {sorted(LEVEL_TABLES)}, got {level!r}")
    raw = taxi_zones.load(path) if path else taxi_zones.generate(level)
    rows, refused = spatial_zones.prepare(raw, resolution)
    if rows.empty:
        raise ValueError(f"no usable zone in {path or level}: " + "; ".join(refused["_reason"].head(5)))
    fingerprint = spatial_zones.fingerprint(rows)
    table = lake.table(LEVEL_TABLES[level])
    source = path or f"packaged:{level}"
    changed = not table.exists() or _current_fingerprint(table) != fingerprint
    if changed:
        metadata = {"run_id": run_id, "source": source, FINGERPRINT_KEY: fingerprint}
        table.overwrite(spatial_zones.as_arrow(rows), metadata=metadata)
        quarantine = refused.assign(_table=table.name, _source=source)
        lake.table(ZONES_QUARANTINE).replace_where(f"_table = '{table.name}'", _quarantine_frame(quarantine),
                                                   metadata=metadata)
    return {"table": table.name, "version": table.version(), "changed": changed,
            "zones": len(rows), "refused": len(refused), "source": source,
            "repaired": int(rows["geometry_note"].notna().sum())}


def read(lake: Lake, table: str = ZONES_TABLE, version: int | None = None) -> pd.DataFrame:
    """A zones table's rows, sorted by zone_id (the order of the edge rule)."""
    rows = lake.table(table).to_pandas(version)
    return rows.sort_values("zone_id", kind="stable").reset_index(drop=True)


def _current_fingerprint(table) -> str | None:
    latest = table.history(limit=1)
    return latest[0].metadata.get(FINGERPRINT_KEY) if latest else None


def _quarantine_frame(refused: pd.DataFrame):
    import pyarrow as pa

    columns = ["zone_id", "zone", "borough", "geometry_wkt", "_reason", "_table", "_source"]
    return pa.table({c: pa.array(refused[c].astype(str).tolist() if c in refused else [None] * len(refused),
                                 type=pa.string()) for c in columns})
