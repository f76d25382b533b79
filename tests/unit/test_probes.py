"""Probes on structured grids (microdomain/probes.py): interpolation inside a compartment and
one-sided extrapolation to walls and membranes, against exact values; which side of a membrane
a probe reads; probes outside their compartment refused."""

from __future__ import annotations

import numpy as np
import pytest

from microdomain.case import CaseError, case_from_dict
from microdomain.mesh import build_domain
from microdomain.probes import ProbeError, locate, probe_problems, probe_weights
from microdomain.verification.studies import build, integrate

from tests.helpers import small_case


def _domain(geometry):
    raw = small_case(buffers=[])
    raw["geometry"] = geometry
    raw["species"][0]["initial"] = "0.1 uM"
    case = case_from_dict(raw)
    return build_domain(case.builder.build(case.geometry))


BOX_2D = {"builder": "box", "size": ["1 um", "0.8 um"],
          "spacing": {"min": "10 nm", "max": "60 nm", "growth": 1.2, "focus": ["0.5 um", "0 um"]},
          "compartments": [{"name": "cytosol"}, {"name": "er", "x": ["0.5 um", "1 um"]}],
          "surfaces": [{"name": "er_membrane", "between": ["er", "cytosol"]}]}


def _cubic(x, y, a):
    return a[0] + a[1] * x + a[2] * y + a[3] * x**3 - a[4] * x * y**2 + a[5] * y**3


def test_cubic_fields_are_exact_at_walls_membranes_and_inside():
    """A different cubic in each compartment of a graded 2D grid: a probe reads its own
    compartment's cubic exactly, on the membrane (either side, by `in`), on the outer walls
    and in the corners."""
    d = _domain(BOX_2D)
    x, y = d.cell_centers
    ca, ce = [1.0, 2.0, -1.0, 3.0, 0.5, 2.0], [5.0, -1.0, 0.3, -2.0, 1.0, 0.7]
    er = d.compartment_mask("er")
    U = np.where(er, _cubic(x, y, ce), _cubic(x, y, ca))
    for point, side, coeffs in [((0.5, 0.3), "cytosol", ca), ((0.5, 0.3), "er", ce),
                                ((0.5, 0.0), "cytosol", ca), ((0.5, 0.8), "er", ce),
                                ((0.0, 0.41), None, ca), ((1.0, 0.8), None, ce),
                                ((0.0, 0.0), None, ca), ((0.23, 0.57), None, ca),
                                ((0.77, 0.05), None, ce), ((0.5, 0.3), None, ce)]:
        got = (probe_weights(d, point, side) @ U)[0]
        assert got == pytest.approx(_cubic(*point, coeffs), rel=1e-10, abs=1e-10), (point, side)


def test_without_in_a_probe_on_a_membrane_reads_the_cell_after_it():
    d = _domain(BOX_2D)
    assert d.compartment_names[d.compartment_id[locate(d, (0.5, 0.3))]] == "er"
    assert d.compartment_names[d.compartment_id[locate(d, (0.5, 0.3), "cytosol")]] == "cytosol"


def test_a_probe_not_in_or_on_its_compartment_is_refused():
    d = _domain(BOX_2D)
    with pytest.raises(ProbeError, match="not in or on compartment 'er'") as err:
        locate(d, (0.3, 0.3), "er")
    assert err.value.field == "in"
    with pytest.raises(ProbeError, match="outside the grid"):
        locate(d, (1.2, 0.3))

    class Probe:
        def __init__(self, name, at, compartment=None):
            self.name, self.at, self.compartment = name, at, compartment

    found = probe_problems([Probe("a", (0.3, 0.3), "er"), Probe("b", (0.3, 0.3)),
                            Probe("c", (0.5, 0.3), "cytosol")], d)
    assert found == [("output.probes[0].in", "the probe at x = 0.3, y = 0.3 um is not in or on "
                      "compartment 'er' (probe 'a')")]


def test_probe_in_names_a_compartment_of_the_geometry():
    raw = small_case(output={"probes": [{"name": "p", "at": ["0.5 um"], "in": "golgi"}]})
    with pytest.raises(CaseError, match=r"output.probes\[0\].in: no compartment 'golgi'"):
        case_from_dict(raw)
    raw["output"]["probes"][0]["in"] = "er"
    assert case_from_dict(raw).output.probes[0].compartment == "er"


