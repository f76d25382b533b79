"""The flux plugin contract.

A flux model returns, per face of the surface it is bound to, the flux density J of each ion it
moves (µM·µm/ms, positive from the `from` compartment to the `to` compartment), and optionally
dJ/dc on either side for the implicit (Newton) linearisation. The solver applies J·A to the two
adjacent cells with opposite signs, so every model is conservative by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..quantities import Strict

Side = str  # "src" or "tgt"


@dataclass(frozen=True)
class FluxContext:
    """What a model may know about where it sits: face areas (µm², physical) and ion valences."""

    areas: np.ndarray
    valence: dict[str, int]

    @property
    def total_area(self) -> float:
        return float(self.areas.sum())


class FluxModel:
    """Base class: subclasses set `Params` (a Strict pydantic model), `references`, and
    implement `ions`, `flux` and, where the rate law has one, `dflux`."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[Strict]]
    references: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: Strict, context: FluxContext):
        self.params = params
        self.context = context

    @property
    def ions(self) -> tuple[str, ...]:
        raise NotImplementedError

    def flux(self, src: dict[str, np.ndarray], tgt: dict[str, np.ndarray], t: float
             ) -> dict[str, np.ndarray]:
        """Flux density per face for each ion moved; `src`/`tgt` hold free ion concentrations."""
        raise NotImplementedError

    def dflux(self, src: dict[str, np.ndarray], tgt: dict[str, np.ndarray], t: float
              ) -> dict[tuple[str, Side], np.ndarray]:
        """{(ion, 'src'|'tgt'): dJ_ion/dc_ion on that side}; empty means treated explicitly."""
        return {}
