"""Geometry builders: case-file parameters → a numpy description of the mesh to build.

Builders import no FiPy; :mod:`microdomain.mesh` turns their output into a FiPy mesh and a Domain.
Every builder follows :class:`~microdomain.geometry.protocol.GeometryBuilder`; built-ins are
published, like third-party builders, in the entry-point group ``microdomain.geometry``
(pyproject.toml), and the registry refuses a builder that breaks the protocol.
"""

from ..registry import Registry
from .protocol import GeometryBuilder, check_builder

builders: Registry = Registry("geometry builder", "microdomain.geometry", check_builder)

from . import structured  # noqa: E402,F401  (registers box and axisymmetric)
from . import contacts, mesh_file, punctum  # noqa: E402,F401  (Gmsh builders, user meshes)

__all__ = ["GeometryBuilder", "builders"]
