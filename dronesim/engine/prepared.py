"""The prepared scenario: a validated scenario placed on the map, everything replications share
(moved out of :mod:`dronesim.engine.replication`, which engine modules needed it from)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from scipy import sparse

from ..dispatch import make_policy
from ..dispatch.base import DispatchPolicy, PolicyContext
from ..inputs.airspace import AirspacePolicy, NoFlyZones
from ..inputs.demand import WEEK_S
from ..inputs.geography import WEIGHT_COLUMNS, London
from ..inputs.scenario import Scenario
from ..inputs.sources import Trace
from ..siting import solvers as siting
from ..siting.coverage import StaticCoverage, static_coverage
from ..siting.sites import Docks, reach_radius_m
from .fleet import AirframeTable
from .infrastructure import Connectivity, drone_owners

__all__ = ["Prepared"]


@dataclass(eq=False)
class Prepared:
    """A validated scenario placed on the map: everything replications share."""

    scenario: Scenario
    london: London
    docks: Docks
    zones: NoFlyZones | None = None
    trace: Trace | None = None  # replayed instead of generated demand ([demand] trace)

    @functools.cached_property
    def owners(self) -> np.ndarray:
        """Owning service of each drone (-1: any), after dock sharing."""
        return drone_owners(self.scenario, self.docks)

    @functools.cached_property
    def airframes(self) -> AirframeTable:
        """Each dock's airframe type and its performance (mixed fleets, ``[[airframes]]``)."""
        return AirframeTable.of(self.scenario)

    @property
    def max_range_m(self) -> float:
        """The farthest any dock's drones fly (the ``[drones]`` radius without airframe types)."""
        scn = self.scenario
        if not scn.airframes or not len(self.docks):
            return scn.drones.max_range_m
        return max(self.airframes.range_m)

    @functools.cached_property
    def connectivity(self) -> Connectivity:
        src = self.scenario.source
        base = Path(src).parent if src and not src.startswith("<") else None
        return Connectivity(self.scenario, self.docks, self.owners, base)

    @property
    def airspace_policy(self) -> AirspacePolicy:
        a = self.scenario.airspace
        return AirspacePolicy(a.mode, a.authorisation_delay_s, a.margin_m)

    @property
    def warmup_s(self) -> float:
        return self.scenario.simulation.warmup_hours * 3600.0

    @property
    def horizon_s(self) -> float:
        """End of the measured window; with a trace, midnight after its last incident (the
        scenario's ``simulation.weeks`` is then ignored)."""
        if self.trace is not None:
            return self.trace.horizon_s
        return self.warmup_s + self.scenario.simulation.weeks * WEEK_S

    def new_policy(self) -> DispatchPolicy:
        d = self.scenario.dispatch
        policy = make_policy(d.policy, d.params, self.scenario.source)
        bind = getattr(policy, "bind", None)
        if callable(bind):
            bind(self.policy_context)
        return policy

    def static_coverage(self, weights: tuple[str, ...] | None = None) -> StaticCoverage:
        """Static coverage of this scenario's docks at its target time, airspace included.

        ``weights`` defaults to the demand weights of the services (computed once, cached).
        """
        if weights is None:
            weights = tuple(dict.fromkeys(s.spatial_weight for s in self.scenario.services.values()
                                          if s.spatial_weight in WEIGHT_COLUMNS)) or ("population",)
        cache = self.__dict__.setdefault("_coverage_cache", {})
        if weights not in cache:
            scn = self.scenario
            cache[weights] = static_coverage(self.london, self.docks, scn.drones, scn.coverage,
                                             weights, self.zones, self.airspace_policy)
        return cache[weights]

    @functools.cached_property
    def policy_context(self) -> PolicyContext:
        """Docks, drone-suited demand points and their coverage within the target time."""
        scn, london = self.scenario, self.london
        pts = shapely.point_on_surface(np.asarray(london.lsoa.geometry.values))
        px, py = shapely.get_x(pts), shapely.get_y(pts)
        w = np.zeros(px.size)
        for spec in scn.services.values():
            if not spec.uses_drones:
                continue
            weight = london.weights(spec.spatial_weight)
            suited = float(np.dot(spec.priority_shares, spec.drone_suited_share))
            w += spec.incidents_per_week * suited * weight / weight.sum()
        radius = reach_radius_m(scn.drones, scn.coverage.within_s)
        docks_xy = np.column_stack([self.docks.x, self.docks.y])
        if radius > 0:
            cover = siting.coverage_matrix(docks_xy, np.column_stack([px, py]), radius).T.tocsr()
        else:  # the target leaves no time to fly: nothing is covered
            cover = sparse.csr_matrix((len(self.docks), px.size), dtype=np.int8)
        return PolicyContext(self.docks.x, self.docks.y, self.docks.drones, px, py, w, cover,
                             scn.coverage.within_s, tuple(scn.services))
