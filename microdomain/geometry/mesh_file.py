"""`mesh_file`: any tagged mesh a user made (Gmsh .msh 2.2/4.1, or another format meshio reads
with physical tags): the cell tags become compartments, the boundary-element tags surfaces.

    [geometry]
    builder = "mesh_file"
    path = "meshes/my_contact.msh"     # relative to the case file's folder
    length_unit = "1 nm"                # the file's coordinates are in nm (default µm)
    axisymmetric = false                # true: a 2D mesh in the (r, z) half-plane, x = r ≥ 0
    compartments = ["cytosol", "er"]    # optional: check these tags exist (and fix their order)
    surfaces = ["er_membrane"]          # optional: only these surface tags become face sets

A name the case needs that the mesh lacks is a validation error that lists the mesh's tags.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ..quantities import Bool, FieldError, Length, Strict
from . import builders
from .unstructured import MeshFileError, SurfaceClaim, UnstructuredGeometry, mesh_tags


class MeshFileParams(Strict):
    builder: Literal["mesh_file"] = "mesh_file"
    path: str
    length_unit: Length = Field(1.0, gt=0)
    axisymmetric: Bool = False
    compartments: tuple[str, ...] | None = None
    surfaces: tuple[str, ...] | None = None

    @field_validator("path")
    @classmethod
    def _relative_to_the_case(cls, path: str, info: ValidationInfo) -> str:
        """A relative path is read from the case file's folder (load_case passes it); a path that
        exists only relative to the working directory is still accepted."""
        case_dir = (info.context or {}).get("case_dir")
        if case_dir is None or Path(path).is_absolute():
            return path
        beside_case = Path(case_dir) / path
        return str(beside_case) if beside_case.exists() or not Path(path).exists() else path

    @model_validator(mode="after")
    def _tags(self):
        try:
            dim, cells, facets = mesh_tags(self.path)
        except MeshFileError as exc:
            raise FieldError("path", str(exc)) from None
        have = (f"the mesh has cell tags {', '.join(cells) or '(none)'} and surface tags "
                f"{', '.join(facets) or '(none)'}")
        missing = [c for c in self.compartments or () if c not in cells]
        if missing:
            raise FieldError("compartments", f"no cells tagged {', '.join(map(repr, missing))} in "
                             f"{self.path}; {have}")
        missing = [s for s in self.surfaces or () if s not in facets]
        if missing:
            raise FieldError("surfaces", f"no surface tagged {', '.join(map(repr, missing))} in "
                             f"{self.path}; {have}")
        if self.compartments is not None:
            extra = [c for c in cells if c not in self.compartments]
            if extra:
                raise FieldError("compartments", f"cells tagged {', '.join(map(repr, extra))} in "
                                 f"{self.path} are in no listed compartment; list every cell tag "
                                 f"({', '.join(cells)})")
        if self.axisymmetric and dim != 2:
            raise FieldError("axisymmetric", f"axisymmetric = true needs a 2D mesh; {self.path} is {dim}D")
        return self


@builders.register("mesh_file")
class MeshFile:
    """A user's tagged mesh file: cell tags → compartments, boundary tags → surfaces."""

    Params = MeshFileParams

    @staticmethod
    def _tags(p):
        return mesh_tags(p.path)

    @classmethod
    def dim(cls, p) -> int:
        return cls._tags(p)[0]

    @staticmethod
    def bounds(p) -> None:
        """Unknown: the extent of a user's mesh is known only once its points are read, so the
        probes of a mesh_file case are checked against the mesh after it is built."""
        return None

    @staticmethod
    def estimate_cells(p) -> None:
        return None      # the file's size is capped when it is read (limits.py)

    @classmethod
    def compartment_names(cls, p) -> list[str]:
        return list(p.compartments or cls._tags(p)[1])

    @classmethod
    def surface_names(cls, p) -> list[str]:
        return list(p.surfaces or cls._tags(p)[2])

    @classmethod
    def build(cls, p) -> UnstructuredGeometry:
        dim = cls.dim(p)
        return UnstructuredGeometry(
            path=Path(p.path), dim=dim, cylindrical=p.axisymmetric,
            compartments=tuple(cls.compartment_names(p)),
            surfaces=tuple(SurfaceClaim(s) for s in cls.surface_names(p)),
            length_scale=p.length_unit,
            notes={"builder": "mesh_file", "mesh_file": str(p.path)})
