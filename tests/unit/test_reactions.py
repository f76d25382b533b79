"""Volume reactions and species that are not ions: equations read strictly, rate-constant units
checked against the stoichiometry, the exact Jacobian, closed forms (first-order decay,
A + B ⇌ C equilibrium and relaxation, Michaelis–Menten against a tight ODE solve), the mass
balance with reactions that make or remove an element, and species absent from a compartment."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from microdomain.assembly import _initial_state, build_chemistry
from microdomain.case import CaseError, case_from_dict
from microdomain.mesh import build_domain
from microdomain.reactions import EquationError, parse_equation, registry
from microdomain.solver.jacobian import JacobianPattern
from microdomain.solver.membrane import GateStage
from microdomain.solver.residual import Residual, Stage
from microdomain.verification.studies import FrameRecorder, build, integrate

from tests.helpers import small_case


def problems(raw) -> list[str]:
    with pytest.raises(CaseError) as err:
        case_from_dict(raw)
    return [str(p) for p in err.value.problems]


def one(msgs: list[str], path: str) -> str:
    hits = [m for m in msgs if f": {path}: " in m]
    assert len(hits) == 1, (path, msgs)
    return hits[0]


def well_mixed(species, reactions, end="10 ms", buffers=(), rtol=1e-8, dt_max="1 ms"):
    """Two cells of a closed box, uniform state: the reactions' ODE with no diffusion error."""
    return {"case": {"name": "well_mixed"},
            "geometry": {"builder": "box", "size": ["1 um"], "cells": [2]},
            "species": list(species), "buffers": list(buffers), "reactions": list(reactions),
            "time": {"end": end, "rtol": rtol, "atol": "1e-9 uM",
                     "dt": {"initial": "1e-4 ms", "max": dt_max}}}


def trace(raw, times):
    _, _, system = build(raw)
    rec = FrameRecorder()
    integrate(system, system.case.time.end, times, [rec])
    names = [u.name for u in system.chemistry.unknowns]
    return np.array(rec.times), {n: np.array([U[k].mean() for U in rec.states])
                                 for k, n in enumerate(names)}


def solute(name, initial, D="100 um**2/s", **kw):
    return {"name": name, "D": D, "initial": initial, **kw}


# ------------------------------------------------------------------------------- equations --

@pytest.mark.parametrize("text, reactants, products, reversible", [
    ("IP3 ->", [(1, "IP3")], [], False),
    ("-> IP3", [], [(1, "IP3")], False),
    ("A + B <-> C", [(1, "A"), (1, "B")], [(1, "C")], True),
    ("2 A -> B", [(2, "A")], [(1, "B")], False),
    ("A + A -> B", [(2, "A")], [(1, "B")], False),
    ("  E + S   ->  E + P ", [(1, "E"), (1, "S")], [(1, "E"), (1, "P")], False),
    ("MT.Zn -> Zn", [(1, "MT.Zn")], [(1, "Zn")], False),
])
def test_equations_read(text, reactants, products, reversible):
    eq = parse_equation(text)
    assert [(t.coefficient, t.species) for t in eq.reactants] == reactants
    assert [(t.coefficient, t.species) for t in eq.products] == products
    assert eq.reversible is reversible


def test_catalyst_has_no_net_change():
    assert parse_equation("E + S -> E + P").net() == {"E": 0, "S": -1, "P": 1}


@pytest.mark.parametrize("text, why", [
    ("A + B", "no arrow"),
    ("A -> B -> C", "2 arrows"),
    ("->", "at least one species"),
    ("A+B -> C", "with spaces"),
    ("A + -> C", "left side ends with '\\+'"),
    ("+ A -> C", "no species before"),
    ("A -> B +", "right side ends with '\\+'"),
    ("0 A -> B", "from 1 to 9"),
    ("10 A -> B", "from 1 to 9"),
    ("5 A + 5 A -> B", "appears 10 times"),
    ("2 -> B", "no species after"),
    ("A B -> C", "expected '\\+' or the arrow"),
    ("A <=> B", "'<=>' is not an arrow"),
    ("A = B", "'=' is not an arrow"),
    ("A → B", "'→' is not an arrow"),
    ("<-> A", "both sides"),
    ("A <->", "both sides"),
])
def test_bad_equations_say_what_is_wrong(text, why):
    with pytest.raises(EquationError, match=why):
        parse_equation(text)


def _with(reactions, species=()):
    raw = small_case()
    raw["species"] += [solute("IP3", "1 uM", **{"in": "cytosol"}), *species]
    raw["reactions"] = reactions
    return raw


