"""dronesim: a discrete-event simulator of drone-first response for London's blue-light services.

The public API::

    import dronesim
    scn = dronesim.load_scenario("scenarios/met_baseline.toml")
    result = dronesim.run_scenario(scn, replications=3)
    result.summary["drone_response_s"]["mean"]

    sweep = dronesim.run_sweep(dronesim.load_scenario("scenarios/met_growth.toml"), [9, 60, 150])
    cmp = dronesim.compare_scenarios([scn_a, scn_b])   # paired differences with 95% CIs
"""

from ._version import __version__
from .dispatch import (
                       Decline,
                       Dispatch,
                       DispatchPolicy,
                       FleetSnapshot,
                       IncidentView,
                       Queue,
                       available_policies,
                       register_policy,
)
from .engine.replication import prepare, run_replication
from .errors import InputError
from .experiment.compare import ComparisonResult, compare_scenarios
from .experiment.runner import RunResult, run_scenario
from .experiment.sweep import SweepResult, run_sweep
from .inputs.scenario import Scenario, load_scenario, scenario_from_dict

__all__ = [
    "ComparisonResult", "Decline", "Dispatch", "DispatchPolicy", "FleetSnapshot", "IncidentView",
    "InputError", "Queue", "RunResult", "Scenario", "SweepResult", "available_policies",
    "compare_scenarios", "load_scenario", "prepare", "register_policy", "run_replication",
    "run_scenario", "run_sweep", "scenario_from_dict", "__version__",
]
