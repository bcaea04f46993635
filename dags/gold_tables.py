"""
### Gold tables after ingest: one DAG per use case that declares them

Generated from the `gold` declarations in `include/lakeside/usecases/` (tables with
`after="ingest"`): `gold_<use case>` runs whenever one of its sources' silver tables is updated
by `daily_ingest` and rebuilds its gold tables for the day the asset event names (or the param
`day`). Each table replaces only the partitions that day touched, so a rerun gives the same
table. Each gold table is published as the asset `gold.<table>`; `refresh_dashboards` follows them.
Gold tables built after a gate are published by the retrain DAG (`publish_gold`).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from lakeside.airflow import DEFAULT_ARGS, gold_asset, silver_asset
from lakeside.usecases import all_gold_tables


def gold_dag(name: str, sources: tuple[str, ...], tables: list[str]):
    assets = [silver_asset(source) for source in sources]

    @dag(dag_id=f"gold_{name}", schedule=assets, start_date=datetime(2024, 1, 1), catchup=False,
         max_active_runs=1, default_args=DEFAULT_ARGS, tags=["lakeside", "gold", name], doc_md=__doc__,
         params={"day": Param("", type="string", description="Ingested day to rebuild for (YYYY-MM-DD); "
                                                           "default: the asset event's.")})
    def build():
        @task(outlets=[gold_asset(table) for table in tables])
        def build_gold(params: dict | None = None, **context) -> dict:
            from lakeside.airflow import event_logical_date
            from lakeside.gold import refresh

            announced = [event_logical_date(context, asset) for asset in assets]
            day = (params or {}).get("day") or max(filter(None, announced), default=None) or context.get("ds")
            if not day:
                raise ValueError("no day to build for: trigger with the param `day` (YYYY-MM-DD)")
            return refresh(name, after="ingest", day=str(day)[:10])

        build_gold()

    return build()


_owners: dict[str, tuple] = {}
for _owner, _table in all_gold_tables():
    if _table.after == "ingest":
        _owners.setdefault(_owner.name, (_owner.sources, []))[1].append(_table.name)
for _name, (_sources, _tables) in _owners.items():
    globals()[f"gold_{_name}"] = gold_dag(_name, _sources, _tables)
