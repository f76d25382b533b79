import math

import pytest

from microdomain.units import UnitError, current_to_molar_flow, to_internal


@pytest.mark.parametrize("text, kind, expected", [
    ("220 um**2/s", "diffusivity", 0.22),
    ("20 nm", "length", 0.02),
    ("1 mM", "concentration", 1000.0),
    ("0.4 nM", "concentration", 4e-4),
    ("10.5 /uM/s", "second_order_rate", 0.0105),
    ("0.735 /s", "rate", 0.000735),
    ("1 us", "time", 1e-3),
    ("1 um/s", "permeability", 1e-3),
])
def test_conversion_to_internal_units(text, kind, expected):
    assert math.isclose(to_internal(text, kind), expected, rel_tol=1e-12)


def test_one_picoampere_of_calcium_is_5_182_uM_um3_per_ms():
    # REFERENCES.md: 1 pA of Ca2+ = 5.182e-18 mol/s = 5.182 uM*um^3/ms
    assert current_to_molar_flow(1.0, 2) == pytest.approx(5.182, rel=1e-3)
    assert current_to_molar_flow(1.0, 1) == pytest.approx(2 * current_to_molar_flow(1.0, 2))


def test_wrong_dimension_names_both_kinds_and_an_example():
    with pytest.raises(UnitError) as err:
        to_internal("20 nm", "diffusivity")
    msg = str(err.value)
    assert "a length" in msg and "diffusivity" in msg and "um**2/s" in msg


def test_bare_number_needs_a_unit_unless_zero():
    with pytest.raises(UnitError, match="no unit"):
        to_internal(5, "concentration")
    assert to_internal(0, "concentration") == 0.0
    assert to_internal(3, "dimensionless") == 3.0


def test_unreadable_quantity():
    with pytest.raises(UnitError, match="cannot read"):
        to_internal("fast", "rate")
