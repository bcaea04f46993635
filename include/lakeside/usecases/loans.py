"""Loans: predict a Lending Club loan's interest rate (``int_rate``, percent) from what is known
when it is issued. The platform scenario of ../shared/use-cases.md §1: daily ingest, a weekly
model search with glass-box notebooks, a gate, and predictions over HTTP."""

from lakeside.gold import MODEL_PERFORMANCE_COLUMNS
from lakeside.usecases import Demo, GoldTable, Search, Split, UseCase

GRADES = ("A", "B", "C", "D", "E", "F", "G")

PORTFOLIO = GoldTable(
    name="gold.loans_portfolio",
    description="Loans per issue month, grade and state: count, amount, mean rate, charged-off share, paid back / lent.",
    columns=(("issue_month", "date"), ("grade", "string"), ("addr_state", "string"), ("loans", "long"),
             ("amount", "double"), ("mean_int_rate", "double"), ("charged_off_share", "double"),
             ("payment_ratio", "double")),
    builder="lakeside.usecases.loans_gold:build_portfolio",
    after="ingest",
    # Not partitioned: at most months x 7 grades x ~50 states rows, which one file serves faster
    # than a file per month (bench/bi_dashboard.py); replace_where rewrites the months' rows.
)
MODEL_PERFORMANCE = GoldTable(
    name="gold.model_performance",
    description="Every gated version of the model with its holdout metrics, alias and gate decision.",
    columns=MODEL_PERFORMANCE_COLUMNS,
    builder="lakeside.gold:model_performance",
    after="gate",
)

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
    demo=Demo(dates=("2024-01-01", "2024-01-02", "2024-01-03"), search_budget_s=20,
              families=("linear", "lightgbm", "hist_gradient_boosting", "random_forest")),
    gold=(PORTFOLIO, MODEL_PERFORMANCE),
)
