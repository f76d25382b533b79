"""Stochastic channel gating: kinetic schemes as data (schemes.py) and channels as individuals
coupled to the PDE by the integrated-hazard method (engine.py); docs/stochastic.md."""

from .engine import GENERATOR, MarkovEngine, run_clamped
from .ensemble import ensemble_events
from .schemes import SCHEMES, KineticScheme, RateLaw, Transition, build_scheme, independent_gates

__all__ = ["GENERATOR", "KineticScheme", "MarkovEngine", "RateLaw", "SCHEMES", "Transition",
           "build_scheme", "ensemble_events", "independent_gates", "run_clamped"]