def test_a_bad_equation_is_reported_at_its_field():
    raw = _with([{"in": "cytosol", "equation": "IP3 => ", "model": "mass_action",
                  "params": {"kf": "1 /s"}}])
    assert "'=>' is not an arrow" in one(problems(raw), "reactions[0].equation")


@pytest.mark.parametrize("equation, kf, needed", [
    ("IP3 ->", "1 /uM/s", "first-order rate constant (1/ms)"),
    ("IP3 + Ca ->", "1 /s", "second-order rate constant (1/µM/ms)"),
    ("2 IP3 + Ca ->", "1 /uM/s", "third-order rate constant (1/µM**2/ms)"),
    ("-> IP3", "1 /s", "zero-order rate constant (µM/ms)"),
])
def test_rate_constant_units_follow_the_order(equation, kf, needed):
    raw = _with([{"in": "cytosol", "equation": equation, "model": "mass_action", "params": {"kf": kf}}])
    assert needed in one(problems(raw), "reactions[0].params.kf")


def test_rate_constants_in_any_unit_are_converted():
    raw = _with([{"in": "cytosol", "equation": "IP3 + Ca <-> B.Ca", "model": "mass_action",
                  "params": {"kf": "10 /mM/s", "kr": "2 /s"}},
                 {"in": "cytosol", "equation": "-> IP3", "model": "mass_action",
                  "params": {"kf": "3.6 uM/h"}}])
    case = case_from_dict(raw)
    assert case.reaction_params[0].kf == pytest.approx(1e-5)      # 1/(µM·ms)
    assert case.reaction_params[0].kr == pytest.approx(2e-3)      # 1/ms
    assert case.reaction_params[1].kf == pytest.approx(1e-6)      # µM/ms


def test_reverse_constant_only_for_reversible_reactions():
    kr_extra = _with([{"in": "cytosol", "equation": "IP3 ->", "model": "mass_action",
                       "params": {"kf": "1 /s", "kr": "1 /s"}}])
    assert "write '<->'" in one(problems(kr_extra), "reactions[0].params.kr")
    kr_missing = _with([{"in": "cytosol", "equation": "IP3 <-> Ca", "model": "mass_action",
                         "params": {"kf": "1 /s"}}])
    assert "required" in one(problems(kr_missing), "reactions[0].params.kr")


def test_species_model_and_compartment_names_are_checked():
    msgs = problems(_with([
        {"in": "cytosol", "equation": "IP4 ->", "model": "mass_action", "params": {"kf": "1 /s"}},
        {"in": "golgi", "equation": "IP3 ->", "model": "mass_action", "params": {"kf": "1 /s"}},
        {"in": "cytosol", "equation": "IP3 ->", "model": "mass_actoin", "params": {"kf": "1 /s"}},
        {"in": "cytosol", "equation": "B ->", "model": "mass_action", "params": {"kf": "1 /s"}},
        {"in": "cytosol", "equation": "2IP3 ->", "model": "mass_action", "params": {"kf": "1 /s"}},
    ]))
    assert "no species 'IP4'; did you mean 'IP3'?" in one(msgs, "reactions[0].equation")
    assert "no compartment 'golgi'" in one(msgs, "reactions[1].in")
    assert "did you mean 'mass_action'?" in one(msgs, "reactions[2].model")
    assert "'B' is a buffer" in one(msgs, "reactions[3].equation")
    assert "written apart: '2 A'" in one(msgs, "reactions[4].equation")


def test_a_reaction_cannot_use_a_species_where_it_is_absent():
    msgs = problems(_with([{"in": ["cytosol", "er"], "equation": "IP3 ->", "model": "mass_action",
                            "params": {"kf": "1 /s"}}]))
    assert "'IP3' is absent from er" in one(msgs, "reactions[0].equation")
    msgs = problems(_with([{"in": "er", "equation": "B.Ca -> Ca", "model": "mass_action",
                            "params": {"kf": "1 /s"}}]))
    assert "bound state of buffer 'B', which is not in er" in one(msgs, "reactions[0].equation")


