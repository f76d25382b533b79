"""Generic membrane fluxes: channel clusters, passive permeability, Hill pumps, constant fluxes."""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator, model_validator

from ..quantities import Concentration, FieldError, FluxDensity, MolarFlow, PerCompartment, Strict
from ..units import current_to_molar_flow
from . import register
from .base import FluxModel

PerIonCurrent = PerCompartment("current")       # {"*": value} or {ion: value}; '*' → the model's `ion`
PerIonPermeability = PerCompartment("permeability")


def per_ion(table: dict[str, float], ion: str) -> dict[str, float]:
    """A per-ion table with '*' standing for the model's own `ion`."""
    return {(ion if k == "*" else k): v for k, v in table.items()}


def hill(c: np.ndarray, K: float, n: float) -> np.ndarray:
    """cⁿ/(Kⁿ + cⁿ), with negative c (Newton overshoot) read as 0."""
    c = np.maximum(c, 0.0)
    return c**n / (K**n + c**n)


def dhill(c: np.ndarray, K: float, n: float) -> np.ndarray:
    c = np.maximum(c, 0.0)
    Kn = K**n
    return n * Kn * c ** (n - 1) / (Kn + c**n) ** 2


class ChannelClusterParams(Strict):
    channels: int = Field(1, ge=0)
    unitary_current: PerIonCurrent
    ion: str = "Ca"


@register("channel_cluster")
class ChannelCluster(FluxModel):
    """N open channels, each passing a unitary current (pA) of one or more ions, spread evenly
    over the patch: J = N·i/(zF) / A_patch. Independent of concentrations (a clamped current);
    the total molar flow is exact whatever the mesh resolves of the patch."""

    Params = ChannelClusterParams
    references = ("Neher1986",)

    @property
    def ions(self):
        return tuple(per_ion(self.params.unitary_current, self.params.ion))

    def flux(self, x):
        p = self.params
        out = {}
        for ion, current in per_ion(p.unitary_current, p.ion).items():
            flow = p.channels * current_to_molar_flow(current, self.context.valence[ion])
            out[ion] = np.full(self.context.areas.size, flow / self.context.total_area)
        return out


class PermeabilityParams(Strict):
    permeability: PerIonPermeability
    ion: str = "Ca"

    @field_validator("permeability")
    @classmethod
    def _not_negative(cls, table):
        # a negative P pumps uphill with no energy source: concentrations go negative mid-run
        for ion, P in table.items():
            if P < 0:
                raise FieldError(() if ion == "*" else ion, "a permeability must not be negative "
                                 f"(got {P:g} um/ms); passive flux runs downhill either way")
        return table


@register("permeability")
class PassivePermeability(FluxModel):
    """Passive leak J = P·(c_from − c_to) per ion (µm/ms)."""

    Params = PermeabilityParams
    references = ()

    @property
    def ions(self):
        return tuple(per_ion(self.params.permeability, self.params.ion))

    def flux(self, x):
        return {ion: P * (x.src[ion] - x.tgt[ion])
                for ion, P in per_ion(self.params.permeability, self.params.ion).items()}

    def dflux(self, x):
        out = {}
        for ion, P in per_ion(self.params.permeability, self.params.ion).items():
            out[(ion, "src")] = np.full(x.src[ion].shape, P)
            out[(ion, "tgt")] = np.full(x.src[ion].shape, -P)
        return out


class HillPumpParams(Strict):
    vmax: FluxDensity = Field(ge=0)
    K: Concentration = Field(gt=0)
    n: float = Field(1.0, gt=0)
    ion: str = "Ca"


@register("hill_pump")
class HillPump(FluxModel):
    """Saturable transport driven by the source side: J = Vmax·cⁿ/(Kⁿ + cⁿ), c = [ion]_from."""

    Params = HillPumpParams
    references = ("Hill1910",)

    @property
    def ions(self):
        return (self.params.ion,)

    def flux(self, x):
        p = self.params
        return {p.ion: p.vmax * hill(x.src[p.ion], p.K, p.n)}

    def dflux(self, x):
        p = self.params
        return {(p.ion, "src"): p.vmax * dhill(x.src[p.ion], p.K, p.n)}


class ConstantFluxParams(Strict):
    density: FluxDensity | None = None
    total: MolarFlow | None = None
    ion: str = "Ca"

    @model_validator(mode="after")
    def _one(self):
        if (self.density is None) == (self.total is None):
            raise ValueError("give exactly one of 'density' (per area) or 'total' (over the surface)")
        return self


@register("constant_flux")
class ConstantFlux(FluxModel):
    """A fixed flux density, or a fixed total molar flow spread evenly over the surface."""

    Params = ConstantFluxParams
    references = ()

    @property
    def ions(self):
        return (self.params.ion,)

    def flux(self, x):
        p = self.params
        density = p.density if p.density is not None else p.total / self.context.total_area
        return {p.ion: np.full(self.context.areas.size, density)}


class SaturableParams(HillPumpParams):
    n: float = Field(1.0, gt=0)                    # Michaelis–Menten unless given
    activation: float = Field(1.0, ge=0, le=1)     # fraction of transporters switched on
    ion: str = "Zn"


class SaturableTransporter(HillPump):
    """activation·Vmax·cⁿ/(Kⁿ + cⁿ), c on the source side (n = 1: Michaelis–Menten); the base of
    the exchangers and Zn²⁺ transporters. Not registered itself."""

    Params = SaturableParams
    references = ()

    def flux(self, x):
        return {ion: self.params.activation * j for ion, j in super().flux(x).items()}

    def dflux(self, x):
        return {key: self.params.activation * d for key, d in super().dflux(x).items()}


class CalciumSaturableParams(SaturableParams):
    ion: str = "Ca"
