"""The loans dashboard over gold tables against the same dashboard over silver.

For each size (``--rows``, default 1M and 10M loans in ``silver.loans``, embedded Delta):

1. ``gold.loans_portfolio`` built from silver (``lakeside.usecases.loans_gold.portfolio``), timed, with its peak RSS;
2. each chart's query in DuckDB (Superset's venv, the ``delta`` extension) over the gold view
   and the same aggregation over ``delta_scan`` of silver, median of ``--repeats``; the answers
   are checked equal;
3. with ``--browser``: Superset started once (``lakeside.bi.server``), the dashboard loaded in
   headless Chromium until every KPI and table shows, cold (Superset's cache cleared, a new
   browser) and warm (reloaded), with its datasets on the gold views and then on views that
   aggregate silver (same columns, so the same charts).

Targets (issue #17, at 10M rows): each gold query >= 10x faster than over silver; a cold load
over gold <= 5 s and <= 0.6x the load over silver.

    .venv/bin/python bench/bi_dashboard.py --rows 1000000 --rows 10000000 --browser
    .venv/bin/python bench/bi_dashboard.py --rows 200000            # quick
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _report  # noqa: E402

CHARTS = {
    "KPIs": (
        "SELECT SUM(loans) AS loans, SUM(amount) AS amount, SUM(mean_int_rate * loans) / SUM(loans) AS rate, "
        "SUM(charged_off_share * loans) / SUM(loans) AS charged, SUM(payment_ratio * amount) / SUM(amount) AS paid "
        "FROM main.loans_portfolio",
        "SELECT COUNT(*) AS loans, SUM(loan_amnt) AS amount, AVG(int_rate) AS rate, "
        "AVG(CASE WHEN loan_status LIKE '%Charged Off' THEN 1.0 ELSE 0.0 END) AS charged, "
        "SUM(total_pymnt) / SUM(loan_amnt) AS paid FROM SILVER",
    ),
}
for _name, _gold_key, _silver_key in (("by grade", "grade", "grade"), ("by state", "addr_state", "addr_state"),
                                      ("by month", "issue_month", "CAST(date_trunc('month', issue_d) AS DATE)")):
    CHARTS[_name] = (
        f"SELECT {_gold_key} AS k, SUM(loans) AS loans, SUM(amount) AS amount, SUM(mean_int_rate * loans) / SUM(loans) AS rate, "
        f"SUM(charged_off_share * loans) / SUM(loans) AS charged FROM main.loans_portfolio GROUP BY 1 ORDER BY 1",
        f"SELECT {_silver_key} AS k, COUNT(*) AS loans, SUM(loan_amnt) AS amount, AVG(int_rate) AS rate, "
        f"AVG(CASE WHEN loan_status LIKE '%Charged Off' THEN 1.0 ELSE 0.0 END) AS charged FROM SILVER GROUP BY 1 ORDER BY 1",
    )

PORTFOLIO_OVER_SILVER = (
    "SELECT CAST(date_trunc('month', issue_d) AS DATE) AS issue_month, grade, addr_state, COUNT(*) AS loans, "
    "SUM(loan_amnt) AS amount, AVG(int_rate) AS mean_int_rate, "
    "AVG(CASE WHEN loan_status LIKE '%Charged Off' THEN 1.0 ELSE 0.0 END) AS charged_off_share, "
    "SUM(total_pymnt) / SUM(loan_amnt) AS payment_ratio FROM SILVER GROUP BY ALL"
)

TIMER = r"""
import json, statistics, sys, time
sys.path.insert(0, sys.argv[1])
import catalog
job = json.load(open(sys.argv[2]))
connection = catalog.connect(job["database"], read_only=True)
silver = "delta_scan('" + job["silver"] + "')"
out = {}
for name, (gold_sql, silver_sql) in job["charts"].items():
    entry = {}
    for side, sql in (("gold", gold_sql), ("silver", silver_sql.replace("SILVER", silver))):
        times = []
        for _ in range(job["repeats"]):
            start = time.perf_counter()
            rows = connection.execute(sql).fetchall()
            times.append(time.perf_counter() - start)
        entry[side] = {"median_s": statistics.median(times), "rows": [[float(v) if isinstance(v, (int, float)) else str(v) for v in r] for r in rows]}
    out[name] = entry