def test_saturable_laws_take_one_substrate_or_an_activator():
    msgs = problems(_with([
        {"in": "cytosol", "equation": "2 IP3 -> Ca", "model": "michaelis_menten",
         "params": {"Vmax": "1 uM/s", "Km": "1 uM"}},
        {"in": "cytosol", "equation": "-> IP3", "model": "hill",
         "params": {"Vmax": "1 uM/s", "K": "1 uM", "n": 2}},
        {"in": "cytosol", "equation": "-> IP3", "model": "hill",
         "params": {"Vmax": "1 uM/s", "K": "1 uM", "n": 2, "activator": "Cax"}},
        {"in": "cytosol", "equation": "IP3 <-> Ca", "model": "michaelis_menten",
         "params": {"Vmax": "1 uM/s", "Km": "1 uM"}},
        {"in": "cytosol", "equation": "IP3 ->", "model": "constant", "params": {"rate": "1 uM/s"}},
        {"in": "cytosol", "equation": "IP3 ->", "model": "michaelis_menten",
         "params": {"Vmax": "1 /s", "Km": "1 uM"}},
    ]))
    assert "one reactant with coefficient 1" in one(msgs, "reactions[0].equation")
    assert "needs the species whose concentration drives it" in one(msgs, "reactions[1].params.activator")
    assert "no species 'Cax'" in one(msgs, "reactions[2].params.activator")
    assert "irreversible" in one(msgs, "reactions[3].equation")
    assert "zero-order production" in one(msgs, "reactions[4].equation")
    assert "rate of change of concentration (µM/ms)" in one(msgs, "reactions[5].params.Vmax")


def test_species_that_are_not_ions_are_declared_by_name():
    raw = small_case()
    raw["species"] += [{"name": "ROS", "valence": 0, "D": "1 um**2/s", "initial": "0 uM"},
                       {"ion": "Zn", "name": "Zn", "D": "1 um**2/s", "initial": "0 uM"},
                       {"D": "1 um**2/s", "initial": "0 uM"}]
    raw["fluxes"] = [{"model": "permeability", "surface": "er_membrane", "from": "er",
                      "to": "cytosol", "params": {"permeability": "1 um/s", "ion": "IP3"}}]
    raw["species"].append(solute("IP3", "0 uM"))
    msgs = problems(raw)
    assert "only ions have a valence" in one(msgs, "species[1].valence")
    assert "not both" in one(msgs, "species[2].name")
    assert "required" in one(msgs, "species[3].ion")
    assert "'IP3' is not an ion" in one(msgs, "fluxes[0].params.ion")


def test_a_species_absent_from_a_compartment_takes_no_value_there():
    raw = small_case()
    raw["species"].append(solute("IP3", {"cytosol": "1 uM", "er": "2 uM"}, **{"in": "cytosol"}))
    assert "absent from 'er'" in one(problems(raw), "species[1].initial.er")
    raw["species"][-1]["initial"] = {}
    assert "no initial concentration for compartment(s) cytosol" in one(problems(raw), "species[1].initial")


def test_info_lists_the_reaction_models(capsys):
    from microdomain.cli import main

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    listed = out.split("reaction models:")[1].split("buffer presets:")[0]
    for name in ("mass_action", "michaelis_menten", "hill", "constant"):
        assert name in listed
    assert set(registry.names()) >= {"mass_action", "michaelis_menten", "hill", "constant"}


# -------------------------------------------------------------------------------- Jacobian --

