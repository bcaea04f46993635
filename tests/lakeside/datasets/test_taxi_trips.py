import numpy as np
import pandas as pd
import pytest
import shapely

from lakeside.datasets import taxi_trips, taxi_zones

YELLOW_2015_LINES = """\
VendorID,tpep_pickup_datetime,tpep_dropoff_datetime,passenger_count,trip_distance,pickup_longitude,pickup_latitude,RateCodeID,store_and_fwd_flag,dropoff_longitude,dropoff_latitude,payment_type,fare_amount,extra,mta_tax,tip_amount,tolls_amount,improvement_surcharge,total_amount
2,2015-01-15 19:05:39,2015-01-15 19:23:42,1,1.59,-73.993896484375,40.750110626220703,1,N,-73.974784851074219,40.750617980957031,1,12,1,0.5,3.25,0,0.3,17.05
1,2015-01-10 20:33:38,2015-01-10 20:53:28,1,3.30,-74.00164794921875,40.7242431640625,1,N,-73.994415283203125,40.759109497070313,1,14.5,0.5,0.5,2,0,0.3,17.8
2,2015-01-15 07:12:09,2015-01-15 07:20:51,5,1.20,0,0,1,N,0,0,2,7.5,0,0.5,0,0,0.3,8.3
"""
TIMES_SQUARE = (-73.9855, 40.758)
JFK = (-73.7781, 40.6413)
LAGUARDIA = (-73.8740, 40.7769)
HUDSON = (-74.012, 40.760)


@pytest.fixture(scope="module")
def nta() -> pd.DataFrame:
    return taxi_zones.generate()


@pytest.fixture(scope="module")
def locate(nta):
    """(lon, lat) arrays -> (zone, borough) Series, "OUTSIDE" where no zone holds the point."""
    tree = shapely.STRtree(shapely.from_wkt(nta["geometry_wkt"].to_numpy()))

    def find(lon, lat):
        point_index, zone_index = tree.query(shapely.points(np.asarray(lon), np.asarray(lat)), predicate="within")
        zone = np.full(len(lon), "OUTSIDE", dtype=object)
        borough = zone.copy()
        zone[point_index] = nta["zone"].to_numpy()[zone_index]
        borough[point_index] = nta["borough"].to_numpy()[zone_index]
        return pd.Series(zone), pd.Series(borough)

    return find


@pytest.fixture(scope="module")
def trips() -> pd.DataFrame:
    return taxi_trips.generate(20_000, seed=1)


def test_columns_and_dtypes_follow_the_spec(trips):
    assert list(trips.columns) == taxi_trips.SPEC.column_names
    kinds = {"long": "int64", "int": "int32", "double": "float64", "timestamp": "datetime64[ns]"}
    for column in taxi_trips.SPEC.columns:
        assert str(trips[column.name].dtype) == kinds[column.kind], column.name


def test_same_seed_same_frame_other_seed_other_frame():
    pd.testing.assert_frame_equal(taxi_trips.generate(500, seed=2), taxi_trips.generate(500, seed=2))
    assert not taxi_trips.generate(500, seed=2).equals(taxi_trips.generate(500, seed=3))


def test_trips_happen_on_the_day_with_unique_ids(trips):
    pickup, dropoff = trips["tpep_pickup_datetime"], trips["tpep_dropoff_datetime"]
    assert (pickup.dt.normalize() == pd.Timestamp("2015-01-15")).all()
    assert pickup.is_monotonic_increasing and (dropoff > pickup).all()
    assert trips["trip_id"].is_unique and trips["trip_id"].iloc[0] == 20150115_000000001
    hourly = pickup.dt.hour.value_counts()
    assert hourly[19] > 3 * hourly[4], "evenings are busier than the small hours"
    assert trips["passenger_count"].between(1, 6).all() and trips["passenger_count"].mode()[0] == 1


