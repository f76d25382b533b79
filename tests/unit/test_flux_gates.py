"""Gated fluxes in the solver: the gate equation, gates in fluxes.csv, metrics.json and the
checkpoint, convergence in time at the method's order, resume, and sensors reading a remote
compartment (SOCE sensing the ER)."""

import os
import signal

import numpy as np
import pytest

from microdomain import fluxes
from microdomain.assembly import ModelError, build_system
from microdomain.case import case_from_dict
from microdomain.fluxes import FluxContext, FluxInputs, FluxModel
from microdomain.mesh import build_domain
from microdomain.observers import read_checkpoint
from microdomain.parameters import flux_presets
from microdomain.quantities import Strict
from microdomain.run import run
from microdomain.rundir import RunDirectory, wide_rows
from microdomain.units import to_internal

from tests.helpers import small_case


# ------------------------------------------------------------------------ gate equation --

def test_li_rinzel_ip3r_gate_rates_are_its_h_equation():
    cls = fluxes.registry.get("ip3r")
    params = cls.Params.model_validate({**flux_presets()["ip3r"]["li_rinzel"].params,
                                        "ip3": "0.5 uM", "channels": 6})
    model = cls(params, FluxContext(areas=np.full(3, 1e-4), valence={"Ca": 2}))
    er, cyt = {"Ca": np.full(3, 500.0)}, {"Ca": np.array([0.1, 5.0, 100.0])}
    h = np.array([0.9, 0.5, 0.1])
    # Li–Rinzel: dh/dt = a2·d2·(I + d1)/(I + d3)·(1 − h) − a2·c·h, a2 = 0.2 /uM/s = 2e-4 /uM/ms
    a2, Q2 = 2e-4, 1.049 * (0.5 + 0.13) / (0.5 + 0.9434)
    a, b = model.gate_rates(FluxInputs(er, cyt, 0.0))["h"]
    assert a - b * h == pytest.approx(a2 * Q2 * (1 - h) - a2 * cyt["Ca"] * h, rel=1e-12)
    assert model.initial_gates(FluxInputs(er, cyt))["h"] == pytest.approx(Q2 / (Q2 + cyt["Ca"]), rel=1e-12)


# --------------------------------------------------------------------------- a gated run --

def gated_case(**time):
    """ER release through a Li–Rinzel IP3R cluster: cytosolic Ca rises to ~100 µM and slowly
    inactivates the cluster (h falls from its resting 0.91)."""
    return small_case(
        fluxes=[{"model": "ip3r", "preset": "li_rinzel", "surface": "er_membrane", "from": "er",
                 "to": "cytosol", "params": {"channels": 20, "ip3": "10 uM"}, "label": "ip3r"}],
        time={"end": "20 ms", **time},
        output={"every": "5 ms", "probes": [{"name": "membrane", "at": ["0.475 um"]}]})


def read_csv(path):
    """(header, rows) of a run's probes.csv or fluxes.csv, read through the run directory, one
    column per probe and field (or flux and quantity): `time_ms`, `ip3r:Ca`, `ip3r:h`."""
    rundir = RunDirectory(path.parent)
    table = rundir.fluxes() if path.name == "fluxes.csv" else rundir.probes()
    keys, rows = wide_rows(table, ["flux" if path.name == "fluxes.csv" else "probe", "field"])
    return ["time_ms"] + [f"{a}:{b}" for a, b in keys], np.array(rows)


def read_metrics(out) -> dict:
    return RunDirectory(out).metrics().to_json()


@pytest.fixture(scope="module")
def gated_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gated")
    status, _ = run(case_from_dict(gated_case(), "gated.toml"), out, quiet=True)
    assert status == "completed"
    return out


