"""Runs that go where no case should: a warning when a concentration passes its ceiling (10x the
largest value the case gives, at most 1 M), and messages that name field, compartment and place."""

import re

import pytest

from microdomain.solver import Stepper
from microdomain.verification.studies import build

from tests.helpers import small_case, to_toml


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


# -------------------------------------------------- where the messages go, what they name --

def test_negativity_names_field_compartment_place_and_time(tmp_path):
    import microdomain as md
    from tests.unit.test_run_directory import drain_case

    with pytest.raises(md.SimulationError) as err:
        md.Simulation(md.case_from_dict(drain_case(), "drain.toml")).run(out=tmp_path)
    assert re.search(r"negative concentration -[0-9.e+-]+ uM of Ca in er at x = [0-9.e+-]+ um "
                     r"at t = [0-9.e+-]+ ms", str(err.value)), str(err.value)


def test_newton_failures_name_field_compartment_place_and_time(tmp_path):
    import logging

    import microdomain as md

    # one Newton iteration allowed at a tolerance it cannot meet: every step is rejected and
    # the run ends when dt falls below dt.min; the rejections are in the debug log
    case = small_case(solver={"max_newton": 1, "newton_tol": 1e-12},
                      time={"end": "1 ms", "dt": {"initial": "0.1 ms", "min": "0.01 ms"}})
    with pytest.raises(md.SimulationError) as err:
        md.Simulation(md.case_from_dict(case, "stiff.toml")).run(out=tmp_path,
                                                                   log_level=logging.DEBUG)
    pattern = (r"Newton did not converge in 1 iterations at t = [0-9.e+-]+ ms \(last correction "
               r"[0-9.e+-]+ tolerances, largest at (Ca|B\.Ca|B) in (cytosol|er) at x = [0-9.e+-]+ um\)")
    assert re.search(pattern, str(err.value)), str(err.value)
    assert "dt fell below dt.min" in str(err.value)
    log = (tmp_path / "log.txt").read_text()
    assert re.search(r"DEBUG step from t = 0 ms with dt = 0.1 ms rejected: " + pattern, log)


def test_warnings_go_to_log_txt_and_to_the_console_only_at_v(tmp_path, capsys):
    from microdomain.cli import main

    case = tmp_path / "huge.toml"
    case.write_text(to_toml(_huge_channel()))
    assert main(["run", str(case), "--out", str(tmp_path / "quiet"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "WARNING" not in err and "Ca in cytosol" not in err
    assert f"1 warning(s) in {tmp_path / 'quiet' / 'log.txt'} (-v shows them here)" in err
    log = (tmp_path / "quiet" / "log.txt").read_text()
    assert re.search(r"WARNING at t = [0-9.e+-]+ ms Ca in cytosol at x = [0-9.e+-]+ um reached", log)
    assert main(["run", str(case), "--out", str(tmp_path / "verbose"), "--quiet", "-v"]) == 0
    err = capsys.readouterr().err
    assert "WARNING microdomain.run: at t = " in err and "warning(s) in" not in err


def test_numpy_floating_point_errors_in_a_run_go_to_the_log_not_to_stderr(tmp_path, capsys):
    import numpy as np

    import microdomain as md

    class DividesByZero:
        """An observer whose arithmetic overflows and divides by zero, as a model might."""

        def step(self, U, info):
            np.float64(1.0) / np.zeros(1)
            np.exp(np.array([1e4]))

        def __getattr__(self, name):
            return lambda *a, **k: None

    # pytest turns warnings into errors here: a RuntimeWarning escaping the run would fail it
    sim = md.Simulation(md.case_from_dict(small_case(time={"end": "0.2 ms"}), "t.toml"))
    res = sim.run(out=tmp_path, observers=[DividesByZero()])
    assert res.status == md.Status.COMPLETED
    assert "RuntimeWarning" not in capsys.readouterr().err
    log = (tmp_path / "log.txt").read_text()
    assert log.count("NumPy floating-point error during the run: divide by zero") == 1
    assert log.count("NumPy floating-point error during the run: overflow") == 1
    with pytest.warns(RuntimeWarning):          # outside a run NumPy's own settings hold again
        np.float64(1.0) / np.zeros(1)


def test_python_warnings_in_a_run_go_to_the_log_once_each(tmp_path, capsys):
    import warnings

    import microdomain as md

    class Warns:
        """An observer that warns every step, as a third-party plugin or library might."""

        def step(self, U, info):
            warnings.warn("a plugin's own concern", UserWarning)

        def __getattr__(self, name):
            return lambda *a, **k: None

    # pytest turns warnings into errors here: a warning escaping the run would fail it
    sim = md.Simulation(md.case_from_dict(small_case(time={"end": "0.2 ms"}), "t.toml"))
    res = sim.run(out=tmp_path, observers=[Warns()])
    assert res.status == md.Status.COMPLETED
    assert "a plugin's own concern" not in capsys.readouterr().err
    log = (tmp_path / "log.txt").read_text()
    assert log.count("UserWarning: a plugin's own concern") == 1
    with pytest.warns(UserWarning):             # outside a run Python's own filters hold again
        warnings.warn("after the run", UserWarning)
