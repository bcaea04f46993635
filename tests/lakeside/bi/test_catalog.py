"""gold.duckdb as Superset's venv reads it: one view per gold table, empty and typed when the table
is missing or its columns changed, a status row naming the table and its DAG; refresh without Superset."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess

import pandas as pd
import pytest

from lakeside import bi, gold
from lakeside.bi import HERE
from lakeside.bi.refresh import refresh_dashboards
from lakeside.datasets import loans
from lakeside.tables import Lake
from lakeside.usecases.loans import PORTFOLIO
from lakeside.usecases.loans_gold import portfolio

READ = """
import json, sys
sys.path.insert(0, sys.argv[1])
import catalog
connection = catalog.connect(sys.argv[2], read_only=True)
out = {}
for name in sys.argv[3:]:
    cursor = connection.execute(f"SELECT * FROM {name}")
    out[name] = {"columns": [(d[0], str(d[1])) for d in cursor.description],
                 "rows": [[str(v) for v in row] for row in cursor.fetchall()]}
print(json.dumps(out))
"""


def query(database, *views):
    done = subprocess.run([str(bi.python()), "-c", READ, str(HERE), str(database), *views],
                          capture_output=True, text=True, check=True, env=bi.venv_environment())
    return json.loads(done.stdout)


@pytest.fixture()
def lake(lakeside_home):
    return Lake(lakeside_home / "lake", backend="embedded")


def test_views_over_present_missing_and_changed_gold_tables(lake, lakeside_home):
    silver = loans.daily_batch(dt.date(2024, 1, 2), 200)
    lake.table(PORTFOLIO.name).overwrite(gold.conform(portfolio(silver), PORTFOLIO), partition_by=["issue_month"])

    spec = bi.write_catalog(lake)

    assert spec["database"] == str(lakeside_home / "bi" / "gold.duckdb")
    found = query(spec["database"], "main.loans_portfolio", "main.model_performance", "main.gold_status")
    portfolio_view = found["main.loans_portfolio"]
    assert [c for c, _ in portfolio_view["columns"]] == PORTFOLIO.column_names
    assert sum(int(row[3]) for row in portfolio_view["rows"]) == 200
    stored = lake.table(PORTFOLIO.name).to_pandas()
    assert len(portfolio_view["rows"]) == len(stored)
    amount = sum(float(row[4]) for row in portfolio_view["rows"])
    assert amount == pytest.approx(stored["amount"].sum())
    performance = found["main.model_performance"]
    assert performance["rows"] == []
    assert [c for c, _ in performance["columns"]][:3] == ["model", "version", "alias"]
    status = {row[0]: row for row in found["main.gold_status"]["rows"]}
    assert status["gold.loans_portfolio"][3] == "ok"
    assert status["gold.model_performance"][3] == ("gold.model_performance does not exist yet "
                                                   "(built by the DAG weekly_retrain)")

    shutil.rmtree(bi.local_path(lake.table(PORTFOLIO.name).uri))  # rebuilt by hand, a column renamed
    lake.table(PORTFOLIO.name).overwrite(portfolio(silver).rename(columns={"amount": "amount_usd"}))
    result = refresh_dashboards(lake, url="http://127.0.0.1:9")  # nothing listens on port 9

    assert result["warning"].startswith("Superset at http://127.0.0.1:9 does not answer")
    assert result["problems"]["gold.loans_portfolio"] == ["gold.loans_portfolio: column amount is missing",
                                                          "gold.loans_portfolio: column amount_usd is not declared"]
    found = query(spec["database"], "main.loans_portfolio", "main.gold_status")
    assert found["main.loans_portfolio"]["rows"] == []
    assert [c for c, _ in found["main.loans_portfolio"]["columns"]] == PORTFOLIO.column_names
    status = {row[0]: row for row in found["main.gold_status"]["rows"]}
    assert "column amount is missing" in status["gold.loans_portfolio"][3]
    assert not list((lakeside_home / "bi").glob(".gold.duckdb.*"))


def test_secrets_are_generated_once_with_mode_600(lakeside_home, monkeypatch):
    monkeypatch.delenv("LAKESIDE_BI_ADMIN_PASSWORD", raising=False)
    first = bi.admin_password()
    assert first == bi.admin_password() and len(first) >= 32
    assert (lakeside_home / "bi" / "admin-password").stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("LAKESIDE_BI_ADMIN_PASSWORD", "from-the-environment")
    assert bi.admin_password() == "from-the-environment"
    assert bi.secret_key() != first