def test_stage_jacobian_with_reactions_equals_finite_differences():
    """Every kind of rate law, a bound state as reactant, an activator, species absent from the
    ER: the filled stage Jacobian against central differences of the residual."""
    raw = small_case(fluxes=[{"model": "permeability", "surface": "er_membrane", "from": "er",
                              "to": "cytosol", "params": {"permeability": "5 um/s"}}])
    raw["species"] += [solute("A", "2 uM", **{"in": "cytosol"}), solute("C", "0.5 uM")]
    raw["reactions"] = [
        {"in": "cytosol", "equation": "A + Ca <-> 2 C", "model": "mass_action",
         "params": {"kf": "50 /uM/s", "kr": "20 /uM/s"}},
        {"in": ["cytosol", "er"], "equation": "C ->", "model": "michaelis_menten",
         "params": {"Vmax": "100 uM/s", "Km": "0.7 uM"}},
        {"in": "cytosol", "equation": "-> A", "model": "hill",
         "params": {"Vmax": "100 uM/s", "K": "0.3 uM", "n": 2.5, "activator": "Ca"}},
        {"in": "cytosol", "equation": "B.Ca -> Ca", "model": "hill",
         "params": {"Vmax": "100 uM/s", "K": "3 uM", "n": 1.5}},
        {"in": "er", "equation": "-> C", "model": "constant", "params": {"rate": "10 uM/s"}},
    ]
    case = case_from_dict(raw)
    from microdomain.assembly import build_system

    system = build_system(case, build_domain(case.builder.build(case.geometry)))
    res = Residual(system)
    pattern = JacobianPattern(system, res.pairs)
    rng = np.random.default_rng(3)
    U = system.initial * rng.uniform(0.8, 1.2, system.initial.shape) + 0.05 * system.chemistry.present
    c = 0.01
    stage = Stage(c, 0.0, known=system.initial, gates=GateStage({}, {}, c))
    active = lambda b: True  # noqa: E731
    ev = res.evaluate(U, stage, active)
    J = pattern.matrix(res.V, c, ev.jac_R, ev.entries).toarray()
    J_fd = np.zeros_like(J)
    for j in range(U.size):
        step = 1e-6 * max(abs(U.ravel()[j]), 1.0)
        Up, Um = U.copy().ravel(), U.copy().ravel()
        Up[j] += step
        Um[j] -= step
        Fp = res.evaluate(Up.reshape(U.shape), stage, active, want_jacobian=False).F
        Fm = res.evaluate(Um.reshape(U.shape), stage, active, want_jacobian=False).F
        J_fd[:, j] = (Fp - Fm).ravel() / (2 * step)
    assert np.allclose(J, J_fd, rtol=1e-6, atol=1e-7 * np.abs(J).max())
    # the reactions did fill something beyond binding
    chem = system.chemistry
    assert (chem.index("A"), chem.index("Ca")) in res.pairs
    assert (chem.index("Ca"), chem.index("B.Ca")) in res.pairs


# ----------------------------------------------------------------------------- closed forms --

def test_first_order_decay():
    """IP3 → ∅ at kf = 1.25 /s: c = c0·e^(−kf·t), within 1e-5 of itself over 2 s (rtol 1e-8:
    the global error is the sum of the steps' local errors)."""
    raw = well_mixed([solute("IP3", "1 uM")],
                     [{"in": "cytosol", "equation": "IP3 ->", "model": "mass_action",
                       "params": {"kf": "1.25 /s"}}], end="2000 ms", dt_max="50 ms")
    t, x = trace(raw, [250.0 * k for k in range(1, 9)])
    exact = np.exp(-1.25e-3 * t)
    assert np.max(np.abs(x["IP3"] / exact - 1)) < 1e-5


def _riccati(t, a0, b0, c0, kf, kr):
    """x = [C] − c0 for A + B ⇌ C: dx/dt = kf(a0 − x)(b0 − x) − kr(c0 + x) = kf(x − x1)(x − x2)."""
    p = -(kf * (a0 + b0) + kr)
    q = kf * a0 * b0 - kr * c0
    disc = np.sqrt(p * p - 4 * kf * q)
    x1, x2 = (-p - disc) / (2 * kf), (-p + disc) / (2 * kf)       # x1 < x2; x → x1
    ratio = (0 - x1) / (0 - x2) * np.exp(kf * (x1 - x2) * t)
    return (x1 - ratio * x2) / (1 - ratio), x1


def test_reversible_association_relaxes_to_its_equilibrium():
    """A + B ⇌ C (kf 0.1 /µM/ms, kr 0.05 /ms) from A = 5, B = 3, C = 1 µM: the trajectory is
    the Riccati closed form within 2e-6 µM, and it ends at kf·A·B = kr·C."""
    kf, kr, a0, b0, c0 = 0.1, 0.05, 5.0, 3.0, 1.0
    raw = well_mixed([solute("A", f"{a0} uM"), solute("B", f"{b0} uM"), solute("C", f"{c0} uM")],
                     [{"in": "cytosol", "equation": "A + B <-> C", "model": "mass_action",
                       "params": {"kf": f"{kf} /uM/ms", "kr": f"{kr} /ms"}}], end="60 ms",
                     dt_max="5 ms")
    t, x = trace(raw, [0.1, 0.3, 1.0, 2.0, 5.0, 10.0, 20.0, 60.0])     # relaxation time 2.6 ms
    exact, x_inf = _riccati(t, a0, b0, c0, kf, kr)
    assert np.max(np.abs(x["C"] - c0 - exact)) < 2e-6
    assert np.max(np.abs(x["A"] - (a0 - exact))) < 2e-6
    assert np.max(np.abs((x["A"] + x["C"]) - (a0 + c0))) < 1e-9          # A is conserved in A + C
    A, B, C = x["A"][-1], x["B"][-1], x["C"][-1]
    assert kf * A * B == pytest.approx(kr * C, rel=1e-6)
    assert C - c0 == pytest.approx(x_inf, rel=1e-6)


