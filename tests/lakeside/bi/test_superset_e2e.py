"""Superset end to end, started once as `make bi` starts it: a user logs in with headless Chromium
and sees the loans dashboard's KPIs equal to gold.loans_portfolio (read with delta-rs); the chart
data API agrees; the demand, sales trends, taxi and fraud dashboards show their gold tables' numbers;
anonymous visitors get the login page or 401; a new ingest plus refresh_dashboards changes a
number; a deleted gold table leaves an empty chart and a message."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import requests

from lakeside import bi, gold, processes
from lakeside.bi import server
from lakeside.bi.refresh import refresh_dashboards, session
from lakeside.datasets import loans
from lakeside.tables import open_lake
from lakeside.usecases.demand_forecast import BACKTEST
from lakeside.usecases.fraud import REVIEW_QUEUE_TABLE
from lakeside.usecases.geospatial import TRIPS_PER_ZONE_HOUR
from lakeside.usecases.loans import MODEL_PERFORMANCE, PORTFOLIO
from lakeside.usecases.sales_trends import SELECTION

pytestmark = pytest.mark.slow(expected_s=90)
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "bi"
REPO = Path(__file__).resolve().parents[3]


def ingest(lake, day: str, rows: int) -> None:
    """What daily_ingest then gold_loans leave: the day's loans in silver, their months in gold."""
    batch = loans.daily_batch(dt.date.fromisoformat(day), rows)
    batch["_ingest_date"] = dt.date.fromisoformat(day)
    lake.table("silver.loans").merge(batch, keys=["id"])
    gold.refresh("loans", after="ingest", day=day, lake=lake)


def other_use_cases_gold(lake) -> None:
    """Small gold tables of the demand, sales trends and taxi dashboards, as their jobs write them
    (their e2e tests check the jobs write the declared columns); gold.zone_pair_averages stays missing."""
    lake.table(BACKTEST.name).overwrite(gold.conform(pd.DataFrame({
        "training_date": dt.date(2017, 12, 31), "cutoff": dt.date(2017, 10, 2),
        "engine": ["prophet", "prophet", "prophet", "auto_ets", "auto_ets", "auto_ets"],
        "store": [1, 1, 2] * 2, "item": [1, 2, 1] * 2, "status": ["ok", "ok", "skipped"] * 2,
        "reason": ["", "", "too short"] * 2, "smape": [10.0, 14.0, None, 12.0, 20.0, None],
        "mae": [5.0, 6.0, None, 5.5, 7.0, None], "coverage": [0.9, 1.0, None, 0.95, 0.85, None],
        "holdout_days": 90, "train_rows": [700, 700, 20] * 2, "fit_seconds": 0.5, "run_id": "r1"}), BACKTEST))
    lake.table(SELECTION.name).overwrite(gold.conform(pd.DataFrame({
        "Product_Code": ["P1", "P2", "P3", "P1"], "distance": [3.0, 5.0, 9.0, 4.0], "level": 10.0,
        "stretch_factor": 0.1, "snapshot_version": [1, 1, 1, 2], "run_id": "r2"}), SELECTION))
    lake.table(TRIPS_PER_ZONE_HOUR.name).overwrite(gold.conform(pd.DataFrame({
        "_ingest_date": dt.date(2024, 1, 1), "pickup_hour": pd.to_datetime(["2024-01-01T08:00Z"] * 2 + ["2024-01-01T09:00Z"]),
        "pickup_zone_id": ["MN17", "QN98", "MN17"], "pickup_zone": ["Midtown", "Airport", "Midtown"],
        "pickup_borough": ["Manhattan", "Queens", "Manhattan"], "trips": [40, 7, 13], "passengers": [55, 9, 20],
        "avg_fare_amount": [10.0, 50.0, 12.0]}), TRIPS_PER_ZONE_HOUR))
    lake.table(REVIEW_QUEUE_TABLE.name).overwrite(gold.conform(pd.DataFrame({
        "step": [30, 31, 55], "nameOrig": ["C1", "C2", "C3"], "nameDest": ["C9", "M1", "C8"],
        "type": ["TRANSFER", "CASH_OUT", "TRANSFER"], "amount": [250_000.0, 1_200.0, 90_000.0],
        "oldbalanceOrg": [250_000.0, 5_000.0, 90_000.0], "newbalanceOrig": [0.0, 3_800.0, 0.0],
        "oldbalanceDest": 0.0, "newbalanceDest": 0.0, "label": [1, 0, 1], "rule_label": [1, 0, 1],
        "rules_fired": ["emptied_by_transfer", "", "emptied_by_transfer"], "rule_version": "seed-2017.1",
        "_ingest_date": [dt.date(2024, 1, 2), dt.date(2024, 1, 2), dt.date(2024, 1, 3)],
        "p_fraud": [0.7, 0.3, 0.6], "prediction": [1, 0, 1], "model_version": "2"}), REVIEW_QUEUE_TABLE))


