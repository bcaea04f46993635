"""The H3 cell index answers exactly what brute-force point-in-polygon answers, edges included."""

import numpy as np
import pytest
import shapely

from lakeside.datasets import taxi_zones
from lakeside.spatial.index import OUTSIDE, ZoneIndex, cover, locate_brute_force
from lakeside.spatial.zones import prepare

POINTS = 100_000


@pytest.fixture(scope="module")
def nta():
    rows, refused = prepare(taxi_zones.generate("nta"), resolution=8)
    assert refused.empty
    return rows, shapely.from_wkb(np.asarray(list(rows["geometry"]), dtype=object))


@pytest.fixture(scope="module")
def points(nta):
    """Uniform points over the zones' box, points on vertices and on edges, and points 1e-9°
    to either side of edges."""
    _, geometries = nta
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = shapely.total_bounds(geometries)
    uniform = np.column_stack([rng.uniform(x0, x1, 40_000), rng.uniform(y0, y1, 40_000)])
    vertices = shapely.get_coordinates(geometries)
    on_vertices = vertices[rng.integers(0, len(vertices), 15_000)]
    boundaries = shapely.boundary(geometries)
    lines = boundaries[rng.integers(0, len(boundaries), 15_000)]
    on_edges = shapely.get_coordinates(shapely.line_interpolate_point(lines, rng.uniform(0, 1, 15_000),
                                                                      normalized=True))
    near = np.concatenate([on_vertices, on_edges])[rng.integers(0, 30_000, 30_000)]
    nudged = near + rng.choice([-1e-9, 1e-9], size=near.shape) * rng.integers(0, 2, size=near.shape)
    all_points = np.concatenate([uniform, on_vertices, on_edges, nudged])
    assert len(all_points) == POINTS
    return all_points[:, 0], all_points[:, 1]


@pytest.fixture(scope="module")
def brute_force(nta, points):
    return locate_brute_force(nta[1], *points)


def test_index_equals_brute_force_on_100k_points_with_edges(nta, points, brute_force):
    rows, geometries = nta
    from lakeside.spatial.zones import index_of

    located = index_of(rows).locate(*points)
    assert np.array_equal(located, brute_force), np.flatnonzero(located != brute_force)[:10]
    inside = brute_force != OUTSIDE
    assert 0.2 < inside.mean() < 0.9  # the test covers both answers


def test_another_resolution_gives_identical_answers(nta, points, brute_force):
    _, geometries = nta
    located = ZoneIndex.build(geometries, resolution=9).locate(*points)
    assert np.array_equal(located, brute_force)


def test_a_point_on_a_shared_edge_goes_to_the_first_zone_in_order():
    west = shapely.box(-74.0, 40.7, -73.99, 40.71)
    east = shapely.box(-73.99, 40.7, -73.98, 40.71)
    lon = np.array([-73.99, -73.99, -73.995, -73.985, -73.99 - 1e-9, -73.99 + 1e-9, -73.97])
    lat = np.array([40.705, 40.71, 40.705, 40.705, 40.705, 40.705, 40.705])
    # on the shared edge (2 points): the first zone in order, whichever it is
    assert ZoneIndex.build([west, east], 9).locate(lon, lat).tolist() == [0, 0, 0, 1, 0, 1, OUTSIDE]
    assert ZoneIndex.build([east, west], 9).locate(lon, lat).tolist() == [0, 0, 1, 0, 1, 0, OUTSIDE]
    assert locate_brute_force([east, west], lon, lat).tolist() == [0, 0, 1, 0, 1, 0, OUTSIDE]


def test_cover_splits_interior_and_boundary_cells():
    square = shapely.box(-74.0, 40.7, -73.98, 40.72)
    interior, boundary = cover(square, 9)
    assert len(interior) and len(boundary) and not set(interior) & set(boundary)
    from h3.api import basic_int as h3

    for cell in interior[:50]:
        lat, lng = h3.cell_to_latlng(int(cell))
        assert square.contains(shapely.Point(lng, lat))
    assert len(np.asarray(cover(shapely.Polygon(), 9)[0])) == 0


def test_an_empty_index_puts_every_point_outside():
    index = ZoneIndex.build([], resolution=9)
    assert index.locate(np.array([-73.99]), np.array([40.7])).tolist() == [OUTSIDE]
