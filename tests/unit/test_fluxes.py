"""Generic flux plugins: units, sign (source → target), conservation and derivatives."""

import numpy as np
import pytest

from microdomain import fluxes
from microdomain.fluxes import FluxContext, FluxInputs
from microdomain.units import current_to_molar_flow


def make(name, **params):
    cls = fluxes.registry.get(name)
    areas = np.array([0.5, 1.0, 1.5]) * 1e-4
    return cls(cls.Params.model_validate(params), FluxContext(areas=areas, valence={"Ca": 2, "Zn": 2}))


def side(ca, zn=1e-3):
    return {"Ca": np.full(3, ca), "Zn": np.full(3, zn)}


def test_channel_cluster_total_flow_is_n_times_unitary_current_whatever_the_faces():
    model = make("channel_cluster", channels=6, unitary_current="0.15 pA")
    J = model.flux(FluxInputs(side(500.0), side(0.1), 0.0))["Ca"]
    assert np.sum(J * model.context.areas) == pytest.approx(6 * current_to_molar_flow(0.15, 2))
    assert np.all(J > 0)


def test_channel_cluster_moves_several_ions_with_their_own_currents():
    model = make("channel_cluster", channels=2, unitary_current={"Ca": "0.1 pA", "Zn": "0.01 pA"})
    assert set(model.ions) == {"Ca", "Zn"}
    J = model.flux(FluxInputs(side(1.0), side(0.1), 0.0))
    assert np.sum(J["Zn"] * model.context.areas) == pytest.approx(2 * current_to_molar_flow(0.01, 2))


def test_permeability_flows_down_the_gradient_with_exact_derivatives():
    model = make("permeability", permeability="2 um/s")
    assert model.flux(FluxInputs(side(500.0), side(0.1), 0.0))["Ca"][0] == pytest.approx(0.002 * 499.9)
    assert model.flux(FluxInputs(side(0.1), side(500.0), 0.0))["Ca"][0] < 0
    d = model.dflux(FluxInputs(side(5.0), side(1.0), 0.0))
    assert d[("Ca", "src")][0] == pytest.approx(0.002) and d[("Ca", "tgt")][0] == pytest.approx(-0.002)


@pytest.mark.parametrize("n", [1.0, 2.0, 3.5])
def test_hill_pump_limits_and_derivative(n):
    model = make("hill_pump", vmax="3 uM*um/ms", K="0.3 uM", n=n)
    J = lambda c: model.flux(FluxInputs(side(c), side(0.0), 0.0))["Ca"][0]  # noqa: E731
    assert J(0.3) == pytest.approx(1.5)            # half-maximal at K
    assert J(1e6) == pytest.approx(3.0, rel=1e-6)  # saturates at Vmax
    c, h = 0.2, 1e-6
    assert model.dflux(FluxInputs(side(c), side(0.0), 0.0))[("Ca", "src")][0] == pytest.approx(
        (J(c + h) - J(c - h)) / (2 * h), rel=1e-6)


def test_constant_flux_by_density_or_total():
    m1 = make("constant_flux", density="2 uM*um/ms")
    assert np.all(m1.flux(FluxInputs(side(1.0), side(1.0), 0.0))["Ca"] == 2.0)
    m2 = make("constant_flux", total="3 uM*um**3/ms")
    assert np.sum(m2.flux(FluxInputs(side(1.0), side(1.0), 0.0))["Ca"] * m2.context.areas) == pytest.approx(3.0)
    with pytest.raises(Exception, match="exactly one"):
        make("constant_flux")