@pytest.fixture(scope="module")
def superset(tmp_path_factory):
    home = tmp_path_factory.mktemp("bi-e2e")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAKESIDE_HOME", str(home))
        patch.setenv("LAKESIDE_TABLE_BACKEND", "embedded")
        patch.setenv("LAKESIDE_BI_PORT", str(processes.free_port()))
        patch.delenv("LAKESIDE_BI_ADMIN_PASSWORD", raising=False)
        patch.delenv("LAKESIDE_BI_URL", raising=False)
        lake = open_lake()
        ingest(lake, "2024-01-02", 300)
        lake.table(MODEL_PERFORMANCE.name).overwrite(gold.conform(pd.DataFrame({
            "model": "loans_int_rate", "version": [1, 1, 2, 2], "alias": ["", "", "champion", "champion"],
            "snapshot_version": 3, "evaluated_at": pd.Timestamp("2024-01-08T03:00:00Z"),
            "metric": ["rmse", "r2"] * 2, "value": [1.4, 0.8, 1.1, 0.88], "promoted": [False, False, True, True]}),
            MODEL_PERFORMANCE))
        other_use_cases_gold(lake)
        url = server.start(timeout=240)
        try:
            yield {"url": url, "lake": lake, "home": home}
        finally:
            server.stop()


def kpis_from_gold(lake) -> dict[str, float]:
    frame = lake.table(PORTFOLIO.name).to_pandas()
    return {"Loans": float(frame["loans"].sum()), "Amount lent": float(frame["amount"].sum()),
            "Mean interest rate": float((frame["mean_int_rate"] * frame["loans"]).sum() / frame["loans"].sum())}


def chart_values(url: str) -> dict[str, list[dict]]:
    http, base = session(url)
    charts = http.get(f"{base}/api/v1/chart/", params={"q": "(page_size:100)"}, timeout=30).json()["result"]
    values = {}
    for chart in charts:
        answer = http.get(f"{base}/api/v1/chart/{chart['id']}/data/", timeout=60)
        assert answer.status_code == 200, (chart["slice_name"], answer.text[:500])
        values[chart["slice_name"]] = answer.json()["result"][0]["data"]
    return values


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1600,1400"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)


def logged_in(driver, url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{url}/login/")
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.ID, "password"))
    driver.find_element(By.ID, "username").send_keys(bi.ADMIN_USER)
    driver.find_element(By.ID, "password").send_keys(bi.admin_password())
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 60).until(lambda d: "/login" not in d.current_url)


