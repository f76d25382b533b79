"""The flux plugin contract.

A flux model returns, per face of the surface it is bound to, the flux density J of each ion it
moves (µM·µm/ms, positive from the `from` compartment to the `to` compartment), and optionally
dJ/dc on either side for the implicit (Newton) linearisation. The solver applies J·A to the two
adjacent cells with opposite signs, so every model is conservative by construction.

Every method takes one argument, a :class:`FluxInputs` (``x.src``, ``x.tgt``, ``x.t``,
``x.gates``, ``x.sensed``); :func:`check_contract` holds every registered model to it.

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

import inspect
from dataclasses import dataclass, field
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
class FluxInputs:
    """Everything a rate law may read at one evaluation, the single argument of every
    FluxModel method: free ion concentrations per face on the source (`from`) and target
    (`to`) sides, the time (ms), the model's gate values per face (empty for ungated models
    and in `gate_rates`) and its sensors' readings (empty without sensors). One object rather
    than positional arguments, so that what the solver passes can grow without breaking
    plugins."""

    src: Concentrations
    tgt: Concentrations
    t: float = 0.0
    gates: Gates = field(default_factory=dict)
    sensed: Sensed = field(default_factory=dict)


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
        """Remote concentrations this model reads, by name (in every call's `x.sensed`)."""
        return {}

    def flux(self, x: FluxInputs) -> dict[str, np.ndarray]:
        """Flux density per face for each ion moved, from the free ion concentrations in `x`."""
        raise NotImplementedError

    def dflux(self, x: FluxInputs) -> dict[tuple[str, Side], np.ndarray]:
        """{(ion, 'src'|'tgt'): dJ_ion/dc_ion on that side} at fixed gates; empty = explicit."""
        return {}

    def gate_rates(self, x: FluxInputs) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{gate: (a, b)} per face for dx/dt = a − b·x (a, b ≥ 0, b > 0); `x.gates` is empty."""
        return {}

    def initial_gates(self, x: FluxInputs) -> Gates:
        """Gate values at t = 0; by default the steady state a/b at the initial concentrations."""
        return {g: a / b for g, (a, b) in self.gate_rates(x).items()}


_METHODS = ("flux", "dflux", "gate_rates", "initial_gates")


def check_contract(model: type) -> None:
    """Refuse, when a model is registered or loaded from an entry point, a class that does not
    follow the one contract: a FluxModel subclass whose rate methods take a single FluxInputs.
    Catching a legacy ``flux(src, tgt, t)`` here names the plugin, instead of a TypeError deep
    in a Newton iteration."""
    if not (isinstance(model, type) and issubclass(model, FluxModel)):
        raise TypeError(f"{model!r} is not a FluxModel subclass")
    if not isinstance(getattr(model, "Params", None), type):
        raise TypeError(f"flux model {model.__name__} has no Params class")
    for method in _METHODS:
        params = list(inspect.signature(getattr(model, method)).parameters.values())[1:]
        required = [q for q in params if q.default is q.empty
                    and q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD)]
        if len(params) < 1 or len(required) > 1:
            raise TypeError(f"flux model {model.__name__}.{method} must take one argument, a "
                            f"FluxInputs (x.src, x.tgt, x.t, x.gates, x.sensed); it takes "
                            f"({', '.join(q.name for q in params)})")