def test_fluxes_csv_records_the_flow_and_a_falling_inactivation_gate(gated_run):
    header, data = read_csv(gated_run / "fluxes.csv")
    assert header == ["time_ms", "ip3r:Ca", "ip3r:h"]
    t, flow, h = data.T
    assert t[0] == 0 and t[-1] == pytest.approx(20.0) and np.all(np.diff(t) > 0)
    # h starts at the Li–Rinzel steady state for the cytosolic [Ca²⁺] at the channel mouth: the
    # resting 0.1 µM plus what the open cluster adds across the half cell next to the membrane
    # (solver/membrane.py; ~8 % here), and falls as the cytosol fills
    Q2 = 1.049 * (10 + 0.13) / (10 + 0.9434)
    assert Q2 / (Q2 + 0.12) < h[0] < Q2 / (Q2 + 0.1)
    assert np.all(np.diff(h) < 0)
    assert h[-1] < 0.8
    assert flow[0] == 0 and np.all(flow[1:] > 0)


def test_fluxes_csv_flows_add_up_to_the_metrics_totals(gated_run):
    _, data = read_csv(gated_run / "fluxes.csv")
    t, flow, h = data.T
    m = read_metrics(gated_run)
    amount = m["fluxes"]["ip3r"]["Ca"]["amount_amol"]
    # each row holds the mean flow over the step that ended at its time
    assert np.sum(flow[1:] * np.diff(t)) == pytest.approx(amount, rel=1e-6)
    assert abs(m["mass_balance"]["Ca"]["relative_error"]) <= 1e-9
    # the gate in metrics.json is the one of the last step; per face, in full, in the checkpoint
    gate = m["gates"]["ip3r"]["h"]
    assert gate["mean"] == pytest.approx(h[-1], rel=1e-9)
    state, _ = read_checkpoint(gated_run / "checkpoint.npz")
    assert state.t == pytest.approx(20.0)
    assert state.gates["ip3r"]["h"].shape == (1,) and gate["min"] <= gate["mean"] <= gate["max"]
    assert state.gates["ip3r"]["h"][0] == pytest.approx(gate["mean"], rel=1e-12)


def test_an_interrupted_gated_run_resumes_with_its_gates(tmp_path, monkeypatch):
    import microdomain.observers as observers

    case = case_from_dict(gated_case(rtol=1e-4, dt={"max": "0.2 ms"}), "gated.toml")
    status, ref = run(case, tmp_path / "ref", quiet=True)
    assert status == "completed"

    original = observers.Metrics.checkpoint

    def stop_after_ten_ms(self, state):        # Ctrl-C once the run has passed 10 ms
        original(self, state)
        if state.t >= 10.0:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(observers.Metrics, "checkpoint", stop_after_ten_ms)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run(case, out, quiet=True)
    monkeypatch.setattr(observers.Metrics, "checkpoint", original)
    saved, _ = read_checkpoint(out / "checkpoint.npz")
    assert 10.0 <= saved.t < 10.5
    t_saved, h_saved = saved.t, saved.gates["ip3r"]["h"][0]
    assert h_saved < 0.9

    status, _ = run(case, out, quiet=True, resume=True)
    assert status == "completed"
    m, m_ref = (read_metrics(d) for d in (out, ref))
    assert m["time_ms"] == pytest.approx(20.0)
    assert m["gates"]["ip3r"]["h"]["mean"] == pytest.approx(m_ref["gates"]["ip3r"]["h"]["mean"], rel=1e-3)
    for comp in ("cytosol", "er"):
        assert m["compartments"][comp]["Ca"]["mean_uM"] == pytest.approx(
            m_ref["compartments"][comp]["Ca"]["mean_uM"], rel=1e-3)
    assert m["fluxes"]["ip3r"]["Ca"]["amount_amol"] == pytest.approx(
        m_ref["fluxes"]["ip3r"]["Ca"]["amount_amol"], rel=1e-3)
    assert abs(m["mass_balance"]["Ca"]["relative_error"]) <= 1e-9
    last = lambda d: read_csv(d / "probes.csv")[1][-1]  # noqa: E731
    assert last(out) == pytest.approx(last(ref), rel=1e-3)
    # fluxes.csv carries on from the saved rows: one time axis, h continuous across the restart
    _, data = read_csv(out / "fluxes.csv")
    t, _, h = data.T
    assert np.all(np.diff(t) > 0)
    assert np.all(np.diff(h) < 0)
    k = int(np.argmin(np.abs(t - t_saved)))             # the CSV keeps 10 significant digits
    assert t[k] == pytest.approx(t_saved) and h[k] == pytest.approx(h_saved, rel=1e-9)


