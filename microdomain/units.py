"""One pint registry and the conversion of case-file quantities to internal units.

Internal units are CalC's: micrometre, millisecond, micromolar. A membrane current of a
divalent ion becomes a molar flow with Faraday's constant: 1 pA of Ca²⁺ = 5.182 µM·µm³/ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pint

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


def _parse(text: str) -> pint.Quantity:
    text = text.strip()
    if text.startswith("/"):  # "/s" or "10.5 /uM/s" both read naturally; pint wants "1/s"
        text = "1" + text
    try:
        return registry().Quantity(text)
    except Exception as exc:  # pint raises several unrelated types for bad input
        raise UnitError(f"cannot read {text!r} as a quantity ({exc})") from None


def describe_dimension(q: pint.Quantity) -> str:
    """Name the kind a parsed quantity actually has, for error messages."""
    for kind in KINDS.values():
        if q.dimensionality == registry().Quantity(1, kind.internal).dimensionality:
            return f"a {kind.name.replace('_', ' ')}"
    return f"of dimension {q.dimensionality}"


def to_internal(value: str | float | int, kind: str) -> float:
    """Convert '220 um**2/s' (kind 'diffusivity') to 0.22 (µm²/ms).

    A bare number is accepted only for dimensionless quantities and for zero: a concentration of
    0 needs no unit, any other bare number is ambiguous and refused.
    """
    spec = KINDS[kind]
    if isinstance(value, bool):
        raise UnitError(f"expected {spec.name} like {spec.example!r}, got a boolean")
    if isinstance(value, (int, float)):
        if kind == "dimensionless" or value == 0:
            return float(value)
        raise UnitError(
            f"{value!r} has no unit; write it with one, e.g. {spec.example!r}"
        )
    q = _parse(str(value))
    try:
        return float(q.to(spec.internal).magnitude)
    except pint.DimensionalityError:
        raise UnitError(
            f"{value!r} is {describe_dimension(q)}, but a {spec.name.replace('_', ' ')} "
            f"is needed here, e.g. {spec.example!r}"
        ) from None


def current_to_molar_flow(current_pA: float, valence: int) -> float:
    """Molar flow (µM·µm³/ms) carried by a current (pA) of an ion of given valence."""
    mol_per_s = current_pA * 1e-12 / (valence * FARADAY)
    return mol_per_s * 1e21 / 1e3  # 1 µM·µm³ = 1e-21 mol; per s → per ms


AMOUNT_TO_AMOL = 1e-21 / 1e-18  # µM·µm³ → attomol
