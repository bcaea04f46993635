"""
### Deploy a model

Builds the Bento of a registered model's alias (default `champion`) and puts it in service:
on the embedded default that model's own loopback server switches to it with no downtime (or
is started on its own port: `LAKESIDE_SERVE_PORT` for the default model, the next free port
for others; other models' servers keep running); with target `bento` (production) the Bento
is only built, for `bentoml containerize lakeside-<model>:v<version>`.

`model`: the registered model; empty means `LAKESIDE_SERVE_MODEL` (the run fails, saying so,
when neither is set). Use it to serve another model, to redeploy after a rollback, or to bring
a local server back. The weekly retrain deploys by itself after a promotion.
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
        "model": Param(None, type=["null", "string"],
                       description="Registered model name. Empty: LAKESIDE_SERVE_MODEL."),
        "alias": Param("champion", type="string", description="The alias to serve."),
        "target": Param(None, type=["null", "string"], enum=[None, "local", "bento"],
                        description="local: build and serve on loopback; bento: build only. "
                                    "Empty: LAKESIDE_DEPLOY_TARGET, else local."),
    },
)
def deploy_model():
    @task
    def deploy(params: dict | None = None) -> dict:
        from lakeside.config import serving
        from lakeside.serving.deploy import deploy as deploy_alias

        model = params["model"] or serving().model
        if not model:
            raise ValueError("no model to deploy: set the run's `model` param or LAKESIDE_SERVE_MODEL")
        return deploy_alias(model, params["alias"], params["target"]).to_dict()

    deploy()


deploy_model()
