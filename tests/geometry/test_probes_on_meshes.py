"""Probes on the Gmsh contact meshes (microdomain/probes.py): least-squares linear
reconstruction reproduces linear fields exactly — inside, on the outer walls and on either side
of every membrane — and converges at second order on a smooth field where the nearest cell
(what probes read before) does not; points outside the mesh but inside its box are refused."""

from __future__ import annotations

import numpy as np
import pytest

from microdomain.probes import ProbeError, locate, probe_problems, probe_weights

MESHES = [("mam_contact", "axisymmetric", 1.0), ("er_lysosome", "3d", 2.0),
          ("pm_punctum", "axisymmetric", 1.0)]


@pytest.mark.parametrize("builder,variant,resolution", MESHES)
def test_linear_fields_are_exact_everywhere(built, builder, variant, resolution):
    _, d = built(builder, variant=variant, resolution=resolution)
    rng = np.random.default_rng(7)
    slope = {c: rng.normal(size=d.dim) for c in d.compartment_names}
    field = lambda x, c: 3.0 + slope[c] @ x  # noqa: E731  (a different plane in each compartment)
    U = np.empty(d.n_cells)
    for c in d.compartment_names:
        mask = d.compartment_mask(c)
        U[mask] = field(d.cell_centers[:, mask], c)
    points = []
    for fs in d.surfaces.values():
        for f in fs.faces[:: max(1, fs.faces.size // 6)]:
            sides = {fs.cells_a[np.flatnonzero(fs.faces == f)[0]]}
            b = fs.cells_b[np.flatnonzero(fs.faces == f)[0]]
            if b >= 0:
                sides.add(b)
            for cell in sides:
                points.append((d.face_centers[:, f], d.compartment_names[d.compartment_id[cell]]))
    for cell in rng.choice(d.n_cells, 20, replace=False):      # inside cells, off-centre
        x = 0.7 * d.cell_centers[:, cell] + 0.3 * d.face_centers[:, np.flatnonzero(
            (d.face_cells[0] == cell) | (d.face_cells[1] == cell))[0]]
        points.append((x, d.compartment_names[d.compartment_id[cell]]))
    assert len(points) > 40
    for x, c in points:
        got = (probe_weights(d, x, c) @ U)[0]
        assert got == pytest.approx(field(x, c), abs=1e-10 * (1 + abs(field(x, c)))), (x, c)


def test_smooth_fields_converge_at_second_order_on_surfaces(built):
    """exp(−r²/0.1)·cos(3z) at the face centres of every surface of mam_contact (r, z), at
    three resolutions: the mean error falls as h^1.7 or faster (h = cells^(−1/2)); the nearest
    cell's as h^1.2 at best, and at the finest mesh it is over 10× the reconstruction's."""
    f = lambda x: np.exp(-x[0] ** 2 / 0.1) * np.cos(3 * x[1])  # noqa: E731
    hs, lsq, nearest = [], [], []
    for res in (4.0, 2.0, 1.0):
        _, d = built("mam_contact", variant="axisymmetric", resolution=res)
        F = f(d.cell_centers)
        e, n = [], []
        for fs in d.surfaces.values():
            for face in fs.faces:
                x = d.face_centers[:, face]
                e.append(abs((probe_weights(d, x) @ F)[0] - f(x)))
                n.append(abs(F[locate(d, x)] - f(x)))
        hs.append(d.n_cells ** -0.5)
        lsq.append(np.mean(e))
        nearest.append(np.mean(n))
    order = np.polyfit(np.log(hs), np.log(lsq), 1)[0]
    order_nearest = np.polyfit(np.log(hs), np.log(nearest), 1)[0]
    assert order >= 1.7, (hs, lsq)
    assert order_nearest <= 1.2, (hs, nearest)
    assert nearest[-1] > 10 * lsq[-1]


def test_points_outside_the_mesh_are_refused(built):
    """The 3D er_lysosome mesh is a cylinder: a corner of its box lies outside it."""
    _, d = built("er_lysosome", variant="3d", resolution=2.0)
    with pytest.raises(ProbeError, match="lies outside the mesh"):
        locate(d, (0.64, 0.64, 0.0))
    locate(d, (0.0, 0.0, 0.0))

    class Probe:
        def __init__(self, name, at, compartment=None):
            self.name, self.at, self.compartment = name, at, compartment

    found = probe_problems([Probe("corner", (0.64, 0.64, 0.0)), Probe("a", (0.0, 0.0, 0.0)),
                            Probe("b", (0.0, 0.0, 0.0), "lysosome")], d)
    assert found[0][1].endswith("lies outside the mesh (probe 'corner')")
    assert [p for p, _ in found] == ["output.probes[0].at"] + (
        [] if d.compartment_names[d.compartment_id[locate(d, (0.0, 0.0, 0.0))]] == "lysosome"
        else ["output.probes[2].in"])
