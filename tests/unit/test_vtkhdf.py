"""[output] format = "vtkhdf": every frame in fields.vtkhdf (microdomain/vtkhdf.py), the mesh
once. VTK's own reader gives the arrays of the .vtu series bit for bit; the run directory's
readers (frames, open_run, render, plot) read it; a resumed run cuts the file back to its
checkpoint; a damaged file or a missing h5py is reported by name."""

import builtins

import h5py
import numpy as np
import pytest
import pyvista as pv
import vtk

import microdomain as md
from microdomain.rundir import RunDirectory
from microdomain.solver.state import Watcher
from microdomain.vtkhdf import VTKHDFSeries, read_times
from tests.helpers import small_case

TIMES = [0.0, 0.25, 0.5, 0.75, 1.0]


LEAK = [{"model": "permeability", "surface": "er_membrane", "from": "er", "to": "cytosol",
         "params": {"permeability": "5 um/s"}}]


def case(**output):
    """The small box with an ER leak: fields that change every frame, steps between frames."""
    return md.case_from_dict(small_case(fluxes=LEAK, output={"every": "0.25 ms", **output}))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same case written both ways."""
    work = tmp_path_factory.mktemp("formats")
    for fmt in ("vtu", "vtkhdf"):
        md.Simulation(case(format=fmt)).run(out=work / fmt)
    return work / "vtu", work / "vtkhdf"


def _same_grid(a, b) -> None:
    assert list(a.cell_data.keys()) == list(b.cell_data.keys())
    for key in a.cell_data.keys():
        x, y = np.asarray(a.cell_data[key]), np.asarray(b.cell_data[key])
        assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True), key
    assert np.array_equal(a.points, b.points) and np.array_equal(a.celltypes, b.celltypes)


def test_vtks_reader_steps_through_the_file_and_gives_the_vtu_arrays_bit_for_bit(runs):
    vtu, hdf = runs
    assert not (hdf / "fields.pvd").exists() and not (hdf / "fields").exists()
    frames = RunDirectory(vtu).frames()
    assert [f.time for f in frames] == TIMES
    reader = vtk.vtkHDFReader()
    reader.SetFileName(str(hdf / "fields.vtkhdf"))
    reader.UpdateInformation()
    assert reader.GetNumberOfSteps() == len(TIMES)
    for i, frame in enumerate(frames):
        reader.UpdateTimeStep(frame.time)             # by time, as ParaView's time control does
        grid = pv.wrap(reader.GetOutput())
        assert float(grid.field_data["Time"][0]) == frame.time
        _same_grid(pv.read(frame.path), grid)
    assert "B.Ca" in grid.cell_data and np.isnan(grid.cell_data["B.Ca"]).any()   # absent: NaN
    whole = pv.read(hdf / "fields.vtkhdf")                                      # pyvista.read
    _same_grid(pv.read(frames[0].path), whole)


def test_the_mesh_and_an_unchanging_array_are_stored_once(runs):
    _, hdf = runs
    with h5py.File(hdf / "fields.vtkhdf", "r") as f:
        root = f["VTKHDF"]
        assert list(root.attrs["Version"]) == [2, 2]                  # as docs/run-directory.md says
        assert root["CellData/Ca"].compression == "gzip" and root["CellData/Ca"].compression_opts == 4
        n = int(root["NumberOfCells"][0])
        assert root["Types"].shape == (n,) and int(root["Steps"].attrs["NSteps"]) == len(TIMES)
        assert root["CellData/compartment"].shape == (n,)           # the same every step
        assert list(root["Steps/CellDataOffsets/compartment"]) == [0] * len(TIMES)
        offsets = list(root["Steps/CellDataOffsets/Ca"])
        assert offsets == sorted(offsets) and offsets[-1] > 0        # Ca changes
        assert root["CellData/Ca"].shape == (n * len(set(offsets)),)


def test_the_run_directorys_readers_give_the_vtu_frames_with_their_field_data(runs):
    vtu, hdf = runs
    a, b = RunDirectory(vtu), RunDirectory(hdf)
    assert b.frames_format() == "vtkhdf" and a.frames_format() == "vtu"
    assert [f.time for f in b.frames()] == TIMES and len(b.frame_entries()) == len(TIMES)
    for fa, fb in zip(a.frames(), b.frames()):
        ga, gb = a.read_frame(fa), b.read_frame(fb)
        _same_grid(ga, gb)
        assert list(ga.field_data.keys()) == list(gb.field_data.keys())
        for key in ga.field_data.keys():
            assert list(ga.field_data[key]) == list(gb.field_data[key]), key
    ra, rb = md.open_run(vtu), md.open_run(hdf)
    assert list(rb.times) == TIMES and rb.fields == ra.fields
    assert np.array_equal(rb.field("Ca", t=0.5), ra.field("Ca", t=0.5))


def test_render_and_plot_read_a_vtkhdf_run(runs, tmp_path):
    from microdomain.cli import main

    _, hdf = runs
    assert main(["render", str(hdf), "--out", str(tmp_path / "ca.png"), "--size", "320x240"]) == 0
    assert (tmp_path / "ca.png").stat().st_size > 0
    assert main(["plot", str(hdf), "--out", str(tmp_path / "plots")]) == 0


def test_the_revolved_frames_go_into_their_own_vtkhdf(tmp_path):
    raw = small_case(time={"end": "0.5 ms"}, output={"every": "0.25 ms", "revolve": 8, "format": "vtkhdf"})
    raw["geometry"] = {"builder": "axisymmetric", "radius": "1 um", "height": "0.5 um", "cells": [6, 4],
                       "compartments": [{"name": "cytosol"}, {"name": "er", "r": ["0.5 um", "1 um"]}],
                       "surfaces": [{"name": "er_membrane", "between": ["er", "cytosol"]}]}
    md.Simulation(md.case_from_dict(raw)).run(out=tmp_path / "run")
    run = RunDirectory(tmp_path / "run")
    assert read_times(tmp_path / "run" / "fields_revolved.vtkhdf") == [0.0, 0.25, 0.5]
    reader = vtk.vtkHDFReader()
    reader.SetFileName(str(tmp_path / "run" / "fields_revolved.vtkhdf"))
    reader.UpdateTimeStep(0.5)
    solid = pv.wrap(reader.GetOutput())
    section = run.read_frame(run.frames()[-1])
    assert solid.n_cells == 8 * section.n_cells
    assert np.array_equal(solid.cell_data["Ca"], np.tile(section.cell_data["Ca"], 8))


class _StopAfter(Watcher):
    """Asks the run to stop (as SIGINT does) once `n` frames are written."""

    def __init__(self, n):
        self.n, self.frames = n, 0

    def frame(self, U, t):
        self.frames += 1

    def __call__(self):
        return "SIGINT" if self.frames >= self.n else None


def _interrupted(out, n_frames=3):
    stop = _StopAfter(n_frames)
    with pytest.raises(KeyboardInterrupt):
        md.Simulation(case(format="vtkhdf")).run(out=out, observers=[stop], stop=stop)
    return out / "fields.vtkhdf"


def test_a_resumed_run_cuts_the_file_back_to_its_checkpoint_and_ends_as_an_uninterrupted_one(runs, tmp_path):
    _, ref = runs
    out = tmp_path / "run"
    path = _interrupted(out)
    t_checkpoint = float(RunDirectory(out).checkpoint()[0].t)
    kept = read_times(path)
    assert kept == TIMES[: len(kept)] and 3 <= len(kept) < len(TIMES) and kept[-1] <= t_checkpoint
    # what a SIGKILL after the checkpoint can leave: a complete frame past it ...
    series = VTKHDFSeries(out, None, entries=[(t, path.name) for t in kept])
    n = int(RunDirectory(out).read_frame(RunDirectory(out).frames()[0]).n_cells)
    late = t_checkpoint + 0.01
    series.write(late, {"Ca": np.full(n, 7.0), "B.Ca": np.full(n, 7.0),
                        "compartment": np.zeros(n, np.int32)})
    # ... and a frame cut short: values written, NSteps not yet counting them
    with h5py.File(path, "a") as f:
        data = f["VTKHDF/CellData/Ca"]
        data.resize(data.shape[0] + n, axis=0)
        data[-n:] = -1.0
    assert read_times(path) == [*kept, late]
    md.Simulation(case(format="vtkhdf")).run(out=out, resume=True)
    got, want = md.open_run(out), md.open_run(ref)
    assert list(got.times) == TIMES
    for t in TIMES:     # a resume is not bit-identical (tests/unit/test_fault_injection.py)
        np.testing.assert_allclose(got.field("Ca", t=t), want.field("Ca", t=t), rtol=1e-6)
    with h5py.File(path, "r") as f, h5py.File(ref / "fields.vtkhdf", "r") as g:
        for key in ("CellData/Ca", "CellData/compartment", "Steps/Values", "Steps/CellDataOffsets/Ca"):
            assert f["VTKHDF"][key].shape == g["VTKHDF"][key].shape, key     # no leftover
    reader = vtk.vtkHDFReader()
    reader.SetFileName(str(path))
    reader.UpdateInformation()
    assert reader.GetNumberOfSteps() == len(TIMES)


def test_a_damaged_file_refuses_the_resume_by_name_and_is_left_in_place(tmp_path):
    out = tmp_path / "run"
    path = _interrupted(out, 2)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])                 # a truncated file
    damaged = path.read_bytes()
    with pytest.raises(md.ResumeError, match="fields.vtkhdf"):
        md.Simulation(case(format="vtkhdf")).run(out=out, resume=True)
    assert path.read_bytes() == damaged


def test_without_h5py_a_vtkhdf_case_says_how_to_install_it(monkeypatch):
    real_import = builtins.__import__

    def no_h5py(name, *args, **kwargs):
        if name == "h5py":
            raise ImportError("No module named 'h5py'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_h5py)
    with pytest.raises(md.CaseError, match=r"output\.format.*pip install microdomain\[hdf5\]"):
        md.Simulation(case(format="vtkhdf"))
    md.Simulation(case(format="vtu"))                        # the default needs no h5py


def test_an_unknown_format_is_a_case_error_naming_the_field():
    with pytest.raises(md.CaseError, match=r"output\.format"):
        case(format="xdmf")


def test_a_frame_file_that_is_not_hdf5_is_reported_by_name(tmp_path):
    (tmp_path / "fields.vtkhdf").write_bytes(b"not hdf5")
    with pytest.raises(md.MicrodomainError, match="fields.vtkhdf"):
        RunDirectory(tmp_path).frames()
