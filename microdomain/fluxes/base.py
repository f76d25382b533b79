"""The flux plugin contract.

A flux model returns, per face of the surface it is bound to, the flux density J of each ion it
moves (µM·µm/ms, positive from the `from` compartment to the `to` compartment), and optionally
dJ/dc on either side for the implicit (Newton) linearisation. The solver applies J·A to the two
adjacent cells with opposite signs, so every model is conservative by construction.

Two optional extras, for rate laws that need more than the concentrations at their own faces:

- **Gates** (`gates`): per-face state variables x ∈ [0, 1] with linear kinetics
  dx/dt = a − b·x, where a, b ≥ 0 depend on concentrations (IP3R inactivation h, STIM1
  activation). The solver advances every gate with the same implicit stage formulas as the
  concentrations (solver/integrators.py), each solved in closed form at the stage's face
  concentrations: to the method's order, stable for any dt; dt adapts to the gates' error too.
  Gates start at `initial_gates` (by default the steady state a/b).
- **Sensors** (`sensors()`): volume-averaged free-ion concentrations in a compartment, or in
  the part of it next to a surface (STIM1 senses the ER lumen under a punctum while Orai1
  sits in the plasma membrane). They enter the residual; their derivatives are left out of
  the Jacobian (Newton then converges linearly, to the same solution).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..quantities import Strict

Side = str  # "src" or "tgt"
Concentrations = dict[str, np.ndarray]        # ion → free concentration per face (µM)
Sensed = dict[str, dict[str, float]]          # sensor name → ion → mean free concentration (µM)
Gates = dict[str, np.ndarray]                 # gate name → value per face


class Sensor(Strict):
    """Where a model reads a remote concentration: a compartment, optionally only its cells
    that touch `surface`."""

    compartment: str
    surface: str | None = None


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
    implement `ions`, `flux` and, where the rate law has one, `dflux`; gated models also set
    `gates` and implement `gate_rates` and `initial_gates`."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[Strict]]
    references: ClassVar[tuple[str, ...]] = ()
    gates: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: Strict, context: FluxContext):
        self.params = params
        self.context = context

    @property
    def ions(self) -> tuple[str, ...]:
        raise NotImplementedError

    def sensors(self) -> dict[str, Sensor]:
        """Remote concentrations this model reads, by name (passed to every call as `sensed`)."""
        return {}

    def flux(self, src: Concentrations, tgt: Concentrations, t: float,
             gates: Gates | None = None, sensed: Sensed | None = None) -> dict[str, np.ndarray]:
        """Flux density per face for each ion moved; `src`/`tgt` hold free ion concentrations."""
        raise NotImplementedError

    def dflux(self, src: Concentrations, tgt: Concentrations, t: float,
              gates: Gates | None = None, sensed: Sensed | None = None
              ) -> dict[tuple[str, Side], np.ndarray]:
        """{(ion, 'src'|'tgt'): dJ_ion/dc_ion on that side} at fixed gates; empty = explicit."""
        return {}

    def gate_rates(self, src: Concentrations, tgt: Concentrations, t: float,
                   sensed: Sensed | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{gate: (a, b)} per face for dx/dt = a − b·x (a, b ≥ 0, b > 0)."""
        return {}

    def initial_gates(self, src: Concentrations, tgt: Concentrations,
                      sensed: Sensed | None = None) -> Gates:
        """Gate values at t = 0; by default the steady state a/b at the initial concentrations."""
        return {g: a / b for g, (a, b) in self.gate_rates(src, tgt, 0.0, sensed).items()}
