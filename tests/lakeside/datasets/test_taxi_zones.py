import json

import pandas as pd
import pytest
import shapely

from lakeside.datasets import taxi_zones


@pytest.fixture(scope="module")
def nta() -> pd.DataFrame:
    return taxi_zones.generate()


def test_nta_zones_from_the_packaged_boundaries(nta):
    assert list(nta.columns) == taxi_zones.SPEC.column_names
    assert len(nta) == 262 and nta["zone_id"].is_unique
    assert set(nta["borough"]) == {"Manhattan", "Brooklyn", "Queens", "Bronx", "Staten Island"}
    geometries = shapely.from_wkt(nta["geometry_wkt"].to_numpy())
    assert set(shapely.get_type_id(geometries)) <= {3, 6}  # Polygon, MultiPolygon
    nta.loc[0, "zone"] = "changed"
    assert taxi_zones.generate().loc[0, "zone"] != "changed"


def test_borough_zones():
    boroughs = taxi_zones.generate("borough")
    assert sorted(boroughs["zone"]) == ["Bronx", "Brooklyn", "Manhattan", "Queens", "Staten Island"]
    assert (boroughs["zone"] == boroughs["borough"]).all()
    with pytest.raises(ValueError, match="zone level"):
        taxi_zones.generate("precinct")


def _square(lon: float, lat: float, half: float = 0.002) -> list:
    return [[[lon - half, lat - half], [lon + half, lat - half], [lon + half, lat + half],
             [lon - half, lat + half], [lon - half, lat - half]]]


def test_load_zones_reads_the_taxi_zones_geojson(tmp_path):
    features = [
        {"type": "Feature", "properties": {"OBJECTID": 1, "Shape_Leng": 0.11, "Shape_Area": 0.0007,
                                           "zone": "Newark Airport", "LocationID": 1, "borough": "EWR"},
         "geometry": {"type": "Polygon", "coordinates": _square(-74.175, 40.69)}},
        {"type": "Feature", "properties": {"OBJECTID": 56, "Shape_Leng": 0.05, "Shape_Area": 0.0001,
                                           "zone": "Corona", "LocationID": 56, "borough": "Queens"},
         "geometry": {"type": "Polygon", "coordinates": _square(-73.86, 40.745)}},
        {"type": "Feature", "properties": {"OBJECTID": 57, "Shape_Leng": 0.02, "Shape_Area": 0.00002,
                                           "zone": "Corona", "LocationID": 56, "borough": "Queens"},
         "geometry": {"type": "Polygon", "coordinates": _square(-73.85, 40.745)}},
    ]
    path = tmp_path / "taxi_zones.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    zones = taxi_zones.load(str(path))
    assert list(zones.columns) == taxi_zones.SPEC.column_names
    assert zones[["zone_id", "zone", "borough"]].values.tolist() == [["1", "Newark Airport", "EWR"],
                                                                     ["56", "Corona", "Queens"]]
    corona = shapely.from_wkt(zones.loc[1, "geometry_wkt"])
    assert corona.contains(shapely.Point(-73.86, 40.745)) and corona.contains(shapely.Point(-73.85, 40.745))


def test_load_zones_reads_a_csv_with_wkt(tmp_path):
    path = tmp_path / "taxi_zones.csv"
    path.write_text(
        "OBJECTID,Shape_Leng,the_geom,Shape_Area,zone,LocationID,borough\n"
        '43,0.0997,"MULTIPOLYGON (((-73.9582 40.8007, -73.9818 40.7683, -73.9730 40.7645, '
        '-73.9493 40.7969, -73.9582 40.8007)))",0.000380,Central Park,43,Manhattan\n'
    )
    zones = taxi_zones.load(str(path))
    assert zones[["zone_id", "zone", "borough"]].values.tolist() == [["43", "Central Park", "Manhattan"]]
    assert shapely.from_wkt(zones.loc[0, "geometry_wkt"]).contains(shapely.Point(-73.9654, 40.7829))


def test_load_zones_names_what_is_missing(tmp_path):
    csv_path = tmp_path / "zones.csv"
    csv_path.write_text('zone,the_geom\nA,"POLYGON ((0 0, 1 0, 1 1, 0 0))"\n')
    with pytest.raises(ValueError, match="missing columns: borough"):
        taxi_zones.load(str(csv_path))
    bad_wkt = tmp_path / "bad.csv"
    bad_wkt.write_text("zone,borough,geometry_wkt\nA,Queens,POLYGON((0 0\n")
    with pytest.raises(ValueError, match="invalid WKT"):
        taxi_zones.load(str(bad_wkt))
    geojson_path = tmp_path / "zones.geojson"
    feature = {"type": "Feature", "properties": {"zone": "A"},
               "geometry": {"type": "Polygon", "coordinates": _square(0, 0)}}
    geojson_path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    with pytest.raises(ValueError, match="borough"):
        taxi_zones.load(str(geojson_path))


def test_load_zones_reads_the_tlc_shapefile_in_state_plane_feet(tmp_path):
    import geopandas

    central_park = shapely.Polygon([(-73.9582, 40.8007), (-73.9818, 40.7683), (-73.9730, 40.7645),
                                    (-73.9493, 40.7969), (-73.9582, 40.8007)])
    frame = geopandas.GeoDataFrame({"OBJECTID": [43], "zone": ["Central Park"], "LocationID": [43],
                                    "borough": ["Manhattan"]}, geometry=[central_park], crs=4326).to_crs(2263)
    assert frame.total_bounds[0] > 900_000  # feet, as in the TLC file
    frame.to_file(tmp_path / "taxi_zones.shp")
    zones = taxi_zones.load(str(tmp_path / "taxi_zones.shp"))
    assert zones[["zone_id", "zone", "borough"]].values.tolist() == [["43", "Central Park", "Manhattan"]]
    loaded = shapely.from_wkt(zones.loc[0, "geometry_wkt"])
    assert loaded.contains(shapely.Point(-73.9654, 40.7829))
    assert shapely.hausdorff_distance(loaded, central_park) < 1e-7