def test_metrics_gate_mean_is_the_area_weighted_mean_of_fluxes_csv(tmp_path):
    raw = gated_case()
    raw["time"] = {"end": "2 ms"}
    raw["output"] = {}
    raw["geometry"] = {
        "builder": "box", "size": ["1 um", "1 um"],
        "spacing": {"min": "0.02 um", "max": "0.2 um", "growth": 1.5, "focus": ["0.5 um", "0.5 um"]},
        "compartments": [{"name": "cytosol"},
                         {"name": "er", "x": ["0.5 um", "1 um"], "y": ["0 um", "0.5 um"]}],
        "surfaces": [{"name": "er_membrane", "between": ["er", "cytosol"]}]}
    run(case_from_dict(raw, "graded.toml"), tmp_path, quiet=True)
    m = read_metrics(tmp_path)
    values = read_checkpoint(tmp_path / "checkpoint.npz")[0].gates["ip3r"]["h"]
    assert values.max() - values.min() > 2e-4           # the gate differs between faces
    header, data = read_csv(tmp_path / "fluxes.csv")
    assert m["gates"]["ip3r"]["h"]["mean"] == pytest.approx(data[-1, header.index("ip3r:h")], rel=1e-8)


# ------------------------------------------------------------------------------- sensors --

def soce_case(er_initial, tau=None, drain=False, sensor=None):
    """Orai1 in the left wall of the cytosol, fed by a 1 mM bath outside; STIM1 reads the ER."""
    params = {"channels": 1000, "sensor": sensor or {"compartment": "er"}}
    if tau is not None:
        params["tau"] = tau
    flux = [{"model": "soce", "preset": "orai1", "surface": "left", "from": "outside", "to": "cytosol",
             "outside": {"Ca": "1000 uM"}, "params": params, "label": "soce"}]
    geometry = {}
    if drain:   # the ER empties through its far wall into Ca-free outside (τ ≈ 5 ms)
        geometry = {"surfaces": [{"name": "er_membrane", "between": ["er", "cytosol"]},
                                 {"name": "left", "wall": "x-"}, {"name": "right", "wall": "x+"}]}
        flux.append({"model": "permeability", "surface": "right", "from": "er", "to": "outside",
                     "params": {"permeability": "100 um/s"}, "label": "drain"})
    over = dict(
        species=[{"ion": "Ca", "D": "220 um**2/s", "initial": {"cytosol": "0.1 uM", "er": er_initial}}],
        fluxes=flux, time={"end": "5 ms" if not drain else "20 ms"},
        output={"probes": [{"name": "wall", "at": ["0.025 um"]}]})
    if drain:
        over["geometry"] = {**small_case()["geometry"], **geometry}
    return small_case(**over)


def run_case(raw, out):
    status, _ = run(case_from_dict(raw, "soce.toml"), out, quiet=True)
    assert status == "completed"
    m = read_metrics(out)
    return m, read_csv(out / "probes.csv")[1][-1][1]


@pytest.mark.parametrize("method, order", [("trbdf2", 2), ("bdf1", 1)])
def test_gates_and_concentrations_converge_at_the_order_of_the_method(tmp_path, method, order):
    # the ER drains, STIM1 activates with τ = 5 ms and Orai1 lets Ca²⁺ in: with fixed steps of
    # 0.4, 0.2, 0.1 ms the final gate and the final [Ca²⁺] near the plasma membrane settle like
    # the method, each halving changing them 2^order times less than the previous one (gates
    # are advanced by the same stage formulas as the concentrations, integrators.py). (A gated
    # IP3R cluster is no test of order at these steps: its CICR upstroke is not resolved.)
    finals = []
    for k, dt in enumerate([0.4, 0.2, 0.1]):
        raw = soce_case("500 uM", tau="5 ms", drain=True)
        raw["time"] = {"end": "20 ms", "dt": {"initial": f"{dt} ms", "max": f"{dt} ms"},
                       "adaptive": False, "method": method}
        m, wall = run_case(raw, tmp_path / f"r{k}")
        finals.append((m["gates"]["soce"]["stim"]["mean"], wall))
    (s0, c0), (s1, c1), (s2, c2) = finals
    assert abs(s0 - s1) / abs(s1 - s2) == pytest.approx(2.0 ** order, rel=0.1)
    assert abs(c0 - c1) / abs(c1 - c2) == pytest.approx(2.0 ** order, rel=0.1)