print(json.dumps(out))
"""

SILVER_VIEW = r"""
import sys
sys.path.insert(0, sys.argv[1])
import catalog
connection = catalog.connect(sys.argv[2])
connection.execute("CREATE OR REPLACE VIEW main.loans_portfolio AS " + sys.argv[3])
connection.execute("CHECKPOINT")
connection.close()
"""


def silver_frame(rows: int, base: pd.DataFrame, offset: int) -> pd.DataFrame:
    """``rows`` loans: the generated base tiled with fresh ids and issue months shifted by whole years."""
    from lakeside.datasets import loans

    parts, made = [], 0
    while made < rows:
        part = base.iloc[: rows - made].copy()
        shift = made // len(base)
        part["id"] = np.arange(offset + made + 1, offset + made + len(part) + 1, dtype="int64")
        part["issue_d"] = [d.replace(year=d.year - shift) for d in part["issue_d"]] if shift else part["issue_d"]
        parts.append(part)
        made += len(part)
    frame = pd.concat(parts, ignore_index=True)
    frame["_ingest_date"] = dt.date(2024, 1, 2)
    assert list(frame.columns)[: len(loans.SPEC.column_names)] == loans.SPEC.column_names
    return frame


def build(lake, rows: int, chunk: int) -> dict:
    from lakeside import gold
    from lakeside.datasets import loans
    from lakeside.usecases.loans import PORTFOLIO
    from lakeside.usecases.loans_gold import INPUTS, portfolio

    base = loans.generate(min(rows, 250_000), seed=7)
    silver = lake.table("silver.loans")
    with _report.timed("write silver") as written:
        for start in range(0, rows, chunk):
            silver.append(silver_frame(min(chunk, rows - start), base, start))
    with _report.timed("build gold") as built:
        table = gold.conform(portfolio(silver.to_arrow(columns=list(INPUTS))), PORTFOLIO)
        lake.table(PORTFOLIO.name).overwrite(table, partition_by=list(PORTFOLIO.partition_by) or None)
    _report.log(f"gold.loans_portfolio from {rows:,} silver rows: {built.seconds:.1f} s, peak RSS {built.peak_mb['python']} MiB")
    return {"write_silver_s": written.seconds, "build_gold_s": built.seconds, "build_gold_peak_mb": built.peak_mb["python"],
            "gold_rows": table.num_rows}


def time_queries(database: Path, silver_path: str, repeats: int) -> dict:
    from lakeside import bi

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"database": str(database), "silver": silver_path, "charts": CHARTS, "repeats": repeats}, handle)
    done = subprocess.run([str(bi.python()), "-c", TIMER, str(bi.HERE), handle.name], capture_output=True,
                          text=True, env=bi.venv_environment())
    os.unlink(handle.name)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def same_answers(measured: dict) -> list[str]:
    wrong = []
    for name, sides in measured.items():
        gold_rows, silver_rows = sides["gold"]["rows"], sides["silver"]["rows"]
        if len(gold_rows) != len(silver_rows):
            wrong.append(f"{name}: {len(gold_rows)} rows over gold, {len(silver_rows)} over silver")
            continue
        for g, s in zip(gold_rows, silver_rows):
            for a, b in zip(g, s):
                if isinstance(a, float) and not np.isclose(a, b, rtol=1e-9):
                    wrong.append(f"{name}: {a} over gold, {b} over silver")
    return wrong


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1600,1400"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)


def load_dashboard(url: str, password: str) -> tuple[float, float]:
    """Seconds until every KPI and table shows: in a new browser (cold), then reloaded (warm)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def rendered(driver) -> bool:
        kpis = [e for e in driver.find_elements(By.CSS_SELECTOR, ".header-line") if e.text.strip()]
        tables = driver.find_elements(By.CSS_SELECTOR, "[data-test-chart-name] table tbody tr")
        return len(kpis) >= 5 and len(tables) >= 3

    driver = browser()
    try:
        driver.get(f"{url}/login/")
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.ID, "password"))
        driver.find_element(By.ID, "username").send_keys("admin")
        driver.find_element(By.ID, "password").send_keys(password)
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        WebDriverWait(driver, 60).until(lambda d: "/login" not in d.current_url)
        times = []
        for _ in range(2):
            start = time.perf_counter()
            driver.get(f"{url}/superset/dashboard/loans/")
            WebDriverWait(driver, 300, poll_frequency=0.05).until(rendered)
            times.append(time.perf_counter() - start)
        return times[0], times[1]
    finally:
        driver.quit()


