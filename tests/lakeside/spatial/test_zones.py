"""Zone rows: WKB, area, H3 cover; bad geometries repaired or refused with a reason."""

import numpy as np
import pandas as pd
import shapely

from lakeside.datasets import taxi_zones
from lakeside.spatial.zones import fingerprint, prepare

BOWTIE = "POLYGON ((-73.99 40.70, -73.98 40.71, -73.98 40.70, -73.99 40.71, -73.99 40.70))"
SQUARE = "POLYGON ((-73.97 40.70, -73.96 40.70, -73.96 40.71, -73.97 40.71, -73.97 40.70))"


def zones(*rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["zone_id", "zone", "borough", "geometry_wkt"])


def test_rows_carry_wkb_area_and_cover_sorted_by_zone_id():
    rows, refused = prepare(zones(("b", "B", "Queens", SQUARE), ("a", "A", "Queens", SQUARE.replace("-73.97", "-73.975"))), 9)
    assert refused.empty and rows["zone_id"].tolist() == ["a", "b"]
    square = shapely.from_wkb(rows.loc[1, "geometry"])
    assert square.equals(shapely.from_wkt(SQUARE))
    # 0.01° x 0.01° at 40.7° N is about 1.11 km x 0.84 km
    assert abs(rows.loc[1, "area_km2"] - 0.937) < 0.01
    assert len(rows.loc[1, "interior_cells"]) > 0 and len(rows.loc[1, "boundary_cells"]) > 0
    assert rows["h3_resolution"].tolist() == [9, 9]


def test_a_self_intersecting_polygon_is_repaired_and_noted():
    rows, refused = prepare(zones(("1", "Bowtie", "Brooklyn", BOWTIE)), 9)
    assert refused.empty
    assert rows.loc[0, "geometry_note"].startswith("repaired by make_valid: Self-intersection")
    repaired = shapely.from_wkb(rows.loc[0, "geometry"])
    assert repaired.is_valid and repaired.geom_type == "MultiPolygon"
    assert repaired.contains(shapely.Point(-73.9875, 40.705)) and repaired.contains(shapely.Point(-73.9825, 40.705))
    assert not repaired.contains(shapely.Point(-73.985, 40.7025))


def test_unusable_geometries_are_refused_with_their_reason():
    rows, refused = prepare(zones(
        ("1", "Line", "Queens", "LINESTRING (-73.9 40.7, -73.8 40.8)"),
        ("2", "Empty", "Queens", "POLYGON EMPTY"),
        ("3", "Feet", "Queens", "POLYGON ((987000 190000, 988000 190000, 988000 191000, 987000 190000))"),
        ("4", "Flat", "Queens", "POLYGON ((-73.9 40.7, -73.8 40.7, -73.9 40.7, -73.9 40.7))"),
        ("5", "Good", "Queens", SQUARE),
        ("5", "Again", "Queens", SQUARE),
    ), 9)
    assert rows["zone"].tolist() == ["Good"]
    reasons = dict(zip(refused["zone"], refused["_reason"]))
    assert "LineString, not a polygon" in reasons["Line"]
    assert reasons["Empty"] == "geometry: empty"
    assert "not lon/lat degrees" in reasons["Feet"]
    assert "make_valid leaves no polygon" in reasons["Flat"]
    assert "repeats an earlier zone" in reasons["Again"]


def test_the_fingerprint_follows_geometry_and_names():
    nta = taxi_zones.generate("nta").head(3)
    rows, _ = prepare(nta, 7)
    same, _ = prepare(nta.copy(), 7)
    renamed, _ = prepare(nta.assign(zone=["x", "y", "z"]), 7)
    assert fingerprint(rows) == fingerprint(same) != fingerprint(renamed)
    assert np.array_equal(rows.loc[0, "interior_cells"], same.loc[0, "interior_cells"])
