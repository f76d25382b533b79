"""fields.vtkhdf: a run's frames in one HDF5 file, the VTKHDF UnstructuredGrid temporal layout
(https://docs.vtk.org/en/latest/vtk_file_formats/vtkhdf_file_format/), the mesh stored once.

The one module that reads and writes HDF5 (h5py, the optional extra `microdomain[hdf5]`);
rundir.py uses it. Layout (n cells, k steps):

    /VTKHDF                  attrs Version = [2, 2], Type = "UnstructuredGrid"
                             (the mesh and the cell arrays deflated, as the .vtu frames are)
      NumberOfPoints, NumberOfCells, NumberOfConnectivityIds   one entry each: one part
      Points, Connectivity, Offsets, Types                      the mesh, written once
      CellData/<array>       the steps' values one after the other; a step whose values equal
                             the previous step's bit for bit (`compartment`) points at them
      Steps                  attr NSteps = k
        Values               the times (ms)
        PartOffsets, NumberOfParts, PointOffsets, CellOffsets, ConnectivityIdOffsets
                             0, 1, 0, 0, 0 per step: every step shares the one mesh
        CellDataOffsets/<array>   where each step's values start in CellData/<array>
    /microdomain             attrs: the string field data of the .vtu frames (names, units,
                             axes); outside /VTKHDF, which VTK ignores (VTK 9.7's reader fails
                             on string arrays in the FieldData of a temporal file)

Each frame is appended with the file opened and closed again (closing flushes), `NSteps`
written last; the file is created under a temporary name and renamed into place. A run killed
between frames leaves a complete file; one killed during a frame a step NSteps does not count,
which a resume cuts off (`truncate`), or, HDF5 not being journalled, possibly a file HDF5
cannot open (not seen in benchmarks/vtkhdf_kills.py; resume then refuses, naming it).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import MicrodomainError
from .io import umask

VERSION = (2, 2)
EXTRA = "pip install microdomain[hdf5]"
STEP_COLUMNS = {"PartOffsets": 0, "NumberOfParts": 1, "PointOffsets": 0, "CellOffsets": 0,
                "ConnectivityIdOffsets": 0}
"""Per step, the value each of these Steps datasets holds for a mesh shared by all steps."""
STRINGS = "microdomain"
COMPRESSION = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
"""Of the mesh and the cell arrays: deflate (zlib, as the .vtu frames are written) after the
byte shuffle that groups the doubles' exponents; VTK's reader inflates it."""


class VTKHDFError(MicrodomainError, ValueError):
    """A .vtkhdf file that cannot be read or continued, or h5py missing; names the file."""


def h5py_module():
    """h5py, or VTKHDFError saying how to install it."""
    try:
        import h5py
    except ImportError:
        raise VTKHDFError('output.format = "vtkhdf" needs h5py, which is not installed: '
                          f"{EXTRA}") from None
    return h5py


def _open(path: Path, mode: str):
    h5py = h5py_module()
    try:
        # readers do not lock: a render may read a run while it writes (between frames)
        return h5py.File(path, mode, **({"locking": False} if mode == "r" else {}))
    except OSError as exc:
        raise VTKHDFError(f"{path} cannot be opened as HDF5 ({exc})") from None


class VTKHDFSeries:
    """NAME.vtkhdf, one step per frame: the interface of io.VTKSeries (write(t, arrays),
    entries) with the frames in one file. `entries` from a resumed run's frames (time, file)
    cut the file back to those steps before anything else is written."""

    def __init__(self, out_dir: Path, grid, field_data: dict | None = None, name: str = "fields",
                 entries=()):
        h5py_module()
        self.name = name
        self.path = Path(out_dir) / f"{name}.vtkhdf"
        self.grid = grid
        self.field_data = dict(field_data or {})
        self.entries: list[tuple[float, str]] = list(entries)
        self._previous: dict[str, tuple[int, np.ndarray]] = {}
        if self.entries:
            # the last kept step's arrays: a resumed run stores the file an uninterrupted one would
            self._previous = truncate(self.path, len(self.entries))

    def write(self, t: float, arrays: dict[str, np.ndarray]) -> Path:
        if not self.entries:
            self._create()
        with _open(self.path, "a") as f:
            root = f["VTKHDF"]
            steps = root["Steps"]
            n = int(steps.attrs["NSteps"])
            if n == 0 and not len(root["CellData"]):
                for key, value in arrays.items():
                    _growing(root["CellData"], key, np.asarray(value).dtype, len(value), COMPRESSION)
                    _growing(steps["CellDataOffsets"], key, np.int64)
            if set(arrays) != set(root["CellData"]):
                raise VTKHDFError(f"{self.path}: the frame's arrays {sorted(arrays)} are not the "
                                  f"file's {sorted(root['CellData'])}")
            for key, value in arrays.items():
                _append(steps["CellDataOffsets"][key], self._store(root["CellData"][key], key, value))
            _append(steps["Values"], float(t))
            for column, value in STEP_COLUMNS.items():
                _append(steps[column], value)
            steps.attrs["NSteps"] = n + 1          # last: the step is now complete
        self.entries.append((t, self.path.name))
        return self.path

    def _store(self, data, key: str, value: np.ndarray) -> int:
        """Append one step's values (or point at the previous step's, if equal); its offset."""
        value = np.ascontiguousarray(value)
        previous = self._previous.get(key)
        if previous is not None and previous[1].dtype == value.dtype \
                and previous[1].tobytes() == value.tobytes():
            return previous[0]
        offset = data.shape[0]
        data.resize(offset + value.shape[0], axis=0)
        data[offset:] = value
        self._previous[key] = (offset, value.copy())
        return offset

    def _create(self) -> None:
        """A new file: the mesh, empty growing datasets, the string field data; written under a
        temporary name and renamed into place, so a kill while creating it leaves none."""
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            self._write_new(tmp)
            os.chmod(tmp, 0o666 & ~umask())
            os.replace(tmp, self.path)
        finally:
            if tmp.exists():
                tmp.unlink()
        self._previous = {}

    def _write_new(self, path: Path) -> None:
        grid, h5py = self.grid, h5py_module()
        with _open(path, "w") as f:
            root = f.create_group("VTKHDF")
            root.attrs["Version"] = np.array(VERSION, np.int64)
            root.attrs.create("Type", np.bytes_("UnstructuredGrid"))
            conn = np.asarray(grid.cell_connectivity, np.int64)
            root["NumberOfPoints"] = np.array([grid.n_points], np.int64)
            root["NumberOfCells"] = np.array([grid.n_cells], np.int64)
            root["NumberOfConnectivityIds"] = np.array([conn.size], np.int64)
            offsets = grid.cell_offsets if hasattr(type(grid), "cell_offsets") else grid.offset
            for name, data in (("Points", np.asarray(grid.points, float)), ("Connectivity", conn),
                               ("Offsets", np.asarray(offsets, np.int64)),
                               ("Types", np.asarray(grid.celltypes, np.uint8))):
                root.create_dataset(name, data=data, **COMPRESSION)
            root.create_group("CellData", track_order=True)
            steps = root.create_group("Steps")
            steps.attrs["NSteps"] = 0
            steps.create_group("CellDataOffsets", track_order=True)
            _growing(steps, "Values", float)
            for column in STEP_COLUMNS:
                _growing(steps, column, np.int64)
            strings = f.create_group(STRINGS, track_order=True)
            for key, value in self.field_data.items():
                strings.attrs[key] = np.array([str(v) for v in value], dtype=h5py.string_dtype())


def _growing(group, name: str, dtype, chunk: int = 256, filters=None):
    """A 1D dataset that grows (chunked; a cell array's chunk is one step, at most 2^20)."""
    return group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype,
                                chunks=(max(1, min(chunk, 1 << 20)),), **(filters or {}))


