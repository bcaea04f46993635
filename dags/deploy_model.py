"""
### Deploy a model

Builds the Bento of a registered model's alias (default `champion`) and puts it in service:
on the embedded default the local prediction server on `LAKESIDE_SERVE_PORT` (3000) switches
to it with no downtime (or is started); with target `bento` (production) the Bento is only
built, for `bentoml containerize lakeside-<model>:v<version>`.

Use it to serve a model other than the loans one (e.g. `iris`), to redeploy after a rollback,
or to bring the local server back. The weekly retrain deploys by itself after a promotion.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from lakeside.airflow import DEFAULT_ARGS


@dag(
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 1},
    tags=["lakeside", "serving", "bentoml"],
    doc_md=__doc__,
    params={
        "model": Param("loans_int_rate", type="string", description="Registered model name."),
        "alias": Param("champion", type="string", description="The alias to serve."),
        "target": Param(None, type=["null", "string"], enum=[None, "local", "bento"],
                        description="local: build and serve on loopback; bento: build only. "
                                    "Empty: LAKESIDE_DEPLOY_TARGET, else local."),
    },
)
def deploy_model():
    @task
    def deploy(params: dict | None = None) -> dict:
        from lakeside.serving.deploy import deploy as deploy_alias

        return deploy_alias(params["model"], params["alias"], params["target"]).to_dict()

    deploy()


deploy_model()
