import pandas as pd

from lakeside import snapshot
from lakeside.tables import Lake


def test_holdout_is_stable_across_versions_and_near_its_fraction(lakeside_home):
    lake = Lake(lakeside_home / "lake", backend="embedded")
    table = lake.table("silver.items")
    table.overwrite(pd.DataFrame({"id": range(5000), "y": [1.0] * 5000}))
    first = snapshot.take(table, ["id"])
    table.append(pd.DataFrame({"id": range(5000, 6000), "y": [2.0] * 1000}))
    second = snapshot.take(table, ["id"])

    train1, hold1 = snapshot.split(snapshot.load(first), first)
    train2, hold2 = snapshot.split(snapshot.load(second), second)
    assert (first.version, second.version) == (0, 1)
    assert len(train1) + len(hold1) == 5000 and 0.18 < len(hold1) / 5000 < 0.22
    assert set(hold1["id"]) == set(hold2["id"]) & set(range(5000))
    assert set(train1["id"]).isdisjoint(hold2["id"])
    assert snapshot.Snapshot.from_dict(second.to_dict()) == second


def test_a_stratified_holdout_keeps_every_class_share(lakeside_home):
    from lakeside.usecases import Split

    table = Lake(lakeside_home / "lake", backend="embedded").table("silver.labelled")
    labels = ["rare"] * 50 + ["common"] * 950
    table.overwrite(pd.DataFrame({"id": range(1000), "label": labels}))
    pinned = snapshot.take(table, ["id"], split=Split("stratified", holdout_fraction=0.2), target="label")

    train, holdout = snapshot.split(snapshot.load(pinned), pinned)
    assert holdout["label"].value_counts().to_dict() == {"common": 190, "rare": 10}
    assert set(train["id"]).isdisjoint(holdout["id"]) and len(train) == 800
    again = snapshot.split(snapshot.load(pinned), snapshot.Snapshot.from_dict(pinned.to_dict()))[1]
    assert list(again["id"]) == list(holdout["id"])


def test_a_time_holdout_is_the_last_periods_and_training_sees_nothing_after_the_cutoff(lakeside_home):
    from lakeside.usecases import Split

    table = Lake(lakeside_home / "lake", backend="embedded").table("silver.daily")
    days = pd.date_range("2024-01-01", periods=60, freq="D")
    table.overwrite(pd.DataFrame({"id": range(120), "day": list(days) * 2, "y": range(120)}))
    pinned = snapshot.take(table, ["id"], split=Split("time", time_column="day", holdout_periods=7))

    assert pinned.split["cutoff"] == "2024-02-23T00:00:00"
    train, holdout = snapshot.split(snapshot.load(pinned), pinned)
    cutoff = pd.Timestamp("2024-02-23", tz="UTC")  # naive timestamps are stored as UTC instants
    assert len(holdout) == 14 and holdout["day"].min() == cutoff
    assert train["day"].max() < cutoff and len(train) == 106
    table.append(pd.DataFrame({"id": [500], "day": [pd.Timestamp("2024-03-10")], "y": [0]}))
    later = snapshot.split(snapshot.load(pinned), pinned)[1]
    assert len(later) == 14, "the pinned cutoff and version do not move with new rows"
