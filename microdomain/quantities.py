"""Pydantic field types that read unit-carrying strings into internal-unit floats."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from .units import UnitError, to_internal


class Strict(BaseModel):
    """Base of every case-file model: unknown keys are errors, values are frozen after reading."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _reader(kind: str):
    def read(value: Any) -> float:
        try:
            return to_internal(value, kind)
        except UnitError as exc:
            raise ValueError(str(exc)) from None

    return read


def _per_compartment_reader(kind: str):
    read = _reader(kind)

    def read_map(value: Any) -> dict[str, float]:
        """A single value applies to every compartment ('*'); a table gives one per compartment."""
        if isinstance(value, dict):
            return {str(k): read(v) for k, v in value.items()}
        return {"*": read(value)}

    return read_map


def Q(kind: str):
    return Annotated[float, BeforeValidator(_reader(kind))]


def PerCompartment(kind: str):
    return Annotated[dict[str, float], BeforeValidator(_per_compartment_reader(kind))]


Length = Q("length")
Time = Q("time")
Concentration = Q("concentration")
Diffusivity = Q("diffusivity")
Rate = Q("rate")
SecondOrderRate = Q("second_order_rate")
Current = Q("current")
Permeability = Q("permeability")
FluxDensity = Q("flux_density")
MolarFlow = Q("molar_flow")
AreaDensity = Q("area_density")


def value_in(table: dict[str, float], compartment: str, default: float | None = None) -> float | None:
    """Look a per-compartment table up, with '*' as the value for every other compartment."""
    if compartment in table:
        return table[compartment]
    return table.get("*", default)
