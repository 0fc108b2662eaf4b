"""Per-leg effects of one replication: everything that makes a flight leg slower, faster,
later or impossible, in one place.

What this module owns
---------------------
* :data:`EFFECTS`: the list of per-leg effects, each a name and the predicate that says
  whether a scenario turns it on; :func:`any_on` is the one predicate the engine reads
  (through :attr:`dronesim.engine.features.Features.per_leg`). A NEW per-leg effect is a new
  entry here and a branch in :class:`Legs`: no new Features field, no edit of the fleet, the
  relief drones or the replication.
* :class:`Legs`: given the launch moment, the two ends, the distance and the dock's cruise
  speed, the launch extra, the legs out and back (``inf`` when a leg cannot be flown, with the
  grounding reason), the pre-emption hop and leg home, and the speed at which a dispatch's
  charge is judged. :class:`dronesim.engine.fleet.Fleet` (mission start, pre-emption,
  redirect), :class:`dronesim.engine.relief.Relief` and the replication call only it.

The calm strategy
-----------------
With no per-leg effect on (the default) there is no :class:`Legs` object at all
(``Fleet.per_leg is None``: one predicate) and the engine times a leg with
:func:`dronesim.kinematics.leg_s` inline, as it always has (the hot path pays nothing).
tests/test_legs.py checks that :class:`Legs` with every effect off gives the calm strategy's
times bit for bit.

The effects
-----------
* ``night_slower`` (``[night] rule = "slower"``; :mod:`dronesim.inputs.daylight`): a flight
  launched in a night hour flies at ``speed_factor`` x cruise speed and takes
  ``extra_launch_s`` more to get airborne; a dispatch's charge is judged at the night speed by
  day too (the dispatcher cannot know when a pilot will be free). Pre-emption hops keep the
  cruise speed (the drone is already airborne).
* ``wind_on_flight`` (``[weather] wind_on_flight``; docs/wind.md): each leg (out, back, relief,
  pre-emption hop) is timed by the wind triangle (:func:`dronesim.kinematics.wind_leg_s`) in
  the wind of the hour it starts in (out and back both in the launch hour's wind); a leg the
  wind makes impossible grounds the mission by wind. A dispatch's charge is judged, hour by
  hour, at the worst heading's speed (:func:`dronesim.kinematics.worst_heading_speed_m_s`).
  Policies' predicted arrival times stay calm ones.
* ``wind_hold_ground`` (``[weather] wind_hold = "ground_speed"``, with wind on flight): the
  autopilot holds the cruise GROUND speed along the track, raising the airspeed into a head
  wind up to ``[drones] max_airspeed_m_s`` and flying slower over the ground only beyond it
  (:func:`dronesim.kinematics.held_leg_s`); the battery then drains by the rotor power at the
  airspeed flown (:func:`dronesim.kinematics.leg_charge_s`), so a leg's charge is not its
  time: :meth:`Legs.launch` and :meth:`Legs.hop` return the charge drained beyond the legs'
  airborne seconds (``drain``), which the fleet carries with the mission. A dispatch's charge
  is judged, hour by hour, at the worst of 36 headings.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..inputs.daylight import night_hours
from ..inputs.weather import HOUR_S, REASONS, flight_wind
from ..kinematics import held_leg_s, leg_s, wind_leg_s, worst_heading_speed_m_s

if TYPE_CHECKING:
    from ..inputs.scenario import Scenario
    from .kernel import Kernel

__all__ = ["EFFECTS", "Legs", "any_on", "effects_on"]

#: Grounding reason of a leg the wind makes impossible.
_WIND = REASONS.index("wind")

#: The per-leg effects: name and whether a scenario turns it on.
EFFECTS: dict[str, Callable[[Scenario], bool]] = {
    "night_slower": lambda scn: scn.night.rule == "slower",
    "wind_on_flight": lambda scn: bool(scn.weather.enabled and scn.weather.wind_on_flight),
    "wind_hold_ground": lambda scn: bool(scn.weather.enabled and scn.weather.wind_on_flight
                                         and scn.weather.wind_hold == "ground_speed"),
}


def effects_on(scn: Scenario) -> tuple[str, ...]:
    """The names of the per-leg effects a scenario turns on (in :data:`EFFECTS` order)."""
    return tuple(name for name, on in EFFECTS.items() if on(scn))


def any_on(scn: Scenario) -> bool:
    """Whether any per-leg effect is on (False: the calm strategy, no :class:`Legs`)."""
    return any(on(scn) for on in EFFECTS.values())


class Legs:
    """The per-leg effects of one replication (see the module docstring).

    ``grounding`` is the replication's :class:`dronesim.engine.availability.Grounding` (its
    drawn weather series and hour count; None when nothing grounds, and then every hour is
    calm and by day), ``cruise`` the cruise speed per dock (``Fleet._spd``), ``climb_s`` and
    ``descent_s`` the airframe's vertical legs.
    """

    def __init__(self, prep: Any, grounding: Any, cruise: list[float], climb_s: float,
                 descent_s: float) -> None:
        scn = prep.scenario
        self.on = effects_on(scn)
        self.horizon_s = prep.horizon_s
        self.cruise = list(cruise)
        self.climb_s, self.descent_s = climb_s, descent_s
        hours = grounding.n_hours if grounding is not None else 0
        # night_slower
        self.slower = "night_slower" in self.on
        self.speed_factor = scn.night.speed_factor if self.slower else 1.0
        self.extra_launch_s = scn.night.extra_launch_s if self.slower else 0.0
        self.slow: list[bool] = (night_hours(scn.simulation.start_date, hours, scn.night)
                                 .tolist() if self.slower and hours else [])
        # wind_on_flight: the hourly wind at flight height (east, north, speed; m/s)
        self.wind = "wind_on_flight" in self.on
        self.wind_e: list[float] = []
        self.wind_n: list[float] = []
        self.wind_speed: list[float] = []
        if self.wind and grounding is not None and grounding.series is not None:
            e, n = flight_wind(grounding.series, scn.weather)
            self.wind_e, self.wind_n = e.tolist(), n.tolist()
            self.wind_speed = np.hypot(e, n).tolist()
        # wind_hold_ground: the cruise ground speed held, up to the maximum airspeed
        self.hold_ground = "wind_hold_ground" in self.on
        self.max_airspeed_m_s = scn.drones.max_airspeed_m_s

    # --- hour lookups --------------------------------------------------------------------------
    def slow_at(self, t: float) -> bool:
        """Whether a flight launched at t is slowed (a night hour under "slower")."""
        h = int(t // HOUR_S)
        return self.slower and 0 <= h < len(self.slow) and self.slow[h]

    def wind_at(self, t: float) -> tuple[float, float]:
        """Wind vector (east, north; m/s, at flight height) in the hour of time t; calm
        beyond the drawn hours."""
        h = int(t // HOUR_S)
        if 0 <= h < len(self.wind_e):
            return self.wind_e[h], self.wind_n[h]
        return 0.0, 0.0

    def held_leg(self, t: float, x0: float, y0: float, x1: float, y1: float, dist: float,
                 speed: float, climb_s: float, descent_s: float) -> tuple[float, float]:
        """``(time, charge)`` of a leg as :meth:`leg`, holding the ground speed ``speed``
        (:func:`dronesim.kinematics.held_leg_s`)."""
        we, wn = self.wind_at(t)
        dx, dy = x1 - x0, y1 - y0
        r = math.hypot(dx, dy)
        ux, uy = (dx / r, dy / r) if r > 0 else (1.0, 0.0)
        return held_leg_s(dist, speed, self.max_airspeed_m_s, ux, uy, we, wn, climb_s,
                          descent_s)

    def leg(self, t: float, x0: float, y0: float, x1: float, y1: float, dist: float,
            speed: float, climb_s: float, descent_s: float) -> float:
        """Time (s) of a leg of ``dist`` m from (x0, y0) towards (x1, y1) at airspeed
        ``speed`` in the wind of the hour of t (:func:`dronesim.kinematics.wind_leg_s`;
        ``inf``: it cannot be flown). The track's direction is the straight bearing (a leg
        around a restriction zone is longer, flown on that bearing)."""
        we, wn = self.wind_at(t)
        dx, dy = x1 - x0, y1 - y0
        r = math.hypot(dx, dy)
        ux, uy = (dx / r, dy / r) if r > 0 else (1.0, 0.0)
        return wind_leg_s(dist, speed, ux, uy, we, wn, climb_s, descent_s)

    # --- what the engine asks ------------------------------------------------------------------
    def launch(self, t: float, xk: float, yk: float, xi: float, yi: float, dist: float,
               speed: float) -> tuple[float, float, float, int, float]:
        """A flight from the dock at (xk, yk) to the scene at (xi, yi), ``dist`` m, cruise
        ``speed``, cleared to launch at t: ``(extra, out, back, reason, drain)``: the launch
        extra (s, added to t), the legs out and back (s; ``back`` is NaN when it is the leg
        out: no effect on tells the directions apart), the grounding reason (0: it flies; a
        leg of ``inf`` grounds it) and the charge the two legs drain beyond their airborne
        seconds (0 unless the ground speed is held)."""
        extra = 0.0
        if self.slower and self.slow_at(t):
            extra = self.extra_launch_s
            speed *= self.speed_factor
        climb_s, descent_s = self.climb_s, self.descent_s
        if self.hold_ground:
            out, out_c = self.held_leg(t, xk, yk, xi, yi, dist, speed, climb_s, descent_s)
            back, back_c = self.held_leg(t, xi, yi, xk, yk, dist, speed, climb_s, descent_s)
            if out == math.inf or back == math.inf:
                return extra, out, back, _WIND, 0.0
            return extra, out, back, 0, (out_c - out) + (back_c - back)
        if self.wind:
            out = self.leg(t, xk, yk, xi, yi, dist, speed, climb_s, descent_s)
            back = self.leg(t, xi, yi, xk, yk, dist, speed, climb_s, descent_s)
            return extra, out, back, _WIND if out == math.inf or back == math.inf else 0, 0.0
        return extra, leg_s(dist, speed, climb_s, descent_s), math.nan, 0, 0.0

    def hop(self, t: float, xj: float, yj: float, xi: float, yi: float, hop: float,
            xk: float, yk: float, home: float, speed: float) -> tuple[float, float, float]:
        """A drone on scene at (xj, yj) redirected at t to (xi, yi), ``hop`` m away (already
        airborne: no climb or descent), then home to its dock at (xk, yk), ``home`` m, at
        cruise ``speed``: ``(hop_s, home_s, drain)`` (``inf``: it cannot be flown; ``drain``
        as in :meth:`launch`)."""
        if self.hold_ground:
            hop_s, hop_c = self.held_leg(t, xj, yj, xi, yi, hop, speed, 0.0, 0.0)
            home_s, home_c = self.held_leg(t, xi, yi, xk, yk, home, speed, self.climb_s,
                                           self.descent_s)
            if hop_s == math.inf or home_s == math.inf:
                return hop_s, home_s, 0.0
            return hop_s, home_s, (hop_c - hop_s) + (home_c - home_s)
        if self.wind:
            return (self.leg(t, xj, yj, xi, yi, hop, speed, 0.0, 0.0),
                    self.leg(t, xi, yi, xk, yk, home, speed, self.climb_s, self.descent_s), 0.0)
        return hop / speed, leg_s(home, speed, self.climb_s, self.descent_s), 0.0

    def drive_need_speed(self, env: Kernel, set_speeds: Callable[[list[float]], None]) -> None:
        """Set the speed per dock at which a dispatch's charge is judged
        (``set_speeds``: :meth:`dronesim.engine.fleet.Fleet.set_need_speeds`): the night
        speed under "slower"; with wind on flight, hour by hour, the worst heading's speed in
        that hour's wind (so the charge a mission needs covers its round trip whatever the
        scene's bearing)."""
        base = [v * self.speed_factor for v in self.cruise]
        if not self.wind:
            set_speeds(base)
            return

        def hour(_ev: Any) -> None:
            now = env._now
            h = int(now // HOUR_S)
            w = self.wind_speed[h] if 0 <= h < len(self.wind_speed) else 0.0
            if self.hold_ground:
                set_speeds([self._held_need_speed(v, h) for v in base])
            else:
                set_speeds([worst_heading_speed_m_s(v, w) for v in base])
            if (h + 1) * HOUR_S < self.horizon_s:  # (then the last hour's, as Duty's rosters)
                env.at((h + 1) * HOUR_S, hour)

        hour(None)

    def _held_need_speed(self, v: float, h: int) -> float:
        """Under the ground-speed hold: the speed at which a calm round trip drains as much
        charge as the costliest round trip in hour h's wind over 36 headings (1,000 m each
        way, :func:`dronesim.kinematics.held_leg_s`); a tiny speed when some heading cannot
        be flown (no dispatch has the charge)."""
        we, wn = self.wind_at(h * HOUR_S)
        worst = 0.0
        for a in range(36):
            ux, uy = math.cos(a * math.pi / 18.0), math.sin(a * math.pi / 18.0)
            c = (held_leg_s(1000.0, v, self.max_airspeed_m_s, ux, uy, we, wn, 0.0, 0.0)[1]
                 + held_leg_s(1000.0, v, self.max_airspeed_m_s, -ux, -uy, we, wn, 0.0, 0.0)[1])
            worst = max(worst, c)
        return 2000.0 / worst if worst < math.inf else 1e-9
