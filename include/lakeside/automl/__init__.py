"""Model search with a glass box: many regression and classification families, tuned by Optuna, tracked in MLflow.

    from lakeside.automl import search
    result = search(snapshot, "price", experiment="prices", task="regression", time_budget_s=300, spark=spark)
    result.best_model_uri      # runs:/<run_id>/model, a pyfunc taking the raw feature columns
    result.notebooks           # family -> notebooks/<family>.ipynb on the parent run

- :mod:`.features`: the scikit-learn feature pipeline (roles inferred from the data);
- :mod:`.families`: search spaces and estimators (``FAMILIES``);
- :mod:`.data`: loading, checks, the fixed holdout and the folds;
- :mod:`.training` / :mod:`.spark_ml`: evaluating a trial (scikit-learn / Spark ML);
- :mod:`.search_run`: the search and its MLflow runs; :mod:`.notebook`: the glass-box notebooks.
"""

from lakeside.automl.families import FAMILIES, Family, families_for

__all__ = ["FAMILIES", "Family", "SearchResult", "families_for", "search"]


def __getattr__(name: str):
    """``search`` and ``SearchResult`` load the heavy part (MLflow, Optuna) on first use."""
    if name in ("search", "SearchResult", "leaderboard"):
        import importlib

        return getattr(importlib.import_module("lakeside.automl.search_run"), name)
    raise AttributeError(f"module 'lakeside.automl' has no attribute {name!r}")
