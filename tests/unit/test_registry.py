import pytest

from microdomain import fluxes
from microdomain.fluxes.base import FluxModel
from microdomain.registry import Registry, UnknownNameError


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

    class FakeEntryPoint:
        name = "my_pump"

        def load(self):
            return MyPump

    seen = {}

    def fake_entry_points(group):
        seen["group"] = group
        return [FakeEntryPoint()]

    monkeypatch.setattr("microdomain.registry.entry_points", fake_entry_points)
    reg = Registry("flux model", "microdomain.fluxes")
    assert reg.get("my_pump") is MyPump
    assert seen["group"] == "microdomain.fluxes"
