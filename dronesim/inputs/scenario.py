"""Scenario files: the one home of every default, validated into frozen, typed objects.

A scenario is a TOML file read with :mod:`tomllib`. It may name one parent with
``extends = "other.toml"`` (one level only, resolved relative to the file); tables are merged
key by key, arrays are replaced whole. Every key is checked: an unknown key, a value of the wrong
type or outside its range raises :class:`~dronesim.errors.InputError` naming the file and the
dotted field. Defaults live here, in the dataclass fields, and nowhere else in the code; the
scenario files in ``scenarios/`` repeat the values that matter with their sources.

Units: seconds, metres, metres per second; coordinates in British National Grid (EPSG:27700)
unless a field says longitude/latitude (WGS84).
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ..errors import InputError, input_file

__all__ = [
    "Scenario",
    "Simulation",
    "DroneSpec",
    "DockSite",
    "GroundSpec",
    "ServiceSpec",
    "ControlRoom",
    "DispatchSpec",
    "CoverageSpec",
    "AirspaceSpec",
    "SitingSpec",
    "SharingSpec",
    "AirspaceManagementSpec",
    "ConnectivitySpec",
    "DemandSpec",
    "WeatherSpec",
    "NightSpec",
    "FaultSpec",
    "AirframeSpec",
    "RosterSpec",
    "CostSpec",
    "ValueSpec",
    "ReliefSpec",
    "load_scenario",
    "scenario_from_dict",
    "scenario_to_dict",
    "dump_scenario_toml",
]


def _num(default: float, *, ge: float | None = None, gt: float | None = None,
         le: float | None = None, lt: float | None = None, doc: str = "") -> Any:
    """A numeric field with an allowed range, checked at load time."""
    return field(default=default, metadata={"ge": ge, "gt": gt, "le": le, "lt": lt, "doc": doc})


def _choice(default: str, options: tuple[str, ...], doc: str = "") -> Any:
    return field(default=default, metadata={"choices": options, "doc": doc})


#: Bounds that keep every run within reach of one machine (see :mod:`dronesim.limits` for the
#: memory check made before a run starts, which bounds the product of these).
MAX_DRONES_PER_SITE = 1000
MAX_FLEET = 5000
MAX_INCIDENTS_PER_WEEK = 1_000_000
#: A scenario is a few kilobytes of text; a larger file is not one.
MAX_SCENARIO_BYTES = 1_000_000
#: A scenario ``name`` is a label (it names the default output folder): letters, digits, space
#: and ``- _ . + ( )``, starting with a letter or digit, at most 80 characters, never ``..``.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.+()-]{0,79}")

# --------------------------------------------------------------------------------------------
# The schema. Defaults are typical published values (see ../shared/design/MODEL.md); the
# scenario files say where each value used comes from.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Simulation:
    """Run length, warm-up and replications."""

    weeks: float = _num(4.0, gt=0, le=520, doc="measured horizon after warm-up")
    warmup_hours: float = _num(24.0, ge=0, le=24 * 7 * 8, doc="discarded start-up period")
    replications: int = _num(5, ge=1, le=10_000)
    seed: int = _num(20251023, ge=0, le=2**63 - 1)
    start_date: str = field(default="2025-10-27",
                            metadata={"doc": "calendar date (a Monday) of the simulated clock's "
                                             "Monday 00:00; sets the season of weather and "
                                             "daylight"})


@dataclass(frozen=True, slots=True)
class DroneSpec:
    """Airframe, launch and battery parameters shared by every drone of the fleet."""

    speed_m_s: float = _num(20.0, gt=0, le=100, doc="cruise ground speed")
    decision_s: float = _num(30.0, ge=0, le=3600, doc="call to drone dispatch decision")
    launch_overhead_s: float = _num(20.0, ge=0, le=3600, doc="pilot assigned to airborne")
    climb_s: float = _num(10.0, ge=0, le=600)
    descent_s: float = _num(15.0, ge=0, le=600)
    endurance_s: float = _num(2400.0, gt=0, le=86_400, doc="usable flight time, full battery")
    reserve_s: float = _num(300.0, ge=0, le=86_400, doc="battery kept in hand on landing")
    recharge_full_s: float = _num(2700.0, ge=0, le=86_400, doc="empty to full at the dock")
    min_on_scene_s: float = _num(180.0, ge=0, le=86_400, doc="loiter a dispatch must allow")
    handover_s: float = _num(60.0, ge=0, le=86_400, doc="stay after the ground unit arrives")
    max_range_m: float = _num(2000.0, gt=0, le=100_000, doc="service radius of a dock")
    loiter: str = _choice("until_ground", ("until_ground", "exponential"),
                          doc="until_ground: stay until ground arrival + handover_s; "
                              "exponential: on-scene time ~ Exp(loiter_mean_s)")
    loiter_mean_s: float = _num(600.0, gt=0, le=86_400)
    # Flight limits of the airframe (issue 17; dronesim.inputs.weather.flight_limits), used when
    # [weather] is on. Unset (NaN) max_wind_m_s: [weather] max_wind_m_s; unset max_gust_m_s: no
    # gust limit.
    rain_tolerance: str = _choice("none", ("none", "light", "moderate"),
                                  doc="rain the airframe flies in: none; light (<= 2.5 mm/h); "
                                      "moderate (<= 7.6 mm/h) (AMS Glossary rain-rate classes)")
    max_wind_m_s: float = _num(math.nan, gt=0, le=100,
                               doc="hourly mean wind limit at flight height (unset: [weather])")
    max_gust_m_s: float = _num(math.nan, gt=0, le=100,
                               doc="gust limit at flight height, vendor 'max wind speed "
                                   "resistance' (unset: none)")
    # Charging curve (dronesim.kinematics.cccv_charge_s; docs/wind.md). linear: as always.
    charging: str = _choice("linear", ("linear", "cccv"),
                            doc="linear; cccv: constant current to cccv_knee, then constant "
                                "voltage with the current decaying to cccv_cutoff")
    cccv_knee: float = _num(0.8, gt=0, le=1, doc="share of endurance charged at constant "
                                                 "current (BU-409: ~70-80%)")
    cccv_cutoff: float = _num(0.05, gt=0, lt=1, doc="CV stage ends at this share of the CC "
                                                    "current (BU-409: 3-5%)")
    # Airspeed limit under [weather] wind_hold = "ground_speed" (dronesim.kinematics.held_leg_s).
    max_airspeed_m_s: float = _num(23.0, gt=0, le=100,
                                   doc="maximum horizontal airspeed (DJI Matrice 30 series "
                                       "specs: max horizontal speed 23 m/s, sea level, no "
                                       "wind)")


@dataclass(frozen=True, slots=True)
class DockSite:
    """A launch site holding ``drones`` docked drones. Give ``lon``/``lat`` or ``x``/``y``."""

    name: str = ""
    drones: int = _num(1, ge=0, le=MAX_DRONES_PER_SITE)
    lon: float = _num(math.nan, ge=-180, le=180)
    lat: float = _num(math.nan, ge=-90, le=90)
    x: float = _num(math.nan, doc="easting, EPSG:27700")
    y: float = _num(math.nan, doc="northing, EPSG:27700")
    service: str = field(default="", metadata={"doc": "service owning these drones "
                                                      "('' = any service)"})
    airframe: str = field(default="", metadata={"doc": "[[airframes]] type of these drones "
                                                       "('' = the [drones] airframe)"})
    source: str = ""
    # Battery swap (dronesim.engine.fleet.CurvedFleet; docs/wind.md).
    swap_s: float = _num(0.0, ge=0, le=3600, doc="battery swap after landing: the drone is "
                                                 "full this long after it lands (0: the dock "
                                                 "charges it)")


@dataclass(frozen=True, slots=True)
class GroundSpec:
    """Ground response of one service: units per borough and a road travel model.

    Travel time = ``turnout_s`` + road time x a mean-one lognormal factor with coefficient of
    variation ``travel_cv``; the road time is ``travel_model``'s (:mod:`dronesim.inputs.travel`:
    ``"fitted"`` to the LFB 2023 sample by default; ``"straight"`` = ``circuity`` x straight-line
    distance / ``speed_m_s``; ``"matrix"`` / ``"graph"`` read ``travel_file``).

    ``base = "patrol"``: units per borough (staffing rule), roaming the borough and dispatched
    within it. ``base = "stations"``: ``units_per_station`` units at each London Fire Brigade
    station (the only open station list), dispatched London-wide from the nearest station with
    an idle unit and back at the station before they are available again (see ``ground.py``).
    ``base = "none"``: no ground response is simulated (drones-only models; drones then need
    ``drones.loiter = "exponential"``).
    """

    call_handling_mean_s: float = _num(120.0, ge=0, le=86_400, doc="call to unit dispatched")
    call_handling_cv: float = _num(0.5, ge=0, le=10)
    turnout_s: float = _num(60.0, ge=0, le=3600)
    speed_m_s: float = _num(8.0, gt=0, le=100, doc="effective blue-light road speed")
    circuity: float = _num(1.35, ge=1, le=5, doc="road distance / straight-line distance")
    travel_cv: float = _num(0.3, ge=0, le=10)
    on_scene_mean_s: float = _num(2700.0, ge=0, le=86_400)
    on_scene_cv: float = _num(0.8, ge=0, le=10)
    staffing_utilisation: float = _num(0.5, gt=0, lt=1,
                                       doc="units per borough = offered load / this")
    min_units_per_borough: int = _num(2, ge=1, le=10_000)
    base: str = _choice("patrol", ("patrol", "stations", "none"),
                        doc="patrol: units roam their borough; stations: units at fire "
                            "stations; none: no ground response simulated")
    units_per_station: int = _num(1, ge=1, le=1000, doc="with base = 'stations'")
    turnout_cv: float = _num(0.0, ge=0, le=10, doc="per-incident variability of turnout_s")
    mutual_aid: str = _choice("off", ("off", "neighbours", "bcu", "london"),
                              doc="patrol units of other boroughs (neighbouring ones, those of "
                                  "the same Met Basic Command Unit, or any) may take an "
                                  "incident left waiting mutual_aid_delay_s (off: own borough "
                                  "only); base = 'patrol' only")
    mutual_aid_delay_s: float = _num(300.0, ge=0, le=86_400, doc="assumption")
    mutual_aid_max_distance_m: float = _num(10_000.0, gt=0, le=100_000, doc="assumption")
    # --- conveyance to hospital and handover (dronesim.engine.conveyance) --------
    conveyance_share: tuple[float, ...] = field(
        default=(), metadata={"doc": "one share per priority of incidents conveyed to the "
                                     "nearest type 1 emergency department ([] = off); "
                                     "base = 'patrol' only"})
    handover_over_30min_share: float = _num(0.20, gt=0, lt=1,
                                            doc="share of hospital handovers over 30 min "
                                                "(fits the lognormal handover time)")
    handover_over_60min_share: float = _num(0.07, gt=0, lt=1,
                                            doc="share of hospital handovers over 60 min")
    handover_target_s: float = _num(900.0, ge=0, le=86_400,
                                    doc="handover standard: time beyond it counts as lost")

    @property
    def conveys(self) -> bool:
        """Conveyance to hospital is on (some priority's share above 0): the one test the
        engine, its features, the staffing rule and the aggregates make."""
        return any(s > 0 for s in self.conveyance_share)

    travel_model: str = _choice("fitted", ("fitted", "straight", "matrix", "graph"),
                                doc="road travel time (dronesim.inputs.travel): fitted to the "
                                    "LFB 2023 sample (distance curve, hour of week, borough, "
                                    "Thames); straight: circuity x distance / speed_m_s; "
                                    "matrix: travel_file of origin-destination times; graph: "
                                    "travel_file road network (GraphML)")
    travel_file: str = field(default="", metadata={
        "doc": "with travel_model = 'matrix' (CSV/Parquet: from_x, from_y, to_x, to_y, time_s) "
               "or 'graph' (GraphML in EPSG:27700), relative to the scenario file"})
    road_time_factor: float = _num(1.0, gt=0, le=5,
                                   doc="with travel_model = 'fitted': multiplies every road "
                                       "time (vehicles faster or slower than the fire engines "
                                       "of the fit; sensitivity)")


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """Demand and ground response of one blue-light service."""

    incidents_per_week: float = _num(1000.0, ge=0, le=MAX_INCIDENTS_PER_WEEK,
                                     doc="London's three services together: about 63,500")
    spatial_weight: str = _choice("population", ("population", "crime", "crime_violence",
                                                 "lfb_sample", "las"))
    time_profile: str = _choice("lfb_all", ("flat", "lfb_all", "lfb_fire"))
    priority_shares: tuple[float, ...] = (1.0,)
    drone_suited_share: tuple[float, ...] = (1.0,)
    uses_drones: bool = True
    ground: GroundSpec = field(default_factory=GroundSpec)


@dataclass(frozen=True, slots=True)
class ControlRoom:
    """Remote pilots: a pilot oversees ``flights_per_pilot`` flights from launch to landing.

    With ``[sharing] pilots = "separate"`` each service has its own room of
    ``pilots_by_service[service]`` pilots; ``"joint"`` pools them in one room (their sum, or
    ``pilots`` if ``pilots_by_service`` is empty). ``shift_pattern``: 24 shares (0-1) of the pilots
    on duty in each hour of the day; a pilot going off duty finishes the flight in hand first.
    """

    pilots: int = _num(2, ge=1, le=100_000)
    pilots_by_service: Mapping[str, int] = field(default_factory=dict)
    flights_per_pilot: int = _num(1, ge=1, le=100, doc="m:N oversight: flights one pilot holds")
    shift_pattern: tuple[float, ...] = ()
    pilots_per_drone: float = _num(0.0, ge=0, le=10,
                                   doc="if > 0, pilots = max(pilots, ceil(this x fleet size))")

    def pilots_for(self, fleet_size: int) -> int:
        """Pilots of the (joint) room for a fleet of this size."""
        base = sum(self.pilots_by_service.values()) if self.pilots_by_service else self.pilots
        if self.pilots_per_drone > 0:
            return max(base, math.ceil(self.pilots_per_drone * fleet_size - 1e-9))
        return base


@dataclass(frozen=True, slots=True)
class DispatchSpec:
    """Which policy chooses drones, and the queue it may leave incidents in."""

    policy: str = "earliest_arrival"
    params: Mapping[str, Any] = field(default_factory=dict)
    max_queue_wait_s: float = _num(300.0, ge=0, le=math.inf)
    candidate_docks: int = _num(16, ge=1, le=64, doc="nearest docks considered per incident")


@dataclass(frozen=True, slots=True)
class SharingSpec:
    """Which blue-light infrastructure layers the services share (each on its own).

    * ``docks``: ``separate``, each service's drones at its own sites as listed; ``shared``, every
      site open to every service: each service's drones are spread over all sites (each site
      keeps its number of docks, each service its number of drones).
    * ``airframes``: ``dedicated``, a drone serves only its site's service; ``pooled``, any drone
      serves any service, in the order of ``service_priority``, with ``preemption`` optional (a
      drone on scene at a lower-ranked incident may be redirected to a higher-ranked one).
    * ``pilots``: ``separate`` control rooms or one ``joint`` room (see ``[control_room]``).
    * ``airspace``: ``separate`` deconfliction per service or one ``shared`` service (see
      ``[airspace_management]``).
    * ``connectivity``: each service's own link coverage, or the ``shared`` union.
    """

    docks: str = _choice("separate", ("separate", "shared"))
    airframes: str = _choice("pooled", ("dedicated", "pooled"))
    pilots: str = _choice("joint", ("separate", "joint"))
    airspace: str = _choice("shared", ("separate", "shared"))
    connectivity: str = _choice("shared", ("separate", "shared"))
    service_priority: tuple[str, ...] = ("ambulance", "fire", "police")
    preemption: bool = False


@dataclass(frozen=True, slots=True)
class AirspaceManagementSpec:
    """Sector grid with a cap on concurrent drone flights per sector, and authorisation latency.

    A flight holds a slot in the sector of its incident from launch to landing. Under separate
    management each service deconflicts only its own flights, with ``cap_separate`` flights per
    sector per service; one shared service allows ``cap_shared`` flights per sector in all.
    ``sector_m = 0`` turns sector caps off.
    """

    sector_m: float = _num(0.0, ge=0, le=100_000)
    cap_separate: int = _num(1, ge=1, le=10_000)
    cap_shared: int = _num(3, ge=1, le=10_000)
    delay_separate_s: float = _num(0.0, ge=0, le=86_400)
    delay_shared_s: float = _num(0.0, ge=0, le=86_400)


@dataclass(frozen=True, slots=True)
class ConnectivitySpec:
    """Command-and-control link coverage per service.

    ``files``: service -> polygon file of its coverage; ``radius_m``: service -> link range around
    that service's own dock sites. A service with neither is covered everywhere. Shared
    connectivity uses the union of every service's coverage. A flight to an incident outside
    coverage is refused (``outside = "refuse"``) or flown and flagged (``"flag"``).
    """

    files: Mapping[str, str] = field(default_factory=dict)
    radius_m: Mapping[str, float] = field(default_factory=dict)
    outside: str = _choice("refuse", ("refuse", "flag"))


@dataclass(frozen=True, slots=True)
class SitingSpec:
    """Where docks come from besides the ``[[docks]]`` list (kept, pinned, in every method).

    ``method``: ``listed`` (only ``[[docks]]``); ``file`` (``file``: GeoJSON, GeoPackage or CSV);
    ``candidates`` (every candidate site of the ``candidates`` kinds); ``one_per_borough``;
    ``hex_grid`` (hexagonal lattice for the coverage radius); ``max_coverage`` / ``p_median``
    (``sites`` sites in total, chosen from the candidates by MILP); ``min_sites`` (fewest
    candidates covering ``share`` of demand). New sites get ``drones_per_site`` drones.
    """

    method: str = _choice("listed", ("listed", "file", "candidates", "one_per_borough", "hex_grid",
                                     "max_coverage", "min_sites", "p_median"))
    file: str = ""
    candidates: tuple[str, ...] = ("fire_station", "hospital")
    sites: int = _num(0, ge=0, le=10_000, doc="total sites (listed included) to open")
    drones_per_site: int = _num(3, ge=1, le=MAX_DRONES_PER_SITE)
    weight: str = _choice("borough_equal", ("population", "crime", "borough_equal", "area"),
                          doc="demand weight the optimisation covers; borough_equal: every "
                              "borough's population counts the same in total")
    share: float = _num(1.0, gt=0, le=1, doc="min_sites: share of demand to cover")
    time_limit_s: float = _num(60.0, gt=0, le=86_400)


@dataclass(frozen=True, slots=True)
class AirspaceSpec:
    """Restricted airspace: flight restriction zones, no-fly polygons, and how flights meet them.

    ``mode = "detour"``: fly the shortest path around every zone (a point inside one cannot be
    reached). ``mode = "authorise"``: fly straight and wait ``authorisation_delay_s`` for
    permission when the leg enters a zone. No dock may stand inside a zone in either mode.
    """

    frz: tuple[str, ...] = ("EGLL", "EGLC", "EGWU", "EGKB")
    no_fly_files: tuple[str, ...] = ()
    mode: str = _choice("detour", ("detour", "authorise"))
    authorisation_delay_s: float = _num(120.0, ge=0, le=86_400)
    margin_m: float = _num(25.0, ge=0, le=1000, doc="routing clearance around zones")


@dataclass(frozen=True, slots=True)
class CoverageSpec:
    """Coverage targets: drone on scene within ``within_s`` of the call."""

    within_s: float = _num(120.0, gt=0, le=86_400)
    borough_population_share: float = _num(0.5, gt=0, le=1,
                                           doc="a borough counts as covered above this share")


#: Trace columns a ``[demand] trace_columns`` table may rename (canonical name -> file column).
TRACE_COLUMNS = ("time", "x", "y", "lon", "lat", "service", "priority", "drone_suited")


@dataclass(frozen=True, slots=True)
class DemandSpec:
    """Where incidents come from: the per-service generators, or a trace replayed as is.

    ``trace``: a CSV of incidents (``time``; ``x``, ``y`` in EPSG:27700 or ``lon``, ``lat``;
    ``service``; optional ``priority`` and ``drone_suited``), path relative to the scenario file.
    It replaces the generators of every service and sets the horizon (``simulation.weeks`` is
    then ignored); see :mod:`dronesim.inputs.sources`. ``trace_columns`` renames columns
    (``{time = "call_time"}``); ``trace_service`` names the service of every row when the file
    has no ``service`` column.
    """

    trace: str = ""
    trace_service: str = _choice("", ("", "police", "fire", "ambulance"))
    trace_columns: Mapping[str, str] = field(default_factory=dict)

    def trace_path(self, source: str | Path) -> Path:
        """The trace file: absolute, or relative to the scenario file (to the working folder
        for a scenario built in memory)."""
        p = Path(self.trace).expanduser()
        if p.is_absolute():
            return p
        src = str(source)
        if src and not src.startswith("<"):
            return Path(src).parent / p
        return Path.cwd() / p


# --------------------------------------------------------------------------------------------
# Operations as they are (issue 9): weather, night, faults, airframe types, rosters, costs and
# value. Every section is off (or without effect on the simulation) by default, so existing
# scenarios behave exactly as before; the sources of the defaults are in the docstrings of
# dronesim/inputs/weather.py, daylight.py, costs.py and value.py.
# --------------------------------------------------------------------------------------------

#: London rain days (>= 1.0 mm) per month, Jan-Dec: Met Office 1971-2000 averages for London
#: (Greenwich), as tabulated with the Met Office as source (110.4 a year).
LONDON_RAIN_DAYS = (10.8, 8.5, 9.6, 9.4, 9.0, 8.3, 8.0, 7.6, 8.5, 10.7, 10.1, 9.9)
#: London precipitation, mm per month, Jan-Dec, same table (591.8 mm a year).
LONDON_RAIN_MM = (51.6, 38.2, 40.5, 45.0, 46.5, 47.3, 41.1, 51.6, 50.4, 68.8, 58.0, 53.0)
#: Share of daylight METAR observations at London City Airport (EGLC), 2020-2024, with
#: visibility >= 5 km and ceiling >= 1,000 ft ("marginal VFR or better"), Jan-Dec
#: (metar-taf.com climate statistics for EGLC, computed from historical METARs).
LONDON_MVFR_SHARE = (0.877, 0.901, 0.911, 0.938, 0.957, 0.945, 0.978, 0.965, 0.952, 0.936,
                     0.886, 0.855)
#: Monthly mean 10 m hourly wind speed in London, m/s, Jan-Dec. ASSUMPTION: no London monthly
#: table was found here. Anchors: the UK-wide annual mean 7.9-9.4 kn (4.1-4.8 m/s, 2015-2021,
#: BEIS Energy Trends weather statistics) and Heathrow being "relatively sheltered"; the
#: winter-high, summer-low seasonal shape is the usual one for UK stations.
LONDON_WIND_MEAN_M_S = (4.6, 4.6, 4.5, 4.1, 3.9, 3.6, 3.5, 3.5, 3.6, 3.9, 4.2, 4.4)


def _tuple_field(default: tuple[float, ...], doc: str = "") -> Any:
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True, slots=True)
class WeatherSpec:
    """Flyability process (see :mod:`dronesim.inputs.weather`): hourly wind, precipitation,
    visibility and cloud base drawn from London climate statistics, and the limits the fleet
    flies within.

    ``enabled = false`` (the default): the fleet is never grounded by weather.
    """

    enabled: bool = False
    wind_mean_m_s: tuple[float, ...] = _tuple_field(
        LONDON_WIND_MEAN_M_S, "monthly mean 10 m hourly wind, Jan-Dec (assumption)")
    wind_weibull_k: float = _num(1.8, gt=0.5, le=5,
                                 doc="Weibull shape of hourly wind; UK stations 1.4-2.1 "
                                     "(Earl et al. 2013)")
    wind_autocorr_1h: float = _num(0.95, ge=0, lt=1, doc="lag-1 h autocorrelation, latent wind")
    wind_height_factor: float = _num(1.3, gt=0, le=5,
                                     doc="wind at flight / dock height over 10 m wind")
    rain_days: tuple[float, ...] = _tuple_field(LONDON_RAIN_DAYS,
                                                "days >= 1 mm per month, Jan-Dec")
    rain_mm: tuple[float, ...] = _tuple_field(LONDON_RAIN_MM, "precipitation per month, Jan-Dec")
    wet_day_persistence: float = _num(0.5, ge=0, lt=1, doc="P(wet day | previous day wet)")
    wet_hours_per_wet_day: float = _num(5.0, ge=1, le=24, doc="mean hours of rain on a wet day")
    clear_share: tuple[float, ...] = _tuple_field(
        LONDON_MVFR_SHARE, "share of hours with visibility >= visibility_ref_m and cloud base "
                           ">= cloud_ref_m, Jan-Dec")
    visibility_ref_m: float = _num(5000.0, gt=0, le=100_000)
    cloud_ref_m: float = _num(304.8, gt=0, le=10_000, doc="1,000 ft")
    murk_autocorr_1h: float = _num(0.9, ge=0, lt=1, doc="lag-1 h autocorrelation, latent murk")
    visibility_log_sd: float = _num(1.0, gt=0, le=5)
    cloud_log_sd: float = _num(1.0, gt=0, le=5)
    max_wind_m_s: float = _num(10.0, gt=0, le=100,
                               doc="common drones 10 m/s (Gao et al. 2021); docks 8-12 m/s")
    max_precip_mm_h: float = _num(0.0, ge=0, le=1000,
                                  doc="0: no flight in any rain (Gao et al. 2021, common drones)")
    min_visibility_m: float = _num(5000.0, ge=0, le=100_000)
    min_cloud_base_m: float = _num(304.8, ge=0, le=10_000)
    # Gusts and the rain process's time of day and intensity (issue 17).
    gust_factor: float = _num(1.5, ge=1, le=3,
                              doc="hourly max 3-s gust / hourly mean wind (Durst 1960; "
                                  "ASCE 7 commentary: 1.52 at 10 m, open terrain)")
    rain_diurnal_amplitude: float = _num(0.057, ge=0, lt=0.5,
                                         doc="24-h harmonic of rain occurrence, peak 16 GMT")
    rain_semidiurnal_amplitude: float = _num(0.057, ge=0, lt=0.5,
                                             doc="12-h harmonic of rain occurrence, peaks 04 "
                                                 "and 16 GMT")
    rain_hour_shape: float = _num(1.0, gt=0, le=100,
                                  doc="gamma shape of a rain event's hourly weights "
                                      "(assumption; large: constant rate)")
    # Wind acting on flight (dronesim/kinematics.py wind_leg_s; docs/wind.md): the hourly wind
    # direction, and legs timed by the wind triangle. Off: the wind only grounds.
    wind_on_flight: bool = False
    wind_westerly_from_deg: float = _num(225.0, ge=0, lt=360,
                                         doc="centre of the westerly regime's direction (from; "
                                             "SW prevailing: Heathrow)")
    wind_easterly_from_deg: float = _num(60.0, ge=0, lt=360,
                                         doc="centre of the easterly regime's direction "
                                             "(from; assumption: NE-E spells)")
    wind_easterly_share: float = _num(0.3, ge=0, le=1,
                                      doc="share of hours in the easterly regime (Heathrow: "
                                          "easterly operations ~30% of the year)")
    wind_direction_sd_deg: float = _num(40.0, ge=0, le=180,
                                        doc="spread of the direction around its regime's "
                                            "centre (assumption)")
    wind_regime_autocorr_1h: float = _num(0.98, ge=0, lt=1,
                                          doc="lag-1 h autocorrelation, latent regime "
                                              "(assumption: regimes last days)")
    wind_direction_autocorr_1h: float = _num(0.9, ge=0, lt=1,
                                             doc="lag-1 h autocorrelation, latent direction "
                                                 "deviation (assumption)")
    wind_fixed_m_s: float = _num(math.nan, ge=0, le=100,
                                 doc="every hour's wind at flight height (unset: drawn); for "
                                     "what-if comparisons")
    wind_fixed_from_deg: float = _num(math.nan, ge=0, lt=360,
                                      doc="every hour's wind direction, from (unset: drawn)")
    # What the autopilot holds in wind (dronesim.kinematics.held_leg_s; docs/wind.md).
    wind_hold: str = _choice("airspeed", ("airspeed", "ground_speed"),
                             doc="airspeed: cruise airspeed, the wind changes the ground speed; "
                                 "ground_speed: cruise ground speed along the track, airspeed "
                                 "raised up to [drones] max_airspeed_m_s, drain by rotor power")


@dataclass(frozen=True, slots=True)
class NightSpec:
    """What night changes (see :mod:`dronesim.inputs.daylight`). Night is sunset to sunrise
    (``definition = "sunset"``) or civil dusk to civil dawn (``"civil_twilight"``).

    ``rule``: ``allowed`` (as by day, the default), ``slower`` (cruise speed x ``speed_factor``
    and ``extra_launch_s`` more to get airborne), ``second_pilot`` (each night flight holds
    ``pilots_per_flight`` pilots), ``not_allowed`` (the fleet is grounded at night).
    """

    rule: str = _choice("allowed", ("allowed", "slower", "second_pilot", "not_allowed"))
    definition: str = _choice("sunset", ("sunset", "civil_twilight"))
    speed_factor: float = _num(1.0, gt=0, le=1)
    extra_launch_s: float = _num(0.0, ge=0, le=3600)
    pilots_per_flight: int = _num(2, ge=1, le=10)
    latitude: float = _num(51.5072, ge=-90, le=90, doc="where sunrise and sunset are computed")
    longitude: float = _num(-0.1276, ge=-180, le=180)
    timezone: str = "Europe/London"


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """Airframe and dock faults and scheduled maintenance; all off by default.

    ``failures_per_flight_hour``: rate of a fault ending a flight and taking the drone out of
    service for ``repair_s`` (commercial UAS about 1 per 1,000 flight hours: survey of UK
    operators, TU Delft repository). ``maintenance_every_flight_hours`` (0 = none) takes a drone
    out for ``maintenance_s``. ``dock_failures_per_year``: dock faults, out for ``dock_repair_s``.
    """

    failures_per_flight_hour: float = _num(0.0, ge=0, le=10)
    repair_s: float = _num(172_800.0, ge=0, le=365 * 86_400.0, doc="assumption: 2 days")
    maintenance_every_flight_hours: float = _num(0.0, ge=0, le=100_000)
    maintenance_s: float = _num(14_400.0, ge=0, le=30 * 86_400.0, doc="assumption: 4 hours")
    dock_failures_per_year: float = _num(0.0, ge=0, le=1000)
    dock_repair_s: float = _num(172_800.0, ge=0, le=365 * 86_400.0, doc="assumption: 2 days")


@dataclass(frozen=True, slots=True)
class AirframeSpec:
    """One airframe type of a mixed fleet; a dock names the type it holds (``[[docks]]
    airframe``). Unset (NaN) performance fields take the ``[drones]`` value."""

    name: str = ""
    speed_m_s: float = _num(math.nan, gt=0, le=100)
    endurance_s: float = _num(math.nan, gt=0, le=86_400)
    recharge_full_s: float = _num(math.nan, ge=0, le=86_400)
    max_range_m: float = _num(math.nan, gt=0, le=100_000)
    cost_gbp: float = _num(math.nan, ge=0, le=1e9, doc="unset: [costs] airframe_cost_gbp")
    source: str = ""


@dataclass(frozen=True, slots=True)
class RosterSpec:
    """Time-varying fleet. ``drone_pattern``: 24 shares (0-1) of each dock's drones on duty in
    each hour of the day (empty: all, always). ``dock_hours``: dock name -> [open hour, close
    hour) of the day (close < open wraps past midnight); unlisted docks are always open."""

    drone_pattern: tuple[float, ...] = ()
    dock_hours: Mapping[str, tuple[float, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CostSpec:
    """Costs of the drone service (see :mod:`dronesim.kpis.costs`); they change no simulated event.

    All money in GBP. ``pilots_per_shift = 0``: the control room's pilots on duty.
    """

    airframe_cost_gbp: float = _num(15_000.0, ge=0, le=1e9, doc="assumption")
    airframe_life_years: float = _num(3.0, gt=0, le=50, doc="assumption")
    dock_cost_gbp: float = _num(20_000.0, ge=0, le=1e9, doc="assumption")
    dock_life_years: float = _num(5.0, gt=0, le=50, doc="assumption")
    pilots_per_shift: int = _num(0, ge=0, le=100_000)
    shifts_per_day: float = _num(3.0, gt=0, le=24, doc="8-hour shifts, 24/7")
    cost_per_pilot_shift_gbp: float = _num(292.0, ge=0, le=1e6,
                                           doc="8 h x GBP 36.51 (Home Office on-cost, 2014)")
    maintenance_per_airframe_year_gbp: float = _num(1_500.0, ge=0, le=1e9, doc="assumption")
    maintenance_per_dock_year_gbp: float = _num(2_000.0, ge=0, le=1e9, doc="assumption")
    cost_per_flight_hour_gbp: float = _num(5.0, ge=0, le=1e6, doc="assumption")
    # Price years (issue 17; dronesim.inputs.prices): every price is uprated from its base year
    # to price_year by the ONS CPIH annual index (data/calibration/price_index.csv).
    price_year: int = _num(0, ge=0, le=2100,
                           doc="year of the prices reported (0: each price as entered)")
    pilot_price_year: int = _num(2014, ge=1900, le=2100,
                                 doc="base year of cost_per_pilot_shift_gbp (PQ 216460, 2014)")
    equipment_price_year: int = _num(2025, ge=1900, le=2100,
                                     doc="base year of the airframe, dock, maintenance and "
                                         "flight-hour prices (assumptions at 2025 prices)")


@dataclass(frozen=True, slots=True)
class ReliefSpec:
    """Relief drones (see :mod:`dronesim.engine.relief`): when a drone's battery reserve will force
    it home before the ground unit arrives, a second drone may be sent to take over.

    ``enabled = false`` (the default): no relief. ``policy`` (a registered dispatch policy, with
    ``params``) chooses the relief drone from the incident's candidates, as for a dispatch; a
    relief flies only if the drone chosen is ready to launch at once with a pilot free.
    ``lead_s``: the relief is asked for this long before the drone on scene must leave
    (assumption: 5 minutes, about what a relief within a 2 km radius needs to launch and fly
    there at 20 m/s).
    """

    enabled: bool = False
    policy: str = "earliest_arrival"
    params: Mapping[str, Any] = field(default_factory=dict)
    lead_s: float = _num(300.0, ge=0, le=86_400, doc="assumption")


@dataclass(frozen=True, slots=True)
class ValueSpec:
    """What a drone deployment is worth (see :mod:`dronesim.kpis.value`).

    ``drone_resolved_share``: service -> one share per priority of drone-attended incidents the
    drone resolves with no officer sent (empty: none, today's behaviour). US DFR programmes
    report "15%-40% of calls" cleared before officers arrive (Police1, 2025).
    ``officer_cost_per_hour_gbp``: Home Office on-cost of a sergeant or constable, GBP 36.51/h
    (PQ 216460, answered 4 Dec 2014).
    """

    drone_resolved_share: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    officer_cost_per_hour_gbp: float = _num(36.51, ge=0, le=1e6)
    target_response_s: float = _num(120.0, gt=0, le=86_400,
                                    doc="equity: a borough below target misses this")
    officer_cost_price_year: int = _num(2014, ge=1900, le=2100,
                                        doc="base year of officer_cost_per_hour_gbp; uprated "
                                            "to [costs] price_year")


@dataclass(frozen=True, slots=True)
class Scenario:
    """A complete, validated scenario."""

    name: str = "scenario"
    description: str = ""
    simulation: Simulation = field(default_factory=Simulation)
    drones: DroneSpec = field(default_factory=DroneSpec)
    docks: tuple[DockSite, ...] = ()
    services: Mapping[str, ServiceSpec] = field(default_factory=lambda: {"police": ServiceSpec()})
    control_room: ControlRoom = field(default_factory=ControlRoom)
    dispatch: DispatchSpec = field(default_factory=DispatchSpec)
    coverage: CoverageSpec = field(default_factory=CoverageSpec)
    demand: DemandSpec = field(default_factory=DemandSpec)
    airspace: AirspaceSpec = field(default_factory=AirspaceSpec)
    siting: SitingSpec = field(default_factory=SitingSpec)
    sharing: SharingSpec = field(default_factory=SharingSpec)
    airspace_management: AirspaceManagementSpec = field(default_factory=AirspaceManagementSpec)
    connectivity: ConnectivitySpec = field(default_factory=ConnectivitySpec)
    weather: WeatherSpec = field(default_factory=WeatherSpec)
    night: NightSpec = field(default_factory=NightSpec)
    faults: FaultSpec = field(default_factory=FaultSpec)
    airframes: tuple[AirframeSpec, ...] = ()
    rosters: RosterSpec = field(default_factory=RosterSpec)
    costs: CostSpec = field(default_factory=CostSpec)
    value: ValueSpec = field(default_factory=ValueSpec)
    relief: ReliefSpec = field(default_factory=ReliefSpec)
    source: str = field(default="<memory>", metadata={"internal": True})
    #: Which file (or ``<command line>``) set each dotted field, for error messages that name the
    #: file actually at fault (a parent reached through ``extends``); see :func:`blame`.
    origins: Mapping[str, str] = field(default_factory=dict, compare=False,
                                       metadata={"internal": True})

    @property
    def fleet_size(self) -> int:
        return sum(d.drones for d in self.docks)

    def replace(self, **changes: Any) -> Scenario:
        """A copy with top-level fields replaced (nested objects: use ``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)


# --------------------------------------------------------------------------------------------
# Loading and validation
# --------------------------------------------------------------------------------------------

_SERVICE_NAMES = ("police", "fire", "ambulance")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str, file: str, meta: Mapping[str, Any]) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise InputError(file, where, f"expected a table, got {type(value).__name__}")
        return _build(cast(type, tp), value, where, file)  # a field's hint: a class
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(file, where, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(file, where, f"expected a whole number, got {value!r}")
        _check_range(value, meta, where, file)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(file, where, f"expected a number, got {value!r}")
        value = float(value)
        if math.isnan(value):
            raise InputError(file, where, "must be a number, not nan")
        _check_range(value, meta, where, file)
        return value
    if tp is str:
        if not isinstance(value, str):
            raise InputError(file, where, f"expected a string, got {value!r}")
        choices = meta.get("choices")
        if choices and value not in choices:
            raise InputError(file, where, f"must be one of {', '.join(choices)}; got {value!r}")
        return value
    if origin is tuple:
        (inner, _ellipsis) = typing.get_args(tp)
        if not isinstance(value, list):
            raise InputError(file, where, f"expected an array, got {type(value).__name__}")
        return tuple(_coerce(v, inner, f"{where}[{k}]", file, meta) for k, v in enumerate(value))
    if origin in (Mapping, dict) or tp is Mapping:
        if not isinstance(value, Mapping):
            raise InputError(file, where, f"expected a table, got {type(value).__name__}")
        args = typing.get_args(tp)
        inner = args[1] if args else Any
        if inner is Any:
            return types.MappingProxyType(dict(value))
        return types.MappingProxyType(
            {k: _coerce(v, inner, f"{where}.{k}", file, meta) for k, v in value.items()})
    raise InputError(file, where, f"unsupported type {_type_name(tp)}")  # pragma: no cover


def _check_range(value: float, meta: Mapping[str, Any], where: str, file: str) -> None:
    ge, gt, le, lt = meta.get("ge"), meta.get("gt"), meta.get("le"), meta.get("lt")
    if ge is not None and not value >= ge:
        raise InputError(file, where, f"must be >= {ge:g}; got {value:g}")
    if gt is not None and not value > gt:
        raise InputError(file, where, f"must be > {gt:g}; got {value:g}")
    if le is not None and not value <= le:
        raise InputError(file, where, f"must be <= {le:g}; got {value:g}")
    if lt is not None and not value < lt:
        raise InputError(file, where, f"must be < {lt:g}; got {value:g}")


def _build(cls: type, table: Mapping[str, Any], prefix: str, file: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        where = f"{prefix}.{key}" if prefix else key
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise InputError(file, where, f"unknown key (known keys: {known})")
        if cls is Scenario and key == "services":
            kwargs[key] = _build_services(value, where, file)
        elif cls is Scenario and key == "docks":
            if not isinstance(value, list):
                raise InputError(file, where, "expected an array of tables [[docks]]")
            kwargs[key] = tuple(_coerce(v, DockSite, f"{where}[{k}]", file, {})
                                for k, v in enumerate(value))
        else:
            kwargs[key] = _coerce(value, hints[key], where, file, fields[key].metadata)
    obj = cls(**kwargs)
    _check_object(obj, prefix, file)
    return obj


def _build_services(value: Any, where: str, file: str) -> Mapping[str, ServiceSpec]:
    if not isinstance(value, Mapping) or not value:
        raise InputError(file, where, "expected a table with at least one service")
    out = {}
    for name, table in value.items():
        if name not in _SERVICE_NAMES:
            raise InputError(file, f"{where}.{name}",
                             f"unknown service (known: {', '.join(_SERVICE_NAMES)})")
        out[name] = _coerce(table, ServiceSpec, f"{where}.{name}", file, {})
    return types.MappingProxyType(out)


def _check_object(obj: Any, prefix: str, file: str) -> None:
    """Checks that involve more than one field of one object."""
    p = f"{prefix}." if prefix else ""
    if isinstance(obj, ServiceSpec):
        shares = obj.priority_shares
        if not shares or any(s < 0 for s in shares) or abs(sum(shares) - 1) > 1e-6:
            raise InputError(file, p + "priority_shares",
                             f"must be non-negative and sum to 1; got {list(shares)}")
        if len(obj.drone_suited_share) != len(shares):
            raise InputError(file, p + "drone_suited_share",
                             f"needs one share per priority ({len(shares)}); "
                             f"got {len(obj.drone_suited_share)}",
                             related=(p + "priority_shares",))
        if any(not 0 <= s <= 1 for s in obj.drone_suited_share):
            raise InputError(file, p + "drone_suited_share", "each share must be within [0, 1]")
        gs = obj.ground  # the travel model and its file (dronesim.inputs.travel)
        if gs.travel_model in ("matrix", "graph") and not gs.travel_file:
            raise InputError(file, p + "ground.travel_file",
                             f"travel_model = {gs.travel_model!r} needs a travel_file",
                             related=(p + "ground.travel_model",))
        # Conveyance to hospital (dronesim.engine.conveyance).
        conv = obj.ground.conveyance_share
        if conv:
            g = p + "ground."
            if len(conv) != len(shares):
                raise InputError(file, g + "conveyance_share",
                                 f"needs one share per priority ({len(shares)}); "
                                 f"got {len(conv)}", related=(p + "priority_shares",))
            if any(not 0 <= s <= 1 for s in conv):
                raise InputError(file, g + "conveyance_share",
                                 "each share must be within [0, 1]")
            if obj.ground.base != "patrol":
                raise InputError(file, g + "conveyance_share",
                                 f"needs base = 'patrol'; got {obj.ground.base!r}")
            if not obj.ground.handover_over_60min_share < obj.ground.handover_over_30min_share:
                raise InputError(file, g + "handover_over_60min_share",
                                 "must be below handover_over_30min_share",
                                 related=(g + "handover_over_30min_share",))
    elif isinstance(obj, DockSite):
        has_ll = not (math.isnan(obj.lon) and math.isnan(obj.lat))
        has_xy = not (math.isnan(obj.x) and math.isnan(obj.y))
        if has_ll == has_xy:
            raise InputError(file, prefix, "give either lon and lat, or x and y (EPSG:27700)")
        if has_ll and (math.isnan(obj.lon) or math.isnan(obj.lat)):
            raise InputError(file, prefix, "give both lon and lat")
        if has_xy and (math.isnan(obj.x) or math.isnan(obj.y)):
            raise InputError(file, prefix, "give both x and y")
    elif isinstance(obj, DroneSpec):
        if (obj.reserve_s + obj.min_on_scene_s + 2 * (obj.climb_s + obj.descent_s)
                >= obj.endurance_s):
            raise InputError(file, p + "endurance_s",
                             "too short for climb, descent, min_on_scene_s and reserve_s",
                             related=tuple(p + k for k in ("reserve_s", "min_on_scene_s",
                                                           "climb_s", "descent_s")))
    elif isinstance(obj, DemandSpec):
        for key, col in obj.trace_columns.items():
            if key not in TRACE_COLUMNS:
                raise InputError(file, f"{p}trace_columns.{key}",
                                 f"unknown trace column (known: {', '.join(TRACE_COLUMNS)})")
            if not col:
                raise InputError(file, f"{p}trace_columns.{key}", "empty column name")
    elif isinstance(obj, SitingSpec):
        for k, kind in enumerate(obj.candidates):
            if kind not in ("fire_station", "hospital", "hex"):
                raise InputError(file, f"{p}candidates[{k}]",
                                 f"unknown kind {kind!r} (known: fire_station, hospital, hex)")
    elif isinstance(obj, AirspaceSpec):
        from .airspace import AERODROMES

        known = [a.icao for a in AERODROMES]
        for k, code in enumerate(obj.frz):
            if code not in known:
                raise InputError(file, f"{p}frz[{k}]",
                                 f"unknown aerodrome {code!r} (known: {', '.join(known)})")
    elif isinstance(obj, ControlRoom):
        if obj.shift_pattern and (len(obj.shift_pattern) != 24
                                  or any(not 0 <= v <= 1 for v in obj.shift_pattern)):
            raise InputError(file, p + "shift_pattern", "needs 24 shares within [0, 1]")
        for service, pilots in obj.pilots_by_service.items():
            if isinstance(pilots, bool) or not isinstance(pilots, int) or pilots < 1:
                raise InputError(file, f"{p}pilots_by_service.{service}",
                                 f"must be a whole number >= 1; got {pilots!r}")
    elif isinstance(obj, ConnectivitySpec):
        for kind, radius in obj.radius_m.items():
            if isinstance(radius, bool) or not isinstance(radius, int | float) or not radius > 0:
                raise InputError(file, f"{p}radius_m.{kind}",
                                 f"must be a number > 0; got {radius!r}")
        for kind, fname in obj.files.items():
            if not isinstance(fname, str) or not fname:
                raise InputError(file, f"{p}files.{kind}", "must be a file name")
    elif isinstance(obj, WeatherSpec | NightSpec | RosterSpec | ValueSpec | Simulation | CostSpec):
        _check_operations(obj, p, file)
    elif isinstance(obj, Scenario):
        if not NAME_PATTERN.fullmatch(obj.name) or ".." in obj.name:
            raise InputError(file, "name", f"{obj.name!r} is not a valid label: 1-80 letters, "
                             "digits, spaces and - _ . + ( ), starting with a letter or digit, "
                             "no '..' (it names the default output folder)")
        check_fleet(obj, file)
        _check_sharing(obj, file)
        if obj.costs.price_year:  # issue 17: [value]'s officer cost is uprated to it too
            from .prices import check_years

            check_years(obj.costs.price_year, (obj.value.officer_cost_price_year,), file,
                        "value.officer_cost_price_year")
        for name, spec in obj.services.items():
            if (spec.ground.base == "none" and spec.uses_drones
                    and obj.drones.loiter != "exponential"):
                raise InputError(file, f"services.{name}.ground.base",
                                 'with no ground response drones need drones.loiter = '
                                 '"exponential" (they would wait on scene for no one)')
        _check_operations_scenario(obj, file)
        dem = obj.demand
        # The trace file itself is read (and its absence reported) when the scenario is
        # prepared, so that a resolved copy of the scenario written elsewhere still loads.
        if dem.trace:
            if dem.trace_service and dem.trace_service not in obj.services:
                raise InputError(file, "demand.trace_service",
                                 f"{dem.trace_service!r} is not a service of this scenario "
                                 f"({', '.join(obj.services)})", related=("services",))
        names = [d.name for d in obj.docks]
        dup = sorted({n for n in names if names.count(n) > 1 and n})
        if dup:
            raise InputError(file, "docks", f"duplicate dock names: {', '.join(dup)}")


def check_fleet(scn: Scenario, file: str | None = None, *, sited: bool = False) -> None:
    """The fleet is within bounds and, once sited (``sited=True``: every dock listed, as after
    :func:`dronesim.engine.replication.prepare`), exists wherever a service needs drones."""
    file = scn.source if file is None else file
    if scn.fleet_size > MAX_FLEET:
        raise InputError(file, "docks", f"{scn.fleet_size:,} drones in all; at most "
                                        f"{MAX_FLEET:,} are allowed")
    needs = [n for n, sv in scn.services.items() if sv.uses_drones]
    if sited and needs and scn.fleet_size == 0 and scn.dispatch.policy != "ground_only":
        raise InputError(file, "docks", "no drones: list [[docks]] with drones, choose a "
                         "[siting] method, or set dispatch.policy = 'ground_only' (services "
                         f"using drones: {', '.join(needs)})")

_DAYS_IN_MONTH = (31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _check_operations(obj: Any, p: str, file: str) -> None:
    """Checks of the issue-9 sections that need more than one field of one object."""
    if isinstance(obj, Simulation):
        import datetime as _dt

        try:
            day = _dt.date.fromisoformat(obj.start_date)
        except ValueError:
            raise InputError(file, p + "start_date",
                             f"expected a date YYYY-MM-DD, got {obj.start_date!r}") from None
        if day.weekday() != 0:
            raise InputError(file, p + "start_date",
                             f"{obj.start_date} is a {day:%A}; the simulated clock starts on "
                             "a Monday")
    elif isinstance(obj, CostSpec) and obj.price_year:
        from .prices import check_years  # the index file's range (issue 17)

        check_years(obj.price_year, (obj.pilot_price_year, obj.equipment_price_year),
                    file, p + "price_year")
    elif isinstance(obj, WeatherSpec):
        for name in ("wind_mean_m_s", "rain_days", "rain_mm", "clear_share"):
            vals = getattr(obj, name)
            if len(vals) != 12 or any(not (v >= 0 and math.isfinite(v)) for v in vals):
                raise InputError(file, p + name, "needs 12 monthly values (Jan-Dec), each >= 0")
        if any(v <= 0 for v in obj.wind_mean_m_s):
            raise InputError(file, p + "wind_mean_m_s", "each monthly mean must be > 0")
        if any(v > 1 for v in obj.clear_share) or any(v <= 0 for v in obj.clear_share):
            raise InputError(file, p + "clear_share", "each share must be within (0, 1]")
        for m, (days, mm) in enumerate(zip(obj.rain_days, obj.rain_mm)):
            frac = days / _DAYS_IN_MONTH[m]
            if frac >= 1:
                raise InputError(file, f"{p}rain_days[{m}]", "more rain days than days")
            if days > 0 and mm < days:
                raise InputError(file, f"{p}rain_mm[{m}]",
                                 "every rain day holds >= 1 mm, so rain_mm >= rain_days")
            # P(wet | dry) = frac (1 - q) / (1 - frac) must be a probability
            if frac * (1 - obj.wet_day_persistence) > 1 - frac:
                raise InputError(file, p + "wet_day_persistence",
                                 f"too low for {days:g} rain days in month {m + 1}")
    elif isinstance(obj, NightSpec):
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(obj.timezone)
        except Exception:  # noqa: BLE001 - zoneinfo raises several types for a bad key
            raise InputError(file, p + "timezone",
                             f"unknown time zone {obj.timezone!r}") from None
    elif isinstance(obj, RosterSpec):
        if obj.drone_pattern and (len(obj.drone_pattern) != 24
                                  or any(not 0 <= v <= 1 for v in obj.drone_pattern)):
            raise InputError(file, p + "drone_pattern", "needs 24 shares within [0, 1]")
        for k, hours in obj.dock_hours.items():
            if len(hours) != 2 or any(not 0 <= h <= 24 for h in hours):
                raise InputError(file, f"{p}dock_hours.{k}",
                                 "needs [open hour, close hour], each within [0, 24]")
    elif isinstance(obj, ValueSpec):
        for k, shares in obj.drone_resolved_share.items():
            if not shares or any(not 0 <= v <= 1 for v in shares):
                raise InputError(file, f"{p}drone_resolved_share.{k}",
                                 "needs one share per priority, each within [0, 1]")


def _check_operations_scenario(obj: Scenario, file: str) -> None:
    for svc, spec in obj.services.items():
        if spec.ground.mutual_aid != "off" and spec.ground.base != "patrol":
            raise InputError(file, f"services.{svc}.ground.mutual_aid",
                             f"mutual aid is between boroughs' patrol units; base = "
                             f"{spec.ground.base!r} has none (stations already dispatch "
                             "London-wide)")
    names = [a.name for a in obj.airframes]
    for k, a in enumerate(obj.airframes):
        if not a.name:
            raise InputError(file, f"airframes[{k}].name", "every airframe type needs a name")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(file, "airframes", f"duplicate airframe names: {', '.join(dup)}")
    for k, d in enumerate(obj.docks):
        if d.airframe and d.airframe not in names:
            raise InputError(file, f"docks[{k}].airframe",
                             f"{d.airframe!r} is not an [[airframes]] name "
                             f"({', '.join(names) or 'none given'})")
    docks = {d.name for d in obj.docks}
    for name in obj.rosters.dock_hours:
        if name not in docks:
            raise InputError(file, f"rosters.dock_hours.{name}", "not a dock name of this scenario")
    for svc, shares in obj.value.drone_resolved_share.items():
        if svc not in obj.services:
            raise InputError(file, f"value.drone_resolved_share.{svc}",
                             f"not a service of this scenario ({', '.join(obj.services)})")
        n = len(obj.services[svc].priority_shares)
        if len(shares) != n:
            raise InputError(file, f"value.drone_resolved_share.{svc}",
                             f"needs one share per priority ({n}); got {len(shares)}")


def _check_sharing(obj: Scenario, file: str) -> None:
    services = set(obj.services)
    for k, d in enumerate(obj.docks):
        if d.service and d.service not in services:
            raise InputError(file, f"docks[{k}].service",
                             f"{d.service!r} is not a service of this scenario "
                             f"({', '.join(obj.services)})", related=("services",))
    for where, keys in (("control_room.pilots_by_service", obj.control_room.pilots_by_service),
                        ("connectivity.files", obj.connectivity.files),
                        ("connectivity.radius_m", obj.connectivity.radius_m)):
        for key in keys:
            if key not in services:
                raise InputError(file, f"{where}.{key}",
                                 f"not a service of this scenario ({', '.join(obj.services)})",
                                 related=("services",))
    if obj.sharing.pilots == "separate" and obj.fleet_size:
        missing = [name for name, spec in obj.services.items()
                   if spec.uses_drones and name not in obj.control_room.pilots_by_service]
        if missing:
            raise InputError(file, "control_room.pilots_by_service",
                             f"separate control rooms need pilots for {', '.join(missing)}",
                             related=("sharing.pilots", "services", "docks"))


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def read_text_file(path: Path, what: str = "file", limit: int = MAX_SCENARIO_BYTES) -> str:
    """The UTF-8 text of a small input file; every way it can fail is one InputError.

    A UTF-8 byte-order mark is accepted. Not found, a folder, unreadable, larger than ``limit``
    bytes, not UTF-8, or holding NUL bytes (a binary file): refused, naming the file.
    """
    path = input_file(path, what)
    try:
        size = path.stat().st_size
        if size > limit:
            raise InputError(path, "", f"{size:,} bytes is too large for a {what} "
                                       f"(at most {limit:,})")
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, "", f"cannot read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InputError(path, "", f"not UTF-8 text (byte 0x{data[exc.start]:02x} on line "
                                   f"{line}); save the file as UTF-8") from None
    if "\x00" in text:
        raise InputError(path, "", "not a text file (it holds NUL bytes)")
    return text


def _read_toml(path: Path) -> dict[str, Any]:
    text = read_text_file(path, "scenario file")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, "", f"not valid TOML ({exc})") from None


#: Fields holding file names, resolved relative to the file that sets them.
_PATH_FIELDS: tuple[tuple[str, str], ...] = (
    ("demand", "trace"), ("siting", "file"), ("airspace", "no_fly_files"),
    ("connectivity", "files"))
#: Per-service file fields: (``services``, ``ground.travel_file``) is hashed and anchored for
#: every service (``services.<name>.ground.travel_file``).
_SERVICE_PATH_FIELDS = (("ground", "travel_file"),)
_PATH_FIELDS = (*_PATH_FIELDS, *(("services", f"{a}.{b}") for a, b in _SERVICE_PATH_FIELDS))


def _anchor_paths(table: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Relative file names in a parent scenario made absolute against the parent's folder, so
    they mean the same file when a child in another folder extends it."""

    def fix(v: Any) -> Any:
        if isinstance(v, str) and v and not Path(v).expanduser().is_absolute():
            return str(folder / v)
        if isinstance(v, list):
            return [fix(x) for x in v]
        if isinstance(v, Mapping):
            return {k: fix(x) for k, x in v.items()}
        return v

    out = dict(table)
    services = out.get("services")
    if isinstance(services, Mapping):  # per-service file fields (services.<name>.ground...)
        fixed: dict[str, Any] = {}
        for name, svc in services.items():
            for sub, key in _SERVICE_PATH_FIELDS:
                part = svc.get(sub) if isinstance(svc, Mapping) else None
                if isinstance(part, Mapping) and key in part:
                    svc = {**svc, sub: {**part, key: fix(part[key])}}
            fixed[name] = svc
        out["services"] = fixed
    for section, key in _PATH_FIELDS:
        if section == "services":
            continue
        sec = out.get(section)
        if isinstance(sec, Mapping) and key in sec:
            out[section] = {**sec, key: fix(sec[key])}
    return out


def _origins(table: Mapping[str, Any], file: str, prefix: str = "") -> dict[str, str]:
    """Dotted path of every key in ``table`` (tables and leaves) -> ``file``."""
    out: dict[str, str] = {}
    for k, v in table.items():
        where = f"{prefix}.{k}" if prefix else str(k)
        out[where] = file
        if isinstance(v, Mapping):
            out.update(_origins(v, file, where))
    return out


def _field_origin(origins: Mapping[str, str], field_: str) -> str | None:
    """The file that set ``field_`` or its nearest enclosing table or array."""
    f = field_
    while f:
        if f in origins:
            return origins[f]
        cut = max(f.rfind("."), f.rfind("["))
        f = f[:cut] if cut > 0 else ""
    return None


def blame(exc: InputError, source: str, origins: Mapping[str, str],
          labels: Mapping[str, str] | None = None) -> InputError:
    """``exc`` re-addressed to the file that set the offending field (a parent reached through
    ``extends``, or ``<command line>`` with the option's name from ``labels``)."""
    if exc.file != str(source) or not exc.field:
        return exc
    head = exc.field.split(": ")[0]
    origin = _field_origin(origins, head)
    # A cross-field check belongs to whichever file set the last of its fields.
    order = list(dict.fromkeys(origins.values()))  # files in the order they were merged
    for rel in exc.related:
        other = _field_origin(origins, rel)
        if other is not None and (origin is None or order.index(other) > order.index(origin)):
            origin = other
    if origin is None or origin == str(source):
        return exc
    field_ = (labels or {}).get(head, exc.field) if origin.startswith("<") else exc.field
    return InputError(origin, field_, exc.problem, related=exc.related)


def load_scenario(path: str | Path, overrides: Mapping[str, Any] | None = None, *,
                  overrides_origin: str = "<overrides>",
                  override_labels: Mapping[str, str] | None = None) -> Scenario:
    """Read, merge (``extends``) and validate a scenario file.

    Parameters
    ----------
    path
        The TOML file (UTF-8).
    overrides
        Optional nested table merged on top of the file, validated like the file itself.
    overrides_origin, override_labels
        How an error in an overridden value is reported: the "file" (``<command line>``) and the
        name of each dotted field there (``{"simulation.weeks": "--weeks"}``).

    An error is reported against the file that set the offending value: the parent named by
    ``extends`` when the value came from there.
    """
    path = Path(path)
    source = str(path)
    table = _read_toml(path)
    parent = table.pop("extends", None)
    origins: dict[str, str] = {}
    if parent is not None:
        if not isinstance(parent, str) or not parent:
            raise InputError(path, "extends", "expected a file name")
        parent_path = (path.parent / Path(parent).expanduser()).resolve()
        # A missing parent is the child's error: its extends names a file that is not there.
        input_file(parent_path, "scenario file", source=path, field="extends")
        base = _read_toml(parent_path)
        if "extends" in base:
            raise InputError(parent_path, "extends", "only one level of extends is allowed")
        origins.update(_origins(base, str(parent_path)))
        origins.update(_origins(table, source))
        base = _anchor_paths(base, parent_path.parent)
        table = _merge(base, table)
    elif not table:
        raise InputError(path, "", "empty scenario: no settings (start from a file in "
                                   "scenarios/, e.g. extends = \"met_baseline.toml\")")
    else:
        origins.update(_origins(table, source))
    if overrides:
        origins.update(_origins(overrides, overrides_origin))
        table = _merge(table, overrides)
    try:
        scn = scenario_from_dict(table, source=source)
    except InputError as exc:
        raise blame(exc, source, origins, override_labels) from None
    return dataclasses.replace(scn, origins=types.MappingProxyType(origins))


def scenario_from_dict(table: Mapping[str, Any], source: str = "<memory>") -> Scenario:
    """Validate a nested mapping (as read from TOML) into a :class:`Scenario`."""
    scn = _build(Scenario, table, "", source)
    return dataclasses.replace(scn, source=source)


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        out = {}
        for f in dataclasses.fields(obj):
            if f.metadata.get("internal"):
                continue
            v = _plain(getattr(obj, f.name))
            if isinstance(v, float) and math.isnan(v):
                continue  # TOML has nan, but an unset coordinate is clearer left out
            out[f.name] = v
        return out
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple | list):
        return [_plain(v) for v in obj]
    if isinstance(obj, float) and math.isinf(obj):
        return obj
    return obj


def scenario_to_dict(scn: Scenario) -> dict[str, Any]:
    """Plain nested dict of every resolved value (defaults included)."""
    return _plain(scn)


def dump_scenario_toml(scn: Scenario) -> str:
    """The fully resolved scenario as TOML text: loading it again gives an equal scenario."""
    import tomli_w

    header = f"# Resolved scenario (every default filled in) from {scn.source}\n"
    return header + tomli_w.dumps(scenario_to_dict(scn))
