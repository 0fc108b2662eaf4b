"""Records first, metrics after: one flat row per incident and one per drone mission.

The domain modules write timestamps into preallocated columns indexed by incident; nothing is
appended per event. Times are seconds since the simulated Monday 00:00; NaN means "did not
happen". Metrics (:mod:`dronesim.metrics`) are derived from these tables only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .demand import Incidents

__all__ = ["Records", "DRONE_OUTCOMES", "LEAVE_REASONS", "MISSION_COLUMNS"]

#: Outcome of the drone side of an incident (stored as a category in the tables).
DRONE_OUTCOMES = (
    "not_suited",  # no drone asked for (service or incident type)
    "on_scene",  # a drone reached the scene
    "out_of_range",  # no dock within range
    "declined",  # the policy chose not to send a drone
    "queue_abandoned",  # waited longer than max_queue_wait_s, or ground arrived first
    "cancelled",  # drone assigned, but ground on scene before launch
    "pending",  # still waiting when the run ended
    "no_link",  # outside the service's link coverage, and such flights are refused
)
OUTCOME = {name: k for k, name in enumerate(DRONE_OUTCOMES)}

LEAVE_REASONS = ("", "ground_arrived", "battery", "task_done", "preempted")
LEAVE = {name: k for k, name in enumerate(LEAVE_REASONS)}

_FLOAT_COLS = (
    "t_drone_decision", "t_drone_assigned", "t_pilot", "t_launch", "t_drone_on_scene",
    "t_drone_leave", "t_drone_landed", "drone_distance_m", "t_ground_dispatch",
    "t_ground_arrival", "t_ground_clear", "ground_distance_m", "airspace_delay_s", "t_sector",
)
_INT_COLS = ("drone_id", "dock_id", "ground_unit", "drone_outcome", "drone_leave_reason",
             "preempted_by", "link_outside")

#: One row per mission leg. A leg ended by pre-emption has ``redirected`` true and ``t_landed``
#: is when the drone left for the next incident (it did not land).
MISSION_COLUMNS = ("drone_id", "dock_id", "incident", "t_assigned", "t_pilot", "t_launch",
                   "t_on_scene", "t_leave", "t_landed", "battery_launch_s", "battery_landed_s",
                   "redirected")


class Records:
    """Per-incident result columns for one replication, plus the mission log."""

    def __init__(self, n: int) -> None:
        self.n = n
        for col in _FLOAT_COLS:
            setattr(self, col, np.full(n, np.nan))
        for col in _INT_COLS:
            setattr(self, col, np.full(n, -1, np.int64))
        self.drone_outcome[:] = OUTCOME["not_suited"]
        self.drone_leave_reason[:] = 0
        self.link_outside[:] = 0
        self.missions: list[tuple] = []

    def incident_table(self, inc: Incidents, replication: int, borough_codes: np.ndarray
                       ) -> pd.DataFrame:
        """One row per incident: inputs, every timestamp, responders and outcome."""
        df = pd.DataFrame({
            "incident_id": np.arange(self.n, dtype=np.int64),
            "replication": np.full(self.n, replication, np.int32),
            "t_call": inc.t_call,
            "x": inc.x,
            "y": inc.y,
            "gss_code": borough_codes[inc.borough],
            "service": pd.Categorical.from_codes(inc.service, categories=list(inc.service_names)),
            "priority": inc.priority.astype(np.int8),
            "drone_suited": inc.suited,
        })
        for col in _FLOAT_COLS:
            df[col] = getattr(self, col)
        for col in ("drone_id", "dock_id", "ground_unit", "preempted_by"):
            df[col] = getattr(self, col).astype(np.int32)
        df["link_outside"] = self.link_outside.astype(bool)
        df["drone_outcome"] = pd.Categorical.from_codes(self.drone_outcome,
                                                        categories=list(DRONE_OUTCOMES))
        df["drone_leave_reason"] = pd.Categorical.from_codes(self.drone_leave_reason,
                                                             categories=list(LEAVE_REASONS))
        df["drone_response_s"] = df["t_drone_on_scene"] - df["t_call"]
        df["ground_response_s"] = df["t_ground_arrival"] - df["t_call"]
        return df

    def mission_table(self, replication: int, inc: Incidents | None = None) -> pd.DataFrame:
        """One row per mission (with the incident's service if ``inc`` is given), typed even
        when there were none."""
        cols = list(zip(*self.missions)) if self.missions else [()] * len(MISSION_COLUMNS)
        data = {}
        for name, values in zip(MISSION_COLUMNS, cols):
            dtype = (np.int64 if name in ("drone_id", "dock_id", "incident")
                     else bool if name == "redirected" else np.float64)
            data[name] = np.asarray(values, dtype=dtype)
        df = pd.DataFrame(data)
        df.insert(0, "replication", np.full(len(df), replication, np.int32))
        if inc is not None:
            df["service"] = pd.Categorical.from_codes(
                inc.service[df["incident"].to_numpy()], categories=list(inc.service_names))
        return df