def _append(data, value) -> None:
    n = data.shape[0]
    data.resize(n + 1, axis=0)
    data[n] = value


# ------------------------------------------------------------------------------ reading --

def _complete_steps(f, path: Path) -> int:
    """The number of complete steps (NSteps), checked against the datasets it indexes."""
    root = f["VTKHDF"]
    steps = root["Steps"]
    n = int(steps.attrs["NSteps"])
    n_cells = int(root["NumberOfCells"][0])
    short = [c for c in ("Values", *STEP_COLUMNS) if steps[c].shape[0] < n]
    for key, offsets in steps["CellDataOffsets"].items():
        if offsets.shape[0] < n or (n and int(np.max(offsets[:n])) + n_cells > root["CellData"][key].shape[0]):
            short.append(f"CellData/{key}")
    if short:
        raise VTKHDFError(f"{path}: Steps/NSteps = {n}, but {', '.join(short)} hold fewer steps")
    return n


def _reading(path: Path, mode: str, action):
    """action(file, complete steps), with a damaged or foreign file reported as VTKHDFError."""
    with _open(path, mode) as f:
        try:
            return action(f, _complete_steps(f, path))
        except VTKHDFError:
            raise
        except (KeyError, OSError, RuntimeError, ValueError, TypeError, IndexError) as exc:
            raise VTKHDFError(f"{path} is damaged or not a frame file of microdomain ({exc})") from None


