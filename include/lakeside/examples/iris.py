"""The reference platform's serving example: an iris classifier, registered and made champion.

    python -m lakeside.examples.iris            # registers "iris" in MLFLOW_TRACKING_URI's registry

It takes the four measurement columns exactly as scikit-learn names them
(``"sepal length (cm)"`` ...) and predicts the class index (0 setosa, 1 versicolor, 2 virginica).
There is no earlier model to beat, so the version is made ``champion`` directly.
"""

from __future__ import annotations

import sys

COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


def register(name: str = "iris", seed: int = 0) -> str:
    """Train, log (signature and input example), register and alias ``champion``; the version."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from lakeside.registry import promote, register_challenger
    from lakeside.tracking import experiment_id

    frame = load_iris(as_frame=True)
    X, y = frame.data[COLUMNS], frame.target
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=seed, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=seed)).fit(X_train, y_train)
    with mlflow.start_run(experiment_id=experiment_id(name), run_name=f"{name}-logistic-regression") as run:
        mlflow.log_params({"model": "LogisticRegression", "seed": seed})
        mlflow.log_metric("test_accuracy", float(model.score(X_test, y_test)))
        mlflow.sklearn.log_model(model, name="model", serialization_format="cloudpickle",
                                 signature=infer_signature(X_train, model.predict(X_train)),
                                 input_example=X_train.head(3))
    version = register_challenger(f"runs:/{run.info.run_id}/model", name, tags={"example": "iris"})
    promote(name, version)
    return version


def main() -> int:
    from lakeside.tracking import ensure_server

    import mlflow

    mlflow.set_tracking_uri(ensure_server())
    print(f"iris version {register()} is champion in {mlflow.get_tracking_uri()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