def test_store_operated_entry_follows_the_sensed_er(tmp_path):
    m_empty, wall_empty = run_case(soce_case("10 uM"), tmp_path / "empty")
    m_full, wall_full = run_case(soce_case("500 uM"), tmp_path / "full")
    rise_empty, rise_full = wall_empty - 0.1, wall_full - 0.1
    assert rise_empty > 0.5                       # µM, near the plasma membrane
    assert 0 <= rise_full < 0.05 * rise_empty     # STIM1 ~off with full stores
    inflow_empty = m_empty["mass_balance"]["Ca"]["outside_inflow_amol"]
    inflow_full = m_full["mass_balance"]["Ca"]["outside_inflow_amol"]
    assert inflow_empty > 0 and inflow_full / inflow_empty < 0.03
    assert m_empty["fluxes"]["soce"]["Ca"]["amount_amol"] == pytest.approx(inflow_empty, rel=1e-9)
    for m in (m_empty, m_full):
        assert abs(m["mass_balance"]["Ca"]["relative_error"]) <= 1e-9


def test_a_sensor_may_read_only_the_cells_next_to_a_surface(tmp_path):
    m, wall = run_case(soce_case("10 uM", sensor={"compartment": "er", "surface": "er_membrane"}),
                       tmp_path / "near")
    assert wall > 0.6


def test_stim1_activation_lags_store_depletion_by_tau(tmp_path):
    m_tau, _ = run_case(soce_case("500 uM", tau="10 ms", drain=True), tmp_path / "tau")
    m_now, _ = run_case(soce_case("500 uM", drain=True), tmp_path / "now")
    header, data = read_csv(tmp_path / "tau" / "fluxes.csv")
    stim = data[:, header.index("soce:stim")]
    preset = flux_presets()["soce"]["orai1"].params
    K, n = to_internal(preset["K"], "concentration"), preset["n"]
    s_inf = lambda er: K**n / (K**n + er**n)  # noqa: E731
    assert stim[0] == pytest.approx(s_inf(500.0), rel=1e-6)
    assert np.all(np.diff(stim) >= 0) and stim[-1] > 0.5
    er_end = m_tau["compartments"]["er"]["Ca"]["mean_uM"]
    assert er_end < 50
    assert stim[-1] < s_inf(er_end)                                 # still catching up
    # lagging activation lets less Ca2+ in than instantaneous activation
    assert 0 < m_tau["fluxes"]["soce"]["Ca"]["amount_amol"] < m_now["fluxes"]["soce"]["Ca"]["amount_amol"]
    for m in (m_tau, m_now):
        assert abs(m["mass_balance"]["Ca"]["relative_error"]) <= 1e-9


@pytest.mark.parametrize("sensor, words", [
    ({"compartment": "lumen"}, ["compartment 'lumen'", "cytosol, er"]),
    ({"compartment": "er", "surface": "punctum"}, ["surface 'punctum'", "er_membrane, left"]),
    ({"compartment": "er", "surface": "left"}, ["'left' does not touch compartment 'er'"]),
])
def test_a_sensor_reading_a_missing_place_is_a_model_error_naming_the_flux(sensor, words):
    case = case_from_dict(soce_case("10 uM", sensor=sensor), "soce.toml")
    with pytest.raises(ModelError) as err:
        build_system(case, build_domain(case.builder.build(case.geometry)))
    (path, msg), = err.value.problems
    assert path == "fluxes[0].params"
    assert "'soce'" in msg and "sensor 'er'" in msg
    for w in words:
        assert w in msg
