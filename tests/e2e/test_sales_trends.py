"""Sales trends end to end on the embedded default: a snapshot of ``silver.weekly_sales``, the
trainer's seven stretch-factor runs under one parent (real MLflow server, real Spark), the gold
selection, registration and gate of ``sales_dtw``, and the champion over a real ``bentoml serve``
(distances of new products, 4xx naming field and row for bad counts)."""

import json
import urllib.error
import urllib.request

import mlflow
import numpy as np
import pytest

from lakeside.processes import free_port
from mlflow import MlflowClient

pytestmark = pytest.mark.slow

PRODUCTS = 150
WEEKS = [f"W{w}" for w in range(52)]


def post(url, body=None, raw=None):
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}/invocations", data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def trained(mlflow_server, spark, tmp_path_factory):
    from lakeside import retrain, usecases
    from lakeside.datasets import weekly_sales
    from lakeside.serving import deploy
    from lakeside.tables import Lake
    from lakeside.usecases.sales_trends import USE_CASE

    home = tmp_path_factory.mktemp("sales-trends")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAKESIDE_HOME", str(home))
        patch.setenv("LAKESIDE_TABLE_BACKEND", "embedded")
        patch.setenv("LAKESIDE_SERVE_PORT", str(free_port()))
        mlflow.set_tracking_uri(mlflow_server)
        usecases.declare(USE_CASE)
        lake = Lake(home / "lake", backend="embedded", spark=spark)
        sales = weekly_sales.generate(PRODUCTS, seed=11)
        lake.table("silver.weekly_sales").overwrite(sales)
        pinned = retrain.take_snapshot("sales_trends")
        found = retrain.train("sales_trends", pinned)
        version = retrain.register("sales_trends", found, pinned)
        decision = retrain.decide("sales_trends", version, pinned)
        try:
            deployment = retrain.deploy_champion("sales_trends") if decision["promoted"] else None
            yield {"found": found, "version": version, "decision": decision, "deployment": deployment,
                   "lake": lake, "sales": sales, "pinned": pinned}
        finally:
            deploy.stop_local("sales_dtw")


def test_one_run_per_stretch_factor_with_its_artifacts_under_one_parent(trained):
    client = MlflowClient()
    parent = client.get_run(trained["found"]["parent_run_id"])
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    factors = sorted(float(run.data.params["stretch_factor"]) for run in children)
    assert factors == [0.0, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5]
    models = mlflow.search_logged_models(experiment_ids=[parent.info.experiment_id], output_format="list")
    with_model = {m.source_run_id for m in models}
    for run in children:
        files = {f.path for f in client.list_artifacts(run.info.run_id)}
        assert {"outliers.csv", "distance_histogram.png", "closest_and_farthest.png"} <= files
        assert run.info.run_id in with_model
        assert "median_distance" in run.data.metrics
    medians = [run.data.metrics["median_distance"]
               for run in sorted(children, key=lambda r: float(r.data.params["stretch_factor"]))]
    assert all(later <= earlier for earlier, later in zip(medians, medians[1:]))
    assert medians[-1] < medians[0]


def test_the_gold_selection_holds_the_chosen_runs_followers(trained):
    from lakeside import gold
    from lakeside.datasets import weekly_sales
    from lakeside.usecases.sales_trends import SELECTION, dtw, train

    assert gold.problems(trained["lake"], SELECTION) == []  # the columns the dashboard was built on
    selection = trained["lake"].table("gold.sales_selection").to_pandas()
    chosen_run = trained["found"]["run_id"]
    assert len(selection) == MlflowClient().get_run(trained["found"]["parent_run_id"]).data.metrics["followers"] > 10
    assert set(selection["run_id"]) == {chosen_run} and set(selection["stretch_factor"]) == {0.1}
    sales = trained["sales"].set_index("Product_Code").loc[selection["Product_Code"]]
    pattern = weekly_sales.capacity_pattern()
    np.testing.assert_allclose(selection["distance"], dtw.distances(sales[WEEKS].to_numpy(float), pattern, 0.1))
    assert (selection["distance"] <= 20.0).all()

    again = train.write_selection(trained["lake"], selection, trained["pinned"]["version"], chosen_run)
    assert again > 0 and len(trained["lake"].table("gold.sales_selection").to_pandas()) == len(selection)


def test_the_registered_champion_predicts_distances_and_followers(trained):
    from lakeside.datasets import weekly_sales
    from lakeside.usecases.sales_trends import dtw

    assert trained["decision"]["promoted"] is True
    assert trained["decision"]["challenger_metrics"] == {"coverage": 1.0, "f1": 1.0}
    loaded = mlflow.pyfunc.load_model("models:/sales_dtw@champion")
    series = trained["sales"][WEEKS].to_numpy(float)[:20]
    predicted = loaded.predict(series)
    np.testing.assert_allclose(predicted["distance"], dtw.distances(series, weekly_sales.capacity_pattern(), 0.1))
    assert predicted["follower"].dtype == bool


def test_the_served_champion_answers_new_products_and_refuses_bad_counts(trained):
    from lakeside.datasets import weekly_sales
    from lakeside.usecases.sales_trends import dtw

    url = trained["deployment"]["endpoint"]
    new = weekly_sales.generate(3, seed=99)[WEEKS].to_numpy(float)
    status, answer = post(url, {"inputs": new.tolist()})
    assert status == 200
    expected = dtw.distances(new, weekly_sales.capacity_pattern(), 0.1)
    assert [row["distance"] for row in answer["predictions"]] == pytest.approx(expected.tolist())
    assert all(isinstance(row["follower"], bool) for row in answer["predictions"])

    negative = new.tolist()
    negative[1][3] = -4
    with_nan = new.tolist()
    with_nan[2][40] = float("nan")
    short = [new[0].tolist(), new[1].tolist()[:51]]
    cases = [
        (post(url, {"inputs": negative}), "W3", 1, "negative"),
        (post(url, raw=json.dumps({"inputs": with_nan}).encode()), "W40", 2, "not a finite number"),
        (post(url, {"inputs": short}), "inputs", 1, "ragged"),
        (post(url, {"inputs": [new[0].tolist()[:51]]}), "inputs", 0, "(any, 52)"),
        (post(url, {"inputs": [[None] * 52]}), "inputs", 0, "numbers"),
    ]
    for (status, body), field, row, words in cases:
        assert 400 <= status < 500, body
        assert (body.get("field"), body.get("row")) == (field, row), body
        assert words in body["error"]
