"""Which sources daily_ingest runs: all daily sources, or the subset LAKESIDE_INGEST_SOURCES names."""

import pytest

from lakeside.config import ingest_sources
from lakeside.datasets import INGEST_SOURCES


def test_every_daily_source_by_default(monkeypatch):
    monkeypatch.delenv("LAKESIDE_INGEST_SOURCES", raising=False)
    assert ingest_sources() == tuple(INGEST_SOURCES) and "loans" in ingest_sources()


def test_a_subset_keeps_its_order_once(monkeypatch):
    monkeypatch.setenv("LAKESIDE_INGEST_SOURCES", " paysim, loans,paysim ")
    assert ingest_sources() == ("paysim", "loans")


def test_an_unknown_source_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("LAKESIDE_INGEST_SOURCES", "loans,iris")
    with pytest.raises(ValueError, match=r"\['iris'\].*not daily sources"):
        ingest_sources()