def test_michaelis_menten_matches_a_tight_ode_solve():
    """S → P at Vmax 2 µM/ms, Km 1.5 µM from S = 10 µM, with S also made at 0.5 µM/ms: the
    exact ODE dS/dt = 0.5 − Vmax·S/(Km + S) solved by scipy at rtol 1e-12 as the reference."""
    Vmax, Km, s0, prod = 2.0, 1.5, 10.0, 0.5
    raw = well_mixed([solute("S", f"{s0} uM"), solute("P", "0 uM")],
                     [{"in": "cytosol", "equation": "S -> P", "model": "michaelis_menten",
                       "params": {"Vmax": f"{Vmax} uM/ms", "Km": f"{Km} uM"}},
                      {"in": "cytosol", "equation": "-> S", "model": "constant",
                       "params": {"rate": f"{prod} uM/ms"}}], end="12 ms")
    times = [0.5, 1.0, 2.0, 4.0, 6.0, 8.0, 12.0]
    t, x = trace(raw, times)
    ref = solve_ivp(lambda _, s: prod - Vmax * s / (Km + s), (0, 12), [s0], t_eval=times,
                    rtol=1e-12, atol=1e-14, method="LSODA")
    assert np.max(np.abs(x["S"] - ref.y[0])) < 5e-6
    assert np.max(np.abs(x["S"] + x["P"] - (s0 + prod * t))) < 1e-9


def test_hill_production_driven_by_an_activator():
    """-> X at Vmax·Caⁿ/(Kⁿ + Caⁿ) with Ca held: X grows linearly at that rate."""
    raw = well_mixed([solute("Ca", "0.5 uM"), solute("X", "0 uM")],
                     [{"in": "cytosol", "equation": "-> X", "model": "hill",
                       "params": {"Vmax": "3 uM/ms", "K": "1 uM", "n": 2, "activator": "Ca"}}],
                     end="2 ms")
    t, x = trace(raw, [1.0, 2.0])
    assert x["X"] == pytest.approx(3 * 0.25 / 1.25 * t, rel=1e-9)
    assert x["Ca"] == pytest.approx(0.5, rel=1e-12)


# --------------------------------------------------------------------------- mass balance --

class Balance:
    """An observer adding up, per element, what StepInfo says entered: boundaries, outside
    fluxes and reactions (metrics.json's balance with the reaction term)."""

    def start(self, system, U, t):
        self.sys = system
        self.inflow: dict[str, float] = {}
        self.made: dict[str, float] = {}

    def step(self, U, info):
        chem = self.sys.chemistry
        for u in chem.unknowns:
            if u.bound:
                continue
            ion = u.name
            bath = float(info.boundary_inflow[chem.carriers(ion)].sum())
            self.inflow[ion] = self.inflow.get(ion, 0.0) + bath + info.outside_inflow.get(ion, 0.0)
            self.made[ion] = self.made.get(ion, 0.0) + info.reaction_inflow.get(ion, 0.0)

    def amount(self, U, ion):
        d = self.sys.domain
        return float(np.sum(d.volumes * U[self.sys.chemistry.carriers(ion)].sum(axis=0)) * d.angle)

    resume = frame = checkpoint = finish = lambda self, *a: None


def _balance(raw):
    _, _, system = build(raw)
    bal = Balance()
    U, t, _ = integrate(system, system.case.time.end, [system.case.time.end], [bal])
    out = {}
    for ion in bal.inflow:
        start, now = bal.amount(system.initial, ion), bal.amount(U, ion)
        error = now - start - bal.inflow[ion] - bal.made[ion]
        scale = max(abs(start), abs(now), abs(bal.inflow[ion]), abs(bal.made[ion]))
        out[ion] = (error / scale, bal.made[ion], start, now)
    return out


