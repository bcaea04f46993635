"""Loans: predict a Lending Club loan's interest rate (``int_rate``, percent) from what is known
when it is issued. The platform scenario of ../shared/use-cases.md §1: daily ingest, a weekly
model search with glass-box notebooks, a gate, and predictions over HTTP."""

from lakeside.usecases import Demo, Search, Split, UseCase

GRADES = ("A", "B", "C", "D", "E", "F", "G")

USE_CASE = UseCase(
    name="loans",
    description="Interest rate of a loan at issue, from the borrower and the loan.",
    task="regression",
    model_name="loans_int_rate",
    table="silver.loans",
    key=("id",),
    target="int_rate",
    sources=("loans",),
    exclude=("loan_status", "total_pymnt"),
    ordinals={"grade": GRADES},
    split=Split("hash", holdout_fraction=0.2),
    search=Search(time_budget_s=300.0),
    metric="rmse",
    service="tabular",
    schedule="0 3 * * 1",
    dag_id="weekly_retrain",
    batch_inference=True,
    demo=Demo(dates=("2024-01-01", "2024-01-02", "2024-01-03"), search_budget_s=60,
              families=("linear", "lightgbm", "hist_gradient_boosting", "random_forest")),
)