def dashboard_charts(driver, url: str, slug: str, big_numbers: int) -> dict[str, str]:
    """Open a dashboard, wait until its big numbers show, screenshot it: chart name -> its text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{url}/superset/dashboard/{slug}/")
    WebDriverWait(driver, 90).until(lambda d: len([e for e in d.find_elements(By.CSS_SELECTOR, ".header-line")
                                                   if e.text.strip()]) >= big_numbers)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{slug}_dashboard.png"))
    return {chart.get_attribute("data-test-chart-name"): chart.text
            for chart in driver.find_elements(By.CSS_SELECTOR, "[data-test-chart-name]")}


def test_a_logged_in_user_sees_kpis_equal_to_the_gold_table(superset):
    expected = kpis_from_gold(superset["lake"])
    driver = browser()
    try:
        logged_in(driver, superset["url"])
        shown = dashboard_charts(driver, superset["url"], "loans", big_numbers=5)
    finally:
        driver.quit()
    assert len(shown) == 10
    assert f"{expected['Loans']:,.0f}" in shown["Loans"]
    assert f"${expected['Amount lent']:,.0f}" in shown["Amount lent"]
    assert f"{expected['Mean interest rate']:.2f}" in shown["Mean interest rate"]

    data = chart_values(superset["url"])
    assert data["Loans"][0]["Loans"] == expected["Loans"] == 300
    assert data["Amount lent"][0]["Amount lent"] == pytest.approx(expected["Amount lent"])
    assert data["Mean interest rate"][0]["Mean interest rate"] == pytest.approx(expected["Mean interest rate"])
    versions = {(row["version"], row["metric"]): row["Value"] for row in data["Model RMSE and R² by version"]}
    assert versions == {(1, "rmse"): 1.4, (1, "r2"): 0.8, (2, "rmse"): 1.1, (2, "r2"): 0.88}


def test_each_use_cases_dashboard_shows_its_gold_tables_numbers(superset):
    driver = browser()
    try:
        logged_in(driver, superset["url"])
        shown = {slug: dashboard_charts(driver, superset["url"], slug, big_numbers=count)
                 for slug, count in (("demand", 4), ("sales-trends", 2), ("taxi-zones", 3), ("fraud", 3))}
    finally:
        driver.quit()
    assert [len(shown[slug]) for slug in ("demand", "sales-trends", "taxi-zones", "fraud")] == [8, 5, 8, 7]
    assert shown["fraud"]["Transactions to review"].endswith("3") and "$341,200" in shown["fraud"]["Amount to review"]
    assert "60" in shown["taxi-zones"]["Trips located"] and "$15.10" in shown["taxi-zones"]["Mean fare"]
    assert shown["demand"]["Engines compared"].endswith("2") and shown["demand"]["Series skipped"].endswith("1")
    assert shown["sales-trends"]["Products following the pattern, all snapshots"].endswith("3")
    assert "Midtown" in shown["taxi-zones"]["Busiest pickup zones"]

    data = chart_values(superset["url"])
    assert data["Trips located"] == [{"Trips": 60}]
    assert [(r["pickup_zone"], r["Trips"]) for r in data["Busiest pickup zones"]] == [("Midtown", 53), ("Airport", 7)]
    engines = {r["engine"]: (r["Series scored"], r["Mean sMAPE"]) for r in data["Backtest by engine"]}
    assert engines == {"prophet": (2, 12.0), "auto_ets": (2, 16.0)}
    snapshots = {r["snapshot_version"]: r["Products following the pattern"] for r in data["Followers per snapshot"]}
    assert snapshots == {1: 3, 2: 1}
    assert data["Units sold and forecast by week"] == [] and data["Busiest zone pairs"] == []
    assert [(r["amount"], r["rule_label"]) for r in data["Transactions to review, largest first"]] == \
        [(250_000.0, 1), (90_000.0, 1), (1_200.0, 0)]
    assert data["Of which the rules call fraud"] == [{"Rules say fraud": 2}]
    messages = {row["table_name"]: row["message"] for row in data["Gold tables status"]}
    assert messages["gold.zone_pair_averages"] == \
        "gold.zone_pair_averages does not exist yet (built by the DAG geospatial_enrichment)"
    assert messages["gold.demand_forecasts"] == "gold.demand_forecasts does not exist yet (built by the DAG demand_forecast)"
    assert messages["gold.trips_per_zone_hour"] == messages["gold.sales_selection"] == "ok"


def test_anonymous_visitors_get_the_login_page_or_401(superset):
    url = superset["url"]
    page = requests.get(f"{url}/superset/dashboard/loans/", allow_redirects=False, timeout=30)
    assert page.status_code == 302 and "/login/" in page.headers["Location"]
    for path in ("/api/v1/chart/", "/api/v1/dashboard/", "/api/v1/database/", "/api/v1/chart/1/data/"):
        assert requests.get(f"{url}{path}", timeout=30).status_code == 401, path
    wrong = requests.post(f"{url}/api/v1/security/login", timeout=30,
                          json={"username": "admin", "password": "admin", "provider": "db"})
    assert wrong.status_code == 401


def test_a_new_ingest_then_refresh_changes_the_numbers(superset):
    before = chart_values(superset["url"])["Loans"][0]["Loans"]
    ingest(superset["lake"], "2024-02-05", 120)
    result = refresh_dashboards(url=superset["url"])
    assert result["warning"] is None and "main.loans_portfolio" in result["cleared"]
    assert chart_values(superset["url"])["Loans"][0]["Loans"] == before + 120 == kpis_from_gold(superset["lake"])["Loans"]


def test_a_deleted_gold_table_leaves_an_empty_chart_and_a_message(superset):
    shutil.rmtree(bi.local_path(superset["lake"].table(PORTFOLIO.name).uri))
    refresh_dashboards(url=superset["url"])
    data = chart_values(superset["url"])
    assert data["Loans"] in ([], [{"Loans": None}])
    assert data["Amount and rate by grade"] == []
    assert len(data["Model RMSE and R² by version"]) == 4
    messages = {row["table_name"]: row["message"] for row in data["Gold tables status"]}
    assert messages["gold.loans_portfolio"] == "gold.loans_portfolio does not exist yet (built by the DAG gold_loans)"
    assert messages["gold.model_performance"] == "ok"


def test_no_generated_password_or_key_is_in_the_repository(superset):
    for secret in (bi.admin_password(), bi.secret_key()):
        found = subprocess.run(["git", "grep", "-l", "-F", secret], cwd=REPO,
                               capture_output=True, text=True)
        assert found.stdout == "", found.stdout
    assert (superset["home"] / "bi" / "admin-password").stat().st_mode & 0o777 == 0o600


def test_the_business_role_reads_the_gold_datasets_without_sql_lab(superset):
    http, base = session(superset["url"])
    roles = {r["name"]: r["id"] for r in http.get(f"{base}/api/v1/security/roles/", params={"q": "(page_size:100)"},
                                                 timeout=30).json()["result"]}
    answer = http.get(f"{base}/api/v1/security/roles/{roles['business']}/permissions/", timeout=30).json()["result"]
    permissions = {(p["permission_name"], p["view_menu_name"]) for p in answer}
    datasets = sorted(view.split("].[")[1].split("]")[0] for name, view in permissions if name == "datasource_access")
    assert datasets == ["borough_flows", "demand_backtest", "demand_forecasts", "fraud_review_queue", "gold_status",
                        "loans_portfolio", "model_performance", "sales_selection", "trips_per_zone_hour",
                        "zone_pair_averages"]
    assert ("can_read", "Dashboard") in permissions
    assert not {("menu_access", "SQL Lab"), ("can_execute_sql_query", "SQLLab")} & permissions
