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
