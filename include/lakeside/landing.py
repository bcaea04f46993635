"""Where raw files arrive: ``$LAKESIDE_HOME/landing/<source>/<YYYY-MM-DD>/*.csv``, and pictures
in class folders ``$LAKESIDE_HOME/landing/<source>/<YYYY-MM-DD>/<label>/<file>``.

In production an upstream system drops the files; the demo and tests generate them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from lakeside.config import settings
from lakeside.datasets import source as dataset_source


def landing_dir(source: str, day: dt.date | str) -> Path:
    return settings().landing_root / source / as_date(day).isoformat()


def landing_files(source: str, day: dt.date | str) -> list[str]:
    folder = landing_dir(source, day)
    return sorted(str(p) for p in folder.glob("*.csv")) if folder.is_dir() else []


def lands_on(source: str, day: dt.date | str) -> bool:
    """Whether ``source`` has a file on ``day``: every day, or a weekly export's weekday only."""
    weekday = dataset_source(source).SPEC.landing_weekday
    return weekday is None or as_date(day).weekday() == weekday


def land_demo_file(source: str, day: dt.date | str, rows: int | None = None, seed: int = 0,
                   bad_share: float = 0.01) -> Path:
    """Write the generator's raw file for ``day`` (a few bad rows included) into the landing area;
    ``rows`` defaults to the source's ``DEMO_ROWS`` (2,000 when it has none)."""
    from lakeside.datasets import faults

    module = dataset_source(source)
    rows = rows or getattr(module, "DEMO_ROWS", 2000)
    raw = faults.inject(module.daily_raw(as_date(day), rows, seed), module.SPEC, bad_share, seed=seed)
    target = landing_dir(source, day) / f"{source}-{as_date(day).isoformat()}.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".csv.partial")
    raw.to_csv(partial, index=False)
    partial.replace(target)
    return target


def ensure_landing(source: str, day: dt.date | str) -> list[str]:
    """The day's raw files; generates the demo file when none arrived and generation is on."""
    files = landing_files(source, day)
    if not files and settings().generate_missing_landing:
        land_demo_file(source, day)
        files = landing_files(source, day)
    if not files:
        raise FileNotFoundError(
            f"no raw {source} file for {as_date(day)} in {landing_dir(source, day)} "
            "(set LAKESIDE_GENERATE_MISSING_LANDING=true to generate demo data)"
        )
    return files


def as_date(day: dt.date | str) -> dt.date:
    """A logical date given as a date or as ISO text (Airflow's ``ds`` or a timestamp)."""
    return day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day)[:10])


def landed_images(source: str, day: dt.date | str) -> list[str]:
    """The pictures that landed for ``day`` in class folders."""
    from lakeside.datasets.car_images import class_files

    return [str(path) for path, _ in class_files(landing_dir(source, day))]


def ensure_image_landing(source: str, day: dt.date | str, per_class: int = 10) -> list[str]:
    """The day's pictures; when none landed and generation is on, the generator's class folders
    for the day (seeded by the date). Pictures arrive when they arrive: no pictures is not an
    error (the caller skips the day)."""
    images = landed_images(source, day)
    if not images and settings().generate_missing_landing:
        dataset_source(source).generate(landing_dir(source, day), per_class=per_class, seed=as_date(day).toordinal())
        images = landed_images(source, day)
    return images

