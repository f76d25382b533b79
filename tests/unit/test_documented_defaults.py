"""The defaults docs/case-files.md quotes ([time], [solver]) are the code's."""

import pytest

from microdomain.case import Dt, SolverSpec, TimeSpec
from microdomain.solver.linear import AMG_SPREAD
from microdomain.solver.policy import StepPolicy


def test_time_defaults():
    t = TimeSpec(end="1 ms")
    assert (t.method, t.adaptive, t.mode) == ("trbdf2", True, "transient")
    assert t.rtol == 1e-4 and t.atol == pytest.approx(1e-4)
    d = Dt()
    assert (d.initial, d.max, d.min) == pytest.approx((1e-3, 1.0, 1e-8))      # ms: 1 µs, 1 ms, 10 ps


def test_solver_defaults():
    s = SolverSpec()
    assert (s.linear, s.preconditioner, s.membrane) == ("auto", "auto", "face")
    assert s.direct_limit == 1_000 and s.newton_tol == 0.03 and s.iterative_tol == 1e-4
    assert s.max_newton == 10
    assert s.nonorthogonal == "auto" and s.nonorthogonal_limit == 0.5
    assert AMG_SPREAD == 2000.0
    assert StepPolicy().keep_high == 1.2                 # the controller keeps h within 20 %