def test_trip_distance_is_about_1_3_times_the_straight_line(trips):
    real_gps = (trips["pickup_longitude"] != 0) & (trips["dropoff_longitude"] != 0)
    crow = taxi_trips._haversine_miles(trips["pickup_longitude"], trips["pickup_latitude"],
                                 trips["dropoff_longitude"], trips["dropoff_latitude"])
    usable = real_gps & (crow > 0.3) & (crow < 30)
    ratio = trips.loc[usable, "trip_distance"] / crow[usable]
    assert ratio.median() == pytest.approx(1.3, abs=0.05)
    assert 1.0 < trips["trip_distance"].median() < 3.0


def test_fares_follow_the_2015_meter(trips):
    fare, miles = trips["fare_amount"], trips["trip_distance"]
    flat = fare == taxi_trips.JFK_FLAT_FARE
    assert 0.01 < flat.mean() < 0.08
    metered = fare[~flat]
    distance_part = 2.5 + 0.5 * np.floor(miles[~flat] * 5)
    time_part = metered - distance_part
    assert (time_part >= 0).all() and (time_part % 0.5 == 0).all()
    assert 0 < time_part.median() < 5
    assert np.corrcoef(miles[~flat], metered)[0, 1] > 0.9


def test_tips_and_totals(trips):
    tipped = trips["tip_amount"] > 0
    assert 0.4 < tipped.mean() < 0.7
    rate = trips.loc[tipped, "tip_amount"] / trips.loc[tipped, "fare_amount"]
    assert 0.15 <= rate.median() <= 0.2
    surcharges = (trips["total_amount"] - trips["fare_amount"] - trips["tip_amount"]).round(2)
    assert set(surcharges) <= {0.8, 1.3, 1.8}


def test_pickups_are_where_taxis_go(trips, locate):
    zone, borough = locate(trips["pickup_longitude"], trips["pickup_latitude"])
    share = borough.value_counts(normalize=True)
    assert share["Manhattan"] > 0.75
    assert share["Brooklyn"] > 0.02 and share["Queens"] > 0.04
    airports = zone.isin(["John F. Kennedy International Airport", "LaGuardia Airport"]).mean()
    assert 0.02 < airports < 0.1
    assert 0.005 < share["OUTSIDE"] < 0.05


def test_some_points_are_gps_glitches_outside_every_zone(trips, locate):
    zero = (trips["pickup_longitude"] == 0) & (trips["pickup_latitude"] == 0)
    assert 0.005 < zero.mean() < 0.03
    _, borough = locate(trips["dropoff_longitude"], trips["dropoff_latitude"])
    outside = borough == "OUTSIDE"
    in_water = outside & (trips["dropoff_longitude"] != 0).to_numpy()
    assert outside.mean() < 0.05 and in_water.sum() > 0


def test_known_places_fall_in_the_zone_shapely_finds(locate):
    lon, lat = zip(TIMES_SQUARE, JFK, LAGUARDIA, HUDSON, strict=True)
    zone, borough = locate(lon, lat)
    assert zone.tolist() == ["Midtown-Times Square", "John F. Kennedy International Airport", "LaGuardia Airport",
                             "OUTSIDE"]
    assert borough.tolist() == ["Manhattan", "Queens", "Queens", "OUTSIDE"]


def test_every_hotspot_lies_in_its_borough(locate):
    _, borough = locate([h.lon for h in taxi_trips.HOTSPOTS], [h.lat for h in taxi_trips.HOTSPOTS])
    assert borough.tolist() == [h.borough for h in taxi_trips.HOTSPOTS]


def test_load_reads_a_2015_yellow_file(tmp_path):
    path = tmp_path / "yellow_tripdata_2015-01.csv"
    path.write_text(YELLOW_2015_LINES)
    loaded = taxi_trips.load(str(path))
    assert list(loaded.columns) == taxi_trips.SPEC.column_names
    assert loaded.dtypes.equals(taxi_trips.generate(5).dtypes)
    assert loaded["trip_id"].is_unique and (loaded["trip_id"] >= 1).all()
    first = loaded.iloc[0]
    assert first["tpep_pickup_datetime"] == pd.Timestamp("2015-01-15 19:05:39")
    assert first["pickup_longitude"] == -73.993896484375 and first["total_amount"] == 17.05
    assert (loaded.loc[2, ["pickup_longitude", "pickup_latitude"]] == 0).all()
    reordered = tmp_path / "yellow_tripdata_2015-01-reordered.csv"
    header, *records = YELLOW_2015_LINES.splitlines()
    reordered.write_text("\n".join([header, *records[::-1]]) + "\n")
    assert taxi_trips.load(str(reordered))["trip_id"].tolist() == loaded["trip_id"].tolist()[::-1]


