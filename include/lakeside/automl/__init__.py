"""Model search with a glass box: many regressor families, tuned by Optuna, tracked in MLflow.

    from lakeside.automl import search
    result = search(snapshot, "int_rate", time_budget_s=300, spark=spark)
    result.best_model_uri      # runs:/<run_id>/model, a pyfunc taking the raw feature columns
    result.notebooks           # family -> notebooks/<family>.ipynb on the parent run

- :mod:`.features`: the scikit-learn feature pipeline (roles inferred from the data);
- :mod:`.families`: search spaces and estimators (``FAMILIES``);
- :mod:`.data`: loading, checks, the fixed holdout and the folds;
- :mod:`.training` / :mod:`.spark_ml`: evaluating a trial (scikit-learn / Spark ML);
- :mod:`.search`: the search and its MLflow runs; :mod:`.notebook`: the glass-box notebooks.
"""

from lakeside.automl.families import FAMILIES, Family
from lakeside.automl.search import SearchResult, search

__all__ = ["FAMILIES", "Family", "SearchResult", "search"]
