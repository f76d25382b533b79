"""Mitochondrial membranes: VDAC in the outer membrane, MCU and NCLX in the inner membrane."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from ..quantities import AreaDensity, Concentration, Current, Strict
from ..units import current_to_molar_flow
from . import register
from .base import FluxModel
from .generic import CalciumSaturableParams, PassivePermeability, SaturableTransporter, dhill, hill


@register("vdac")
class Vdac(PassivePermeability):
    """VDAC, the outer-membrane pore: passive and Ca²⁺-independent, J = P·(c_cyt − c_IMS) per ion
    (`permeability` = {Ca = ..., Zn = ...} for both). The OMM is meant not to limit uptake, so
    P is taken large against the MCU's effective permeability (magnitude illustrative)."""

    references = ("Su2024",)


class McuParams(Strict):
    density: AreaDensity = Field(ge=0)             # channels per µm² of inner membrane
    unitary_current: Current = Field(gt=0)         # at `at`, Kirichok 2004: 0.5–1 pA at 105 mM
    at: Concentration = Field(gt=0)
    K: Concentration = Field(gt=0)                 # MICU1 gatekeeping: half activation
    n: float = Field(2.0, gt=0)                    # sigmoidal activation
    ion: str = "Ca"


@register("mcu")
class Mcu(FluxModel):
    """Mitochondrial Ca²⁺ uniporter, IMS → matrix: J = ρ·p·c·cⁿ/(Kⁿ + cⁿ), c = [Ca²⁺]IMS,
    ρ channels/µm², p = σ(i)/c_at the single-channel permeance from the unitary current at
    c_at (Kirichok 2004; a linear current–concentration extrapolation from 105 mM down to µM),
    the Hill factor MICU1's gatekeeping (closed at rest, open above K0.5 ≈ 10–20 µM). The
    steep negative matrix potential makes efflux through MCU negligible: the matrix side
    does not enter."""

    Params = McuParams
    references = ("Kirichok2004",)

    @property
    def ions(self):
        return (self.params.ion,)

    def _rate(self):
        p = self.params
        return p.density * current_to_molar_flow(p.unitary_current, self.context.valence[p.ion]) / p.at

    def flux(self, x):
        p = self.params
        c = np.maximum(x.src[p.ion], 0.0)
        return {p.ion: self._rate() * c * hill(c, p.K, p.n)}

    def dflux(self, x):
        p = self.params
        c = np.maximum(x.src[p.ion], 0.0)
        return {(p.ion, "src"): self._rate() * (hill(c, p.K, p.n) + c * dhill(c, p.K, p.n))}


@register("nclx")
class Nclx(SaturableTransporter):
    """Mitochondrial Na⁺/Ca²⁺ exchanger, matrix → IMS: J = activation·Vmax·c/(K + c), c the
    matrix [Ca²⁺] (Michaelis–Menten; Na⁺ taken constant; magnitudes illustrative)."""

    Params = CalciumSaturableParams
    references = ("Ke2022",)
