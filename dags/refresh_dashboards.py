"""
### Refresh dashboards

Runs whenever any gold table is updated (the `gold.*` assets published by the `gold_<use case>`
DAGs and the retrain DAGs' `publish_gold`), and by hand.

- `refresh`: checks every declared gold table's columns against its declaration, rewrites
  `$LAKESIDE_HOME/bi/gold.duckdb` (one `delta_scan` view per gold table; a missing or changed
  table becomes an empty typed view and a row of `gold_status` naming it and the DAG that builds
  it), written beside the old file and renamed over it, then clears Superset's cache of the
  gold datasets over its REST API.
- Superset not running is not a failure: the task succeeds with a warning in its log (Superset
  reads the new catalog when it starts).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import AssetAny, dag, task

from lakeside.airflow import DEFAULT_ARGS, gold_asset
from lakeside.usecases import all_gold_tables

GOLD = [gold_asset(table.name) for _, table in all_gold_tables()]


@dag(
    schedule=AssetAny(*GOLD) if GOLD else None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["lakeside", "bi", "gold"],
    doc_md=__doc__,
)
def refresh_dashboards():
    @task
    def refresh() -> dict:
        from lakeside.bi.refresh import refresh_dashboards as refresh_catalog

        return refresh_catalog()

    refresh()


refresh_dashboards()
