"""Iris: the reference platform's serving example (../shared/use-cases.md §1), a multiclass
classifier of the species from the four measurements, trained by the model search on the
reference table ``reference.iris`` and gated like any model."""

from lakeside.usecases import Demo, Search, Split, UseCase

USE_CASE = UseCase(
    name="iris",
    description="Iris species from sepal and petal measurements (Fisher's 150 flowers).",
    task="multiclass",
    model_name="iris",
    table="reference.iris",
    key=("id",),
    target="species",
    reference_tables={"reference.iris": "lakeside.datasets.iris:load"},
    split=Split("stratified", holdout_fraction=0.3),
    search=Search(families=("logistic", "knn", "random_forest"), time_budget_s=60.0, cv_folds=5),
    metric="f1",
    service="tabular",
    schedule="0 4 * * 1",
    demo=Demo(search_budget_s=10),
)
