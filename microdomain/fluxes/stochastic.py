"""A cluster of channels gating stochastically, each one an individual with its own Markov state
(microdomain/stochastic/; docs/stochastic.md).

The N channels sit on the faces of their surface, spread evenly over them in face order
(channel j on face ⌊(j + ½)·F/N⌋ of F faces; on an axisymmetric mesh a face is a ring, so a
channel there is a ring of 1/2π channels per radian, as for the deterministic clusters). Each
open channel passes the unitary current of the deterministic clusters (fluxes/channels.py):
on a face with n open channels J = n·p·(c_from − c_to)/A_face. Which channels are open is set
between steps by the run's MarkovEngine (solver/loop.py), never inside a step.

What a channel's rates read: [Ca²⁺] = the free concentration of `ligand_ion` in the cell on the
`senses` side of its face (the cytosolic mouth of a release channel: "to"), a cell value, not
the membrane face value; [IP3] = the parameter `ip3` (held fixed over the run), or with
`ip3_species` the free concentration of that species in the same cell (it can diffuse, be made
and removed by the case's reactions).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError, model_validator

from ..quantities import Concentration
from ..stochastic.schemes import SCHEMES, build_scheme
from . import register
from .channels import ClusterParams, LinearChannelCluster


class StochasticClusterParams(ClusterParams):
    scheme: str                                    # a preset of microdomain/stochastic/schemes.py
    rates: dict[str, Any] = {}                     # its rate parameters, with units (custom: the scheme)
    ip3: Concentration | None = Field(None, ge=0)  # [IP3] for schemes that read it, fixed
    ip3_species: str | None = None                 # or: a species whose free [ ] the channels read
    senses: Literal["to", "from"] = "to"           # the side whose cell gives [Ca2+] at the mouth
    ligand_ion: str = "Ca"                         # the ion read as the ligand "Ca"

    @model_validator(mode="after")
    def _scheme(self):
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme {self.scheme!r} is not known; schemes: {', '.join(SCHEMES)}")
        try:
            scheme = build_scheme(self.scheme, self.rates)
        except ValidationError as exc:
            where = "; ".join(f"{'.'.join(['rates', *map(str, e['loc'])])}: {e['msg']}" for e in exc.errors())
            raise ValueError(f"scheme {self.scheme!r}: {where}") from None
        if self.ip3 is not None and self.ip3_species is not None:
            raise ValueError("give ip3 (a fixed concentration) or ip3_species (a species), not both")
        if "IP3" in scheme.ligands and self.ip3 is None and self.ip3_species is None:
            raise ValueError(f"scheme {self.scheme!r} reads [IP3]: give ip3, e.g. ip3 = \"1 uM\", "
                             "or ip3_species, a species of the case")
        return self


@register("stochastic_cluster")
class StochasticCluster(LinearChannelCluster):
    """A cluster of N channels gating stochastically, each with its own Markov state.

    The cluster's current is (number open) × the unitary current; the hybrid stochastic–PDE
    coupling is in solver/loop.py and stochastic/engine.py (docs/stochastic.md)."""

    Params = StochasticClusterParams
    # the scheme's own references are added per case (simulation.citations)
    references = ("Vais2010", "Gillespie1977", "Anderson2007")
    stochastic = True

    def __init__(self, params, context):
        super().__init__(params, context)
        self.scheme = build_scheme(params.scheme, params.rates)
        n, faces = params.channels, context.areas.size
        self.channel_face = ((np.arange(n) + 0.5) * faces / max(n, 1)).astype(int)
        self.open_per_face = np.zeros(faces)

    def set_open(self, conducting: np.ndarray) -> None:
        """The channels open now (bool per channel): the faces' open counts."""
        self.open_per_face = np.bincount(self.channel_face[conducting], minlength=self.open_per_face.size
                                         ).astype(float)

    def ligands(self, c_mouth: np.ndarray, ip3_mouth: np.ndarray | None = None) -> list[dict]:
        """Per channel, what its rates read: the [Ca²⁺] at its mouth, and [IP3] — the fixed
        `ip3`, or `ip3_mouth` (the species `ip3_species` in the same cell)."""
        if ip3_mouth is not None:
            return [{"Ca": float(c), "IP3": float(max(i, 0.0))} for c, i in zip(c_mouth, ip3_mouth)]
        ip3 = self.params.ip3
        return [{"Ca": float(c), "IP3": ip3} if ip3 is not None else {"Ca": float(c)}
                for c in c_mouth]

    def flux(self, x):
        scale = self.open_per_face / self.context.areas
        return {ion: scale * p * (x.src[ion] - x.tgt[ion]) for ion, p in self.permeance().items()}

    def dflux(self, x):
        scale = self.open_per_face / self.context.areas
        out = {}
        for ion, p in self.permeance().items():
            g = scale * p * np.ones_like(x.src[ion])
            out[(ion, "src")], out[(ion, "tgt")] = g, -g
        return out
