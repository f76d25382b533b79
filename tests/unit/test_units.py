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
    # docs/references.md: 1 pA of Ca2+ = 5.182e-18 mol/s = 5.182 uM*um^3/ms
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


# ------------------------------------------------------------- safe quantity parsing --

from microdomain.limits import MAX_MAGNITUDE, MAX_QUANTITY_CHARS  # noqa: E402
from microdomain.units import MAX_UNIT_EXPONENT  # noqa: E402
from tests.helpers import returns_within  # noqa: E402


@pytest.mark.parametrize("text, kind", [
    ("1e400 um**2/s", "diffusivity"), ("inf mM", "concentration"), ("-inf mM", "concentration"),
    ("nan uM", "concentration"), ("NaN pA", "current"), ("Infinity ms", "time"),
    ("1e300 Ym", "length"),                    # finite number, overflows on conversion
])
def test_non_finite_quantities_are_refused(text, kind):
    with pytest.raises(UnitError, match="finite|limit"):
        to_internal(text, kind)


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_bare_numbers_are_refused(value):
    with pytest.raises(UnitError, match="not a finite number"):
        to_internal(value, "dimensionless")


def test_magnitudes_are_limited_in_internal_units_and_the_message_says_the_limit():
    assert MAX_MAGNITUDE == 1e30
    assert to_internal("1e30 uM", "concentration") == 1e30
    assert to_internal("-1e30 uM", "concentration") == -1e30
    with pytest.raises(UnitError, match=r"1e\+30"):
        to_internal("1.1e30 uM", "concentration")
    with pytest.raises(UnitError, match=r"1e\+33 uM in internal units.*1e\+30"):
        to_internal("1e30 mM", "concentration")        # 1e30 as written, 1e33 µM inside
    with pytest.raises(UnitError, match="limit"):
        to_internal(10**31, "dimensionless")


def test_quantity_strings_are_limited_to_200_characters_before_parsing():
    assert MAX_QUANTITY_CHARS == 200
    ok = "1" + " " * (MAX_QUANTITY_CHARS - 4) + " um"
    assert len(ok) == 200 and to_internal(ok, "length") == 1.0
    with pytest.raises(UnitError, match="201 characters.*limited to 200"):
        to_internal(ok + " ", "length")


@pytest.mark.parametrize("text", [
    "9**9**9**9 um**2/s",                      # pint evaluated this for ever
    "1 um**9**9**9",
    "1" * 1_000_000 + " um",                   # a megabyte of digits
    "(" * 150 + "um" + ")" * 45,
])
def test_expressions_that_hung_return_at_once(text):
    finished, result = returns_within(5.0, _read_length, text)
    assert finished, f"{text[:30]!r} did not return within 5 s"
    assert result.startswith("UnitError"), result


def _read_length(text):
    return to_internal(text, "length")


@pytest.mark.parametrize("text, why", [
    ("2*110 um**2/s", "unexpected"),           # arithmetic is not read
    ("1 um*2", "unexpected"),
    ("1 um**10", "exponents must be integers from -9 to 9"),
    ("1 um**(1/2)", "two operators"),
    ("1 (um", "unbalanced"),
    ("1 um)", "unbalanced"),
    ("um", "should start with a number"),
    ("1 um; import os", "unexpected"),
])
def test_only_a_number_and_a_plain_unit_expression_are_read(text, why):
    with pytest.raises(UnitError, match=why.replace("(", r"\(")):
        to_internal(text, "length" if "**2/s" not in text else "diffusivity")


@pytest.mark.parametrize("text, kind, expected", [
    ("1 um**9/um**8", "length", 1.0),          # exponents up to 9 are fine
    ("1 um**-1", "area_density", None),        # wrong dimension, but readable
    ("2 um^2/s", "diffusivity", 0.002),
    ("1 uM*um/(ms)", "flux_density", 1.0),
    ("+.5e+1 uM", "concentration", 5.0),
    ("/s", "rate", 1e-3),
    ("1e-400 um", "length", 0.0),              # underflow is zero, not an error
    ("0.2 µm", "length", 0.2),
])
def test_ordinary_spellings_still_read(text, kind, expected):
    if expected is None:
        with pytest.raises(UnitError, match="needed here"):
            to_internal(text, kind)
    else:
        assert math.isclose(to_internal(text, kind), expected, rel_tol=1e-12, abs_tol=1e-300)
    assert MAX_UNIT_EXPONENT == 9


@pytest.mark.parametrize("value, named", [
    (["20 nm"], "a list"), ({"a": "20 nm"}, "a table"), (None, "nothing"), (True, "boolean"),
])
def test_wrong_types_are_named(value, named):
    with pytest.raises(UnitError, match=named):
        to_internal(value, "length")
