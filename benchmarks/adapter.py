"""dronesim run on the benchmark workload, using whichever engine hooks this checkout has.

The harness must run against today's dronesim and pick up the engine rewrite's features when
they land, so each is detected (never assumed) and the mode used is printed:

Input (how the workload's calls reach dronesim)
    ``incidents``: ``run_replication(prep, r, incidents=...)`` with a
    :class:`dronesim.inputs.demand.Incidents` built from the workload arrays, when
    ``run_replication``
    takes ``incidents``. Otherwise ``trace``: the workload written once as a trace CSV and replayed
    through ``[demand] trace`` (public API). In trace mode dronesim draws each call's on-scene time
    itself, from its stream ``police.loiter`` of (seed, replication 0): the same draw the workload
    was generated from (:func:`benchmarks.workload.make_workload`); times, places and on-scene
    times are checked equal to the workload's before any run.
Ground (the references have no ground response)
    ``none``: ``[services.police.ground] base = "none"`` when the schema allows it (drones then
    use ``loiter = "exponential"``, as here). Otherwise ``out of the way``: one unit per borough,
    dispatched a day after the call (call handling 86,400 s, the schema's maximum) and clear on
    arrival. It never meets a drone (no stand-down, no queue abandonment, no change to the time
    on scene), so results still match the references exactly, but dronesim still simulates it:
    its cost is inside dronesim's figure.
Records
    ``parquet``: ``run_replication(..., sink=ParquetSink(...))`` when both exist (used for the
    memory figure). Otherwise ``in memory``: today's record tables.

Everything else is pinned so that dronesim answers the references' question: ``nearest_idle``
policy, no wait limit, a pilot per drone (pilots never the constraint), no restriction zones
(straight flights), dronesim's default 16 candidate docks (the heapq loop's ``k``).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .workload import Case, Outcome, trace_scenario_dict

#: Where an engine-branch ``ParquetSink`` may live (first found wins).
SINK_MODULES = ("dronesim", "dronesim.engine.records", "dronesim.engine.sinks", "dronesim.sink",
                "dronesim.output", "dronesim.streaming")

#: Ground of today's schema that never meets a drone (see the module docstring).
GROUND_OUT_OF_THE_WAY = {
    "call_handling_mean_s": 86_400.0, "call_handling_cv": 0.0, "turnout_s": 0.0,
    "travel_cv": 0.0, "on_scene_mean_s": 0.0, "on_scene_cv": 0.0, "min_units_per_borough": 1,
}


@dataclass(frozen=True)
class Features:
    """Engine hooks found in this checkout."""

    incidents_kw: bool  # run_replication(prep, r, incidents=...)
    sink_kw: bool  # run_replication(prep, r, sink=...)
    sink_cls: Any  # ParquetSink, or None
    sink_where: str
    ground_none: bool  # GroundSpec.base accepts "none"
    run_scenario_params: tuple[str, ...]

    @property
    def streaming(self) -> bool:
        return self.sink_kw and self.sink_cls is not None

    def lines(self) -> list[str]:
        sink = (f"yes ({self.sink_where}.ParquetSink)" if self.streaming else
                "no" if not self.sink_kw else "run_replication takes sink=, no ParquetSink found")
        return [
            f"run_replication(prep, r, incidents=...): {'yes' if self.incidents_kw else 'no'}",
            f"run_replication(prep, r, sink=ParquetSink(...)): {sink}",
            f'ground.base = "none": {"yes" if self.ground_none else "no"}',
            f"run_scenario parameters: {', '.join(self.run_scenario_params)}",
        ]


def detect() -> Features:
    from dronesim.engine.replication import run_replication
    from dronesim.experiment.runner import run_scenario
    from dronesim.inputs.scenario import GroundSpec

    params = inspect.signature(run_replication).parameters
    sink_cls, where = None, ""
    for name in SINK_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise  # the module exists but something it imports does not: a real error
            continue
        if getattr(mod, "ParquetSink", None) is not None:
            sink_cls, where = mod.ParquetSink, name
            break
    base = {f.name: f for f in dataclasses.fields(GroundSpec)}.get("base")
    choices = tuple(base.metadata.get("choices", ())) if base is not None else ()
    return Features(
        incidents_kw="incidents" in params,
        sink_kw="sink" in params,
        sink_cls=sink_cls,
        sink_where=where,
        ground_none="none" in choices,
        run_scenario_params=tuple(inspect.signature(run_scenario).parameters),
    )


def make_sink(features: Features, folder: Path) -> Any:
    """A ParquetSink writing into ``folder`` (its first parameter: a folder or a file path)."""
    cls = features.sink_cls
    first = next(iter(inspect.signature(cls).parameters), "")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder if "dir" in first or "folder" in first else folder / "records.parquet"
    return cls(target)


def scenario_dict(case: Case, features: Features, trace: Path | None) -> dict:
    """The benchmark as a dronesim scenario table (see the module docstring)."""
    on = case.units is not None
    d = trace_scenario_dict(case.rate_per_s, case.seed, on)
    fleet = case.fleet
    d["name"] = f"bench_{fleet.size}_drones"
    d["docks"] = [{"name": n, "x": float(x), "y": float(y), "drones": int(k)}
                  for n, x, y, k in zip(fleet.names, fleet.x, fleet.y, fleet.drones)]
    d["control_room"] = {"pilots": fleet.size}
    d["dispatch"] = {"policy": "nearest_idle", "max_queue_wait_s": math.inf,
                     "candidate_docks": case.k}
    if not on:  # drones only; a ground-on case keeps the Met baseline's police ground
        d["services"]["police"]["ground"] = ({"base": "none"} if features.ground_none
                                             else dict(GROUND_OUT_OF_THE_WAY))
    if trace is not None:  # a trace sets the horizon itself (simulation.weeks is ignored)
        d["demand"] = {"trace": str(trace), "trace_service": "police"}
    else:  # calls passed in: the horizon must hold every one
        d["simulation"]["weeks"] = (float(case.t_call[-1]) + 86_400.0) / (7 * 86_400.0)
    return d


def write_trace(case: Case, path: Path) -> Path:
    """The case's calls as a trace CSV (floats written at full precision; checked on reading)."""
    pd.DataFrame({"time": case.t_call, "x": case.x, "y": case.y,
                  "drone_suited": np.full(len(case), "true")}).to_csv(path, index=False)
    return path


