"""Channel clusters whose unitary current follows the concentration gradient.

A channel passing unitary current i (pA) of an ion at concentration c_at on its source side,
with none on the other, has a single-channel permeance p = σ(i)/c_at (µm³/ms), σ(i) = i/(zF).
N such channels with open probability P, spread over a patch of area A, give the flux density

    J = N·P·p·(c_from − c_to)/A

— the linear current–concentration relation Vais 2010 measured for IP3R (unitary Ca²⁺ current
proportional to [Ca²⁺]ER). Subclasses say what P is: fixed, agonist-gated, gated by a state.
Several ions can permeate one channel, each with its own unitary current at its own c_at.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from ..quantities import Concentration, PerCompartment, Strict
from ..units import current_to_molar_flow
from .base import FluxModel
from .generic import PerIonCurrent, hill, per_ion

PerIonConcentration = PerCompartment("concentration")   # {ion: value}; "*" stands for `ion`


class ClusterParams(Strict):
    channels: int = Field(1, ge=0)
    unitary_current: PerIonCurrent                 # at `at` on the source side, none on the other
    at: PerIonConcentration                        # the concentration that current was measured at
    ion: str = "Ca"                                # the ion a bare value (no table) refers to

    @model_validator(mode="after")
    def _same_ions(self):
        currents, at = per_ion(self.unitary_current, self.ion), per_ion(self.at, self.ion)
        if set(currents) != set(at):
            raise ValueError(f"unitary_current gives ions {sorted(currents)} but 'at' gives "
                             f"{sorted(at)}: each permeating ion needs both")
        if any(v <= 0 for v in at.values()):
            raise ValueError("'at' concentrations must be positive")
        return self


class LinearChannelCluster(FluxModel):
    """Base of channel clusters: J = N·P·p·(c_from − c_to)/A per ion (module docstring)."""

    Params = ClusterParams

    @property
    def ions(self):
        return tuple(per_ion(self.params.unitary_current, self.params.ion))

    def permeance(self) -> dict[str, float]:
        """Single-channel permeance per ion, µm³/ms."""
        p = self.params
        at = per_ion(p.at, p.ion)
        return {ion: current_to_molar_flow(i, self.context.valence[ion]) / at[ion]
                for ion, i in per_ion(p.unitary_current, p.ion).items()}

    def open_probability(self, x) -> np.ndarray | float:
        raise NotImplementedError

    def dopen_dtgt(self, x) -> dict[str, np.ndarray]:
        """d P/d c_to per ion, where P depends on the target side (IP3R activation by Ca²⁺)."""
        return {}

    def flux(self, x):
        P = self.open_probability(x)
        scale = self.params.channels / self.context.total_area
        return {ion: scale * P * p * (x.src[ion] - x.tgt[ion]) for ion, p in self.permeance().items()}

    def dflux(self, x):
        P = self.open_probability(x)
        dP = self.dopen_dtgt(x)
        scale = self.params.channels / self.context.total_area
        out = {}
        for ion, p in self.permeance().items():
            g = scale * p * np.ones_like(x.src[ion]) * P
            out[(ion, "src")] = g
            d_tgt = -g
            if ion in dP:
                d_tgt = d_tgt + scale * p * dP[ion] * (x.src[ion] - x.tgt[ion])
            out[(ion, "tgt")] = d_tgt
        return out


class AgonistGatedParams(ClusterParams):
    """Open probability P = P_max·Lⁿ/(EC50ⁿ + Lⁿ) for an agonist at concentration L."""

    max_open_probability: float = Field(1.0, ge=0, le=1)
    agonist: Concentration = Field(ge=0)
    ec50: Concentration = Field(gt=0)
    hill: float = Field(1.0, gt=0)


class AgonistGatedCluster(LinearChannelCluster):
    Params = AgonistGatedParams

    def open_probability(self, x):
        p = self.params
        return p.max_open_probability * float(hill(np.array(p.agonist), p.ec50, p.hill))
