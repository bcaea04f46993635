"""Which zone holds each point: an H3 cell index, exact at zone edges.

A zone's **cover** at an H3 resolution is every cell its polygon touches, split in two:

- **interior** cells lie wholly inside the polygon (with a margin, :data:`EDGE_MARGIN_DEGREES`,
  for the hair's breadth between H3's great-circle cell edges and the straight lon/lat edges
  of the hexagon drawn from its vertices);
- **boundary** cells are the others: the polygon's edge crosses them, or passes within the margin.

A point is turned into its cell (vectorised, :func:`points_to_cells`) and the cell is looked up
in the index (a sorted array; a binary search per point). A cell that is interior to exactly one
zone and touches no other answers at once. Points in any other indexed cell get the exact
point-in-polygon test (shapely 2, prepared geometries, vectorised per zone) against the cell's
candidate zones only. A point in no indexed cell is outside every zone.

**The rule for points on an edge.** A point belongs to a zone when the zone's *closed* polygon
(interior and boundary) holds it. A point exactly on a boundary shared by several zones, or in
an overlap of zones, belongs to the first of them in the index's zone order: the order of the
zones table, sorted by ``zone_id``. The brute force the tests compare against,
:func:`locate_brute_force`, applies the same rule to every zone.
"""

from __future__ import annotations

from dataclasses import dataclass

from h3.api import basic_int as h3
import numpy as np
import shapely

EDGE_MARGIN_DEGREES = 1e-6
"""About 0.1 m: far above the gap between a cell's great-circle edges and the straight edges of
its hexagon at the resolutions used here (< 1e-8 degrees at resolution 7 and finer)."""

OUTSIDE = -1


def points_to_cells(lon: np.ndarray, lat: np.ndarray, resolution: int) -> np.ndarray:
    """H3 cells (uint64) of valid lon/lat points, vectorised (h3ronpy, the Rust port of H3)."""
    import pyarrow as pa
    from h3ronpy.vector import coordinates_to_cells

    if len(lon) == 0:
        return np.empty(0, dtype=np.uint64)
    cells = coordinates_to_cells(np.ascontiguousarray(lat, dtype=np.float64),
                                 np.ascontiguousarray(lon, dtype=np.float64), resolution)
    return pa.array(cells).to_numpy(zero_copy_only=False).astype(np.uint64, copy=False)


def cover(geometry, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """(interior cells, boundary cells) of a polygon or multipolygon, sorted uint64 arrays."""
    if geometry.is_empty:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.uint64)
    grown = shapely.buffer(geometry, EDGE_MARGIN_DEGREES, quad_segs=2)
    touched = np.array(sorted(set(h3.h3shape_to_cells_experimental(
        h3.geo_to_h3shape(grown), resolution, contain="overlap"))), dtype=np.uint64)
    hexagons = _hexagons(touched)
    shrunk = shapely.buffer(geometry, -EDGE_MARGIN_DEGREES, quad_segs=2)
    shapely.prepare(shrunk)
    inside = shapely.contains(shrunk, hexagons)
    return touched[inside], touched[~inside]


def _hexagons(cells: np.ndarray) -> np.ndarray:
    rings = [[(lng, lat) for lat, lng in h3.cell_to_boundary(int(c))] for c in cells]
    return np.array([shapely.Polygon(ring) for ring in rings], dtype=object)


@dataclass
class ZoneIndex:
    """Cells -> candidate zones (CSR layout), and the zones' prepared geometries.

    ``cells`` is sorted; the candidates of ``cells[i]`` are ``candidates[start[i]:start[i + 1]]``
    (zone positions, ascending: the edge rule's order); ``settled[i]`` says the cell's one
    candidate holds all of it.
    """

    resolution: int
    cells: np.ndarray
    start: np.ndarray
    candidates: np.ndarray
    settled: np.ndarray
    geometries: np.ndarray

    @classmethod
    def build(cls, geometries, resolution: int, covers=None) -> "ZoneIndex":
        """The index of zones (in this order) at ``resolution``; ``covers`` (interior, boundary)
        per zone when already computed (the zones table stores them)."""
        geometries = np.asarray(geometries, dtype=object)
        if covers is None:
            covers = [cover(g, resolution) for g in geometries]
        cell_parts, zone_parts, interior_parts = [], [], []
        for position, (interior, boundary) in enumerate(covers):
            for cells, is_interior in ((interior, True), (boundary, False)):
                cells = np.asarray(cells, dtype=np.uint64)
                cell_parts.append(cells)
                zone_parts.append(np.full(len(cells), position, dtype=np.int32))
                interior_parts.append(np.full(len(cells), is_interior))
        cell = np.concatenate(cell_parts) if cell_parts else np.empty(0, dtype=np.uint64)
        zone = np.concatenate(zone_parts) if zone_parts else np.empty(0, dtype=np.int32)
        interior = np.concatenate(interior_parts) if interior_parts else np.empty(0, dtype=bool)
        order = np.lexsort((zone, cell))
        cell, zone, interior = cell[order], zone[order], interior[order]
        unique, first, counts = np.unique(cell, return_index=True, return_counts=True)
        start = np.append(first, len(cell)).astype(np.int64)
        settled = (counts == 1) & interior[first]
        shapely.prepare(geometries)
        return cls(resolution, unique, start, zone, settled, geometries)

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Zone position of each point (:data:`OUTSIDE` when no zone holds it). Coordinates
        must be valid (finite, within range): callers set invalid ones apart first."""
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        result = np.full(len(lon), OUTSIDE, dtype=np.int32)
        if not len(lon) or not len(self.cells):
            return result
        cells = points_to_cells(lon, lat, self.resolution)
        slot = np.minimum(np.searchsorted(self.cells, cells), len(self.cells) - 1)
        indexed = self.cells[slot] == cells
        settled = indexed & self.settled[slot]
        result[settled] = self.candidates[self.start[slot[settled]]]
        to_test = np.flatnonzero(indexed & ~settled)
        if len(to_test):
            result[to_test] = self._exact(lon[to_test], lat[to_test], slot[to_test])
        return result

    def _exact(self, lon: np.ndarray, lat: np.ndarray, slot: np.ndarray) -> np.ndarray:
        """The first candidate zone whose closed polygon holds each point, else OUTSIDE."""
        counts = (self.start[slot + 1] - self.start[slot]).astype(np.int64)
        point = np.repeat(np.arange(len(slot)), counts)
        offset = np.arange(len(point)) - np.repeat(np.cumsum(counts) - counts, counts)
        zone = self.candidates[np.repeat(self.start[slot], counts) + offset]
        hit = np.zeros(len(point), dtype=bool)
        by_zone = np.argsort(zone, kind="stable")
        groups = np.flatnonzero(np.diff(zone[by_zone])) + 1
        for members in np.split(by_zone, groups):
            if len(members):
                z = zone[members[0]]
                hit[members] = shapely.intersects_xy(self.geometries[z], lon[point[members]], lat[point[members]])
        result = np.full(len(slot), OUTSIDE, dtype=np.int32)
        # Pairs are ordered by point, then by zone: the first hit of a point is its zone.
        hit_points, first = np.unique(point[hit], return_index=True)
        result[hit_points] = zone[hit][first]
        return result


def locate_brute_force(geometries, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Every point against every zone, in order: the reference :meth:`ZoneIndex.locate` must equal."""
    result = np.full(len(lon), OUTSIDE, dtype=np.int32)
    for position, geometry in enumerate(geometries):
        todo = result == OUTSIDE
        hit = shapely.intersects_xy(geometry, lon[todo], lat[todo])
        result[np.flatnonzero(todo)[hit]] = position
    return result
