"""Airspace: FRZ geometry, no-fly files, routing around zones, authorisation mode."""

from __future__ import annotations

import math
import time

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from dronesim.errors import InputError
from dronesim.inputs.airspace import (
    AERODROMES,
    NAUTICAL_MILE_M,
    AirspacePolicy,
    NoFlyZones,
    Router,
    atz_radius_m,
    flight_restriction_zone,
    london_frz,
    read_no_fly,
)
from dronesim.inputs.geography import lonlat_to_bng

PROPS = settings(derandomize=True, database=None, max_examples=150, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def bng(lon: float, lat: float) -> tuple[float, float]:
    x, y = lonlat_to_bng(lon, lat)
    return float(x), float(y)


@pytest.fixture(scope="module")
def frz() -> NoFlyZones:
    return london_frz()


# --- toy zones -----------------------------------------------------------------------------------

SQUARE = shapely.box(-1.0, -1.0, 1.0, 1.0)
BIG_SQUARE = shapely.box(-10.0, -10.0, 10.0, 10.0)
ELL = shapely.Polygon([(20, -30), (50, -30), (50, -20), (30, -20), (30, 10), (20, 10)])


@pytest.fixture(scope="module")
def toy() -> Router:
    return NoFlyZones([BIG_SQUARE, ELL]).router(margin_m=1.0)


def test_route_around_unit_square_hand_checked():
    # Around a 2 x 2 square from (-10, 0) to (10, 0): over a corner pair, 2*sqrt(9^2+1^2) + 2.
    zones = NoFlyZones([SQUARE])
    for m in (1e-6, 0.5):
        # Mitred buffer: the obstacle is the square grown by m on every side.
        expect = 2 * math.hypot(9 - m, 1 + m) + 2 * (1 + m)
        route = zones.router(margin_m=m).route(-10, 0, 10, 0)
        assert route.crosses
        assert route.length_m == pytest.approx(expect, rel=1e-9)
        assert len(route.path) == 4
        np.testing.assert_allclose(np.abs(route.path[1:3]), 1 + m)
    assert 2 * math.sqrt(82) + 2 == pytest.approx(20.1108, abs=1e-4)


def test_straight_when_not_crossing_and_along_edge(toy):
    assert toy.route_length(-20, 20, 20, 20) == pytest.approx(40.0)
    # Running exactly along the zone's edge does not enter it.
    zones = NoFlyZones([BIG_SQUARE])
    assert not zones.crosses(-20, 10, 20, 10)[0]
    assert zones.router(1.0).route_length(-20, 10, 20, 10) == pytest.approx(40.0)


def test_inside_zone_unreachable_by_detour(toy):
    assert math.isinf(toy.route_length(0, 0, 40, 20))
    assert math.isinf(toy.route_length(40, 20, 0, 0))
    assert toy.route(0, 0, 40, 20).path.shape == (0, 2)


def test_point_within_margin_is_snapped(toy):
    # 0.5 m from the square: outside the zone, inside the 1 m routing buffer.
    length = toy.route_length(-10.5, 0, 15, 0)
    assert math.isfinite(length)
    assert length > 25.5
    path = toy.route(-10.5, 0, 15, 0).linestring()
    assert not shapely.relate_pattern(path, BIG_SQUARE, "T********")


def _brute_force(obstacles: np.ndarray, x0, y0, x1, y1) -> float:
    """Shortest path over every obstacle vertex plus the end points (full visibility graph)."""
    pts = [(x0, y0), (x1, y1)]
    for poly in obstacles:
        for ring in [poly.exterior, *poly.interiors]:
            pts.extend(map(tuple, np.asarray(ring.coords)[:-1]))
    pts = np.asarray(pts)
    n = len(pts)
    i, j = np.triu_indices(n, 1)
    lines = shapely.linestrings(np.stack([pts[i], pts[j]], axis=1))
    blocked = np.zeros(i.size, bool)
    for poly in obstacles:
        blocked |= shapely.relate_pattern(lines, poly, "T********")
    i, j = i[~blocked], j[~blocked]
    w = np.hypot(*(pts[i] - pts[j]).T)
    g = csr_matrix((w, (i, j)), shape=(n, n))
    return float(shortest_path(g, directed=False, indices=0)[1])


coord_x = st.floats(-40, 70, allow_nan=False)
coord_y = st.floats(-50, 30, allow_nan=False)


@PROPS
@given(coord_x, coord_y, coord_x, coord_y)
def test_route_properties(toy, x0, y0, x1, y1):
    zones = toy.zones
    assume(not zones.contains(x0, y0)[0] and not zones.contains(x1, y1)[0])
    straight = math.hypot(x1 - x0, y1 - y0)
    route = toy.route(x0, y0, x1, y1)
    assert math.isfinite(route.length_m)
    assert route.length_m >= straight - 1e-9
    if not route.crosses:
        assert route.length_m == pytest.approx(straight, abs=1e-9)
    path = route.linestring() if len(route.path) > 1 and straight > 0 else None
    if path is not None:
        for zone in zones.geoms:
            assert path.intersection(zone.buffer(-1)).is_empty
            assert not shapely.relate_pattern(path, zone, "T********")
        assert path.length == pytest.approx(route.length_m, rel=1e-9, abs=1e-9)
        np.testing.assert_allclose(route.path[[0, -1]], [[x0, y0], [x1, y1]])
    # Shortest paths are symmetric.
    assert toy.route_length(x1, y1, x0, y0) == pytest.approx(route.length_m, rel=1e-9, abs=1e-9)


@PROPS
@given(coord_x, coord_y, coord_x, coord_y)
def test_route_matches_full_visibility_graph(toy, x0, y0, x1, y1):
    # Where neither end needs snapping, the reduced graph + candidate search must give exactly
    # the shortest path over the full visibility graph.
    inside = shapely.intersects_xy(toy.obstacles[:, None], [x0, x1], [y0, y1]).any()
    assume(not inside)
    got = toy.route_length(x0, y0, x1, y1)
    if toy.zones.crosses(x0, y0, x1, y1)[0]:
        assert got == pytest.approx(_brute_force(toy.obstacles, x0, y0, x1, y1), rel=1e-9)
    else:
        assert got == pytest.approx(math.hypot(x1 - x0, y1 - y0), rel=1e-12)


def test_batched_equals_single_and_cache(toy):
    rng = np.random.default_rng(3)
    x0 = np.repeat([-30.0, 60.0, 0.0], 40)
    y0 = np.repeat([0.0, 0.0, -40.0], 40)
    x1 = rng.uniform(-40, 70, x0.size)
    y1 = rng.uniform(-50, 30, x0.size)
    batch = toy.route_lengths(x0, y0, x1, y1)
    single = np.array([toy.route_length(*p) for p in zip(x0, y0, x1, y1)])
    np.testing.assert_array_equal(batch, single)
    mat = toy.length_matrix([-30.0, 60.0], [0.0, 0.0], x1, y1)
    assert mat.shape == (2, x1.size)
    np.testing.assert_array_equal(mat[0], [toy.route_length(-30, 0, a, b) for a, b in zip(x1, y1)])
    assert (-30.0, 0.0) in toy._sources


def test_router_without_zones():
    r = NoFlyZones([]).router()
    assert r.route_length(0, 0, 3, 4) == 5.0
    np.testing.assert_array_equal(r.length_matrix([0.0], [0.0], [3.0], [4.0]), [[5.0]])


# --- zones: contains / crosses -------------------------------------------------------------------

def test_contains_and_crosses_vectorised():
    zones = NoFlyZones([BIG_SQUARE, ELL], names=["sq", "ell"])
    x = np.array([0.0, 10.0, 25.0, 100.0])
    y = np.array([0.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(zones.contains(x, y), [True, True, True, False])  # edge = in
    np.testing.assert_array_equal(zones.zone_of(x, y), [0, 0, 1, -1])
    cr = zones.crosses(np.array([-20.0, -20.0, -20.0, 0.0]), np.array([0.0, 20.0, 10.0, 0.0]),
                       np.array([20.0, 20.0, 20.0, 0.0]), np.array([0.0, 20.0, 10.0, 0.0]))
    np.testing.assert_array_equal(cr, [True, False, False, True])  # through, clear, edge, in
    assert zones.crosses(-20, 0, -15, 0).tolist() == [False]


def test_dock_inside_zone_is_refusable(frz):
    x, y = bng(-0.4614, 51.4775)  # Heathrow, between the runways
    assert frz.contains(x, y)[0]
    assert frz.names[frz.zone_of(x, y)[0]] == "London Heathrow FRZ"


# --- flight restriction zones --------------------------------------------------------------------

def test_atz_radius_rule():
    assert atz_radius_m(1508) == 2 * NAUTICAL_MILE_M == 3704
    assert atz_radius_m(1850) == 3704
    assert atz_radius_m(1851) == 2.5 * NAUTICAL_MILE_M == 4630
    by = {a.icao: a for a in AERODROMES}
    assert by["EGLL"].atz_radius_m == 4630  # 3,902 m runway
    assert by["EGLC"].atz_radius_m == 3704
    assert by["EGWU"].atz_radius_m == 3704
    assert by["EGKB"].atz_radius_m == 4630  # notified 2.5 NM (ANO art. 5(3)-(4))


def test_threshold_table_consistent_with_published_lengths():
    # Threshold separation = runway length minus displaced thresholds (Heathrow 09L/09R ~306 m).
    from dronesim.inputs.airspace import _bng
    by = {a.icao: a for a in AERODROMES}
    sep = {}
    for a in AERODROMES:
        for r in a.runways:
            sep[(a.icao, r.designators[0])] = np.hypot(*(_bng(r.threshold_a) - _bng(r.threshold_b)))
            assert sep[(a.icao, r.designators[0])] <= r.length_m
            # The ATZ centre is near the longest runway's centreline.
    assert sep[("EGLL", "09L")] == pytest.approx(3902 - 306, abs=30)
    assert sep[("EGLL", "09R")] == pytest.approx(3660 - 307, abs=30)
    c = _bng(by["EGLL"].atz_centre)
    a, b = _bng(by["EGLL"].runways[0].threshold_a), _bng(by["EGLL"].runways[0].threshold_b)
    assert np.hypot(*(b - c)) == pytest.approx(3902 / 2, abs=40)  # ARP = runway mid-point


def test_heathrow_frz(frz):
    heathrow = frz.geoms[0]
    # Runway mid-points are inside.
    for lon, lat in [(-0.4614, 51.4775), (-0.4584, 51.4649)]:
        assert shapely.intersects_xy(heathrow, *bng(lon, lat))
    # ATZ circle pi * 4630^2 = 67.3 km^2, plus the RPZ parts outside it: the 1.5 km wide RPZs of
    # the two runways (1.4 km apart) form a ~2.9 km wide block reaching ~6.9 km east and west of
    # the centre, about 2.4 km beyond the circle on each side: about +13 km^2.
    atz = math.pi * 4630**2 / 1e6
    area = heathrow.area / 1e6
    print("\nFRZ areas km^2: " + ", ".join(f"{n}: {a / 1e6:.1f}"
                                           for n, a in zip(frz.names, frz.area_m2)))
    assert atz == pytest.approx(67.35, abs=0.01)
    assert 76 < area < 86
    # The parallel RPZs leave no gap between them outside the ATZ (CAP 1763).
    cx, cy = bng(-0.4614, 51.4775)
    assert shapely.intersects_xy(heathrow, cx + 6000, cy - 700)
    assert shapely.intersects_xy(heathrow, cx - 6000, cy - 700)
    assert not shapely.intersects_xy(heathrow, cx + 7500, cy - 700)
    assert not shapely.intersects_xy(heathrow, cx, cy + 5000)


def test_other_frz_areas(frz):
    areas = dict(zip(frz.names, frz.area_m2 / 1e6))
    circle_2nm = math.pi * 3704**2 / 1e6  # 43.1 km^2
    # Two 1 km x 5 km RPZs of which ~1.9-2.5 km each stick out of the circle.
    assert circle_2nm + 3 < areas["London City FRZ"] < circle_2nm + 6
    assert circle_2nm + 3 < areas["RAF Northolt FRZ"] < circle_2nm + 6
    assert math.pi * 4630**2 / 1e6 < areas["London Biggin Hill FRZ"] < 67.35 + 4


def test_central_london_clear_and_royal_docks_covered(frz):
    assert not frz.contains(*bng(-0.1246, 51.5080))[0]  # Charing Cross
    assert not frz.contains(*bng(-0.0759, 51.5081))[0]  # Tower of London
    city = frz.names.index("London City FRZ")
    for lon, lat in [(0.0235, 51.5077), (0.0700, 51.5074), (0.0553, 51.5053)]:  # Royal Docks
        assert frz.zone_of(*bng(lon, lat))[0] == city


def test_boundary_zone_inside_atz_for_london():
    for a in AERODROMES:
        with_b = flight_restriction_zone(a)
        without = flight_restriction_zone(a, boundary_buffer_m=0)
        assert with_b.area == pytest.approx(without.area, rel=1e-6)


# --- no-fly files --------------------------------------------------------------------------------

def _write(tmp_path, geoms, crs, name="zones.gpkg"):
    path = tmp_path / name
    gpd.GeoDataFrame({"name": [f"z{i}" for i in range(len(geoms))]},
                     geometry=geoms, crs=crs).to_file(path)
    return path


def test_read_no_fly_reprojects(tmp_path):
    lon, lat = -0.1276, 51.5073
    poly = shapely.box(lon - 0.01, lat - 0.005, lon + 0.01, lat + 0.005)
    path = _write(tmp_path, [poly], "EPSG:4326", "zones.geojson")
    zones = read_no_fly(path)
    assert len(zones) == 1 and zones.names == ("z0",)
    assert zones.contains(*bng(lon, lat))[0]
    assert 1.45e6 < zones.area_m2[0] < 1.65e6  # 0.02 deg x 0.01 deg: ~1.39 km x 1.11 km
    path27700 = _write(tmp_path, [shapely.box(530000, 180000, 531000, 181000)], "EPSG:27700")
    z2 = read_no_fly(path27700)
    assert z2.contains(530500, 180500)[0]
    both = london_frz() + z2
    assert len(both) == 5 and both.contains(530500, 180500)[0]


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_read_no_fly_errors(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_no_fly(tmp_path / "missing.geojson")
    no_crs = _write(tmp_path, [shapely.box(0, 0, 1, 1)], None, "nocrs.gpkg")
    with pytest.raises(InputError, match="crs: missing") as err:
        read_no_fly(no_crs)
    assert err.value.field == "crs"
    points = _write(tmp_path, [shapely.Point(530000, 180000)], "EPSG:27700", "points.gpkg")
    with pytest.raises(InputError, match=r"features\[0\].geometry: is Point; expected Polygon"):
        read_no_fly(points)
    # Projected coordinates in a GeoJSON without a crs member (read as WGS84 by RFC 7946).
    bad = tmp_path / "bng.geojson"
    bad.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", '
                   '"properties": {}, "geometry": {"type": "Polygon", "coordinates": '
                   '[[[530000, 180000], [531000, 180000], [531000, 181000], [530000, 180000]]]}}]}')
    with pytest.raises(InputError) as err:
        read_no_fly(bad)
    assert err.value.file == str(bad) and err.value.field == "crs"
    assert err.value.problem.startswith("no CRS, so it is read as longitude/latitude")
    assert "not longitude/latitude (x 530,000 to 531,000, y 180,000 to 181,000)" in str(err.value)
    assert "EPSG::27700" in err.value.problem
    # A declared geographic CRS over metres: named as declared.
    declared = _write(tmp_path, [shapely.box(530000, 180000, 531000, 181000)], "EPSG:4326",
                      "declared.gpkg")
    with pytest.raises(InputError, match=r"crs: is EPSG:4326 \(longitude/latitude\) but the "
                                         r"coordinates are not longitude/latitude \(x 530,000"):
        read_no_fly(declared)
    garbage = tmp_path / "garbage.geojson"
    garbage.write_text("not json")
    with pytest.raises(InputError, match="cannot read"):
        read_no_fly(garbage)


# --- policy --------------------------------------------------------------------------------------

def test_policy_detour_and_authorise():
    zones = NoFlyZones([SQUARE])
    detour = AirspacePolicy("detour", authorisation_delay_s=90.0, margin_m=1e-6)
    auth = AirspacePolicy("authorise", authorisation_delay_s=90.0)
    x0, y0 = np.array([-10.0, -10.0, 0.0]), np.array([0.0, 5.0, 0.0])
    x1, y1 = np.array([10.0, 10.0, 10.0]), np.array([0.0, 5.0, 0.0])
    length, delay = detour.legs(zones, x0, y0, x1, y1)
    assert length[0] == pytest.approx(2 * math.sqrt(82) + 2, rel=1e-6)
    assert length[1] == 20 and math.isinf(length[2])
    np.testing.assert_array_equal(delay, 0)
    length, delay = auth.legs(zones, x0, y0, x1, y1)
    np.testing.assert_array_equal(length, [20, 20, 10])
    np.testing.assert_array_equal(delay, [90, 0, 90])
    t = auth.flight_time_s(zones, x0, y0, x1, y1, speed_m_s=20.0)
    np.testing.assert_allclose(t, [91, 1, 90.5])
    with pytest.raises(ValueError):
        AirspacePolicy("ignore", 0.0)
    with pytest.raises(ValueError):
        AirspacePolicy("authorise", -1.0)


# --- performance ---------------------------------------------------------------------------------

def test_batch_routing_performance(frz):
    t0 = time.perf_counter()
    router = Router(frz)
    t_build = time.perf_counter() - t0
    cx, cy = bng(-0.4614, 51.4775)
    docks = np.array([[cx + 7000, cy + 2000], [cx - 6000, cy + 6000], [cx + 2000, cy - 7000]])
    rng = np.random.default_rng(0)
    x = rng.uniform(cx - 15000, cx + 15000, 10_000)
    y = rng.uniform(cy - 15000, cy + 15000, 10_000)
    t0 = time.perf_counter()
    lengths = router.length_matrix(docks[:, 0], docks[:, 1], x, y)
    t_route = time.perf_counter() - t0
    straight = np.hypot(x[None] - docks[:, :1], y[None] - docks[:, 1:])
    routed = np.stack([frz.crosses(dx, dy, x, y) for dx, dy in docks]) & np.isfinite(lengths)
    print(f"\nrouter build {t_build:.3f} s ({router.vx.size} vertices, {router.n_edges} edges); "
          f"3 docks x 10,000 points {t_route:.2f} s; {routed.mean():.0%} of legs detoured, "
          f"{np.isinf(lengths).mean():.0%} unreachable (in a zone)")
    assert t_route < 20  # generous: a loaded CI machine; ~1-2 s on 2 cores
    fin = np.isfinite(lengths)
    assert np.all(lengths[fin] >= straight[fin] - 1e-6)
    assert np.all(lengths[~routed & fin] == straight[~routed & fin])