def read_times(path: Path) -> list[float]:
    """The times (ms) of the complete steps."""
    return _reading(Path(path), "r", lambda f, n: [float(t) for t in f["VTKHDF/Steps/Values"][:n]])


def truncate(path: Path, n: int) -> dict[str, tuple[int, np.ndarray]]:
    """Cut the file back to its first n steps (a resumed run's frames up to its checkpoint);
    per array, the offset and values of step n - 1."""

    def cut(f, have):
        if have < n:
            raise VTKHDFError(f"{path} holds {have} complete steps; the run's checkpoint follows {n}")
        root = f["VTKHDF"]
        steps = root["Steps"]
        n_cells = int(root["NumberOfCells"][0])
        for column in ("Values", *STEP_COLUMNS):
            steps[column].resize(n, axis=0)
        last = {}
        for key, offsets in steps["CellDataOffsets"].items():
            offsets.resize(n, axis=0)
            kept = offsets[:n]
            end = int(np.max(kept)) + n_cells if n else 0
            root["CellData"][key].resize(end, axis=0)
            if n:
                last[key] = (int(kept[-1]), root["CellData"][key][int(kept[-1]):int(kept[-1]) + n_cells])
        steps.attrs["NSteps"] = n
        return last

    return _reading(Path(path), "a", cut)


def read_step(path: Path, step: int):
    """Step `step` as a PyVista grid: the mesh, the cell arrays, the field data and TimeValue,
    what the .vtu frame of that time holds."""
    import pyvista as pv

    from .io import set_field_data

    def read(f, n):
        if not 0 <= step < n:
            raise VTKHDFError(f"{path} has no step {step}; its steps are 0..{n - 1}")
        root = f["VTKHDF"]
        offsets = np.asarray(root["Offsets"], np.int64)
        conn = np.asarray(root["Connectivity"], np.int64)
        n_cells = offsets.size - 1
        legacy = np.empty(conn.size + n_cells, np.int64)      # [count, ids...] per cell
        starts = offsets[:-1] + np.arange(n_cells)
        legacy[starts] = np.diff(offsets)
        ids = np.ones(legacy.size, bool)
        ids[starts] = False
        legacy[ids] = conn
        grid = pv.UnstructuredGrid(legacy, np.asarray(root["Types"], np.uint8),
                                   np.asarray(root["Points"], float))
        for key, data in root["CellData"].items():
            start = int(root["Steps/CellDataOffsets"][key][step])
            grid.cell_data[key] = data[start:start + n_cells]
        strings = {k: [_text(v) for v in np.atleast_1d(a)] for k, a in f[STRINGS].attrs.items()}
        set_field_data(grid, {**strings, "TimeValue": [float(root["Steps/Values"][step])]})
        return grid

    return _reading(Path(path), "r", read)


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
