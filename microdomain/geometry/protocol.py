"""The contract every geometry builder follows, built-in or third-party.

A builder is a class used through its class/static methods (never instantiated): `Params`
validates the case's [geometry] table, and every other method takes those validated params.
Case validation reads compartment and surface names, the dimension, the extent (for probes)
and a cell-count estimate (to refuse a grid too large) from here, before anything is meshed;
`build` returns the description microdomain.mesh turns into a FiPy mesh.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .structured import StructuredGeometry
    from .unstructured import UnstructuredGeometry


@runtime_checkable
class GeometryBuilder(Protocol):
    Params: type          # a pydantic model of the [geometry] table (its `builder` key included)

    def dim(self, p) -> int:
        """Number of coordinates of a point: 1–3; axisymmetric (r, z) domains are 2."""

    def compartment_names(self, p) -> list[str]:
        """The compartments (volume tags) the built mesh will have."""

    def surface_names(self, p) -> list[str]:
        """The surfaces (facet tags) fluxes and boundaries can name."""

    def bounds(self, p) -> list[tuple[str, float, float]] | None:
        """(axis, lo, hi) per coordinate around the domain, µm, or None when unknown before
        meshing (probes are then checked against the built mesh)."""

    def estimate_cells(self, p) -> float | None:
        """An upper bound on the cell count, computed without building, or None if unknown."""

    def build(self, p) -> "StructuredGeometry | UnstructuredGeometry":
        """The geometry to mesh."""


METHODS = ("dim", "compartment_names", "surface_names", "bounds", "estimate_cells", "build")


def check_builder(builder) -> None:
    """TypeError naming what is missing when `builder` does not follow GeometryBuilder."""
    if not isinstance(builder, type):
        raise TypeError(f"{builder!r} is not a class")
    params = getattr(builder, "Params", None)
    if not (isinstance(params, type) and hasattr(params, "model_validate")):
        raise TypeError(f"geometry builder {builder.__name__} needs Params, a pydantic model")
    for name in METHODS:
        method = getattr(builder, name, None)
        if not callable(method):
            raise TypeError(f"geometry builder {builder.__name__} has no {name}(p); every "
                            f"builder implements {', '.join(METHODS)}")
        # called on the class: the bound signature has exactly one parameter, the params
        required = [q for q in inspect.signature(method).parameters.values()
                    if q.default is q.empty and q.kind in (q.POSITIONAL_ONLY, q.POSITIONAL_OR_KEYWORD)]
        if len(required) != 1:
            raise TypeError(f"geometry builder {builder.__name__}.{name} must take one argument, "
                            f"the validated params, called on the class")
