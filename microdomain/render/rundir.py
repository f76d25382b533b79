"""The parts of a run directory that pictures need: frames (fields.pvd, fields/*.vtu, or
fields.vtkhdf), the manifest (case, mesh axes, compartment and surface names) and the named
surfaces (surfaces.vtu)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import rundir as rd
from .common import RenderError, _pyvista, fmt_time, parse_time


@dataclass(frozen=True)
class FrameRef:
    index: int
    time: float          # ms
    path: Path
    step: int | None = None   # the step of fields.vtkhdf; None: path is the frame's .vtu


@dataclass(frozen=True)
class FrameChoice:
    index: int
    time: float
    note: str            # says which frame was taken and why


@dataclass(frozen=True)
class SurfaceSet:
    """The named face sets of surfaces.vtu: its points and, per surface name, node-id arrays into
    them (one array per face size: 2 nodes in 2D, 3 or 4 in 3D)."""

    points: np.ndarray
    faces: dict[str, list[np.ndarray]]


class RunDir:
    """The parts of a run directory that pictures need; raises RenderError if it is not one."""

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise RenderError(f"{self.path}: no such directory")
        run = rd.RunDirectory(self.path)
        try:
            frames = run.frames()
        except rd.NotARunError as exc:
            raise RenderError(str(exc)) from None
        except (ET.ParseError, rd.RunDirectoryError, ValueError) as exc:
            raise RenderError(f"{run.file(rd.FIELDS)}: unreadable ({exc})") from None
        if not frames:
            raise RenderError(f"{run.file(rd.FIELDS)} lists no frame that exists")
        self._run = run
        self.frames = [FrameRef(f.index, f.time, f.path, f.step) for f in frames]
        self.times = np.array([f.time for f in self.frames])
        try:
            manifest = run.manifest()
        except (rd.NotARunError, ValueError):
            manifest = None           # frames alone still make pictures
        # the typed record as plain data: the case (normalised) and the mesh statistics are
        # free-form tables that pictures look into
        self.manifest = manifest.to_json() if manifest else {}
        self.case = self.manifest.get("case") or {}
        self._cache: dict[int, object] = {}
        self._surface_set: SurfaceSet | None = None
        self._surfaces_read = False
        self.surface_note = ""         # why no named surface is drawn, if so

    # -- what the run holds
    @property
    def name(self) -> str:
        return (self.case.get("case") or {}).get("name") or self.path.name

    @property
    def mesh_info(self) -> dict:
        return self.manifest.get("mesh") or {}

    @property
    def axes(self) -> tuple[str, ...]:
        axes = self.mesh_info.get("axes")
        if axes:
            return tuple(axes)
        return ("x", "y", "z")[: self.dim]

    @property
    def cylindrical(self) -> bool:
        return bool(self.mesh_info.get("cylindrical", False))

    @property
    def dim(self) -> int:
        if self.mesh_info.get("axes"):
            return len(self.mesh_info["axes"])
        b = np.asarray(self.read(0).bounds).reshape(3, 2)
        return int(np.sum(b[:, 1] - b[:, 0] > 0))

    @property
    def kind(self) -> str:
        if self.cylindrical:
            return "axisymmetric"
        return {1: "1d", 2: "2d", 3: "3d"}[self.dim]

    @property
    def fields(self) -> list[str]:
        return [n for n in self.read(len(self.frames) - 1).cell_data.keys()
                if n != "compartment" and not n.startswith("vtk")]

    @property
    def compartment_names(self) -> list[str]:
        names = self.mesh_info.get("compartments")
        if names:
            return list(names)
        comps = (self.case.get("geometry") or {}).get("compartments") or []
        if comps:
            return list(dict.fromkeys(c["name"] for c in comps))
        return list(self.mesh_info.get("compartment_volumes_um3") or [])

    def compartment_name(self, k: int) -> str:
        names = self.compartment_names
        return names[k] if 0 <= k < len(names) else f"compartment {k}"

    def valence(self, ion: str) -> int | None:
        for s in self.case.get("species") or []:
            if s.get("ion") == ion:
                return s.get("valence")
        return None

    # -- named surfaces
    def surface_set(self) -> SurfaceSet | None:
        """The face sets of surfaces.vtu, named by manifest mesh.surfaces; None (and a note in
        surface_note) where the file is missing or unreadable."""
        if self._surfaces_read:
            return self._surface_set
        self._surfaces_read = True
        path = self.path / rd.SURFACES
        listed = self.mesh_info.get("surfaces")
        if not path.is_file():
            if listed or listed is None:
                self.surface_note = (f"no surfaces.vtu in {self.path} (a run directory of an older "
                                     "version): named surfaces (channel, membranes with plugins, "
                                     "baths) are not drawn")
            return None
        try:
            mesh = _pyvista().read(path)
            ids = np.asarray(mesh.cell_data["surface"])
        except Exception as exc:   # a damaged file costs the surfaces, not the picture
            self.surface_note = f"{path} is unreadable ({exc}): named surfaces are not drawn"
            return None
        names = list(listed or [])
        types = np.asarray(mesh.celltypes)
        faces: dict[str, list[np.ndarray]] = {}
        for k in np.unique(ids):
            name = names[k] if 0 <= k < len(names) else f"surface {k}"
            for ctype, conn in mesh.cells_dict.items():
                conn = np.asarray(conn, np.int64)
                sel = ids[types == ctype] == k
                if np.any(sel):
                    faces.setdefault(name, []).append(conn[sel])
        self._surface_set = SurfaceSet(np.asarray(mesh.points, float), faces)
        return self._surface_set

    def surfaces(self) -> list[dict]:
        """Named surfaces with their role: 'flux' (carries a plugin), 'bath' or 'membrane', and
        the flux models on them; in the order of manifest mesh.surfaces."""
        sset = self.surface_set()
        if sset is None:
            return []
        flux: dict[str, list[str]] = {}
        for f in self.case.get("fluxes") or []:
            flux.setdefault(f["surface"], []).append(f.get("label") or f["model"])
        bath = {b["surface"] for b in self.case.get("boundaries") or []}
        out = []
        for name in sset.faces:
            role = "flux" if name in flux else "bath" if name in bath else "membrane"
            out.append({"name": name, "role": role, "models": flux.get(name, [])})
        return out

    def surface_facets(self, name: str, fac, grid_points: np.ndarray) -> list[np.ndarray]:
        """The facets of a mesh (per facet group) that belong to the named surface."""
        from .topology import named_facets

        sset = self.surface_set()
        if sset is None or name not in sset.faces:
            return [nodes[:0] for nodes, _, _ in fac.groups]
        return named_facets(sset.points, sset.faces[name], fac, grid_points)

    # -- frames
    def read(self, index: int):
        if index not in self._cache:
            _pyvista()
            self._cache.clear()                      # keep one frame in memory
            self._cache[index] = self._run.read_frame(self.frames[index])
        return self._cache[index]

    def check_field(self, name: str | None) -> str:
        fields = self.fields
        if name is None:
            ions = [f for f in fields if "." not in f]
            return (ions or fields)[0]
        if name not in fields:
            close = [f for f in fields if f.lower() == name.lower()]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RenderError(f"no field {name!r} in {self.path}{hint}; fields present: "
                              f"{', '.join(fields)}")
        return name

    def choose(self, time: str | float | None = None, frame: int | None = None) -> FrameChoice:
        n = len(self.frames)
        if time is not None and frame is not None:
            raise RenderError("give either a time or a frame, not both")
        if frame is not None:
            if not -n <= frame < n:
                raise RenderError(f"frame {frame} does not exist; frames are 0..{n - 1}")
            i = frame % n
            return FrameChoice(i, self.frames[i].time,
                               f"frame {i} of 0..{n - 1}, t = {fmt_time(self.frames[i].time)}")
        if time is None:
            i = n - 1
            return FrameChoice(i, self.frames[i].time,
                               f"last frame ({i}), t = {fmt_time(self.frames[i].time)}")
        t = parse_time(time)
        i = int(np.argmin(np.abs(self.times - t)))
        ti = self.frames[i].time
        if abs(ti - t) <= 1e-9 * max(abs(t), 1e-12):
            note = f"frame {i}, t = {fmt_time(ti)}"
        else:
            note = f"frame {i} at t = {fmt_time(ti)}, the nearest to the requested {fmt_time(t)}"
            if t > self.times.max() or t < self.times.min():
                note += (f" (frames span {fmt_time(self.times.min())} to "
                         f"{fmt_time(self.times.max())})")
        return FrameChoice(i, ti, note)


_SUPER = str.maketrans("0123456789+-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻")


def field_label(run: RunDir, name: str) -> str:
    """'Ca' → 'free [Ca²⁺] (µM)', 'EGTA.Ca' → '[EGTA·Ca] (µM, bound)'."""
    if "." not in name:
        z = run.valence(name)
        charge = "" if z is None else (("" if abs(z) == 1 else str(abs(z))) + ("+" if z > 0 else "-"))
        return f"free [{name}{charge.translate(_SUPER)}] (µM)"
    return f"[{name.replace('.', '·')}] (µM, bound)"
