"""Pydantic field types that read unit-carrying strings into internal-unit floats."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StrictBool

from .limits import MAX_NAME_CHARS
from .units import UnitError, to_internal

Bool = StrictBool
"""Booleans in case files: only true/false. Pydantic's plain `bool` also takes "yes", "on", 1
and "0", which hides a typo such as `er_network = "no"` (true!); use this type instead."""


class Strict(BaseModel):
    """Base of every case-file model: unknown keys are errors, values are frozen after reading,
    floats must be finite (TOML has inf and nan), booleans are declared as `Bool`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              allow_inf_nan=False)


class FieldError(ValueError):
    """Raised by a model validator about one of the model's fields (or a path below it): the case
    loader reports it at that field's path instead of the model's."""

    def __init__(self, field: str | tuple, message: str):
        self.field = (field,) if isinstance(field, str) else tuple(field)
        super().__init__(message)


def _name_reader(dots: bool):
    def check(value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        if value != value.strip():
            raise ValueError(f"{value!r} has leading or trailing spaces")
        if len(value) > MAX_NAME_CHARS:
            raise ValueError(f"a name of {len(value)} characters; names are limited to "
                             f"{MAX_NAME_CHARS}")
        if not dots and "." in value:
            # field names are 'buffer.ion' and 'buffer.s2.ion': a dot in a part makes them ambiguous
            raise ValueError(f"{value!r} contains '.', which separates the parts of field names "
                             "such as 'EGTA.Ca'; use '_' instead")
        return value

    return check


Name = Annotated[str, AfterValidator(_name_reader(dots=True))]
"""A non-empty name (compartment, surface, probe, flux label)."""
FieldName = Annotated[str, AfterValidator(_name_reader(dots=False))]
"""A name that becomes part of a field name (ions, buffers): also without '.'."""

_FILE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


def _file_name(value: str) -> str:
    if not (_FILE_NAME.fullmatch(value) and len(value) <= MAX_NAME_CHARS):
        raise ValueError(f"{value!r} is not a safe file name (it names the run directory): use "
                         f"letters, digits, '_', '-' and '.', not first '.', at most "
                         f"{MAX_NAME_CHARS} characters")
    return value


FileName = Annotated[str, AfterValidator(_file_name)]


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
            out = {}
            for k, v in value.items():
                try:
                    out[str(k)] = read(v)
                except ValueError as exc:
                    raise FieldError(str(k), str(exc)) from None    # report it at D.cytosol
            return out
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