# ---------------------------------------------------------------- a membrane's exact values --

D, K, P, C0 = 0.2, 1.8, 0.2, 10.0      # µm²/ms, 1/ms, µm/ms, µM


def membrane_profile():
    """Steady X on [0, 2] µm: held at C0 at x = 0, decaying at K in a = [0, 1], crossing a
    membrane of permeability P at x = 1 into b, held at 0 at x = 2. In a X = C0·cosh(λx) +
    B·sinh(λx), λ = √(K/D); in b linear; J = Q·X_a(1), Q = D·P/(D + P), continuous."""
    lam = np.sqrt(K / D)
    Q = D * P / (D + P)
    B = -C0 * (Q * np.cosh(lam) + D * lam * np.sinh(lam)) / (D * lam * np.cosh(lam) + Q * np.sinh(lam))
    xa = C0 * np.cosh(lam) + B * np.sinh(lam)
    xb = P * xa / (D + P)

    def exact(x):
        return np.where(x < 1, C0 * np.cosh(lam * x) + B * np.sinh(lam * x), xb * (2 - x))

    return exact, xa, xb


def membrane_case(cells: int) -> dict:
    return {"case": {"name": "membrane_probe"},
            "geometry": {"builder": "box", "size": ["2 um"], "cells": [cells],
                         "compartments": [{"name": "a"}, {"name": "b", "x": ["1 um", "2 um"]}],
                         "surfaces": [{"name": "membrane", "between": ["a", "b"]},
                                      {"name": "left", "wall": "x-"}, {"name": "right", "wall": "x+"}]},
            "species": [{"ion": "X", "valence": 1, "D": f"{D} um**2/ms",
                         "initial": {"a": f"{C0} uM", "b": "0 uM"}}],
            "reactions": [{"in": "a", "equation": "X ->", "model": "mass_action",
                           "params": {"kf": f"{K} /ms"}}],
            "fluxes": [{"model": "permeability", "surface": "membrane", "from": "a", "to": "b",
                        "params": {"permeability": f"{P} um/ms", "ion": "X"}}],
            "boundaries": [{"surface": "left"}, {"surface": "right"}],
            "time": {"end": "1 ms", "mode": "steady"}}


def test_membrane_probes_read_the_exact_face_values():
    """Steady decay into a permeable membrane, 100 cells (the solution itself within 5e-4 of
    exact): the probes on either side of the membrane are within 1e-4 (a) and 5e-4 (b) of the
    exact face values 0.852 and 0.426 µM; the nearest cell centres, which probes used to
    return, are 0.5 % and 1 % off."""
    exact, xa, xb = membrane_profile()
    _, domain, system = build(membrane_case(100))
    U, _, _ = integrate(system, 1.0, [1.0])
    X = U[0]
    assert X == pytest.approx(exact(domain.cell_centers[0]), rel=5e-4)
    a_side = (probe_weights(domain, (1.0,), "a") @ X)[0]
    b_side = (probe_weights(domain, (1.0,), "b") @ X)[0]
    assert xa == pytest.approx(0.852, abs=5e-4) and xb == pytest.approx(0.426, abs=5e-4)
    assert a_side == pytest.approx(xa, rel=1e-4) and b_side == pytest.approx(xb, rel=5e-4)
    assert (probe_weights(domain, (1.0,)) @ X)[0] == pytest.approx(b_side)   # default: after it
    nearest_a, nearest_b = X[locate(domain, (1.0,), "a")], X[locate(domain, (1.0,), "b")]
    assert abs(nearest_a / xa - 1) > 5e-3 and abs(nearest_b / xb - 1) > 9e-3
    # the wall at the bath: the held value, within the solution's error
    assert (probe_weights(domain, (0.0,)) @ X)[0] == pytest.approx(C0, rel=5e-4)


def test_membrane_probe_converges_at_second_order():
    """The a-side probe's error at 50, 100, 200 cells: observed orders ≥ 1.9."""
    exact, xa, _ = membrane_profile()
    errors = []
    for cells in (50, 100, 200):
        _, domain, system = build(membrane_case(cells))
        U, _, _ = integrate(system, 1.0, [1.0])
        errors.append(abs((probe_weights(domain, (1.0,), "a") @ U[0])[0] - xa))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 1.9), (errors, orders)
