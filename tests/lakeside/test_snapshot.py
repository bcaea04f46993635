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
