"""Every source uses one name: module, SPEC.name, landing folder and tables."""

import pkgutil

import pytest

import lakeside.datasets
from lakeside import landing
from lakeside.datasets import ALL_SOURCES, IMAGE_SOURCES, INGEST_SOURCES, source

MODULES = sorted(m.name for m in pkgutil.iter_modules(lakeside.datasets.__path__) if not m.name.startswith("_"))


def test_every_source_module_is_listed():
    assert sorted(ALL_SOURCES + IMAGE_SOURCES) == [m for m in MODULES if m != "faults"]
    assert set(INGEST_SOURCES) <= set(ALL_SOURCES)


@pytest.mark.parametrize("name", ALL_SOURCES)
def test_spec_name_is_the_module_name(name):
    assert source(name).SPEC.name == name


@pytest.mark.parametrize("name", ALL_SOURCES)
def test_landing_folder_is_the_source_name(name, lakeside_home):
    assert landing.landing_dir(name, "2024-01-01") == lakeside_home / "landing" / name / "2024-01-01"


def test_an_unknown_source_names_the_known_ones():
    with pytest.raises(ValueError, match="taxi_trips, taxi_zones"):
        source("taxi")
