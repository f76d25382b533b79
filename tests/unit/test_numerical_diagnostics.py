"""Runs that go where no case should: a warning when a concentration passes its ceiling (10x the
largest value the case gives, at most 1 M), and messages that name field, compartment and place."""

import pytest

from microdomain.solver import Stepper
from microdomain.verification.studies import build

from tests.helpers import small_case


def _huge_channel():
    return small_case(fluxes=[{"model": "channel_cluster", "surface": "left", "from": "outside",
                               "to": "cytosol", "params": {"channels": 1, "unitary_current": "1e6 pA"}}],
                      time={"end": "0.1 ms"})


def test_a_concentration_above_its_ceiling_is_warned_once_naming_field_and_place():
    _, _, system = build(_huge_channel())
    warnings = []
    stepper = Stepper(system, [], warn=warnings.append)
    stepper.run(0.1, [0.1])
    assert len(warnings) == 1
    assert "Ca in cytosol at x = " in warnings[0] and "5000 uM" in warnings[0]   # 10 × 500 µM (ER)
    assert stepper.counters.extra["warnings"] == warnings


def test_an_ordinary_run_warns_nothing():
    _, _, system = build(small_case())
    warnings = []
    Stepper(system, [], warn=warnings.append).run(1.0, [1.0])
    assert warnings == []
