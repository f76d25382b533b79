"""Geometry builders: case-file parameters → a numpy description of the mesh to build.

Builders import no FiPy; :mod:`microdomain.mesh` turns their output into a FiPy mesh and a Domain.
Third-party builders register through the entry-point group ``microdomain.geometry``.
"""

from ..registry import Registry

builders: Registry = Registry("geometry builder", "microdomain.geometry")

from . import structured  # noqa: E402,F401  (registers box and axisymmetric)
from . import contacts, mesh_file, punctum  # noqa: E402,F401  (Gmsh builders, user meshes)
