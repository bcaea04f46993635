"""
### Retrain: one DAG per declared use case

Generated from the declarations in `include/lakeside/usecases/` (`lakeside.usecases.NAMES`): each
use case gets `refresh_reference >> snapshot >> train >> register >> gate >> deploy`, scheduled on
its cron and on its sources' silver assets. The loans DAG keeps the id `weekly_retrain`. Use cases with a DAG file of
their own (`custom_dag`) get none here.
"""

from __future__ import annotations

from lakeside.airflow import retrain_dag, retrain_schedule
from lakeside.usecases import all_use_cases

for use_case in all_use_cases():
    if use_case.custom_dag:
        continue
    globals()[use_case.retrain_dag_id] = retrain_dag(use_case, schedule=retrain_schedule(use_case))