def test_load_reads_the_parquet_file_and_the_2009_names(tmp_path):
    csv_path = tmp_path / "yellow_tripdata_2015-01.csv"
    csv_path.write_text(YELLOW_2015_LINES)
    from_csv = taxi_trips.load(str(csv_path))
    frame = pd.read_csv(csv_path)
    for name in ("tpep_pickup_datetime", "tpep_dropoff_datetime"):
        frame[name] = pd.to_datetime(frame[name]).astype("datetime64[us]")
    frame.to_parquet(tmp_path / "yellow_tripdata_2015-01.parquet", index=False)
    pd.testing.assert_frame_equal(taxi_trips.load(str(tmp_path / "yellow_tripdata_2015-01.parquet")), from_csv)
    names_2009 = {"tpep_pickup_datetime": "Trip_Pickup_DateTime", "tpep_dropoff_datetime": "Trip_Dropoff_DateTime",
                  "pickup_longitude": "Start_Lon", "pickup_latitude": "Start_Lat", "dropoff_longitude": "End_Lon",
                  "dropoff_latitude": "End_Lat", "fare_amount": "Fare_Amt", "tip_amount": "Tip_Amt",
                  "total_amount": "Total_Amt", "passenger_count": "Passenger_Count", "trip_distance": "Trip_Distance"}
    header, *records = YELLOW_2015_LINES.splitlines()
    old = tmp_path / "yellow_tripdata_2009-01.csv"
    old.write_text("\n".join([",".join(names_2009.get(c, c) for c in header.split(",")), *records]) + "\n")
    pd.testing.assert_frame_equal(taxi_trips.load(str(old)), from_csv)


def test_backfill_splits_a_public_file_by_pickup_day(tmp_path):
    path = tmp_path / "yellow_tripdata_2015-01.csv"
    path.write_text(YELLOW_2015_LINES)
    files = taxi_trips.backfill(str(path), tmp_path / "landing")
    assert [f.split("landing/")[1] for f in files] == ["taxi_trips/2015-01-10/yellow_tripdata_2015-01.csv",
                                                       "taxi_trips/2015-01-15/yellow_tripdata_2015-01.csv"]
    landed = pd.concat([taxi_trips.load(f) for f in files]).sort_values("trip_id", ignore_index=True)
    pd.testing.assert_frame_equal(landed, taxi_trips.load(str(path)).sort_values("trip_id", ignore_index=True))


def test_generated_trips_survive_the_text_format(tmp_path):
    trips = taxi_trips.generate(2_000, seed=6, day="2015-06-01")
    path = tmp_path / "trips.csv"
    taxi_trips.to_raw(trips).to_csv(path, index=False)
    pd.testing.assert_frame_equal(taxi_trips.load(str(path)), trips)


def test_load_of_a_location_id_era_file_names_the_missing_coordinates(tmp_path):
    path = tmp_path / "yellow_tripdata_2017-01.csv"
    path.write_text(
        "VendorID,tpep_pickup_datetime,tpep_dropoff_datetime,passenger_count,trip_distance,RatecodeID,"
        "store_and_fwd_flag,PULocationID,DOLocationID,payment_type,fare_amount,extra,mta_tax,tip_amount,"
        "tolls_amount,improvement_surcharge,total_amount\n"
        "1,2017-01-09 11:13:28,2017-01-09 11:25:45,1,3.30,1,N,263,161,1,12.5,0,0.5,2,0,0.3,15.3\n"
    )
    with pytest.raises(ValueError, match="pickup_longitude, pickup_latitude, dropoff_longitude, dropoff_latitude"):
        taxi_trips.load(str(path))
