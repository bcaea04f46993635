import mlflow

from lakeside import tracking


def test_the_server_tracks_runs_and_is_reused(mlflow_server):
    assert tracking.is_up(mlflow_server)
    client = mlflow.MlflowClient(mlflow_server)
    experiment = client.create_experiment("tracking-smoke")
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "rmse", 1.25)
    assert client.get_run(run.info.run_id).data.metrics == {"rmse": 1.25}
    assert tracking.ensure_server() == mlflow_server


def test_experiment_id_leaves_the_active_experiment_alone(mlflow_server):
    """Library code runs inside Airflow workers and tests next to other MLflow users: a global
    ``set_experiment`` there makes the next resumed run in another experiment fail."""
    mlflow.set_tracking_uri(mlflow_server)
    before = mlflow.tracking.fluent._active_experiment_id

    first = tracking.experiment_id("tracking-experiment-id")

    assert tracking.experiment_id("tracking-experiment-id") == first
    assert mlflow.MlflowClient(mlflow_server).get_experiment(first).name == "tracking-experiment-id"
    assert mlflow.tracking.fluent._active_experiment_id == before


def test_a_search_does_not_break_a_later_resumed_run(mlflow_server, monkeypatch, lakeside_home):
    from lakeside import snapshot
    from lakeside.automl import search
    from lakeside.datasets import iris
    from lakeside.tables import Lake

    mlflow.set_tracking_uri(mlflow_server)
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    other = tracking.experiment_id("tracking-other-experiment")
    with mlflow.start_run(experiment_id=other) as started:
        pass

    table = Lake(lakeside_home / "lake", backend="embedded").table("reference.iris")
    table.overwrite(iris.load())
    search(snapshot.take(table, ["id"]), "species", experiment="tracking-iris", task="multiclass",
           families=["logistic"], max_trials_per_family=1, cv_folds=3)

    with mlflow.start_run(run_id=started.info.run_id) as resumed:
        mlflow.log_metric("rmse", 0.5)
    assert mlflow.MlflowClient(mlflow_server).get_run(resumed.info.run_id).data.metrics == {"rmse": 0.5}