def producing_case(method="trbdf2"):
    """1D cytosol | ER: a bath on the cytosol's wall, a Zn leak across the ER membrane, a Zn
    channel into the ER from outside; Zn made in the cytosol from nothing ("-> Zn") and by ROS
    from metallothionein ("MT.Zn + ROS -> Zn", MT binding Zn irreversibly), Zn removed in the
    ER ("Zn ->"). Steps at rtol 1e-3, far looser than the balance."""
    raw = small_case()
    raw["geometry"]["surfaces"].append({"name": "right", "wall": "x+"})
    raw["boundaries"] = [{"surface": "left"}]
    raw["fluxes"] = [
        {"model": "permeability", "surface": "er_membrane", "from": "er", "to": "cytosol",
         "params": {"permeability": "2 um/s", "ion": "Zn"}},
        {"model": "channel_cluster", "surface": "right", "from": "outside", "to": "er",
         "params": {"channels": 1, "unitary_current": "0.01 pA", "ion": "Zn"}}]
    raw["species"] += [{"ion": "Zn", "D": "100 um**2/s", "initial": "0.5 nM"},
                       solute("ROS", "2 uM", **{"in": "cytosol"})]
    raw["buffers"].append({"name": "MT", "in": "cytosol", "total": "5 uM", "D": "10 um**2/s",
                           "sites": [{"ion": "Zn", "kon": "1 /uM/s", "koff": 0}]})
    raw["reactions"] = [
        {"in": "cytosol", "equation": "-> Zn", "model": "constant", "params": {"rate": "0.2 uM/s"}},
        {"in": "cytosol", "equation": "MT.Zn + ROS -> Zn", "model": "mass_action",
         "params": {"kf": "2 /uM/s"}},
        {"in": "er", "equation": "Zn ->", "model": "mass_action", "params": {"kf": "5 /s"}},
    ]
    raw["time"] = {"end": "20 ms", "rtol": 1e-3, "method": method}
    return raw


@pytest.mark.parametrize("method", ["trbdf2", "bdf1"])
def test_balance_closes_with_reactions_that_make_and_remove_an_element(method):
    out = _balance(producing_case(method))
    rel, made, start, now = out["Zn"]
    assert abs(rel) < 1e-9
    assert abs(made) > 1e-3 * max(start, now)          # the reactions mattered
    rel, made, _, _ = out["ROS"]
    assert abs(rel) < 1e-9 and made < 0                 # ROS consumed by the release
    rel, made, _, _ = out["Ca"]
    assert abs(rel) < 1e-9 and made == 0.0              # Ca: no reaction touches it


def test_a_reaction_that_frees_a_bound_ion_makes_none():
    """MT.Zn + ROS -> Zn moves Zn between its carriers: Zn's reaction inflow is round-off."""
    raw = producing_case()
    raw["reactions"] = raw["reactions"][1:2]
    out = _balance(raw)
    rel, made, start, _ = out["Zn"]
    assert abs(rel) < 1e-9 and abs(made) < 1e-12 * start


def test_steady_balance_includes_what_reactions_make():
    """X made at 1 µM/ms in a 1 µm box and lost through a bath at x = 0: at the steady state
    the bath takes exactly what the reaction makes, and the profile is the parabola
    X = X_b + (k/D)·x·(L − x/2) shifted by (k/D)·h²/8, the finite-volume answer (the bath's
    half-cell flux D·(X_1 − X_b)/(h/2) is short of k·L by k·h/4)."""
    raw = {"case": {"name": "steady_source"},
           "geometry": {"builder": "box", "size": ["1 um"], "cells": [40],
                        "surfaces": [{"name": "left", "wall": "x-"}]},
           "species": [solute("X", "0.2 uM", D="0.5 um**2/ms")],
           "reactions": [{"in": "cytosol", "equation": "-> X", "model": "constant",
                          "params": {"rate": "1 uM/ms"}}],
           "boundaries": [{"surface": "left"}],
           "time": {"end": "1 ms", "mode": "steady"}}
    _, domain, system = build(raw)

    class Last(Balance):
        def step(self, U, info):
            self.info = info

    obs = Last()
    U, _, _ = integrate(system, 1.0, [1.0], [obs])
    assert obs.info.steady
    made = obs.info.reaction_inflow["X"]
    assert made == pytest.approx(1.0 * 1.0)                            # k · volume (µm³, 1D)
    assert obs.info.boundary_inflow[0] == pytest.approx(-made, rel=1e-9)
    x = domain.cell_centers[0]
    h = 1.0 / 40
    assert U[0] == pytest.approx(0.2 + (1.0 / 0.5) * (x * (1.0 - x / 2) + h * h / 8), rel=1e-9)


