"""The listings behind ``dronesim policies`` and ``dronesim siting-methods``: every registered
policy and every siting method the scenario schema accepts, each with a one-line description."""

from __future__ import annotations

import dataclasses

from dronesim.cli.catalogue import SITING_METHODS, policies_text, siting_methods_text
from dronesim.dispatch import Queue, available_policies, register_policy
from dronesim.inputs.scenario import SitingSpec


def test_every_policy_listed_with_a_description():
    text = policies_text()
    for name in available_policies():
        line = next(ln for ln in text.splitlines() if ln.startswith(name + " "))
        assert len(line.split(None, 1)[1]) > 10, line
    assert "parameters: margin_s = 60.0" in text
    assert max(len(ln) for ln in text.splitlines()) <= 100


def test_a_user_policy_is_listed_too():
    @register_policy("catalogue_test_policy")
    class Mine:
        """Always queue (a test policy)."""

        def __init__(self, wait_s: float = 5.0) -> None:
            self.wait_s = wait_s

        def decide(self, incident, fleet, now):
            return Queue()

    from dronesim.dispatch.registry import _REGISTRY

    try:
        text = policies_text()
    finally:
        _REGISTRY.pop("catalogue_test_policy", None)
    assert "catalogue_test_policy" in text and "Always queue (a test policy)." in text
    assert "wait_s = 5.0" in text


def test_every_siting_method_listed_with_a_description():
    field = {f.name: f for f in dataclasses.fields(SitingSpec)}["method"]
    choices = field.metadata["choices"]
    assert set(SITING_METHODS) == set(choices)
    text = siting_methods_text()
    for name in choices:
        assert any(ln.startswith(f"{name} ") for ln in text.splitlines()), name