def _incidents(case: Case, scn) -> Any:
    """The workload as dronesim ``Incidents`` (for ``run_replication(..., incidents=)``)."""
    from dronesim.inputs.demand import Incidents

    n = len(case)
    g = scn.services["police"].ground
    gc = case.ground
    cols = {
        "t_call": case.t_call, "x": case.x, "y": case.y,
        "borough": case.borough.astype(np.int64),
        "service": np.zeros(n, np.int16), "priority": np.ones(n, np.int16),
        "suited": np.ones(n, bool),
        "handling_s": np.full(n, float(g.call_handling_mean_s)),
        "turnout_s": np.full(n, float(g.turnout_s)),
        "travel_factor": np.ones(n), "ground_on_scene_s": np.full(n, float(g.on_scene_mean_s)),
        "drone_loiter_s": case.on_scene_s,
    }
    if gc is not None:  # ground on: each call's own draws
        cols.update({"handling_s": gc.handling_s, "turnout_s": gc.turnout_s,
                     "travel_factor": gc.travel_factor, "ground_on_scene_s": gc.on_scene_s})
    fields = [f for f in dataclasses.fields(Incidents) if f.name != "service_names"]
    unknown = sorted(f.name for f in fields if f.name not in cols
                     and f.default is dataclasses.MISSING
                     and f.default_factory is dataclasses.MISSING)
    if unknown:
        raise NotImplementedError(f"Incidents has columns the benchmark cannot fill: {unknown}")
    return Incidents(**{f.name: cols[f.name] for f in fields if f.name in cols},
                     service_names=("police",))


