"""Geography: the derived layers, points in polygons, borough lookup, the WGS84 -> British
National Grid conversion (checked against an independent implementation of the Ordnance
Survey's formulas) and static coverage of one dock (checked against disc geometry)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from conftest import INSIDE
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS

from dronesim.engine.replication import prepare
from dronesim.inputs.geography import BNG, lonlat_to_bng, sample_points_in_polygons
from dronesim.inputs.scenario import scenario_from_dict
from dronesim.siting.coverage import static_coverage
from dronesim.siting.sites import reach_radius_m

# --------------------------------------------------------------------------------------------
# The derived data
# --------------------------------------------------------------------------------------------


def test_boroughs_layer(london):
    b = london.boroughs
    assert len(b) == 33
    assert CRS(b.crs).equals(CRS.from_epsg(27700))
    codes = list(b["gss_code"])
    assert codes == sorted(codes)
    assert codes == [f"E090000{k:02d}" for k in range(1, 34)]
    assert london.n_boroughs == 33


def test_lsoa_layer(london):
    lsoa = london.lsoa
    assert len(lsoa) == 4994
    assert CRS(lsoa.crs).equals(BNG)
    assert lsoa["lsoa21cd"].is_unique
    assert set(lsoa["borough"]) == set(range(33))
    # Every LSOA's borough index points at its own GSS code.
    np.testing.assert_array_equal(london.borough_codes[lsoa["borough"].to_numpy()],
                                  lsoa["gss_code"].to_numpy())


def test_population_total(london):
    pop = london.weights("population")
    assert (pop >= 0).all()
    assert pop.sum() == pytest.approx(9.0e6, rel=0.01)  # ONS mid-2020: 9,002,488
    assert london.boroughs["population"].sum() == pytest.approx(pop.sum(), rel=1e-6)


@pytest.mark.parametrize("kind", ["population", "crime", "crime_violence"])
def test_weights_are_usable(london, kind):
    w = london.weights(kind)
    assert w.shape == (4994,)
    assert np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0


def test_london_area(london):
    # 1,573 km^2 (ONS, source polygons); the simplified layer keeps it within 0.5%.
    assert shapely.area(london.outline) / 1e6 == pytest.approx(1573.0, rel=0.005)
    assert shapely.area(np.asarray(london.boroughs.geometry.values)).sum() / 1e6 == \
        pytest.approx(1573.0, rel=0.005)


def test_call_profile(london):
    prof = london.call_profile
    assert prof.shape == (7, 24)
    assert prof.sum() == pytest.approx(1.0)
    assert (prof >= 0).all()
    # Calls are not uniform over the week (night hours are quieter than evenings).
    assert prof[:, 3].mean() < prof[:, 18].mean()


# --------------------------------------------------------------------------------------------
# Sampling points in polygons
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lsoa_geoms(london):
    g = np.asarray(london.lsoa.geometry.values)
    shapely.prepare(g)
    return g


@settings(max_examples=25)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300))
def test_sampled_points_lie_in_their_polygons(lsoa_geoms, seed, n):
    rng = np.random.default_rng(seed)
    which = rng.integers(0, lsoa_geoms.size, n)
    x, y = sample_points_in_polygons(lsoa_geoms, which, rng)
    assert x.shape == y.shape == (n,)
    assert shapely.contains_xy(lsoa_geoms[which], x, y).all()


@settings(max_examples=10)
@given(seed=st.integers(0, 2**32 - 1))
def test_sampled_points_in_boroughs(london, seed):
    geoms = np.asarray(london.boroughs.geometry.values)
    rng = np.random.default_rng(seed)
    which = rng.integers(0, geoms.size, 200)
    x, y = sample_points_in_polygons(geoms, which, rng)
    assert shapely.contains_xy(geoms[which], x, y).all()


def test_sampling_is_deterministic(lsoa_geoms):
    which = np.arange(0, 4994, 7)
    a = sample_points_in_polygons(lsoa_geoms, which, np.random.default_rng(5))
    b = sample_points_in_polygons(lsoa_geoms, which, np.random.default_rng(5))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_sampling_is_uniform_in_a_square():
    sq = np.array([shapely.box(0, 0, 10, 10), shapely.box(100, 100, 101, 101)])
    rng = np.random.default_rng(11)
    x, y = sample_points_in_polygons(sq, np.zeros(20_000, np.int64), rng)
    assert x.mean() == pytest.approx(5.0, abs=0.1)
    assert y.mean() == pytest.approx(5.0, abs=0.1)
    assert x.var() == pytest.approx(100 / 12, rel=0.05)


def test_sliver_polygon_falls_back_inside():
    # A thin diagonal sliver fills a tiny share of its bounding box: with one rejection round
    # most points miss, and the fallback must still return points inside the polygon.
    sliver = shapely.Polygon([(0, 0), (1000, 1000), (1000, 1000.5), (0, 0.5)])
    geoms = np.array([sliver])
    shapely.prepare(geoms)
    x, y = sample_points_in_polygons(geoms, np.zeros(50, np.int64), np.random.default_rng(0),
                                     max_rounds=1)
    assert shapely.contains_xy(sliver, x, y).all()


# --------------------------------------------------------------------------------------------
# Borough lookup
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lon,lat,code", [
    (-0.1100, 51.5342, "E09000019"),  # Islington police station -> Islington
    (-0.0990, 51.3762, "E09000008"),  # Croydon town centre -> Croydon
    (-0.4543, 51.4700, "E09000017"),  # Heathrow -> Hillingdon
    (-0.0886, 51.5134, "E09000001"),  # Bank -> City of London
    (-0.1663, 51.5077, "E09000033"),  # Hyde Park police station -> Westminster
    (-0.0035, 51.5419, "E09000025"),  # Stratford -> Newham
])
def test_borough_of_known_points(london, lon, lat, code):
    x, y = lonlat_to_bng(lon, lat)
    b = london.borough_of(x, y)
    assert b.shape == (1,)
    assert london.borough_codes[b[0]] == code
    assert london.contains(x, y)


def test_borough_of_outside_london(london):
    x, y = lonlat_to_bng([2.35, -1.2577], [48.85, 51.7520])  # Paris, Oxford
    np.testing.assert_array_equal(london.borough_of(x, y), [-1, -1])
    assert not london.contains(x, y).any()


def test_borough_of_river_and_nearest(london):
    # The Thames at Westminster Bridge is outside every borough polygon (mean high water)...
    x, y = lonlat_to_bng(-0.1218, 51.5008)
    assert london.borough_of(x, y)[0] == -1
    # ... but its nearest borough is one of the two banks.
    near = london.borough_of(x, y, nearest=True)[0]
    assert london.borough_names[near] in {"Westminster", "Lambeth"}


def test_borough_of_vectorised(london):
    xs = np.array([INSIDE["islington"][0], 0.0, INSIDE["croydon"][0]])
    ys = np.array([INSIDE["islington"][1], 0.0, INSIDE["croydon"][1]])
    got = london.borough_of(xs, ys)
    assert [london.borough_codes[k] if k >= 0 else None for k in got] == \
        ["E09000019", None, "E09000008"]


# --------------------------------------------------------------------------------------------
# WGS84 -> British National Grid, against the Ordnance Survey's published formulas
# ("A guide to coordinate systems in Great Britain", OS, Annexes B and C): WGS84 to cartesian,
# the ETRS89/WGS84 -> OSGB36 Helmert transformation, back to Airy 1830 latitude/longitude, then
# the National Grid transverse Mercator projection. This is the transformation PROJ uses for
# EPSG:4326 -> EPSG:27700 when the OSTN15 grid is not installed (EPSG:1314, ~2 m accuracy).
# --------------------------------------------------------------------------------------------

_AIRY = (6377563.396, 6356256.909)
_WGS84 = (6378137.000, 6356752.314245)
_ARCSEC = math.pi / 180 / 3600


def _tm_national_grid(phi: float, lam: float) -> tuple[float, float]:
    """OSGB36 latitude/longitude (radians) -> National Grid easting/northing (OS Annex C)."""
    a, b = _AIRY
    f0, phi0, lam0, e0, n0 = 0.9996012717, math.radians(49), math.radians(-2), 400000, -100000
    a, b = a * f0, b * f0
    e2 = 1 - (b / a) ** 2
    n = (a - b) / (a + b)
    s, c, t = math.sin(phi), math.cos(phi), math.tan(phi)
    nu = a / math.sqrt(1 - e2 * s * s)
    rho = a * (1 - e2) / (1 - e2 * s * s) ** 1.5
    eta2 = nu / rho - 1
    dp, sp = phi - phi0, phi + phi0
    m = b * ((1 + n + 5 / 4 * n**2 + 5 / 4 * n**3) * dp
             - (3 * n + 3 * n**2 + 21 / 8 * n**3) * math.sin(dp) * math.cos(sp)
             + (15 / 8 * n**2 + 15 / 8 * n**3) * math.sin(2 * dp) * math.cos(2 * sp)
             - 35 / 24 * n**3 * math.sin(3 * dp) * math.cos(3 * sp))
    i = m + n0
    ii = nu / 2 * s * c
    iii = nu / 24 * s * c**3 * (5 - t**2 + 9 * eta2)
    iiia = nu / 720 * s * c**5 * (61 - 58 * t**2 + t**4)
    iv = nu * c
    v = nu / 6 * c**3 * (nu / rho - t**2)
    vi = nu / 120 * c**5 * (5 - 18 * t**2 + t**4 + 14 * eta2 - 58 * t**2 * eta2)
    dl = lam - lam0
    north = i + ii * dl**2 + iii * dl**4 + iiia * dl**6
    east = e0 + iv * dl + v * dl**3 + vi * dl**5
    return east, north


def _wgs84_to_osgb36(lon_deg: float, lat_deg: float) -> tuple[float, float]:
    """WGS84 (h = 0) -> OSGB36 latitude/longitude in radians, via the OS Helmert transform."""
    a, b = _WGS84
    e2 = 1 - (b / a) ** 2
    phi, lam = math.radians(lat_deg), math.radians(lon_deg)
    nu = a / math.sqrt(1 - e2 * math.sin(phi) ** 2)
    x = nu * math.cos(phi) * math.cos(lam)
    y = nu * math.cos(phi) * math.sin(lam)
    z = (1 - e2) * nu * math.sin(phi)
    tx, ty, tz, s = -446.448, 125.157, -542.060, 20.4894e-6
    rx, ry, rz = -0.1502 * _ARCSEC, -0.2470 * _ARCSEC, -0.8421 * _ARCSEC
    x2 = tx + (1 + s) * x - rz * y + ry * z
    y2 = ty + rz * x + (1 + s) * y - rx * z
    z2 = tz - ry * x + rx * y + (1 + s) * z
    a, b = _AIRY
    e2 = 1 - (b / a) ** 2
    p = math.hypot(x2, y2)
    phi = math.atan2(z2, p * (1 - e2))
    for _ in range(10):
        nu = a / math.sqrt(1 - e2 * math.sin(phi) ** 2)
        phi = math.atan2(z2 + e2 * nu * math.sin(phi), p)
    return phi, math.atan2(y2, x2)


def test_reference_projection_matches_os_worked_example():
    # OS guide, Annex C worked example: 52 39' 27.2531" N, 1 43' 4.5177" E (OSGB36)
    # -> E 651409.903, N 313177.270. Checks the hand-written reference itself.
    phi = math.radians(52 + 39 / 60 + 27.2531 / 3600)
    lam = math.radians(1 + 43 / 60 + 4.5177 / 3600)
    e, n = _tm_national_grid(phi, lam)
    assert e == pytest.approx(651409.903, abs=0.001)
    assert n == pytest.approx(313177.270, abs=0.001)


@pytest.mark.parametrize("lon,lat", [
    (-0.12755, 51.50760),  # Charing Cross
    (-0.1100, 51.5342),  # Islington police station
    (-0.4543, 51.4700),  # Heathrow
    (0.2, 51.35),  # south-east edge of London
])
def test_lonlat_to_bng_matches_os_formulas(lon, lat):
    x, y = lonlat_to_bng(lon, lat)
    e, n = _tm_national_grid(*_wgs84_to_osgb36(lon, lat))
    assert float(x) == pytest.approx(e, abs=1.0)
    assert float(y) == pytest.approx(n, abs=1.0)


def test_lonlat_to_bng_charing_cross():
    # Charing Cross (lon -0.12755, lat 51.50760): E 530,045.5, N 180,402.8 (the OS formulas
    # above give the same to within centimetres).
    x, y = lonlat_to_bng(-0.12755, 51.50760)
    assert float(x) == pytest.approx(530045.5, abs=1.0)
    assert float(y) == pytest.approx(180402.8, abs=1.0)


def test_lonlat_to_bng_vectorised():
    x, y = lonlat_to_bng(np.array([-0.12755, -0.1100]), np.array([51.50760, 51.5342]))
    assert x.shape == y.shape == (2,)
    assert x[1] - x[0] == pytest.approx(531187.0 - 530045.5, abs=2.0)


# --------------------------------------------------------------------------------------------
# Static coverage of one dock
# --------------------------------------------------------------------------------------------


def _one_dock(x: float, y: float, **drones):
    d = {"name": "one", "docks": [{"name": "only", "x": x, "y": y, "drones": 1}],
         "drones": {"speed_m_s": 20.0, "decision_s": 10.0, "launch_overhead_s": 20.0,
                    "climb_s": 10.0, "descent_s": 10.0, "max_range_m": 2000.0, **drones},
         "coverage": {"within_s": 120.0}}
    return prepare(scenario_from_dict(d))


def _london_area(london) -> float:
    return float(shapely.area(np.asarray(london.boroughs.geometry.values)).sum())


def test_static_coverage_disc_inside_london(london):
    # Croydon town centre; the 1,400 m disc lies wholly inside London (and inside Croydon).
    x, y = INSIDE["croydon"]
    prep = _one_dock(x, y)
    scn = prep.scenario
    cov = static_coverage(london, prep.docks, scn.drones, scn.coverage)
    r = 1400.0  # (120 - 10 - 20 - 10 - 10) s * 20 m/s
    assert cov.radius_m == pytest.approx(r)
    assert shapely.contains(london.outline, shapely.Point(x, y).buffer(r))
    expected = math.pi * r * r / _london_area(london)
    # The disc is a 128-gon in the code: area 1 - (2 pi / 128)^2 / 6 ~ 0.9996 of the circle.
    assert cov.area_share == pytest.approx(expected, rel=1e-3)
    row = cov.per_borough.set_index("gss_code").loc["E09000008"]
    croydon_area = float(london.boroughs.set_index("gss_code").geometry["E09000008"].area)
    assert row["area_share"] == pytest.approx(math.pi * r * r / croydon_area, rel=1e-3)
    others = cov.per_borough[cov.per_borough["gss_code"] != "E09000008"]
    assert (others["area_share"] < 1e-9).all()
    assert 0 < cov.population_share < 1
    assert cov.footprint.area == pytest.approx(math.pi * r * r, rel=1e-3)


def test_static_coverage_disc_across_the_boundary(london):
    # A dock 600 m inside the Greater London boundary near Enfield: part of its disc is outside.
    ex, ey = lonlat_to_bng(-0.0700, 51.6700)
    p = shapely.Point(float(ex), float(ey))
    edge = shapely.get_exterior_ring(max(shapely.get_parts(london.outline), key=shapely.area))
    # Move to a point 600 m inside the boundary, on the line to the nearest boundary point.
    q = shapely.line_interpolate_point(edge, shapely.line_locate_point(edge, p))
    v = np.array([p.x - q.x, p.y - q.y])
    v /= np.hypot(*v)
    x, y = q.x + 600 * v[0], q.y + 600 * v[1]
    assert london.contains(x, y)
    prep = _one_dock(x, y)
    scn = prep.scenario
    cov = static_coverage(london, prep.docks, scn.drones, scn.coverage)
    disc = shapely.Point(x, y).buffer(1400.0, quad_segs=256)
    inside = shapely.intersection(disc, london.outline).area
    assert 0.3 < inside / disc.area < 0.95  # the case really crosses the boundary
    assert cov.area_share == pytest.approx(inside / _london_area(london), rel=2e-3)


def test_static_coverage_zero_radius(london):
    # A budget shorter than the fixed delays: nothing is covered.
    x, y = INSIDE["islington"]
    prep = _one_dock(x, y, decision_s=200.0)
    scn = prep.scenario
    assert reach_radius_m(scn.drones, scn.coverage.within_s) == 0.0
    cov = static_coverage(london, prep.docks, scn.drones, scn.coverage)
    assert cov.area_share == 0.0 and cov.population_share == 0.0
    assert cov.boroughs_covered == 0
