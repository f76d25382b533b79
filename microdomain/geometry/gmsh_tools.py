"""Shared machinery of the Gmsh builders: parameters, the mesh cache, a Gmsh session, analytic
size fields, graded layers and the few constructive shapes the contacts are made of.

Every builder works in the same frame: the contact axis is z, the lower organelle's contact
membrane lies at z = 0 and its partner at z = gap, so the cleft is 0 < z < gap on the axis.
The axisymmetric variant is the (r, z) half-plane (x = r ≥ 0, y = z) of the same body of
revolution that the 3D variant builds, so both have the same analytic volumes and areas.

Mesh sizes follow one rule: near a feature of size h_f the cell size is h_f + grading·distance,
capped at size_max, and the `resolution` factor multiplies the result (every size, and with it
the grading slope). Fields are analytic expressions (Gmsh MathEval), exact for these shapes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from ..quantities import Length, Strict
from .unstructured import SurfaceClaim, UnstructuredGeometry

GEOMETRY_VERSION = "1"     # bump when a builder's output changes for the same parameters


# ------------------------------------------------------------------------------ cache --

def cache_dir() -> Path:
    """Mesh cache: $MICRODOMAIN_CACHE/meshes, else $XDG_CACHE_HOME (or ~/.cache)/microdomain/meshes."""
    root = os.environ.get("MICRODOMAIN_CACHE")
    if root:
        base = Path(root).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "microdomain"
    return base / "meshes"


def cache_key(builder: str, params: Strict, code: tuple[str, ...] = ()) -> str:
    """sha256 of the builder name, its parameters (with the defaults they resolve to) and the
    source of the modules that make the mesh, so that a changed builder never reuses a stale file."""
    payload = {"builder": builder, "version": GEOMETRY_VERSION,
               "params": params.model_dump(mode="json", by_alias=True)}
    if isinstance(params, GmshParams):
        payload["sizes"] = {n: params.mesh_size(n) for n in SIZE_NAMES}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode())
    for name in code:
        digest.update(_module_source(name))
    return digest.hexdigest()


def _module_source(name: str) -> bytes:
    import importlib

    path = getattr(importlib.import_module(name), "__file__", None)
    return Path(path).read_bytes() if path else name.encode()


# ---------------------------------------------------------------------------- session --

@contextmanager
def gmsh_session(name: str):
    """A fresh Gmsh model; initialises (and finalises) Gmsh only if nobody else has."""
    import gmsh

    own = not gmsh.isInitialized()
    if own:
        gmsh.initialize(argv=["microdomain"], readConfigFiles=False, interruptible=False)
    gmsh.option.setNumber("General.Terminal", 0)
    gmsh.option.setNumber("General.Verbosity", 1)
    gmsh.option.setNumber("General.NumThreads", 1)
    gmsh.model.add(name)
    try:
        yield gmsh
    finally:
        gmsh.model.remove()
        if own:
            gmsh.finalize()


def write_msh22(gmsh, path: Path) -> None:
    """Write the current model's physical groups as ASCII MSH 2.2 (what FiPy reads), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    gmsh.option.setNumber("Mesh.MshFileVersion", 2.2)
    gmsh.option.setNumber("Mesh.Binary", 0)
    gmsh.option.setNumber("Mesh.SaveAll", 0)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.msh")
    try:
        gmsh.write(str(tmp))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def mesh_options(gmsh, dim: int, threads: int = 1) -> None:
    """Sizes from the background field only; Frontal-Delaunay triangles; in 3D Gmsh's Delaunay on
    one thread (deterministic meshes), or with threads > 1 HXT, Gmsh's parallel Delaunay (faster
    on large meshes; the mesh may then differ from run to run)."""
    for key in ("Mesh.MeshSizeExtendFromBoundary", "Mesh.MeshSizeFromPoints",
                "Mesh.MeshSizeFromCurvature"):
        gmsh.option.setNumber(key, 0)
    gmsh.option.setNumber("Mesh.Algorithm", 6)       # Frontal-Delaunay: well-shaped triangles
    gmsh.option.setNumber("Mesh.Algorithm3D", 10 if threads > 1 else 1)     # HXT or Delaunay
    gmsh.option.setNumber("General.NumThreads", threads)
    gmsh.option.setNumber("Mesh.Optimize", 1)
    # Netgen's optimiser on top: mean non-orthogonality of the tetrahedra 20° → 17°, max skewness
    # 1.7 → 1.0 on the default MAM mesh, for twice the meshing time
    gmsh.option.setNumber("Mesh.OptimizeNetgen", 1 if dim == 3 else 0)
    gmsh.option.setNumber("Mesh.Smoothing", 5)


