from importlib.metadata import entry_points

import numpy as np
import pytest

from microdomain import fluxes, reactions
from microdomain.fluxes.base import FluxModel, check_contract
from microdomain.geometry import GeometryBuilder, builders
from microdomain.geometry.structured import Box
from microdomain.quantities import Strict
from microdomain.registry import PluginError, Registry, UnknownNameError


def test_unknown_name_suggests_the_nearest_and_lists_all():
    with pytest.raises(UnknownNameError) as err:
        fluxes.registry.get("channel_clustr")
    msg = str(err.value)
    assert "did you mean 'channel_cluster'" in msg
    for name in ("permeability", "hill_pump", "constant_flux"):
        assert name in msg


def test_builtin_generic_fluxes_are_registered():
    assert {"channel_cluster", "permeability", "hill_pump", "constant_flux"} <= set(fluxes.registry.names())


def test_duplicate_registration_is_refused():
    reg = Registry("thing")
    reg.register("a")(int)
    with pytest.raises(ValueError, match="twice"):
        reg.register("a")(float)


def test_third_party_plugins_come_from_the_entry_point_group(monkeypatch):
    class MyPump(FluxModel):
        """A third party's pump."""

        Params = Strict

        def flux(self, x):
            return {"Ca": np.zeros_like(x.src["Ca"])}

    class FakeEntryPoint:
        name = "my_pump"
        value = "their_package:MyPump"

        def load(self):
            return MyPump

    seen = {}

    def fake_entry_points(group):
        seen["group"] = group
        return [FakeEntryPoint()]

    monkeypatch.setattr("microdomain.registry.entry_points", fake_entry_points)
    reg = Registry("flux model", "microdomain.fluxes", check_contract)
    assert reg.get("my_pump") is MyPump
    assert seen["group"] == "microdomain.fluxes"


REGISTRIES = [("microdomain.fluxes", fluxes.registry), ("microdomain.geometry", builders),
              ("microdomain.reactions", reactions.registry)]


@pytest.mark.parametrize("group, registry", REGISTRIES, ids=[g for g, _ in REGISTRIES])
def test_every_built_in_is_published_in_the_entry_point_group_third_parties_use(group, registry):
    published = {ep.name: ep for ep in entry_points(group=group)}
    assert set(published) == set(registry.names()), \
        "pyproject.toml's entry points and the registry differ (reinstall with pip install -e . after editing)"
    for name, ep in published.items():
        assert ep.load() is registry.get(name)


def _fake_entry_point(monkeypatch, obj, name="bad"):
    class FakeEntryPoint:
        value = "their_package:Thing"

        def load(self):
            return obj

    FakeEntryPoint.name = name
    monkeypatch.setattr("microdomain.registry.entry_points", lambda group: [FakeEntryPoint()])


def test_a_flux_model_with_the_old_three_argument_signature_is_refused_naming_it(monkeypatch):
    class Legacy(FluxModel):
        Params = Strict

        def flux(self, src, tgt, t):
            return {}

    _fake_entry_point(monkeypatch, Legacy, "legacy_pump")
    reg = Registry("flux model", "microdomain.fluxes", check_contract)
    with pytest.raises(PluginError, match=r"'legacy_pump'.*their_package:Thing.*Legacy\.flux must take "
                                          r"one argument, a FluxInputs.*\(src, tgt, t\)"):
        reg.get("legacy_pump")


def test_every_built_in_flux_model_follows_the_one_contract():
    for name in fluxes.registry.names():
        check_contract(fluxes.registry.get(name))        # raises on a second signature


def test_a_gate_added_to_a_simple_model_needs_no_other_signature():
    """The issue's TypeError: gates reach every model through the same FluxInputs."""
    from microdomain.fluxes import FluxContext, FluxInputs

    P = fluxes.registry.get("permeability")
    m = P(P.Params.model_validate({"permeability": "1 um/s"}),
          FluxContext(areas=np.ones(2), valence={"Ca": 2}))
    x = FluxInputs({"Ca": np.full(2, 2.0)}, {"Ca": np.ones(2)}, 0.0, gates={"g": np.ones(2)})
    assert m.flux(x)["Ca"] == pytest.approx(1e-3)


def test_a_builder_missing_part_of_the_protocol_is_refused(monkeypatch):
    class HalfBuilder:
        Params = Box.Params

        @staticmethod
        def build(p):
            return None

    _fake_entry_point(monkeypatch, HalfBuilder, "half")
    reg = Registry("geometry builder", "microdomain.geometry", builders.check)
    with pytest.raises(PluginError, match=r"'half'.*HalfBuilder has no dim\(p\)"):
        reg.get("half")


def test_every_built_in_builder_implements_the_protocol():
    for name in builders.names():
        builder = builders.get(name)
        assert isinstance(builder, GeometryBuilder)
        builders.check(builder)


def test_a_reaction_model_that_is_not_a_reaction_model_is_refused(monkeypatch):
    _fake_entry_point(monkeypatch, object, "nonsense")
    reg = Registry("reaction model", "microdomain.reactions", reactions.registry.check)
    with pytest.raises(PluginError, match="'nonsense'.*not a ReactionModel subclass"):
        reg.get("nonsense")
