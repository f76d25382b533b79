"""What the time loop carries from step to step, what it tells observers, and its errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..errors import MicrodomainError


class SimulationError(MicrodomainError, RuntimeError):
    """The run cannot continue (NaN, real negativity, dt below its minimum); the message names
    the field, the compartment, the place and the time."""


class NotConverged(Exception):
    """A step that did not converge: the loop retries it with a smaller dt."""


@dataclass
class State:
    """The solution at one accepted time: explicit, so a run can be handed back to the loop
    (resume) exactly as it was. `dt` is the step the controller proposes next."""

    U: np.ndarray                  # (n_unknowns, n_cells), µM
    t: float                       # ms
    gates: dict                    # binding → gate → value per face
    dt: float                      # ms
    # the stochastic channels' states and random stream (stochastic/engine.py snapshot), JSON data
    stochastic: dict | None = None

    def copy(self) -> "State":
        import copy

        return State(self.U.copy(), self.t, {b: {g: v.copy() for g, v in gs.items()}
                                             for b, gs in self.gates.items()}, self.dt,
                     copy.deepcopy(self.stochastic))


@dataclass
class StepInfo:
    """What observers learn about an accepted step."""

    t: float
    dt: float
    iterations: int
    flux_amounts: dict[str, dict[str, float]]     # binding → ion → amount moved this step (µM·µm³, physical)
    boundary_inflow: np.ndarray                   # per unknown, amount entered through baths/open faces
    outside_inflow: dict[str, float]              # per ion, amount entered from 'outside' fluxes
    gates: dict = field(default_factory=dict)     # binding → gate → value per face, after the step
    # per element (a free species with its bound states): amount volume reactions made this
    # step (negative: removed); binding moves an element between carriers, never counted here
    reaction_inflow: dict[str, float] = field(default_factory=dict)
    # a direct steady solve: amounts are rates (per ms) at the steady state, dt is 0
    steady: bool = False


def reaction_inflow(system, created) -> dict[str, float]:
    """Per element, the amount (physical: × 2π when cylindrical) volume reactions made, from
    the per-unknown production: Σ over the element's carriers (bound states included, so a
    reaction that frees a bound ion — "MT.Zn -> Zn" — makes none)."""
    chem = system.chemistry
    if not chem.reactions:
        return {}
    created = np.asarray(created, float) * system.domain.angle
    return {u.name: float(created[chem.carriers(u.name)].sum())
            for u in chem.unknowns if not u.bound}


class Observer(Protocol):
    def start(self, system, U: np.ndarray, t: float) -> None: ...
    def resume(self, system, U: np.ndarray, t: float, saved: dict) -> None: ...
    def step(self, U: np.ndarray, info: StepInfo) -> None: ...
    def frame(self, U: np.ndarray, t: float) -> None: ...
    def checkpoint(self, state: State) -> None: ...
    def finish(self, U: np.ndarray, t: float, status: str) -> None: ...


class Watcher:
    """An Observer that ignores every event it does not override: the base of observers
    that need one or two of them."""

    def start(self, system, U, t):
        pass

    def resume(self, system, U, t, saved):
        pass

    def step(self, U, info):
        pass

    def frame(self, U, t):
        pass

    def checkpoint(self, state):
        pass

    def finish(self, U, t, status):
        pass


@dataclass
class Counters:
    steps: int = 0
    rejected: int = 0
    newton_iterations: int = 0
    linear_solves: int = 0
    factorisations: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    extra: dict = field(default_factory=dict)
