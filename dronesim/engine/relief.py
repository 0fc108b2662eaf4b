"""Relief drones: a second drone takes over an incident before the first one's battery reserve
forces it home, so the scene stays covered until the ground unit arrives (issue 9, item 2).

What this module owns
---------------------
:class:`Relief` watches every mission whose planned departure from the scene is forced by the
battery (leave reason ``battery``) while the ground unit has not arrived by then
(``drones.loiter = "until_ground"``). ``[relief] lead_s`` before that departure it asks the relief
policy (``[relief] policy``, a registered dispatch policy with its ``params``) about the
incident, with the same read-only snapshot of candidate drones a dispatch gets. If the policy
answers ``Dispatch(d)`` with a drone that can launch at once (READY at its dock with the charge
for the flight out, ``min_on_scene_s``, the flight back and the reserve), a pilot of the
incident's control room is free now, and the fleet is not grounded, the relief launches: launch
overhead, climb, cruise, descent (night rules as for any flight), then it stays until the
ground unit arrives plus ``handover_s``, or until its own battery forces it home, when it may be
relieved in turn. ``Queue`` or ``Decline``, or a drone that cannot go at once, means no relief
(the relief is asked for once per drone on scene: a relief that waited would come too late).

The record holds the handover: ``relief_drones`` (how many reliefs took over), ``relief_drone_id``
(the last), ``t_relief_on_scene`` (the first relief's arrival), ``t_relief_leave`` (when the last
relief left) and ``relief_gap_s`` (seconds the scene was without a drone between one leaving and
the next arriving, summed). Relief legs are rows of the mission table flagged ``relief``. The
KPIs: relief missions per week, the mean gap, and (always) the share of drone-attended incidents
covered until the ground unit arrived.

Assumptions
-----------
* A relief holds a pilot from launch to landing and needs one free at once; sector caps and
  authorisation delays are not applied to relief legs (their airspace is the first drone's).
* Relief legs do not have faults of their own (their flight time still counts towards
  maintenance); pre-emption never takes a relief drone.
* No source gives how police DFR services relieve drones on scene; the lead time is an
  assumption stated in the scenario.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..dispatch import Dispatch, make_policy
from ..dispatch.watchdog import active_limit, runs_user_code
from ..errors import InputError
from ..kinematics import leg_s, spare_charge_s
from .records import (
    LEAVE,
    LEG_BACK,
    LEG_DRONE,
    LEG_DRONE_BATTERY,
    LEG_END,
    LEG_LATEST,
    LEG_LAUNCH,
    LEG_LEAVE,
    LEG_REASON,
    LEG_SCENE,
    MISSION_FLAGS,
)

if TYPE_CHECKING:
    from ..dispatch.base import DispatchPolicy
    from .dispatcher import _DroneDispatcher
    from .fleet import Fleet
    from .kernel import Kernel
    from .prepared import Prepared
    from .records import Records

__all__ = ["Relief", "relief_policy"]

_RELIEF = MISSION_FLAGS["relief"]
_BATTERY, _GROUND = LEAVE["battery"], LEAVE["ground_arrived"]


def relief_policy(prep: Prepared) -> DispatchPolicy:
    """The ``[relief]`` policy, bound to the scenario like the dispatch policy."""
    r = prep.scenario.relief
    try:
        policy = make_policy(r.policy, r.params, prep.scenario.source)
    except InputError as exc:
        raise InputError(exc.file, exc.field.replace("dispatch.", "relief.", 1),
                         exc.problem) from None
    bind = getattr(policy, "bind", None)
    if callable(bind):
        bind(prep.policy_context)
    return policy


class Relief:
    """Relief missions of one replication (see the module docstring)."""

    def __init__(self, prep: Prepared, env: Kernel, fleet: Fleet, rec: Records,
                 dispatcher: _DroneDispatcher) -> None:
        scn = prep.scenario
        self.env, self.fleet, self.rec, self.dispatcher = env, fleet, rec, dispatcher
        self.spec = scn.drones
        self.lead_s = scn.relief.lead_s
        self.policy = relief_policy(prep)
        self.decide = self.policy.decide
        limit = active_limit()  # a user policy's decisions timed (dronesim.dispatch.watchdog)
        if limit is not None and runs_user_code(self.policy):
            self.decide = limit.wrap(self.decide, scn.relief.policy)
        n = fleet.size
        #: The fleet's missions in flight by drone (``fleet._m``, the same list): a leg row
        #: while the drone flies, None otherwise; read here only for drones known to fly.
        self._m: list[Any] = fleet._m
        # Per relief drone: its incident (-1: not on a relief), the version of its landing
        # event. Its leg in flight is the fleet's mission list (fleet._m, a leg row).
        self.inc = [-1] * n
        self.token = [0] * n
        #: Per incident key: the drone covering it now, when it is a relief.
        self.cover: dict[int, int] = {}

    # --- watching missions -------------------------------------------------------------------
    def watch(self, d: int, i: int) -> None:
        """Drone d at incident i will leave for its battery at its planned leave (in its
        mission, ``fleet._m[d]``): ask for a relief ``lead_s`` before."""
        leave = self._m[d][LEG_LEAVE]
        t = max(self.env._now, leave - self.lead_s)
        self.env.at(t, self._request, (d, i, leave))

    def _covering(self, d: int, i: int, leave: float) -> bool:
        """Drone d is still on scene at incident i, leaving for its battery at ``leave``."""
        fl = self.fleet
        if fl.state[d] != 2 or self._m[d][LEG_LEAVE] != leave:  # 2: FLYING
            return False
        return fl.incident_of[d] == i or self.inc[d] == i

    def _request(self, ev: Any) -> None:
        d, i, leave = ev.arg
        if not self._covering(d, i, leave):
            return  # rescheduled (ground arrival known, a relief already came) or gone
        rec, fl, now = self.rec, self.fleet, self.env._now
        g = rec.t_ground_arrival[i]
        if g == g and g + self.spec.handover_s <= leave:
            return
        gr = fl.grounding
        if gr is not None and gr.grounds and gr.reason_at(now):
            return
        row = self.dispatcher.cand[i]
        if row is None:
            return
        from .fleet import _Snapshot

        svc = rec.service[i]
        snap = _Snapshot(fl, row, svc, now)
        decision = self.decide(self.dispatcher.incident_view(i), snap, now)
        if not isinstance(decision, Dispatch):
            return
        d2 = int(decision.drone)
        pos = fl.offered(d2, row, now, svc)
        if pos < 0 or d2 == d or fl.state[d2] != 0:  # 0: IDLE at its dock
            return
        dist = row[1][pos]
        if fl.battery_at(d2, now) < fl._need(dist, fl.dock_of[d2]):
            return
        pool = fl._room_of[svc]
        if pool.free <= 0 or pool._waiting:
            return
        self._launch(d2, i, dist, pool, d, leave)

    # --- a relief leg ----------------------------------------------------------------------
    def _launch(self, d: int, i: int, dist: float, pool: Any, relieved: int,
                relieved_leave: float) -> None:
        fl, rec, spec, env = self.fleet, self.rec, self.spec, self.env
        now = env._now
        t_launch = now + spec.launch_overhead_s
        k = fl.dock_of[d]
        legs = fl.per_leg
        if legs is not None:  # the per-leg effects (dronesim.engine.legs; a leg it cannot fly:
            # no relief)
            extra, out, back, code, drain = legs.launch(t_launch, fl._dock_x[k], fl._dock_y[k],
                                                        rec.x[i], rec.y[i], dist, fl._spd[k])
            if code:
                return
            t_launch += extra
        else:  # the calm strategy
            out = leg_s(dist, fl._spd[k], spec.climb_s, spec.descent_s)
            back = math.nan
            drain = 0.0
        pool.free -= 1
        fl._pilot_pool[d] = pool
        fl.dock_idle[k] -= 1
        fl.n_idle -= 1
        battery = fl.battery_at(d, t_launch)
        t_scene = t_launch + out
        if back != back:  # (NaN: the leg home is the leg out)
            back = out
            latest = t_scene + max(0.0, battery - 2 * out - spec.reserve_s)
        else:
            latest = t_scene + max(0.0, spare_charge_s(battery, out, back,
                                                       spec.reserve_s + drain))
        fl.state[d] = 2  # FLYING (incident_of stays -1: the fleet's own mission code leaves it)
        # The leg in flight, laid out as a leg row (records.LEG_FIELDS): request, distance,
        # no authorisation delay, pilot, launch and charge (leg and drone), on scene, latest
        # leave, flight home; leave, landing and reason are set by _plan; no fleet landing
        # event (this module times the landing); flagged relief. The drone's charge is less the
        # legs' drain beyond their airborne seconds (Legs.launch), so its landing charge counts it.
        fl._m[d] = [i, now, dist, math.nan, now, t_launch, battery, t_launch, battery - drain,
                    t_scene, latest, back, math.nan, math.nan, 0, None, _RELIEF]
        self.inc[d] = i
        self.cover[i] = d
        rec.range_of[i].open += 1  # the drone side stays open until the relief lands
        rec.relief_drones[i] += 1
        rec.relief_drone_id[i] = d
        if rec.t_relief_on_scene[i] != rec.t_relief_on_scene[i]:
            rec.t_relief_on_scene[i] = t_scene
        gap = max(0.0, t_scene - relieved_leave)
        prev = rec.relief_gap_s[i]
        rec.relief_gap_s[i] = gap if prev != prev else prev + gap
        self._plan(d, i)

    def _plan(self, d: int, i: int) -> None:
        """(Re)plan relief drone d's stay at incident i: until the ground unit arrives plus the
        handover, or its battery; then home."""
        fl, env = self.fleet, self.env
        g = self.rec.t_ground_arrival[i]
        m = self._m[d]
        latest = m[LEG_LATEST]
        t_scene = m[LEG_SCENE]
        if g == g and max(g + self.spec.handover_s, t_scene) < latest:
            leave, battery = max(g + self.spec.handover_s, t_scene), False
        else:
            leave, battery = latest, True
        m[LEG_LEAVE] = leave
        land = m[LEG_END] = leave + m[LEG_BACK]
        m[LEG_REASON] = _BATTERY if battery else _GROUND
        self.token[d] += 1
        now = env._now
        env.at(now + (land - now), self._landed, (d, self.token[d]))
        if battery and fl.relief is not None:
            self.watch(d, i)  # the relief may be relieved in turn

    def ground_eta_known(self, i: int) -> None:
        """The ground arrival of incident i is known: re-plan the relief covering it."""
        d = self.cover.get(i)
        if d is not None and self.inc[d] == i and self.env._now < self._m[d][LEG_LEAVE]:
            self._plan(d, i)

    def _landed(self, ev: Any) -> None:
        d, token = ev.arg
        if token != self.token[d]:
            return
        fl, rec = self.fleet, self.rec
        i = self.inc[d]
        t_land = self.env._now
        fl._release(d)  # its pilot (relief legs hold no sector slot)
        m = fl._m[d]
        fl._m[d] = None
        t_launch = m[LEG_LAUNCH]
        b_land = m[LEG_DRONE_BATTERY] - (t_land - t_launch)
        rec.t_relief_leave[i] = m[LEG_LEAVE]
        # The leg's row, flagged relief (Records.take_missions leaves the incident's own drone
        # columns alone: the relief_* columns hold the handover).
        m[LEG_END] = t_land
        m[LEG_DRONE] = d
        rec.log_leg(m)
        self.inc[d] = -1
        if self.cover.get(i) == d:
            del self.cover[i]
        rec.range_of[i].open -= 1
        duty = fl.duty
        if duty is not None:  # its flight time counts towards maintenance (no faults)
            duty.landed(d, t_launch, t_land, False, False, False, exposed=False)
        fl._to_idle(d, b_land, t_land)