# ----------------------------------------------------------------------- size fields --

class Expr:
    """Analytic distance expressions in Gmsh MathEval syntax, for (r, z) in either variant."""

    def __init__(self, dim: int):
        self.dim = dim
        self.r = "Sqrt(x*x+y*y)" if dim == 3 else "Abs(x)"
        self.z = "z" if dim == 3 else "y"

    @staticmethod
    def num(v: float) -> str:
        return f"({v:.12g})"

    def plane_disk(self, z0: float, radius: float, center: tuple[float, float] = (0.0, 0.0)) -> str:
        """Distance to the flat disk r ≤ radius (about `center` in x, y) at z = z0."""
        r = self._r(center)
        return (f"Sqrt(Max({r}-{self.num(radius)},0)^2+({self.z}-{self.num(z0)})^2)")

    def plane_annulus(self, z0: float, r0: float, r1: float) -> str:
        """Distance to the flat annulus r0 ≤ r ≤ r1 at z = z0 (about the axis)."""
        r = self.r
        return (f"Sqrt(Max(Max({r}-{self.num(r1)},{self.num(r0)}-{r}),0)^2"
                f"+({self.z}-{self.num(z0)})^2)")

    def _r(self, center):
        if self.dim == 2 or center == (0.0, 0.0):
            return self.r
        cx, cy = (self.num(c) for c in center)
        return f"Sqrt((x-{cx})^2+(y-{cy})^2)"

    def point(self, z0: float, center=(0.0, 0.0)) -> str:
        return f"Sqrt({self._r(center)}^2+({self.z}-{self.num(z0)})^2)"

    def sphere(self, zc: float, radius: float) -> str:
        return f"Abs(Sqrt({self.r}^2+({self.z}-{self.num(zc)})^2)-{self.num(radius)})"

    def cylinder_surface(self, radius: float, z0: float, z1: float) -> str:
        """Distance to the surface of the solid cylinder r ≤ radius, z0 ≤ z ≤ z1."""
        qx, qz = self._beyond_cylinder(radius, z0, z1)
        return f"Abs(Sqrt(Max({qx},0)^2+Max({qz},0)^2)+Min(Max({qx},{qz}),0))"

    def solid_cylinder(self, radius: float, z0: float, z1: float) -> str:
        """Distance to the solid cylinder r ≤ radius, z0 ≤ z ≤ z1 (zero inside)."""
        qx, qz = self._beyond_cylinder(radius, z0, z1)
        return f"Sqrt(Max({qx},0)^2+Max({qz},0)^2)"

    def _beyond_cylinder(self, radius: float, z0: float, z1: float) -> tuple[str, str]:
        """How far beyond the cylinder's side and its ends a point lies (negative inside)."""
        qx = f"({self.r}-{self.num(radius)})"
        qz = f"(Abs({self.z}-{self.num(0.5 * (z0 + z1))})-{self.num(0.5 * (z1 - z0))})"
        return qx, qz

    def plane(self, z0: float) -> str:
        return f"Abs({self.z}-{self.num(z0)})"


def size_field(gmsh, features: list[tuple[str, float]], grading: float, size_max: float,
               scale: float) -> int:
    """Background field scale·min(size_max, min_f(h_f + grading·d_f))."""
    terms = [f"({Expr.num(h)}+{Expr.num(grading)}*{d})" for d, h in features]
    expr = Expr.num(size_max)
    for t in terms:
        expr = f"Min({expr},{t})"
    f = gmsh.model.mesh.field
    tag = f.add("MathEval")
    f.setString(tag, "F", f"{Expr.num(scale)}*{expr}")
    f.setAsBackgroundMesh(tag)
    return tag


