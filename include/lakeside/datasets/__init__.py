"""One module per source: its schema (``SPEC``), a loader for the real public file (``load``)
and a deterministic generator of the same shape (``generate``).

Sources that the daily ingest lands also define ``daily_raw(day, rows, seed)``: the text of
one day's raw file. Adding a source to the daily ingest is adding its name below.

One name per source: the module ``lakeside.datasets.<name>``, its ``SPEC.name``, the landing
folder ``landing/<name>/``, the tables ``bronze|silver|quarantine.<name>`` and the Airflow asset
``silver.<name>`` all use the same name.

This package imports no heavy library at import time: DAG files read ``INGEST_SOURCES``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

ALL_SOURCES = ("loans", "paysim", "fraud_reviewed_labels", "weekly_sales", "store_item", "taxi_trips", "taxi_zones",
               "iris", "appliances_energy")
INGEST_SOURCES = ("loans", "taxi_trips", "paysim", "weekly_sales", "store_item", "appliances_energy")
IMAGE_SOURCES = ("car_images", "pathology_slides")
"""Sources of pictures, not rows: their modules generate and load files, and
``jobs/image_ingest.py`` (:mod:`lakeside.vision.store`) takes them into Delta; no ``SPEC``."""
CLASS_FOLDER_SOURCES = ("car_images",)
"""The image sources that land as class folders (``<label>/<file>``) and that the daily
``image_ingest`` DAG takes in; whole slides go through the pathology DAG's own patch job."""


def source(name: str) -> ModuleType:
    """The dataset module of ``name`` (``lakeside.datasets.<name>``)."""
    if name not in ALL_SOURCES + IMAGE_SOURCES:
        raise ValueError(f"unknown source {name!r}: one of {', '.join(ALL_SOURCES + IMAGE_SOURCES)}")
    return importlib.import_module(f"lakeside.datasets.{name}")
