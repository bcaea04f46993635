"""Lending Club loans: schema, a loader for the public file, and a generator of the same shape.

The generator draws a latent credit quality per borrower and derives everything from it and
from the loan itself, so that a model has something real to learn:

- ``grade`` (A-G) follows credit quality;
- ``int_rate`` is the grade's base rate, plus a premium for the 60-month term, for high
  ``dti`` and ``revol_util``, a small drift with the issue year, and noise;
- ``annual_inc`` is log-normal and grows with employment length; ``loan_amnt`` scales with
  income; ``dti`` combines the loan with other debt; verification is likelier for big loans;
- ``loan_status`` charges off more often for worse grades; ``total_pymnt`` follows the status.

Raw files use the format of the public 2007-2018 file: ``term`` " 36 months", ``emp_length``
"10+ years" / "< 1 year", ``issue_d`` and ``earliest_cr_line`` "Apr-2015"; percentages
without a percent sign (the loader and ingest accept "13.56%" and " 13.56%" too). Real exports
also carry ~100 more columns (ignored), a notice line before the header, quoted line breaks in
``desc``, statuses such as "Does not meet the credit policy. Status:Fully Paid", and section
and summary lines ("Total amount funded in policy code 1: ...") that ingest refuses as such.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from lakeside.datasets._spec import Column, SourceSpec, read_text_csv

GRADES = ("A", "B", "C", "D", "E", "F", "G")
GRADE_BASE_RATE = {"A": 7.1, "B": 10.6, "C": 14.0, "D": 17.8, "E": 21.2, "F": 24.8, "G": 27.9}
GRADE_CHARGE_OFF = {"A": 0.06, "B": 0.13, "C": 0.22, "D": 0.30, "E": 0.38, "F": 0.45, "G": 0.50}
TERMS = ("36 months", "60 months")
VERIFICATION = ("Verified", "Not Verified", "Source Verified")
STATUSES = ("Fully Paid", "Charged Off", "Current")

# Share of loans per state, roughly by population (the long tail shares the rest).
STATE_WEIGHTS = {
    "CA": 14.5, "TX": 8.2, "NY": 8.1, "FL": 7.1, "IL": 4.0, "NJ": 3.6, "PA": 3.4, "OH": 3.3,
    "GA": 3.2, "VA": 2.9, "NC": 2.9, "MI": 2.6, "MD": 2.4, "AZ": 2.4, "MA": 2.3, "CO": 2.1,
    "WA": 2.1, "MN": 1.8, "IN": 1.6, "MO": 1.6, "TN": 1.6, "CT": 1.5, "NV": 1.5, "WI": 1.3,
    "AL": 1.2, "OR": 1.2, "SC": 1.2, "LA": 1.1, "KY": 1.0, "OK": 0.9, "KS": 0.8, "AR": 0.7,
    "UT": 0.7, "NM": 0.5, "HI": 0.5, "MS": 0.5, "NH": 0.5, "RI": 0.4, "WV": 0.4, "DE": 0.3,
    "MT": 0.3, "DC": 0.3, "AK": 0.2, "WY": 0.2, "SD": 0.2, "VT": 0.2, "NE": 0.2, "ME": 0.2,
    "ID": 0.2, "ND": 0.1,
}

SPEC = SourceSpec(
    name="loans",
    description="Lending Club loans, one row per loan (natural key: id).",
    key=("id",),
    columns=(
        Column("id", "long", min=1),
        Column("loan_amnt", "double", min=500, max=40000),
        Column("term", "string", allowed=TERMS),
        Column("int_rate", "percent", min=0, max=40),
        Column("grade", "string", allowed=GRADES),
        Column("emp_length", "emp_length", required=False, min=0, max=10),
        Column("annual_inc", "double", min=0),
        Column("verification_status", "string", allowed=VERIFICATION),
        Column("issue_d", "month_year"),
        # "Fully Paid", "Late (31-120 days)", "Does not meet the credit policy. Status:Charged Off"
        Column("loan_status", "string", pattern=r"^[A-Za-z][A-Za-z0-9 .:()\-]*$"),
        Column("addr_state", "string", pattern=r"^[A-Z]{2}$"),
        Column("dti", "double", required=False, min=0, max=100),
        Column("earliest_cr_line", "month_year", required=False),
        Column("revol_util", "percent", required=False, min=0, max=200),
        Column("total_pymnt", "double", min=0),
    ),
    # The old LoanStats exports: a section line between the loans that meet the credit policy
    # and those that do not, and the funded totals at the end.
    summary_lines=r'^"?(Total amount funded in policy code \d+:|Loans that do not meet the credit policy)',
)


def generate(
    rows: int,
    seed: int = 0,
    issue_month: dt.date | str | None = None,
    first_id: int = 1,
) -> pd.DataFrame:
    """Typed loans: ints as int64/int32, money and rates as float64, dates as ``datetime.date``.

    ``issue_month`` fixes every loan's issue month (a daily batch); without it, loans are
    spread over 2012-2018.
    """
    rng = np.random.default_rng(seed)
    quality = rng.normal(0.0, 1.0, rows)
    grade_idx = np.clip(np.round(2.2 - 1.45 * quality + rng.normal(0, 0.45, rows)), 0, 6).astype(int)
    grade = np.array(GRADES)[grade_idx]

    emp_length = np.where(rng.random(rows) < 0.33, 10, rng.integers(0, 10, rows)).astype("int32")
    annual_inc = np.round(np.exp(rng.normal(10.95, 0.55, rows) + 0.025 * emp_length + 0.08 * quality), -2)
    loan_amnt = np.clip(np.round(annual_inc * rng.uniform(0.05, 0.35, rows) / 25) * 25, 1000, 40000)
    long_term = rng.random(rows) < np.clip(0.12 + loan_amnt / 80000 + 0.04 * grade_idx, 0, 0.9)
    term = np.where(long_term, TERMS[1], TERMS[0])

    dti = np.round(np.clip(100 * (loan_amnt * 0.03 + rng.gamma(2.0, 350, rows)) * 12 / annual_inc
                           - 2.5 * quality, 0, 99.9), 2)
    revol_util = np.round(np.clip(rng.normal(52 - 9 * quality, 22, rows), 0, 150), 1)

    issue_dates = _issue_months(rng, rows, issue_month)
    issue_years = np.array([d.year for d in issue_dates])
    int_rate = (
        np.vectorize(GRADE_BASE_RATE.get)(grade)
        + np.where(long_term, 2.4, 0.0)
        + 0.045 * (dti - 18)
        + 0.018 * (revol_util - 50)
        + 0.22 * (issue_years - 2015)
        + rng.normal(0, 0.65, rows)
    )
    int_rate = np.round(np.clip(int_rate, 5.31, 30.99), 2)

    verified_p = np.clip(0.25 + loan_amnt / 60000 + 0.03 * grade_idx, 0, 0.95)
    verification = np.where(
        rng.random(rows) < verified_p,
        np.where(rng.random(rows) < 0.55, VERIFICATION[0], VERIFICATION[2]),
        VERIFICATION[1],
    )
    credit_years = np.clip(rng.gamma(4.0, 3.8, rows) + 0.4 * emp_length, 3, 50).astype(int)
    earliest = [_add_months(d, -12 * y - int(m)) for d, y, m in zip(issue_dates, credit_years, rng.integers(0, 12, rows))]

    status, total_pymnt = _outcome(rng, grade, loan_amnt, int_rate, long_term, issue_dates)
    states = list(STATE_WEIGHTS)
    weights = np.array([STATE_WEIGHTS[s] for s in states])

    return pd.DataFrame({
        "id": np.arange(first_id, first_id + rows, dtype="int64"),
        "loan_amnt": loan_amnt.astype("float64"),
        "term": term,
        "int_rate": int_rate,
        "grade": grade,
        "emp_length": emp_length,
        "annual_inc": annual_inc.astype("float64"),
        "verification_status": verification,
        "issue_d": issue_dates,
        "loan_status": status,
        "addr_state": rng.choice(states, rows, p=weights / weights.sum()),
        "dti": dti,
        "earliest_cr_line": earliest,
        "revol_util": revol_util,
        "total_pymnt": total_pymnt,
    })


def daily_batch(day: dt.date, rows: int, seed: int = 0) -> pd.DataFrame:
    """The loans issued on ``day``: ids unique across days, issue month = the day's month."""
    if rows > 100_000:
        raise ValueError("a daily batch holds at most 100,000 loans (ids are day * 100,000 + n)")
    day_number = (day - dt.date(2007, 1, 1)).days
    return generate(rows, seed=seed * 100_003 + day_number, issue_month=day, first_id=day_number * 100_000 + 1)