def graded_layers(z0: float, z1: float, planes: list[tuple[float, float]], grading: float,
                  size_max: float) -> np.ndarray:
    """Layer interfaces on [z0, z1] with size min(size_max, h_p + grading·|z − z_p|) over the
    given (z_p, h_p): the cumulative ∫dz/h is split into equal integer steps."""
    z = np.linspace(z0, z1, 4001)
    h = np.full_like(z, size_max)
    for zp, hp in planes:
        h = np.minimum(h, hp + grading * np.abs(z - zp))
    inv = 1.0 / h
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(z))])
    n = max(1, int(math.ceil(cum[-1] - 1e-9)))
    targets = np.linspace(0.0, cum[-1], n + 1)
    nodes = np.interp(targets, cum, z)
    nodes[0], nodes[-1] = z0, z1
    return nodes


# ---------------------------------------------------------------------------- shapes --

class Shapes:
    """Cylinders and (truncated) balls about the z axis, as OCC entities of the variant's
    dimension: in 2D the (r, z) half-plane sections of the same bodies."""

    def __init__(self, gmsh, dim: int):
        self.occ = gmsh.model.occ
        self.dim = dim

    def cylinder(self, radius: float, z0: float, z1: float) -> int:
        if self.dim == 2:
            return self.occ.addRectangle(0, z0, 0, radius, z1 - z0)
        return self.occ.addCylinder(0, 0, z0, 0, 0, z1 - z0, radius)

    def ring(self, r0: float, r1: float, z0: float, z1: float) -> int:
        """The annulus r0 ≤ r ≤ r1 (a cylinder when r0 = 0), z0 ≤ z ≤ z1."""
        if r0 <= 0:
            return self.cylinder(r1, z0, z1)
        if self.dim == 2:
            return self.occ.addRectangle(r0, z0, 0, r1 - r0, z1 - z0)
        out, _ = self.occ.cut([(3, self.cylinder(r1, z0, z1))], [(3, self.cylinder(r0, z0, z1))])
        return out[0][1]

    def ball(self, zc: float, radius: float) -> int:
        if self.dim == 2:
            disk = self.occ.addDisk(0, zc, 0, radius, radius)
            half = self.occ.addRectangle(0, zc - 1.5 * radius, 0, 1.5 * radius, 3 * radius)
            out, _ = self.occ.intersect([(2, disk)], [(2, half)])
            return out[0][1]
        return self.occ.addSphere(0, 0, zc, radius)

    def truncated_ball(self, zc: float, radius: float, z_cut: float) -> int:
        """The ball with everything below the plane z = z_cut removed."""
        ball = self.ball(zc, radius)
        keep = self.cylinder(1.5 * radius, z_cut, zc + 1.5 * radius)
        out, _ = self.occ.intersect([(self.dim, ball)], [(self.dim, keep)])
        return out[0][1]


def truncated_ball_measures(radius: float, d: float) -> tuple[float, float, float]:
    """(volume, spherical area, flat-disk area) of a ball of `radius` cut by a plane at distance
    d from its centre, keeping the larger part."""
    h = radius - d                              # height of the cap cut away
    volume = 4.0 / 3.0 * math.pi * radius**3 - math.pi * h * h * (3 * radius - h) / 3.0
    sphere = 4.0 * math.pi * radius**2 - 2.0 * math.pi * radius * h
    flat = math.pi * (radius**2 - d * d)
    return volume, sphere, flat


# ---------------------------------------------------------------------- builder base --

Variant = Literal["axisymmetric", "3d"]
SIZE_NAMES = ("size_min", "size_membrane", "size_max", "grading")


