import pytest

from lakeside.datasets import iris


def test_the_bundled_copy_and_the_uci_file_give_the_same_flowers(tmp_path):
    bundled = iris.load()
    assert len(bundled) == 150 and list(bundled.columns) == iris.SPEC.column_names
    assert bundled["species"].value_counts().to_dict() == {"setosa": 50, "versicolor": 50, "virginica": 50}
    uci = tmp_path / "iris.data"
    rows = [f"{r[1]},{r[2]},{r[3]},{r[4]},Iris-{r[5]}" for r in bundled.itertuples(index=False)]
    uci.write_text("\n".join(rows) + "\n\n")
    assert iris.load(str(uci)).equals(bundled)


def test_an_unknown_species_is_refused_naming_it(tmp_path):
    path = tmp_path / "iris.csv"
    path.write_text("5.1,3.5,1.4,0.2,Iris-setosa\n6.0,3.0,4.8,1.8,Iris-germanica\n")
    with pytest.raises(ValueError, match="germanica"):
        iris.load(str(path))
