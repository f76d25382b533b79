"""Membrane flux models, looked up by name from case files.

Built-ins register with ``@registry.register("name")`` and are published, like third-party
models, in the entry-point group ``microdomain.fluxes`` (pyproject.toml). Every model is a
:class:`FluxModel` subclass whose methods take one :class:`FluxInputs`; the registry refuses others.
"""

from ..registry import Registry
from .base import FluxContext, FluxInputs, FluxModel, Sensor, check_contract

registry: Registry = Registry("flux model", "microdomain.fluxes", check_contract)
register = registry.register

from . import generic, er, mito, pm, lysosome  # noqa: E402,F401  (register the built-in models)

__all__ = ["FluxContext", "FluxInputs", "FluxModel", "Sensor", "register", "registry"]