class GmshParams(Strict):
    """Mesh controls shared by the Gmsh builders (lengths with units; None = variant default)."""

    variant: Variant = "axisymmetric"
    resolution: float = Field(1.0, gt=0.05, le=20.0,
                              description="multiplies every mesh size (0.5: cells half as large)")
    size_min: Length | None = Field(None, gt=0)
    size_membrane: Length | None = Field(None, gt=0)
    size_max: Length | None = Field(None, gt=0)
    grading: float | None = Field(None, gt=0.01, le=2.0)
    threads: int = Field(1, ge=1, le=64, description="Gmsh threads: > 1 meshes 3D in parallel "
                         "(HXT), not reproducible to the cell")

    DEFAULTS: ClassVar[dict[str, dict[str, float]]] = {
        "axisymmetric": {"size_min": 0.002, "size_membrane": 0.01, "size_max": 0.05, "grading": 0.3},
        "3d": {"size_min": 0.01, "size_membrane": 0.03, "size_max": 0.1, "grading": 0.5},
    }

    def mesh_size(self, name: str) -> float:
        v = getattr(self, name)
        return self.DEFAULTS[self.variant][name] if v is None else v

    @model_validator(mode="after")
    def _sizes(self):
        lo, mem, hi = (self.mesh_size(n) for n in ("size_min", "size_membrane", "size_max"))
        if not lo <= hi or not mem <= hi:
            raise ValueError(f"need size_min ({lo * 1e3:g} nm) and size_membrane ({mem * 1e3:g} nm) "
                             f"≤ size_max ({hi * 1e3:g} nm)")
        return self


class GmshBuilder:
    """Base of the Gmsh builders: cache lookup, Gmsh session, tagged MSH 2.2 output.

    Subclasses set `name` and `Params` and implement `compartment_names`, `surface_names`,
    `claims` (the compartment pairs of every surface), `reference` (analytic measures) and
    `_generate(gmsh, p)`, which builds and meshes the model and adds its physical groups.
    """

    name: ClassVar[str]
    Params: ClassVar[type[GmshParams]]

    @staticmethod
    def dim(p) -> int:
        return 3 if p.variant == "3d" else 2

    @classmethod
    def bounds(cls, p) -> list[tuple[str, float, float]] | None:
        """(axis, lo, hi) per coordinate of a point, the box around the domain (probe checks);
        None where a builder does not know its extent before meshing."""
        return None

    @staticmethod
    def estimate_cells(p) -> None:
        """Unknown before Gmsh meshes (its size fields set the count); `resolution` is bounded
        by the params instead."""
        return None

    @classmethod
    def claims(cls, p) -> tuple[SurfaceClaim, ...]:
        raise NotImplementedError

    @classmethod
    def reference(cls, p) -> dict:
        return {}

    @classmethod
    def _generate(cls, gmsh, p) -> dict:
        raise NotImplementedError

    @classmethod
    def mesh_path(cls, p) -> Path:
        return cache_dir() / f"{cache_key(cls.name, p, (cls.__module__, __name__))}.msh"

    @classmethod
    def build(cls, p) -> UnstructuredGeometry:
        path = cls.mesh_path(p)
        cached = path.is_file() and path.stat().st_size > 0   # an empty file is a broken cache entry
        info: dict = {}
        if not cached:
            with gmsh_session(cls.name) as gmsh:
                info = cls._generate(gmsh, p) or {}
                write_msh22(gmsh, path)
        dim = cls.dim(p)
        return UnstructuredGeometry(
            path=path, dim=dim, cylindrical=dim == 2,
            compartments=tuple(cls.compartment_names(p)), surfaces=cls.claims(p),
            reference=cls.reference(p),
            notes={"builder": cls.name, "variant": p.variant, "cache_hit": cached,
                   "mesh_file": str(path), **info})


def cylinder_bounds(p, radius: float, z0: float, z1: float) -> list[tuple[str, float, float]]:
    """The box around a domain that is a cylinder about the z axis: (r, z) or (x, y, z)."""
    if p.variant == "3d":
        return [("x", -radius, radius), ("y", -radius, radius), ("z", z0, z1)]
    return [("r", 0.0, radius), ("z", z0, z1)]


def add_physical_groups(gmsh, dim: int, volumes: dict[str, list[int]],
                        surfaces: dict[str, list[int]], order: list[str]) -> None:
    for name in order:
        if volumes.get(name):
            gmsh.model.addPhysicalGroup(dim, sorted(set(volumes[name])), name=name)
    for name, tags in surfaces.items():
        if tags:
            gmsh.model.addPhysicalGroup(dim - 1, sorted(set(tags)), name=name)
