"""ER membrane: IP3 receptors, SERCA, TMCO1, ZIP7 and the passive leak."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from ..quantities import Concentration, Permeability, SecondOrderRate, Strict
from . import register
from .base import FluxModel
from .channels import ClusterParams, LinearChannelCluster
from .generic import (HillPump, HillPumpParams, PassivePermeability, SaturableTransporter,
                      dhill, hill)


class Ip3rParams(ClusterParams):
    mode: Literal["open", "gated"] = "open"
    open_probability: float = Field(1.0, ge=0, le=1)      # mode "open"
    ip3: Concentration | None = Field(None, ge=0)          # mode "gated": [IP3] (µM)
    # Li–Rinzel reduction of the De Young–Keizer model (docs/references.md: checked values)
    a2: SecondOrderRate = Field(2e-4, gt=0)      # 0.2 /uM/s: inactivation binding rate
    d1: Concentration = Field(0.13, gt=0)        # IP3 activation
    d2: Concentration = Field(1.049, gt=0)       # Ca2+ inactivation
    d3: Concentration = Field(0.9434, gt=0)      # IP3 dissociation, inactivation branch
    d5: Concentration = Field(0.08234, gt=0)     # Ca2+ activation
    # the species whose cytosolic concentration activates and inactivates the receptor (Ca2+;
    # a parameter so no species name is hard-coded, and checked against the case's species)
    gating_ion: str = "Ca"

    @model_validator(mode="after")
    def _mode(self):
        if self.mode == "gated" and self.ip3 is None:
            raise ValueError("mode 'gated' needs 'ip3', the IP3 concentration, e.g. ip3 = \"10 uM\"")
        if self.mode == "open" and self.ip3 is not None:
            raise ValueError("'ip3' only acts in mode 'gated'; remove it or set mode = \"gated\"")
        return self


@register("ip3r")
class Ip3r(LinearChannelCluster):
    """A cluster of N IP3 receptors releasing ER Ca²⁺ (and any ion given a unitary current):
    J = N·P·p·([ion]ER − [ion]cyt)/A, with p from the unitary current at `at` (0.15 pA at
    500 µM [Ca²⁺]ER for type 3; linear in [Ca²⁺]ER, Vais 2010).

    - mode "open": P = `open_probability` (a clamped cluster, e.g. during a 10 ms opening).
    - mode "gated": Li–Rinzel, P = m∞³·n∞³·h³ with m∞ = I/(I + d1), n∞ = c/(c + d5) and
      dh/dt = a2·d2·(I + d1)/(I + d3)·(1 − h) − a2·c·h, c the cytosolic [Ca²⁺] at each face of
      the cluster — so Ca²⁺ released by the cluster activates it (CICR) and, over tens of ms,
      inactivates it. h starts at its steady state for the initial [Ca²⁺].
    """

    Params = Ip3rParams
    references = ("Vais2010", "LiRinzel1994", "DeYoungKeizer1992")

    @property
    def gates(self):
        return ("h",) if self.params.mode == "gated" else ()

    def _m_inf(self):
        p = self.params
        return p.ip3 / (p.ip3 + p.d1)

    def open_probability(self, x):
        p = self.params
        if p.mode == "open":
            return p.open_probability
        c = np.maximum(x.tgt[p.gating_ion], 0.0)
        return (self._m_inf() * c / (c + p.d5) * x.gates["h"]) ** 3

    def dopen_dtgt(self, x):
        p = self.params
        if p.mode == "open":
            return {}
        c = np.maximum(x.tgt[p.gating_ion], 0.0)
        mh = self._m_inf() * x.gates["h"]
        n = c / (c + p.d5)
        dP = 3 * mh**3 * n**2 * p.d5 / (c + p.d5) ** 2
        return {ion: dP for ion in self.ions if ion == p.gating_ion}

    def gate_rates(self, x):
        if self.params.mode != "gated":
            return {}
        p = self.params
        c = x.tgt[p.gating_ion]
        a = p.a2 * p.d2 * (p.ip3 + p.d1) / (p.ip3 + p.d3) * np.ones_like(c)
        return {"h": (a, a + p.a2 * np.maximum(c, 0.0))}


class SercaParams(HillPumpParams):
    n: float = Field(2.0, gt=0)


@register("serca")
class Serca(HillPump):
    """SERCA pump, cytosol → ER: J = Vmax·c²/(K² + c²), c = cytosolic [Ca²⁺] (Hill 2; K 0.1 µM in
    Li–Rinzel, 0.2–0.4 µM measured by Lytton 1992). Thapsigargin block: vmax = 0."""

    Params = SercaParams
    references = ("LiRinzel1994", "Lytton1992")


class StoreOverloadParams(Strict):
    max_permeability: Permeability = Field(ge=0)
    threshold: Concentration = Field(gt=0)     # lumenal [Ca²⁺] of half activation
    n: float = Field(8.0, gt=0)                # steepness of the threshold
    ion: str = "Ca"


@register("tmco1")
class Tmco1(FluxModel):
    """TMCO1 store-overload-induced release, ER → cytosol: channels assemble when the lumen is
    overloaded, J = P_max·H([ion]ER)·([ion]ER − [ion]cyt), H = cⁿ/(thresholdⁿ + cⁿ) steep around
    the threshold (the review describes the mechanism; magnitudes are illustrative)."""

    Params = StoreOverloadParams
    references = ("Su2024",)

    @property
    def ions(self):
        return (self.params.ion,)

    def flux(self, x):
        p = self.params
        c = x.src[p.ion]
        return {p.ion: p.max_permeability * hill(c, p.threshold, p.n) * (c - x.tgt[p.ion])}

    def dflux(self, x):
        p = self.params
        c = x.src[p.ion]
        H = hill(c, p.threshold, p.n)
        return {(p.ion, "src"): p.max_permeability * (H + dhill(c, p.threshold, p.n) * (c - x.tgt[p.ion])),
                (p.ion, "tgt"): -p.max_permeability * H}


@register("leak")
class Leak(PassivePermeability):
    """Passive leak down the gradient, J = P·(c_from − c_to) per ion (the ER Ca²⁺ leak that
    balances SERCA at rest; any membrane)."""

    references = ("LiRinzel1994",)


@register("zip7")
class Zip7(SaturableTransporter):
    """ZIP7 (SLC39A7), ER → cytosol Zn²⁺ release: J = activation·Vmax·[Zn]ER/(K + [Zn]ER);
    `activation` stands for its phosphorylation-dependent opening (magnitudes illustrative)."""

    references = ("Ke2022",)
