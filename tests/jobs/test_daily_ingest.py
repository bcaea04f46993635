"""The daily ingest job on loans files with each class of bad input a real upstream sends."""

import datetime as dt
import importlib.util
import json
from pathlib import Path

import pytest

from lakeside import ingest
from lakeside.datasets import loans
from lakeside.tables import open_lake

JOB = Path(__file__).resolve().parents[2] / "jobs" / "daily_ingest.py"
DAY = dt.date(2024, 2, 1)
ROWS = 40


def load_job():
    spec = importlib.util.spec_from_file_location("daily_ingest_job", JOB)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def good_lines() -> list[str]:
    raw = loans.to_raw(loans.daily_batch(DAY, ROWS, seed=3))
    return raw.to_csv(index=False).splitlines()


def wrong_types(lines):
    header = lines[0].split(",")
    rate = header.index("int_rate")
    cells = lines[5].split(",")
    cells[rate] = "thirteen"
    return lines[:5] + [",".join(cells)] + lines[6:], 1


def malformed(lines):
    return lines[:3] + ["12345,1000, 36 months"] + lines[3:] + ['999,"unbalanced'], 2


def missing_columns(lines):
    header = lines[0].split(",")
    drop = header.index("grade")
    return [",".join(c for i, c in enumerate(line.split(",")) if i != drop) for line in lines], ROWS


def duplicate_keys(lines):
    return lines + lines[1:4], 3


def truncated(lines):
    return lines[:-1] + [lines[-1][: len(lines[-1]) // 2]], 1


def header_only(lines):
    return lines[:1], 0


CASES = {
    "wrong types": wrong_types,
    "malformed lines": malformed,
    "missing columns": missing_columns,
    "duplicate keys": duplicate_keys,
    "truncated file": truncated,
    "header only": header_only,
}


@pytest.mark.parametrize("case", CASES)
def test_every_input_row_ends_in_silver_or_quarantine(case, spark, lakeside_home, tmp_path, capsys):
    lines, expected_rejected = CASES[case](good_lines())
    path = tmp_path / "loans.csv"
    path.write_text("\n".join(lines) + "\n")

    code = load_job().main(["--source", "loans", "--logical-date", DAY.isoformat(), "--run-id", "r1",
                            "--file", str(path), "--max-rejected-share", "1.0"])

    report = json.loads(capsys.readouterr().out)
    lake = open_lake(spark)
    silver = lake.table("silver.loans").to_pandas()
    quarantine = lake.table("quarantine.loans").to_pandas()
    bronze = lake.table("bronze.loans").to_pandas()
    assert code == 0
    assert report["rows_rejected"] == expected_rejected == len(quarantine)
    assert len(bronze) == report["rows_in"] == len(silver) + len(quarantine)
    assert quarantine["_reason"].str.len().gt(0).all()


def test_a_file_with_too_many_bad_rows_fails_and_leaves_silver_alone(spark, lakeside_home, tmp_path):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    lines = good_lines()
    good.write_text("\n".join(lines) + "\n")
    job = load_job()
    job.main(["--source", "loans", "--logical-date", "2024-01-31", "--run-id", "r0", "--file", str(good)])
    bad_lines, _ = missing_columns(good_lines())
    bad.write_text("\n".join(bad_lines) + "\n")

    with pytest.raises(ingest.RejectedShareExceeded, match="`grade`: column missing from file"):
        job.main(["--source", "loans", "--logical-date", DAY.isoformat(), "--run-id", "r1", "--file", str(bad)])

    lake = open_lake(spark)
    assert lake.table("silver.loans").version() == 0
    assert len(lake.table("quarantine.loans").to_pandas().query("_ingest_date == @DAY")) == ROWS


def test_an_empty_file_fails_clearly_and_writes_nothing(spark, lakeside_home, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(ingest.EmptyLandingError, match="empty.csv is empty"):
        load_job().main(["--source", "loans", "--logical-date", DAY.isoformat(), "--run-id", "r1", "--file", str(path)])
    assert not open_lake(spark).table("bronze.loans").exists()


def test_no_landing_file_names_the_folder(spark, lakeside_home):
    with pytest.raises(FileNotFoundError, match=r"landing/loans/2024-02-01"):
        load_job().main(["--source", "loans", "--logical-date", DAY.isoformat(), "--run-id", "r1"])


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_a_real_lending_club_export_ingests_with_the_default_threshold(spark, lakeside_home, capsys):
    """LoanStats3a's format: notice line, extra columns, " 10.65%", a quoted line break,
    "Does not meet the credit policy. Status:...", a section line and the summary lines."""
    path = FIXTURES / "LoanStats3a_excerpt.csv"
    code = load_job().main(["--source", "loans", "--logical-date", DAY.isoformat(), "--run-id", "r1",
                            "--file", str(path)])

    report = json.loads(capsys.readouterr().out)
    lake = open_lake(spark)
    silver = lake.table("silver.loans").to_pandas().set_index("id")
    quarantine = lake.table("quarantine.loans").to_pandas().sort_values("_row")
    assert code == 0
    assert (report["rows_in"], report["rows_valid"], report["rows_rejected"], report["rows_summary"]) == (15, 12, 3, 3)
    assert report["rows_in"] == len(silver) + len(quarantine)
    assert quarantine["_reason"].tolist() == [ingest.SUMMARY_REASON] * 3
    assert quarantine["_raw_line"].tolist() == [
        "Loans that do not meet the credit policy",
        "Total amount funded in policy code 1: 460296150",
        "Total amount funded in policy code 2: 26000",
    ]
    assert silver.loc[1077501, ["int_rate", "term", "emp_length", "revol_util"]].tolist() == [10.65, "36 months", 10, 83.7]
    assert silver.loc[1075269, "int_rate"] == 7.90
    assert silver.loc[1077430, ["loan_status", "emp_length", "total_pymnt"]].tolist() == ["Charged Off", 0, 1014.53]
    assert silver.loc[1077175, "_row"] == 4  # the record before it spans two lines
    assert silver.loc[1069453, "loan_status"] == "Does not meet the credit policy. Status:Fully Paid"
    assert silver.loc[1069639, "loan_status"] == "Late (31-120 days)"
    assert silver.loc[1069559, "issue_d"] == dt.date(2011, 12, 1)