def browser_loads(lake, database: Path) -> dict:
    from lakeside import bi
    from lakeside.bi import server
    from lakeside.bi.refresh import clear_cache

    url = server.start(timeout=300)
    tables = ["main.loans_portfolio", "main.model_performance", "main.gold_status"]
    result = {}
    try:
        clear_cache(tables, url)
        result["gold"] = load_dashboard(url, bi.admin_password())
        silver = "delta_scan('" + bi.local_path(lake.table("silver.loans").uri) + "')"
        staging = database.with_name("silver-views.duckdb")
        shutil.copy(database, staging)
        subprocess.run([str(bi.python()), "-c", SILVER_VIEW, str(bi.HERE), str(staging),
                        PORTFOLIO_OVER_SILVER.replace("SILVER", silver)], check=True, env=bi.venv_environment())
        os.replace(staging, database)
        clear_cache(tables, url)
        result["silver"] = load_dashboard(url, bi.admin_password())
    finally:
        server.stop()
    return result


def measure(lake, rows: int, args) -> dict:
    from lakeside import bi

    entry = {"rows": rows, **build(lake, rows, args.chunk), "load_average": _report.load_average()}
    spec = bi.write_catalog(lake)
    measured = time_queries(Path(spec["database"]), bi.local_path(lake.table("silver.loans").uri), args.repeats)
    entry["failures"] = [f"{rows:,}: {w}" for w in same_answers(measured)]
    entry["queries"] = {name: {side: sides[side]["median_s"] for side in ("gold", "silver")}
                        for name, sides in measured.items()}
    if args.browser:
        _report.log("dashboard in Chromium, gold then silver views")
        entry["browser"] = browser_loads(lake, Path(spec["database"]))
    entry["load_average_after"] = _report.load_average()
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="silver.loans rows (repeatable); default 1M and 10M")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=1_000_000)
    parser.add_argument("--browser", action="store_true", help="also time the dashboard in headless Chromium")
    parser.add_argument("--keep", action="store_true", help="keep the lake (printed)")
    args = parser.parse_args(argv)
    sizes = args.rows or [1_000_000, 10_000_000]
    results, failures, table_rows = [], [], []
    for rows in sizes:
        home = Path(tempfile.mkdtemp(prefix=f"bench-bi-{rows}-"))
        os.environ.update({"LAKESIDE_HOME": str(home), "LAKESIDE_TABLE_BACKEND": "embedded",
                           "LAKESIDE_BI_PORT": os.environ.get("LAKESIDE_BI_PORT", "18099")})
        from lakeside import bi
        from lakeside.tables import open_lake

        lake = open_lake()
        _report.log(f"{rows:,} loans under {home}")
        try:
            entry = measure(lake, rows, args)
        finally:
            if not args.keep:
                shutil.rmtree(home, ignore_errors=True)
        failures += entry.pop("failures")
        for name, sides in entry["queries"].items():
            table_rows.append([f"{rows:,}", name, sides["gold"] * 1000, sides["silver"] * 1000,
                               sides["silver"] / sides["gold"]])
        if "browser" in entry:
            gold_cold, gold_warm = entry["browser"]["gold"]
            silver_cold, silver_warm = entry["browser"]["silver"]
            table_rows.append([f"{rows:,}", "dashboard cold (s)", gold_cold, silver_cold, gold_cold / silver_cold])
            table_rows.append([f"{rows:,}", "dashboard warm (s)", gold_warm, silver_warm, gold_warm / silver_warm])
        results.append(entry)
    _report.table(["silver rows", "chart", "gold", "silver", "silver/gold (queries), gold/silver (loads)"],
                  table_rows, title="DuckDB query (ms, median) and dashboard load (s)")
    _report.write_json("bi_dashboard", {"args": vars(args), "results": results, "failures": failures})
    for failure in failures:
        print("CHECK FAILED:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
