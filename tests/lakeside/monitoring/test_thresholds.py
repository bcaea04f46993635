"""Monitor thresholds are validated data: defaults filled, a bad key or value named."""

import json

import pytest

from lakeside.monitoring import thresholds as t


def test_the_shipped_files_are_valid_and_per_column_overrides_apply(tmp_path, monkeypatch):
    assert t.drift_thresholds("loans_int_rate")["psi"] == 0.2
    assert "silver.loans" in t.table_thresholds()
    (tmp_path / "m.json").write_text(json.dumps({"ks": 0.2, "columns": {"dti": {"psi": 0.5}}}))
    monkeypatch.setenv("LAKESIDE_MONITORS_DIR", str(tmp_path))

    loaded = t.drift_thresholds("m")

    assert loaded["ks"] == 0.2 and loaded["min_rows"] == 100
    assert t.for_column(loaded, "dti") == {"psi": 0.5, "ks": 0.2, "js": 0.1}
    assert t.for_column(loaded, "grade") == {"psi": 0.2, "ks": 0.2, "js": 0.1}


@pytest.mark.parametrize("content, named", [
    ({"psii": 0.2}, "'psii'"),
    ({"psi": "high"}, "psi must be a number"),
    ({"columns": {"dti": {"mean": 1}}}, "columns.dti"),
])
def test_a_bad_file_names_the_key(tmp_path, monkeypatch, content, named):
    (tmp_path / "m.json").write_text(json.dumps(content))
    monkeypatch.setenv("LAKESIDE_MONITORS_DIR", str(tmp_path))

    with pytest.raises(t.InvalidMonitorError, match=named):
        t.drift_thresholds("m")


def test_a_bad_table_threshold_names_the_table(tmp_path, monkeypatch):
    (tmp_path / "tables.json").write_text(json.dumps({"silver.x": {"max_age": 3}}))
    monkeypatch.setenv("LAKESIDE_MONITORS_DIR", str(tmp_path))

    with pytest.raises(t.InvalidMonitorError, match=r"silver.x: unknown key 'max_age'"):
        t.table_thresholds()
