"""Structured (tensor-product) builders: `box` (1D/2D/3D Cartesian) and `axisymmetric` (r, z).

Spacing can be graded toward a focus point (nanometre cells at a channel, tens of nanometres far
away): the accuracy that matters is near the source, where gradients scale like 1/r. Compartment
bounds and patch edges are forced onto grid lines so that volumes and patch areas are exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from ..quantities import FieldError, Length, Name, Strict
from . import builders


class Spacing(Strict):
    """Graded spacing: `min` at `focus`, growing by `growth` per cell up to `max`."""

    min: Length = Field(gt=0)
    max: Length = Field(gt=0)
    growth: float = Field(1.1, gt=1.0, le=2.0)
    focus: tuple[Length, ...]

    @model_validator(mode="after")
    def _order(self):
        if self.max < self.min:
            raise ValueError(f"max ({self.max} um) must be at least min ({self.min} um)")
        return self


class CompartmentSpec(Strict):
    """A compartment: the cells whose centres lie inside the given bounds (all cells if none).

    Later compartments override earlier ones, so list the bulk first and the slabs after it.
    """

    name: Name
    x: tuple[Length, Length] | None = None
    y: tuple[Length, Length] | None = None
    z: tuple[Length, Length] | None = None
    r: tuple[Length, Length] | None = None

    def bounds(self) -> dict[str, tuple[float, float]]:
        return {a: getattr(self, a) for a in "xyzr" if getattr(self, a) is not None}


WALLS = ("x-", "x+", "y-", "y+", "z-", "z+", "r+")


class SurfaceSpec(Strict):
    """A named face set: on outer walls, or between two compartments; optionally cut to a disk
    (`center`, `radius`, measured in the plane of the face) or to per-axis bounds."""

    name: Name
    wall: tuple[str, ...] | None = None
    between: tuple[str, str] | None = None
    center: tuple[Length, ...] | None = None
    radius: Length | None = Field(None, gt=0)
    x: tuple[Length, Length] | None = None
    y: tuple[Length, Length] | None = None
    z: tuple[Length, Length] | None = None
    r: tuple[Length, Length] | None = None

    @field_validator("wall", mode="before")
    @classmethod
    def _one_or_many(cls, v):
        return (v,) if isinstance(v, str) else v

    @field_validator("wall")
    @classmethod
    def _known_walls(cls, v):
        for w in v or ():
            if w not in WALLS:
                raise ValueError(f"unknown wall {w!r}; walls are {', '.join(WALLS)}")
        return v

    @model_validator(mode="after")
    def _where(self):
        if (self.wall is None) == (self.between is None):
            raise ValueError("give exactly one of 'wall' (outer faces) or 'between' (a membrane)")
        if self.between is not None and self.between[0] == self.between[1]:
            raise ValueError("'between' needs two different compartments")
        return self

    def bounds(self) -> dict[str, tuple[float, float]]:
        return {a: getattr(self, a) for a in "xyzr" if getattr(self, a) is not None}


@dataclass(frozen=True)
class StructuredGeometry:
    """Node coordinates per axis plus the named sets, still as specifications."""

    nodes: tuple[np.ndarray, ...]
    axes: tuple[str, ...]
    cylindrical: bool
    compartments: tuple[CompartmentSpec, ...]
    surfaces: tuple[SurfaceSpec, ...]
    notes: dict = field(default_factory=dict)


def graded_nodes(lo: float, hi: float, focus: float, hmin: float, hmax: float, growth: float,
                 required: list[float]) -> np.ndarray:
    """Nodes on [lo, hi] with spacing hmin at `focus` growing geometrically to hmax.

    `required` coordinates (compartment bounds, patch edges) become nodes; graded nodes closer
    than 0.4 local spacings to one of them are dropped so no sliver cells appear.
    """
    focus = min(max(focus, lo), hi)
    span = hi - lo
    sizes, total, k, h = [], 0.0, 0, hmin
    while total < span:
        # once at hmax, stay there: growth**k itself overflows a float past k ≈ 1750 for the
        # growth 1.5 of uniform axes, which made any uniform axis of >= 1760 cells crash
        h = hmax if h >= hmax else min(hmin * growth**k, hmax)
        sizes.append(h)
        total += h
        k += 1
    offsets = np.concatenate([[0.0], np.cumsum(sizes)])
    graded = np.concatenate([focus - offsets[::-1], focus + offsets[1:]])
    # one entry per graded node: the spacing of the cell just outside it (hmin at the focus)
    local_h = np.concatenate([np.asarray(sizes)[::-1], [hmin], np.asarray(sizes)])
    inside = (graded > lo) & (graded < hi)
    graded, local_h = graded[inside], local_h[inside]
    req = np.unique(np.clip(np.asarray([lo, hi, *required], dtype=float), lo, hi))
    if graded.size:
        dist = np.min(np.abs(graded[:, None] - req[None, :]), axis=1)
        graded = graded[dist > 0.4 * local_h]
    return np.unique(np.concatenate([req, graded]))


def _side_cells(d: float, hmin: float, hmax: float, growth: float) -> float:
    """Cells graded_nodes puts over a distance d from the focus (or one more), in closed form;
    a float, since absurd inputs (1 km at 1e-20 nm) give counts beyond any integer type."""
    if d <= 0:
        return 0.0
    if hmax <= hmin:
        return d / hmin + 1
    k_grow = math.log(hmax / hmin) / math.log(growth) + 1          # cells until hmax is reached
    # the length they cover; exp capped since k_grow is infinite when hmax/hmin overflows
    grown = hmin * math.expm1(min(k_grow * math.log(growth), 700.0)) / (growth - 1)
    if d <= grown:
        return math.log1p(d * (growth - 1) / hmin) / math.log(growth) + 1
    return k_grow + (d - grown) / hmax + 1


def axis_cell_count(lo: float, hi: float, axis_index: int, spacing: Spacing | None,
                    cells: int | None, n_required: int) -> float:
    """An upper bound on the cells _axis_nodes makes on [lo, hi], without making them: each
    required coordinate adds at most one cell."""
    if spacing is None:
        return float(cells + n_required)
    focus = min(max(spacing.focus[axis_index], lo), hi)
    return (_side_cells(focus - lo, spacing.min, spacing.max, spacing.growth)
            + _side_cells(hi - focus, spacing.min, spacing.max, spacing.growth) + n_required)


def _axis_nodes(lo, hi, axis_index, spacing: Spacing | None, cells: int | None, required):
    if spacing is not None:
        if axis_index >= len(spacing.focus):
            raise ValueError("spacing.focus needs one coordinate per axis")
        return graded_nodes(lo, hi, spacing.focus[axis_index], spacing.min, spacing.max,
                            spacing.growth, required)
    h = (hi - lo) / cells
    return graded_nodes(lo, hi, lo, h, h, 1.5, required)


def _required_coordinates(axis: str, compartments, surfaces) -> list[float]:
    coords: list[float] = []
    for spec in (*compartments, *surfaces):
        b = spec.bounds().get(axis)
        if b:
            coords.extend(b)
    for s in surfaces:
        if s.radius is not None and axis == "r":
            coords.append(s.radius)
    return coords


class _StructuredParams(Strict):
    builder: str
    cells: tuple[int, ...] | None = None
    spacing: Spacing | None = None
    compartments: tuple[CompartmentSpec, ...] = (CompartmentSpec(name="cytosol"),)
    surfaces: tuple[SurfaceSpec, ...] = ()

    @model_validator(mode="after")
    def _resolution(self):
        if (self.cells is None) == (self.spacing is None):
            raise ValueError("give exactly one of 'cells' (uniform) or 'spacing' (graded)")
        if self.cells is not None and any(n < 1 for n in self.cells):
            raise FieldError("cells", "'cells' must be positive integers")
        return self

    @model_validator(mode="after")
    def _one_per_axis(self):
        # checked here, not when building, so validate reports it with the field's path
        n = len(self.ranges())
        if self.cells is not None and len(self.cells) != n:
            raise FieldError("cells", f"needs {n} entries, one per axis ({', '.join(self.axes())}); "
                             f"got {len(self.cells)}")
        if self.spacing is not None and len(self.spacing.focus) != n:
            raise FieldError(("spacing", "focus"), f"needs {n} coordinates, one per axis "
                             f"({', '.join(self.axes())}); got {len(self.spacing.focus)}")
        return self

    def ranges(self) -> list[tuple[str, float, float]]:
        """(axis, lo, hi) of each axis of the grid."""
        raise NotImplementedError

    def axes(self) -> list[str]:
        return [a for a, _, _ in self.ranges()]


class _StructuredBuilder:
    Params: ClassVar[type[_StructuredParams]]

    @staticmethod
    def dim(p) -> int:
        return len(p.ranges())

    @staticmethod
    def compartment_names(p) -> list[str]:
        return list(dict.fromkeys(c.name for c in p.compartments))

    @staticmethod
    def surface_names(p) -> list[str]:
        return [s.name for s in p.surfaces]

    @staticmethod
    def bounds(p) -> list[tuple[str, float, float]]:
        """(axis, lo, hi) per coordinate of a point in the domain (probe checks)."""
        return p.ranges()

    @staticmethod
    def estimate_cells(p) -> float:
        """An upper bound on the number of cells build() makes, computed without making them,
        so a case asking for 10^9 cells is refused instead of filling the memory."""
        n = 1.0
        for i, (axis, lo, hi) in enumerate(p.ranges()):
            required = [c for c in _required_coordinates(axis, p.compartments, p.surfaces)
                        if lo < c < hi]
            n *= axis_cell_count(lo, hi, i, p.spacing, p.cells[i] if p.cells else None,
                                 len(required))
        return n

    @classmethod
    def _build(cls, p, ranges: list[tuple[str, float, float]], cylindrical: bool) -> StructuredGeometry:
        if p.cells is not None and len(p.cells) != len(ranges):
            raise ValueError(f"'cells' needs {len(ranges)} entries, one per axis")
        nodes = []
        for i, (axis, lo, hi) in enumerate(ranges):
            required = [c for c in _required_coordinates(axis, p.compartments, p.surfaces)
                        if lo < c < hi]
            nodes.append(_axis_nodes(lo, hi, i, p.spacing, p.cells[i] if p.cells else None, required))
        return StructuredGeometry(tuple(nodes), tuple(a for a, _, _ in ranges), cylindrical,
                                  p.compartments, p.surfaces)


class BoxParams(_StructuredParams):
    builder: Literal["box"] = "box"
    size: tuple[Length, ...] = Field(min_length=1, max_length=3)
    origin: tuple[Length, ...] | None = None

    @model_validator(mode="after")
    def _dims(self):
        if any(s <= 0 for s in self.size):
            raise ValueError("'size' entries must be positive lengths")
        if self.origin is not None and len(self.origin) != len(self.size):
            raise FieldError("origin", f"needs {len(self.size)} entries, like 'size'")
        return self

    def ranges(self) -> list[tuple[str, float, float]]:
        origin = self.origin if self.origin and len(self.origin) == len(self.size) else None
        origin = origin or (0.0,) * len(self.size)
        return [(a, o, o + s) for a, o, s in zip("xyz", origin, self.size)]


@builders.register("box")
class Box(_StructuredBuilder):
    """Cartesian box in 1, 2 or 3 dimensions (axes x, y, z)."""

    Params = BoxParams

    @classmethod
    def build(cls, p: BoxParams) -> StructuredGeometry:
        return cls._build(p, p.ranges(), cylindrical=False)


class AxisymmetricParams(_StructuredParams):
    builder: Literal["axisymmetric"] = "axisymmetric"
    radius: Length = Field(gt=0)
    height: Length = Field(gt=0)
    z_origin: Length = 0.0

    def ranges(self) -> list[tuple[str, float, float]]:
        return [("r", 0.0, self.radius), ("z", self.z_origin, self.z_origin + self.height)]


@builders.register("axisymmetric")
class Axisymmetric(_StructuredBuilder):
    """Cylindrical (r, z) grid about the z axis: a channel or a circular contact as a 2D problem."""

    Params = AxisymmetricParams

    @classmethod
    def build(cls, p: AxisymmetricParams) -> StructuredGeometry:
        return cls._build(p, p.ranges(), cylindrical=True)
