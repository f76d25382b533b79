"""Plasma membrane: store-operated entry (STIM1/Orai1), PMCA, NCX and ZnT exporters."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from ..quantities import Concentration, Time
from . import register
from .base import Sensor
from .channels import ClusterParams, LinearChannelCluster
from .generic import CalciumSaturableParams, HillPump, HillPumpParams, SaturableTransporter, hill


class SoceParams(ClusterParams):
    open_probability: float = Field(0.8, ge=0, le=1)    # Orai1 in its high-Po mode
    sensor: Sensor                                       # where STIM1 reads the ER lumen
    K: Concentration = Field(gt=0)                       # [Ca²⁺]ER of half activation
    n: float = Field(4.0, gt=0)
    tau: Time | None = Field(None, gt=0)                 # STIM1 activation time constant
    gating_ion: str = "Ca"                               # what STIM1 senses in the ER lumen


@register("soce")
class Soce(LinearChannelCluster):
    """Store-operated Ca²⁺ entry, outside → cytosol through N Orai1 channels in a punctum:

        J = N·Po·s·p·(c_out − c_cyt)/A,   s∞ = Kⁿ/(Kⁿ + [Ca²⁺]ERⁿ)

    s is STIM1 activation by ER depletion, read as the mean free [Ca²⁺] of the `sensor`
    (the ER lumen, optionally only next to a surface such as the ER face of the punctum);
    K ≈ 170–200 µM, n ≈ 4 (Luik 2008). With `tau`, s follows s∞ with that time constant
    (ds/dt = (s∞ − s)/τ, a gate); without, s = s∞. p from the Orai1 unitary current (fA)
    at the extracellular concentration `at` (Prakriya & Lewis 2006)."""

    Params = SoceParams
    references = ("Luik2008", "PrakriyaLewis2006")

    @property
    def gates(self):
        return ("stim",) if self.params.tau is not None else ()

    def sensors(self):
        return {"er": self.params.sensor}

    def _activation_inf(self, sensed) -> float:
        p = self.params
        c = max(sensed["er"][p.gating_ion], 0.0)
        return float(1.0 - hill(np.array(c), p.K, p.n))

    def open_probability(self, x):
        s = x.gates["stim"] if self.gates else self._activation_inf(x.sensed)
        return self.params.open_probability * s

    def gate_rates(self, x):
        if not self.gates:
            return {}
        rate = 1.0 / self.params.tau
        ones = np.ones_like(next(iter(x.tgt.values())))
        return {"stim": (rate * self._activation_inf(x.sensed) * ones, rate * ones)}


@register("pmca")
class Pmca(HillPump):
    """Plasma-membrane Ca²⁺-ATPase, cytosol → outside: J = Vmax·cⁿ/(Kⁿ + cⁿ) (magnitudes
    illustrative)."""

    Params = HillPumpParams
    references = ("Su2024",)


@register("ncx")
class Ncx(SaturableTransporter):
    """Plasma-membrane Na⁺/Ca²⁺ exchanger in forward mode, cytosol → outside:
    J = activation·Vmax·c/(K + c) (Na⁺ gradient and voltage taken constant; illustrative)."""

    Params = CalciumSaturableParams
    references = ("Su2024",)


@register("znt")
class Znt(SaturableTransporter):
    """ZnT (SLC30) Zn²⁺/H⁺ exchangers, cytosol → organelle lumen or outside:
    J = activation·Vmax·[Zn]cyt/(K + [Zn]cyt) (magnitudes illustrative)."""

    references = ("Ke2022",)
