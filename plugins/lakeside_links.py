"""Links from the Airflow UI to the rest of Lakeside: the MLflow UI (runs, models, the registry)
under a "Lakeside" menu. The address is the tracking server the tasks use
(``MLFLOW_TRACKING_URI``, else the embedded server's), read from ``lakeside.config``: nothing
touches the network when the plugin loads.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from lakeside.tracking import tracking_uri


class LakesideLinks(AirflowPlugin):
    name = "lakeside"
    external_views = [
        {"name": "MLflow: runs and registry", "href": tracking_uri(), "url_route": "lakeside-mlflow",
         "category": "Lakeside", "destination": "nav"},
    ]