def test_an_absent_species_stays_zero_where_it_is_absent():
    raw = small_case(fluxes=[{"model": "permeability", "surface": "er_membrane", "from": "er",
                              "to": "cytosol", "params": {"permeability": "5 um/s"}}])
    raw["species"].append(solute("IP3", "0.5 uM", **{"in": "cytosol"}))
    raw["reactions"] = [{"in": "cytosol", "equation": "-> IP3", "model": "constant",
                         "params": {"rate": "1 uM/ms"}}]
    raw["time"] = {"end": "2 ms", "rtol": 1e-3}
    _, domain, system = build(raw)
    k = system.chemistry.index("IP3")
    er = domain.compartment_mask("er")
    assert np.all(system.initial[k, er] == 0) and np.all(system.initial[k, ~er] == 0.5)
    U, _, _ = integrate(system, 2.0)
    assert np.all(U[k, er] == 0.0)
    assert U[k, ~er] == pytest.approx(2.5, rel=1e-6)                  # 0.5 + 1 µM/ms · 2 ms


def test_a_flux_cannot_move_a_species_where_it_is_absent():
    from microdomain.assembly import ModelError, build_system

    raw = small_case(fluxes=[{"model": "permeability", "surface": "er_membrane", "from": "er",
                              "to": "cytosol", "params": {"permeability": "5 um/s"}}])
    raw["species"][0]["in"] = "cytosol"
    raw["species"][0]["initial"] = "0.1 uM"
    raw["buffers"] = []
    case = case_from_dict(raw)
    with pytest.raises(ModelError, match="Ca into or out of 'er', where it is absent"):
        build_system(case, build_domain(case.builder.build(case.geometry)))


# ------------------------------------------------------------------------ irreversible binding --

def _irreversible(initial="equilibrium", ca="2 uM", competitor=None):
    sites = [{"binds": [{"ion": "Ca", "kon": "100 /uM/s", "koff": 0}]}]
    if competitor:
        sites[0]["binds"].append(competitor)
    return well_mixed([{"ion": "Ca", "D": "100 um**2/s", "initial": ca}], [], end="10 ms",
                      buffers=[{"name": "X", "in": "cytosol", "total": "5 uM", "D": 0,
                                "initial": initial, "sites": sites}])


def test_koff_zero_is_accepted_and_starts_fully_bound():
    case = case_from_dict(_irreversible())
    assert case.buffers[0].sites[0].binds[0].koff == 0.0
    domain = build_domain(case.builder.build(case.geometry))
    chem = build_chemistry(case, domain)
    U = _initial_state(case, domain, chem)
    assert np.all(U[chem.index("X.Ca")] == 5.0) and np.all(U[chem.index("Ca")] == 2.0)
    assert np.abs(chem.rates(U)).max() == 0.0                        # at rest: no free site


def test_koff_zero_without_the_ion_starts_free():
    case = case_from_dict(_irreversible(ca="0 uM"))
    domain = build_domain(case.builder.build(case.geometry))
    chem = build_chemistry(case, domain)
    assert np.all(_initial_state(case, domain, chem)[chem.index("X.Ca")] == 0.0)


def test_irreversible_states_take_the_site_from_reversible_competitors():
    """One site, Ca irreversible (kon 100 /µM/s) and Zn reversible: the Ca state holds the site."""
    raw = _irreversible(competitor={"ion": "Zn", "kon": "100 /uM/s", "koff": "1 /s"})
    raw["species"].append({"ion": "Zn", "D": "100 um**2/s", "initial": "1 uM"})
    case = case_from_dict(raw)
    domain = build_domain(case.builder.build(case.geometry))
    chem = build_chemistry(case, domain)
    U = _initial_state(case, domain, chem)
    assert np.all(U[chem.index("X.Ca")] == 5.0) and np.all(U[chem.index("X.Zn")] == 0.0)


def test_two_irreversible_competitors_share_the_site_by_kon_times_c():
    raw = _irreversible(competitor={"ion": "Zn", "kon": "300 /uM/s", "koff": 0})
    raw["species"].append({"ion": "Zn", "D": "100 um**2/s", "initial": "1 uM"})
    case = case_from_dict(raw)
    domain = build_domain(case.builder.build(case.geometry))
    chem = build_chemistry(case, domain)
    U = _initial_state(case, domain, chem)
    # kon·c: Ca 100·2 = 200, Zn 300·1 = 300 → 2/5 and 3/5 of 5 µM
    assert U[chem.index("X.Ca")] == pytest.approx(2.0) and U[chem.index("X.Zn")] == pytest.approx(3.0)