def to_raw(df: pd.DataFrame) -> pd.DataFrame:
    """The text a raw Lending Club file holds for these loans (every column a string)."""
    raw = pd.DataFrame({
        "id": df["id"].astype(str),
        "loan_amnt": df["loan_amnt"].map(_number_text),
        "term": " " + df["term"].astype(str),
        "int_rate": df["int_rate"].map(_number_text),
        "grade": df["grade"],
        "emp_length": df["emp_length"].map(_emp_length_text),
        "annual_inc": df["annual_inc"].map(_number_text),
        "verification_status": df["verification_status"],
        "issue_d": df["issue_d"].map(_month_year_text),
        "loan_status": df["loan_status"],
        "addr_state": df["addr_state"],
        "dti": df["dti"].map(_number_text),
        "earliest_cr_line": df["earliest_cr_line"].map(_month_year_text),
        "revol_util": df["revol_util"].map(_number_text),
        "total_pymnt": df["total_pymnt"].map(_number_text),
    })
    return raw[SPEC.column_names]


def load(path: str) -> pd.DataFrame:
    """Read a public Lending Club CSV (local path or URL) into the typed shape of :func:`generate`.

    Extra columns are dropped; the footer lines of the old LoanStats files ("Total amount
    funded in policy code ...") and rows without an id are skipped.
    """
    raw = read_text_csv(path, SPEC, "Lending Club", skiprows=_preamble_lines(path))
    raw = raw[raw["id"].str.strip().str.fullmatch(r"\d+")]
    return SPEC.typed(raw)


