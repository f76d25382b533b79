"""Membrane flux models, looked up by name from case files.

Built-ins register with ``@registry.register("name")``; other packages declare an entry point in
the group ``microdomain.fluxes`` pointing at a :class:`FluxModel` subclass.
"""

from ..registry import Registry

registry: Registry = Registry("flux model", "microdomain.fluxes")
register = registry.register

from .base import FluxContext, FluxModel, Sensor  # noqa: E402
from . import generic, er, mito, pm, lysosome, stochastic  # noqa: E402,F401  (register the built-in models)

__all__ = ["FluxContext", "FluxModel", "Sensor", "register", "registry"]