def test_irreversible_binding_from_free_follows_the_closed_form():
    """Ca + X → X.Ca from free buffer: dc/dt = −kon·c·(c + Δ), Δ = X0 − c0, so
    c(t) = Δ·c0 / ((c0 + Δ)·e^(kon·Δ·t) − c0)."""
    t, x = trace(_irreversible(initial="free"), [0.5, 1.0, 2.0, 5.0, 10.0])
    kon, c0, X0 = 0.1, 2.0, 5.0
    delta = X0 - c0
    exact = delta * c0 / ((c0 + delta) * np.exp(kon * delta * t) - c0)
    assert np.max(np.abs(x["Ca"] - exact)) < 1e-6
    assert np.max(np.abs(x["Ca"] + x["X.Ca"] - c0)) < 1e-9


# ------------------------------------------------------------------------------ third parties --

def test_a_third_party_rate_law_from_the_entry_point_group_runs(monkeypatch):
    """A package's model, found through the `microdomain.reactions` entry-point group: its own
    params, its check of the equation, its rate and derivative in the solver."""
    from microdomain import reactions
    from microdomain.quantities import Strict

    class CubicParams(Strict):
        k: float

    class Cubic(reactions.ReactionModel):
        """r = k·S³ (a third party's law)."""

        name = "cubic"
        Params = CubicParams

        @classmethod
        def check(cls, equation, params):
            return [] if len(equation.reactants) == 1 else [("equation", "one reactant")]

        def reads(self):
            return (self.equation.reactants[0].species,)

        def rate(self, c):
            return self.params.k * c[self.reads()[0]] ** 3

        def drate(self, c):
            return {self.reads()[0]: 3 * self.params.k * c[self.reads()[0]] ** 2}

    class EntryPoint:
        name = "cubic"

        def load(self):
            return Cubic

    seen = {}

    def fake_entry_points(group):
        seen["group"] = group
        return [EntryPoint()]

    monkeypatch.setattr("microdomain.registry.entry_points", fake_entry_points)
    # the built-in registry, as if its entry points had not been read yet (restored afterwards)
    monkeypatch.setattr(registry, "_items", dict(registry._items))
    monkeypatch.setattr(registry, "_loaded_entry_points", False)
    assert reactions.registry is registry
    raw = well_mixed([solute("S", "2 uM")], [{"in": "cytosol", "equation": "S ->", "model": "cubic",
                                              "params": {"k": 0.5}}], end="1 ms")
    t, x = trace(raw, [1.0])
    assert seen["group"] == "microdomain.reactions"
    # dS/dt = −k·S³: S = S0/√(1 + 2k·S0²·t)
    assert x["S"][-1] == pytest.approx(2.0 / np.sqrt(1 + 2 * 0.5 * 4.0 * 1.0), rel=1e-5)
    bad = well_mixed([solute("S", "2 uM")], [{"in": "cytosol", "equation": "-> S", "model": "cubic",
                                              "params": {"k": 0.5}}])
    assert "one reactant" in one(problems(bad), "reactions[0].equation")


def test_the_documented_limits_and_units_are_the_codes():
    from microdomain import reactions
    from tests.helpers import ROOT

    docs = (ROOT / "docs" / "case-files.md").read_text("utf-8")
    limits = docs[docs.index("## Limits"):]
    assert reactions.MAX_COEFFICIENT == 9 and "coefficients are whole numbers from 1 to 9" in limits
    section = docs[docs.index("## `[[reactions]]`"):docs.index("## `[[fluxes]]`")]
    for order, example in ((0, "0.5 uM/s"), (1, "1.25 /s"), (2, "10 /uM/s"), (3, "0.1 /uM**2/s")):
        assert reactions.rate_constant_kind(order).example == example and f'`"{example}"`' in section
    for name in ("mass_action", "michaelis_menten", "hill", "constant"):
        assert f"| `{name}` |" in section


def test_the_gating_ion_of_ip3r_and_soce_is_a_checked_parameter_not_a_hard_coded_name():
    raw = small_case()
    raw["species"].append(solute("IP3", "0 uM"))
    raw["fluxes"] = [{"model": "ip3r", "surface": "er_membrane", "from": "er", "to": "cytosol",
                      "params": {"unitary_current": "0.1 pA", "at": "500 uM", "mode": "gated",
                                 "ip3": "1 uM", "gating_ion": "Cx"}},
                     {"model": "ip3r", "surface": "er_membrane", "from": "er", "to": "cytosol",
                      "params": {"unitary_current": "0.1 pA", "at": "500 uM", "mode": "gated",
                                 "ip3": "1 uM", "gating_ion": "IP3"}}]
    msgs = problems(raw)
    assert "no species 'Cx'" in one(msgs, "fluxes[0].params.gating_ion")
    assert "'IP3' is not an ion" in one(msgs, "fluxes[1].params.gating_ion")