def _issue_months(rng: np.random.Generator, rows: int, issue_month: dt.date | str | None) -> list[dt.date]:
    if issue_month is not None:
        month = pd.Timestamp(issue_month).date().replace(day=1)
        return [month] * rows
    offsets = rng.integers(0, 84, rows)
    return [_add_months(dt.date(2012, 1, 1), int(o)) for o in offsets]


def _outcome(rng, grade, loan_amnt, int_rate, long_term, issue_dates):
    months = np.where(long_term, 60, 36)
    monthly_rate = int_rate / 1200
    installment = loan_amnt * monthly_rate / (1 - (1 + monthly_rate) ** -months)
    age = np.array([(2019 - d.year) * 12 - d.month for d in issue_dates])
    charge_off = rng.random(len(grade)) < np.vectorize(GRADE_CHARGE_OFF.get)(grade)
    matured_or_prepaid = (age >= months) | (rng.random(len(grade)) < 0.35)
    status = np.where(charge_off, STATUSES[1], np.where(matured_or_prepaid, STATUSES[0], STATUSES[2]))
    paid_months = np.where(
        status == STATUSES[1], rng.uniform(0.1, 0.8, len(grade)) * months,
        np.where(status == STATUSES[0], months, np.minimum(age, months) * rng.uniform(0.3, 0.9, len(grade))),
    )
    prepaid_discount = np.where(status == STATUSES[0], rng.uniform(0.88, 1.0, len(grade)), 1.0)
    total = installment * paid_months * prepaid_discount
    return status, np.round(np.maximum(total, 0.0), 2)


def _add_months(day: dt.date, months: int) -> dt.date:
    total = day.year * 12 + day.month - 1 + months
    return dt.date(total // 12, total % 12 + 1, 1)


def _number_text(value: float) -> str:
    return "" if pd.isna(value) else f"{value:g}" if float(value).is_integer() else f"{value:.2f}".rstrip("0")


def _emp_length_text(years) -> str:
    if pd.isna(years):
        return "n/a"
    years = int(years)
    return "10+ years" if years >= 10 else "< 1 year" if years == 0 else f"{years} year{'s' if years > 1 else ''}"


def _month_year_text(day) -> str:
    return "" if day is None or pd.isna(day) else pd.Timestamp(day).strftime("%b-%Y")


def _preamble_lines(path: str) -> int:
    """Old LoanStats CSVs start with one 'Notes offered by Prospectus' line before the header."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return 1 if handle.readline().startswith("Notes offered") else 0
    except OSError:
        return 0


def daily_raw(day: dt.date, rows: int, seed: int = 0) -> pd.DataFrame:
    """The text of one day's raw loans file."""
    return to_raw(daily_batch(day, rows, seed))