class Dronesim:
    """dronesim prepared once for one case; :meth:`run` simulates it (timed by the caller)."""

    name = "dronesim"

    def __init__(self, case: Case, features: Features | None = None,
                 workdir: Path | None = None) -> None:
        from dronesim.engine.replication import prepare
        from dronesim.inputs.scenario import scenario_from_dict

        self.case = case
        self.features = features or detect()
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="dronesim-bench-")
            workdir = Path(self._tmp.name)
        self.workdir = Path(workdir)
        self.notes: list[str] = []
        self.incidents = None
        trace = None
        if case.units is not None and not self.features.incidents_kw:
            raise NotImplementedError("the ground-on benchmark needs run_replication(incidents=)")
        if self.features.incidents_kw:
            try:
                probe = scenario_from_dict(scenario_dict(case, self.features, None), "<bench>")
                self.incidents = _incidents(case, probe)
            except NotImplementedError as exc:
                self.notes.append(f"incidents= not usable ({exc}); trace replay instead")
        if self.incidents is None:
            trace = write_trace(case, self.workdir / f"trace_{case.fleet.size}.csv")
        self.input_mode = "incidents" if self.incidents is not None else "trace"
        self.ground_mode = ("Met baseline police patrol units" if case.units is not None
                            else "none" if self.features.ground_none else "out of the way")
        scn = scenario_from_dict(scenario_dict(case, self.features, trace),
                                 source=str(self.workdir / "bench.toml"))
        t0 = time.perf_counter()
        self.prep = prepare(scn)
        self.prepare_s = time.perf_counter() - t0
        if trace is not None:
            self._check_trace()

    @property
    def mode(self) -> str:
        return "; ".join([f"input: {self.input_mode}", f"ground: {self.ground_mode}",
                          *self.notes])

    def _check_trace(self) -> None:
        """The replayed calls and dronesim's own on-scene draws must be the workload's."""
        from dronesim.inputs.demand import generate_incidents
        from dronesim.inputs.streams import Streams

        tr, case = self.prep.trace, self.case
        for name in ("t_call", "x", "y"):
            if not np.array_equal(getattr(tr, name), getattr(case, name)):
                raise RuntimeError(f"trace replay changed the calls' {name}")
        inc = generate_incidents(self.prep.scenario, self.prep.london, Streams(case.seed, 0),
                                 self.prep.horizon_s, tr)
        if not np.array_equal(inc.drone_loiter_s, case.on_scene_s):
            raise RuntimeError("dronesim's on-scene draws differ from the workload's")

    def run(self, sink: Any = None) -> Any:
        """One replication on the case's calls; returns dronesim's ReplicationResult."""
        from dronesim.engine.replication import run_replication

        kwargs: dict[str, Any] = {}
        if self.incidents is not None:
            kwargs["incidents"] = self.incidents
        if sink is not None:
            kwargs["sink"] = sink
        return run_replication(self.prep, 0, **kwargs)

    def outcome(self, res: Any) -> Outcome:
        """The drone sent to each call and its time on scene, from dronesim's records."""
        df = res.incidents
        if df is None or len(df) != len(self.case):
            raise RuntimeError("dronesim returned no per-incident table to compare")
        if not np.array_equal(df["t_call"].to_numpy(float), self.case.t_call):
            raise RuntimeError("dronesim's incidents are not the workload's calls, in order")
        on = (df["drone_outcome"].astype(str) == "on_scene").to_numpy()
        drone = np.where(on, df["drone_id"].to_numpy(np.int64), -1)
        t_scene = np.where(on, df["t_drone_on_scene"].to_numpy(float), np.nan)
        mis = res.missions
        busy = float((mis["t_landed"] - mis["t_assigned"]).sum()) if len(mis) else 0.0
        unit = t_ground = None
        if self.case.units is not None:
            unit = pd.to_numeric(df["ground_unit"]).fillna(-1).to_numpy().astype(np.int64)
            t_ground = df["t_ground_arrival"].to_numpy(float)
        return Outcome("dronesim", drone, t_scene, self.case.t_call, busy,
                       {"mode": self.mode}, unit, t_ground)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
