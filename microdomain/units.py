"""One pint registry and the conversion of case-file quantities to internal units.

Internal units are CalC's: micrometre, millisecond, micromolar. A membrane current of a
divalent ion becomes a molar flow with Faraday's constant: 1 pA of Ca²⁺ = 5.182 µM·µm³/ms.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

import pint

from .limits import MAX_MAGNITUDE, MAX_QUANTITY_CHARS

FARADAY = 96485.33212  # C/mol (CODATA 2018, exact by SI definition)


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    return pint.UnitRegistry()


@dataclass(frozen=True)
class Kind:
    """A physical kind of quantity: its internal unit and an example for error messages."""

    name: str
    internal: str
    example: str


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("length", "um", "20 nm"),
        Kind("time", "ms", "10 ms"),
        Kind("concentration", "uM", "0.1 uM"),
        Kind("diffusivity", "um**2/ms", "220 um**2/s"),
        Kind("rate", "1/ms", "0.735 /s"),
        Kind("second_order_rate", "1/uM/ms", "10.5 /uM/s"),
        Kind("current", "pA", "0.2 pA"),
        Kind("permeability", "um/ms", "1 um/s"),
        Kind("flux_density", "uM*um/ms", "1 uM*um/ms"),
        Kind("molar_flow", "uM*um**3/ms", "5 uM*um**3/ms"),
        Kind("area_density", "1/um**2", "10 /um**2"),
        Kind("dimensionless", "dimensionless", "1"),
    )
}


class UnitError(ValueError):
    """A quantity that cannot be read or has the wrong physical dimension."""


# A quantity string is a plain number and a unit expression, nothing else: pint would evaluate
# arithmetic ("9**9**9**9 um" never returns), so the number is read here and pint sees only a
# unit expression built from names, *, /, parentheses and small integer exponents.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,4})?")
_NON_FINITE = re.compile(r"[+-]?(?:inf(?:inity)?|nan)(?![A-Za-z])", re.IGNORECASE)
_UNIT_TOKEN = re.compile(r"\s*(?:(?P<name>[^\W\d]+)(?:\s*(?:\*\*|\^)\s*(?P<exp>[+-]?\d+))?"
                         r"|(?P<op>[*/])|(?P<paren>[()]))")
MAX_UNIT_EXPONENT = 9


def _split(text: str) -> tuple[float, str]:
    """'10.5 /uM/s' → (10.5, '/uM/s'); a missing number is 1 only before '/' ('/s')."""
    if _NON_FINITE.match(text):
        raise UnitError(f"{text!r} is not a finite number")
    m = _NUMBER.match(text)
    if m is None:
        if text.startswith("/"):
            return 1.0, text
        raise UnitError(f"cannot read {text!r} as a quantity: it should start with a number, "
                        "e.g. '20 nm'")
    magnitude = float(m.group())
    if not math.isfinite(magnitude):
        raise UnitError(f"{m.group()!r} overflows: numbers are limited to ±{MAX_MAGNITUDE:g}")
    return magnitude, text[m.end():].strip()


def _check_unit_syntax(unit: str, text: str) -> None:
    """Names, '*', '/', parentheses and exponents -9..9 directly after a name; nothing else."""
    pos, depth, last = 0, 0, None
    while pos < len(unit):
        m = _UNIT_TOKEN.match(unit, pos)
        if m is None or m.end() == pos:
            rest = unit[pos:].strip()
            if not rest:
                break
            raise UnitError(f"cannot read {text!r} as a quantity: unexpected {rest[:20]!r} in the "
                            "unit; write a number and a unit such as '220 um**2/s' (exponents are "
                            f"integers from -{MAX_UNIT_EXPONENT} to {MAX_UNIT_EXPONENT})")
        if m.group("exp") is not None and abs(int(m.group("exp"))) > MAX_UNIT_EXPONENT:
            raise UnitError(f"cannot read {text!r}: unit exponents must be integers from "
                            f"-{MAX_UNIT_EXPONENT} to {MAX_UNIT_EXPONENT}")
        kind = m.lastgroup if m.group("name") is None else "name"
        if kind == "op" and last == "op":
            raise UnitError(f"cannot read {text!r} as a quantity: two operators in a row in the "
                            f"unit (exponents go directly after a unit name: 'um**2')")
        if kind == "paren":
            depth += 1 if m.group("paren") == "(" else -1
            if depth < 0:
                raise UnitError(f"cannot read {text!r}: unbalanced parentheses in the unit")
        last, pos = kind, m.end()
    if depth:
        raise UnitError(f"cannot read {text!r}: unbalanced parentheses in the unit")


def _parse(text: str) -> pint.Quantity:
    if len(text) > MAX_QUANTITY_CHARS:
        raise UnitError(f"a quantity of {len(text)} characters; quantities are limited to "
                        f"{MAX_QUANTITY_CHARS} characters, e.g. '220 um**2/s'")
    text = text.strip()
    magnitude, unit = _split(text)
    _check_unit_syntax(unit, text)
    if unit.startswith("/"):  # "/s" or "10.5 /uM/s" both read naturally; pint wants "1/s"
        unit = "1" + unit
    try:
        return registry().Quantity(magnitude, unit or "dimensionless")
    except Exception as exc:  # pint raises several unrelated types for bad input
        raise UnitError(f"cannot read {text!r} as a quantity ({exc})") from None


def describe_dimension(q: pint.Quantity) -> str:
    """Name the kind a parsed quantity actually has, for error messages."""
    for kind in KINDS.values():
        if q.dimensionality == registry().Quantity(1, kind.internal).dimensionality:
            return f"a {kind.name.replace('_', ' ')}"
    return f"of dimension {q.dimensionality}"


def _checked(x: float, value, spec: Kind) -> float:
    """Every quantity finite and within ±MAX_MAGNITUDE in internal units."""
    if not math.isfinite(x) or abs(x) > MAX_MAGNITUDE:    # inputs are finite: this is overflow
        raise UnitError(f"{value!r} is {x:.3g} {spec.internal} in internal units, beyond the "
                        f"limit of ±{MAX_MAGNITUDE:g} {spec.internal}; check the number and the unit")
    return x


def _type_name(value) -> str:
    names = {list: "a list", tuple: "a list", dict: "a table", type(None): "nothing"}
    return names.get(type(value), f"a {type(value).__name__}")


def to_internal(value: str | float | int, kind: str) -> float:
    """Convert '220 um**2/s' (kind 'diffusivity') to 0.22 (µm²/ms).

    A bare number is accepted only for dimensionless quantities and for zero: a concentration of
    0 needs no unit, any other bare number is ambiguous and refused. Every result is finite and
    within ±MAX_MAGNITUDE in internal units.
    """
    return to_unit(value, KINDS[kind])


def to_unit(value: str | float | int, spec: Kind) -> float:
    """As `to_internal`, for a kind made at run time: the unit of a reaction's rate constant
    depends on the reaction's order (µM^(1−n)/ms), so it cannot be one of KINDS."""
    kind = spec.name
    if isinstance(value, bool):
        raise UnitError(f"expected {spec.name} like {spec.example!r}, got a boolean")
    if isinstance(value, int) and abs(value) > MAX_MAGNITUDE:
        raise UnitError(f"{value:.3g} is beyond the limit of ±{MAX_MAGNITUDE:g}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise UnitError(f"{value!r} is not a finite number")
        if kind == "dimensionless" or value == 0:
            return _checked(float(value), value, spec)
        raise UnitError(
            f"{value!r} has no unit; write it with one, e.g. {spec.example!r}"
        )
    if not isinstance(value, str):
        raise UnitError(f"expected a {spec.name.replace('_', ' ')} like {spec.example!r}, "
                        f"got {_type_name(value)}")
    q = _parse(value)
    try:
        x = float(q.to(spec.internal).magnitude)
    except pint.DimensionalityError:
        raise UnitError(
            f"{value!r} is {describe_dimension(q)}, but a {spec.name.replace('_', ' ')} "
            f"is needed here, e.g. {spec.example!r}"
        ) from None
    except (OverflowError, ZeroDivisionError, ValueError) as exc:
        raise UnitError(f"cannot convert {value!r} to {spec.internal} ({exc})") from None
    return _checked(x, value, spec)


def current_to_molar_flow(current_pA: float, valence: int) -> float:
    """Molar flow (µM·µm³/ms) carried by a current (pA) of an ion of given valence."""
    mol_per_s = current_pA * 1e-12 / (valence * FARADAY)
    return mol_per_s * 1e21 / 1e3  # 1 µM·µm³ = 1e-21 mol; per s → per ms


AMOUNT_TO_AMOL = 1e-21 / 1e-18  # µM·µm³ → attomol
