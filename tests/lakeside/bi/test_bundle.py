"""The dashboards bundle, checked without Superset: what an import would refuse or show broken."""

from __future__ import annotations

import shutil
import zipfile

import pytest
import yaml

from lakeside.bi import DASHBOARDS_DIR, bundle
from lakeside.usecases import all_gold_tables


@pytest.fixture()
def copy(tmp_path):
    target = tmp_path / "dashboards"
    shutil.copytree(DASHBOARDS_DIR, target)
    return target


def edit(path, change):
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_the_shipped_bundle_declares_every_gold_table_and_column_it_uses():
    checked = bundle.check(DASHBOARDS_DIR)
    datasets = {d["table_name"]: d for d in checked.of_kind("datasets").values()}
    for _, table in all_gold_tables():
        assert sorted(c["column_name"] for c in datasets[table.table_name]["columns"]) == sorted(table.column_names)
    charts = {c["slice_name"] for c in checked.of_kind("charts").values()}
    assert {"Loans", "Amount lent", "Mean interest rate", "Charged-off share", "Amount and rate by grade",
            "Amount and rate by state", "Amount and rate by month", "Model RMSE and R² by version",
            "Gold tables status"} <= charts
    dashboards = {d["slug"]: d for d in checked.of_kind("dashboards").values()}
    assert set(dashboards) == {"loans", "demand", "sales-trends", "taxi-zones", "fraud"}
    placed = {slug: {item["meta"]["uuid"] for item in dashboard["position"].values()
                     if isinstance(item, dict) and item.get("type") == "CHART"} for slug, dashboard in dashboards.items()}
    assert set().union(*placed.values()) == {c["uuid"] for c in checked.of_kind("charts").values()}
    status = next(c["uuid"] for c in checked.of_kind("charts").values() if c["slice_name"] == "Gold tables status")
    assert all(status in charts_of_one for charts_of_one in placed.values())


def test_broken_yaml_names_the_file(copy):
    chart = copy / "charts" / "Loans.yaml"
    chart.write_text(chart.read_text() + "\n  bad: [unclosed\n")
    with pytest.raises(bundle.BundleError, match=r"charts/Loans.yaml: not valid YAML"):
        bundle.check(copy)


def test_a_missing_key_is_named_with_its_file(copy):
    edit(copy / "charts" / "Loans.yaml", lambda d: d.pop("dataset_uuid"))
    with pytest.raises(bundle.BundleError, match=r"charts/Loans.yaml: key 'dataset_uuid' is missing"):
        bundle.check(copy)


def test_a_dataset_column_the_gold_table_does_not_declare_is_refused(copy):
    path = copy / "datasets" / "Lakeside_gold" / "loans_portfolio.yaml"
    edit(path, lambda d: next(c for c in d["columns"] if c["column_name"] == "amount").update(column_name="amount_usd"))
    with pytest.raises(bundle.BundleError, match=r"loans_portfolio.yaml: key 'columns' lacks 'amount'"):
        bundle.check(copy)


def test_a_chart_grouping_by_an_unknown_column_is_refused(copy):
    edit(copy / "charts" / "Amount_and_rate_by_grade.yaml", lambda d: d["params"].update(groupby=["sub_grade"]))
    with pytest.raises(bundle.BundleError, match=r"Amount_and_rate_by_grade.yaml: key 'params' uses \['sub_grade'\]"):
        bundle.check(copy)


def test_a_dashboard_placing_an_unknown_chart_is_refused(copy):
    (copy / "charts" / "Loans.yaml").unlink()
    with pytest.raises(bundle.BundleError, match=r"Loans_portfolio.yaml: key 'position.CHART-[0-9a-f]+.meta.uuid'"):
        bundle.check(copy)


def test_a_placed_chart_without_a_chart_id_is_refused(copy):
    def drop_chart_id(dashboard):
        next(item for item in dashboard["position"].values()
             if isinstance(item, dict) and item.get("type") == "CHART")["meta"].pop("chartId")

    edit(copy / "dashboards" / "Sales_trends.yaml", drop_chart_id)
    with pytest.raises(bundle.BundleError, match=r"Sales_trends.yaml: key 'position.CHART-[0-9a-f]+.meta.chartId' is missing"):
        bundle.check(copy)


def test_the_zip_points_at_this_machine_and_export_puts_placeholders_back(tmp_path, copy):
    archive = bundle.build_zip(bundle.check(copy), tmp_path / "bi" / "gold.duckdb", tmp_path / "delta.duckdb_extension")
    zipped = tmp_path / "export.zip"
    zipped.write_bytes(archive)
    with zipfile.ZipFile(zipped) as opened:
        database = yaml.safe_load(opened.read(f"{bundle.ROOT}/databases/Lakeside_gold.yaml"))
    assert database["sqlalchemy_uri"] == f"duckdb:///{tmp_path / 'bi' / 'gold.duckdb'}"
    connect = database["extra"]["engine_params"]["connect_args"]
    assert connect["read_only"] is True and connect["config"]["autoinstall_known_extensions"] is False
    assert connect["preload_extensions"] == [f"'{tmp_path / 'delta.duckdb_extension'}'"]

    written = bundle.write_back(zipped, copy)
    assert "databases/Lakeside_gold.yaml" in written
    assert yaml.safe_load((copy / "databases" / "Lakeside_gold.yaml").read_text())["sqlalchemy_uri"] == bundle.GOLD_URI_PLACEHOLDER
    assert bundle.load(copy).files == bundle.load(DASHBOARDS_DIR).files


def test_the_bundle_holds_no_password_and_superset_takes_its_key_from_the_environment():
    from lakeside import bi

    for path in DASHBOARDS_DIR.rglob("*.yaml"):
        assert "password" not in path.read_text().lower(), path
    assert "SECRET_KEY = os.environ[\"SUPERSET_SECRET_KEY\"]" in (bi.HERE / "superset_config.py").read_text()
