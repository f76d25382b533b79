"""Figures a paper can use: the cleft camera on every contact geometry, scale bars, colour limits
per compartment, vector output and DPI, and figures from the API."""

import numpy as np
import pytest
from PIL import Image

from microdomain.render import RunDir, render
from microdomain.render.colours import make_scale
from microdomain.render.topology import grid_facets
from microdomain.render.view import make_view

CONTACT_CASES = ("mam_contact", "er_lysosome_contact", "pm_punctum_contact")   # conftest.py

offscreen = pytest.mark.usefixtures("offscreen_opengl")


def load(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def views(run_dir, cameras=("iso", "cleft", "auto")):
    run = RunDir(run_dir)
    grid = run.read(len(run.frames) - 1)
    values = np.asarray(grid.cell_data["Ca"], float)
    scale = make_scale(values)
    return run, {c: make_view(run, grid, values, scale, c, grid_facets(grid)) for c in cameras}


@pytest.mark.parametrize("name", CONTACT_CASES)
@pytest.mark.parametrize("variant", ["axisymmetric", "3d"])
def test_cleft_camera_zooms_on_the_cleft_of_every_contact(contact_runs, name, variant):
    run, v = views(contact_runs[name, variant])
    geometry = run.case["geometry"]
    gap = geometry["gap"]
    radius = geometry.get("contact_radius") or geometry["punctum_radius"]
    lateral = [0] if variant == "axisymmetric" else [0, 1]
    normal = 1 if variant == "axisymmetric" else 2
    extent = np.ptp(v["cleft"].region, axis=1)
    iso = np.ptp(v["iso"].region, axis=1)
    # the whole cleft is inside the region: from the axis (or −radius) to +radius, 0 ≤ z ≤ gap
    for k in lateral:
        assert v["cleft"].region[k, 0] <= (0 if variant == "axisymmetric" else -radius) + 1e-9
        assert v["cleft"].region[k, 1] >= radius - 1e-9
    assert v["cleft"].region[normal, 0] < 0 and v["cleft"].region[normal, 1] > gap
    # and the region is within a few times the contact radius and the gap, far below iso's
    assert max(extent[k] for k in lateral) <= 3 * radius
    assert extent[normal] <= 12 * gap
    assert extent[normal] < 0.3 * iso[normal] and all(extent[k] < 0.5 * iso[k] for k in lateral)
    assert "cleft" in v["cleft"].note and f"{gap * 1e3:g} nm gap" in v["cleft"].note
    # `auto` on a contact is the cleft view (docs/rendering.md)
    assert v["auto"].camera == "cleft" and np.array_equal(v["auto"].region, v["cleft"].region)
    # as docs/rendering.md says: 1.35 × the radius sideways, the gap plus 1.5 × max(gap,
    # 0.3 × radius) on either side across (the mesh's patch radius: its polygon's vertices)
    margin = 1.5 * max(gap, 0.3 * radius)
    assert extent[normal] == pytest.approx(gap + 2 * margin, rel=0.02)
    for k in lateral:
        assert extent[k] == pytest.approx((1 if variant == "axisymmetric" else 2) * 1.35 * radius,
                                          rel=0.02)


@offscreen
def test_cleft_picture_differs_from_iso_and_reports_its_region(contact_runs, tmp_path):
    run_dir = contact_runs["mam_contact", "axisymmetric"]
    iso = render(run_dir, camera="iso", size=(480, 360), out=tmp_path)
    cleft = render(run_dir, camera="cleft", size=(480, 360), out=tmp_path)
    r, z = np.ptp(np.asarray(cleft.region), axis=1)[:2]
    assert r <= 3 * 0.150 and z <= 12 * 0.020
    assert np.ptp(np.asarray(iso.region), axis=1)[1] > 5 * z
    a, b = load(iso.paths[0]).astype(float), load(cleft.paths[0]).astype(float)
    assert a.shape == b.shape and np.abs(a - b).mean() > 10


# ---------------------------------------------------------------------------- scale bars --

def black_runs(row: np.ndarray, dark: int = 60) -> list[tuple[int, int]]:
    """(start, length) of the runs of near-black pixels in an image row."""
    black = np.all(row < dark, axis=-1).astype(int)
    edges = np.diff(np.concatenate([[0], black, [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), (ends - starts).tolist()))


def bar_in(img: np.ndarray, length_px: float) -> bool:
    """A horizontal black bar of about length_px pixels somewhere in the image."""
    for row in img:
        if any(abs(n - length_px) <= 2 for _, n in black_runs(row)):
            return True
    return False


@offscreen
def test_3d_panel_has_a_scale_bar_true_to_the_mesh(box3d_run, tmp_path):
    """Top view of the 1 µm × 1 µm box: its width in pixels, measured on the picture, is what the
    bar says a micrometre is."""
    r = render(box3d_run, camera="top", size=(640, 480), out=tmp_path)
    length_um, length_px = r.scale_bar
    assert length_um in (0.1, 0.2, 0.5, 1.0) and length_px > 20
    img = load(r.paths[0])
    assert bar_in(img[:, int(0.44 * 640):], length_px)
    # the box: the widest non-white span of the 3D panel's middle rows
    panel = img[120:300, int(0.44 * 640):]
    width = max(np.ptp(np.flatnonzero(np.any(row < 235, axis=-1))) for row in panel) + 1
    assert width == pytest.approx(length_px / length_um * 1.0, rel=0.03)


def test_mesh_picture_has_a_scale_bar_true_to_the_mesh(tmp_path, offscreen_opengl):
    import microdomain as md
    from microdomain.geometry.picture import render_mesh_png
    from microdomain.mesh import build_domain

    raw = {"case": {"name": "box2d"},
           "geometry": {"builder": "box", "size": ["1 um", "1 um"], "cells": [8, 8],
                        "compartments": [{"name": "cytosol"},
                                         {"name": "er", "y": ["0.5 um", "1 um"]}]},
           "species": [{"ion": "Ca", "D": "220 um**2/s", "initial": "0.1 uM"}],
           "time": {"end": "1 ms"}}
    case = md.case_from_dict(raw, "box2d.toml")
    d = build_domain(case.builder.build(case.geometry))
    pic = render_mesh_png(tmp_path / "mesh.png", d.vtk_points, d.vtk_cells, d.compartment_id,
                          d.compartment_names, d.dim, d.cylindrical, size=(800, 600))
    (length_um, length_px), = pic.scale_bars
    img = load(pic.path)
    assert img.shape == (600, 800, 3) and bar_in(img[500:], length_px)
    row = img[300]
    coloured = np.flatnonzero(np.any(np.abs(row.astype(int) - 255) > 20, axis=-1))
    assert np.ptp(coloured) + 1 == pytest.approx(length_px / length_um * 1.0, rel=0.03)


# ---------------------------------------------------------------- colours per compartment --

def yellow_pixels(img: np.ndarray) -> np.ndarray:
    """Pixels at the top of viridis: the colour of values at (or above) the bar's maximum."""
    return np.all(np.abs(img.astype(int) - (253, 231, 37)) < 30, axis=-1)


@offscreen
def test_colour_limits_per_compartment_keep_the_er_off_the_cytosol_scale(contact_runs, tmp_path):
    import microdomain as md

    run_dir = contact_runs["mam_contact", "axisymmetric"]
    res = md.open_run(run_dir)
    ca, comp = res.field("Ca"), np.asarray(res.mesh.cell_data["compartment"])
    names = list(res.manifest.mesh.compartments)
    cyt, er = ca[comp == names.index("cytosol")], ca[comp == names.index("er")]
    assert er.max() > 400 > 100 > cyt.max()           # the ER at ~500 µM, the cytosol far below
    one = render(run_dir, camera="cleft", size=(480, 360), out=tmp_path / "one")
    own = render(run_dir, camera="cleft", size=(480, 360), out=tmp_path / "own",
                 per_compartment=True)
    assert one.clims["cytosol"] == one.clims["er"] and one.clim[1] == pytest.approx(er.max())
    assert own.clims["cytosol"] == pytest.approx((cyt.min(), cyt.max()), rel=1e-12)
    assert own.clims["er"] == pytest.approx((er.min(), er.max()), rel=1e-12)
    # on the map (left), one bar paints the ER and the cells near the channel saturated yellow;
    # with a bar per compartment only each compartment's own maximum is
    a = yellow_pixels(load(one.paths[0]))[:, : int(0.42 * 480)].sum()
    b = yellow_pixels(load(own.paths[0]))[:, : int(0.42 * 480)].sum()
    assert b < 0.5 * a


def test_clim_option_names_a_compartment_and_bad_values_are_clear_errors(contact_runs, tmp_path,
                                                                        capsys):
    from microdomain.cli import main

    run_dir = str(contact_runs["mam_contact", "axisymmetric"])
    assert main(["render", run_dir, "--clim", "er=100:600", "--clim", "0.05,20", "--size",
                 "320x240", "--out", str(tmp_path / "x.png")]) == 0
    out = capsys.readouterr().out
    assert "er 100–600 µM" in out and "cytosol 0.05–20 µM" in out
    for bad, message in ((["--clim", "er=600:100"], "--clim er: colour range"),
                         (["--clim", "golgi=1:2"], "no compartment 'golgi'; compartments: cytosol"),
                         (["--clim", "one,two"], "cannot read --clim 'one,two'"),
                         (["--dpi", "5"], "--dpi 5.0 is out of range"),
                         (["--out", str(tmp_path / "x.jpeg")], "unknown picture format '.jpeg'")):
        assert main(["render", run_dir, *bad]) == 2, bad
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err


# ------------------------------------------------------------------ formats and resolution --

@offscreen
def test_svg_pdf_by_suffix_and_dpi_scales_the_png(egta_run, tmp_path):
    svg = render(egta_run, size=(320, 240), out=tmp_path / "ca.svg").paths[0]
    text = svg.read_text()
    assert svg.name == "ca.svg" and text.startswith("<?xml") and "<svg" in text
    assert text.count("<image") >= 1                  # the 3D panel: a raster in the vector page
    assert "<path" in text                            # lines, text and bars: vector
    pdf = render(egta_run, size=(320, 240), out=tmp_path / "ca.pdf").paths[0]
    assert pdf.read_bytes()[:5] == b"%PDF-"
    r = render(egta_run, size=(320, 240), out=tmp_path / "ca.png", dpi=200)
    assert r.paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert load(r.paths[0]).shape == (480, 640, 3)
    assert r.scale_bar[1] == pytest.approx(2 * render(egta_run, size=(320, 240),
                                                      out=tmp_path).scale_bar[1], rel=0.02)


def test_plot_writes_pdf_svg_and_scales_with_dpi(egta_run, tmp_path):
    from microdomain.cli import main
    from microdomain.plot import plot

    r = plot(egta_run, out=tmp_path / "egta.pdf", size=(320, 240))
    assert [p.name for p in r.paths] == ["egta_probes.pdf", "egta_metrics.pdf"]
    assert all(p.read_bytes()[:5] == b"%PDF-" for p in r.paths)
    assert main(["plot", str(egta_run), "--out", str(tmp_path / "e.svg"), "--size", "320x240"]) == 0
    assert (tmp_path / "e_probes.svg").read_text().count("<svg") == 1
    r = plot(egta_run, out=tmp_path, size=(320, 240), dpi=50)
    assert load(r.paths[0]).shape == (120, 160, 3)


# ------------------------------------------------------------------------------- the API --

@offscreen
def test_result_render_and_plot_return_figures(egta_run):
    from matplotlib.figure import Figure

    import microdomain as md

    res = md.open_run(egta_run)
    fig = res.render("Ca", t="10 ms", camera="cleft", size=(320, 240))
    assert isinstance(fig, Figure)
    assert fig.render_result.frames == [2] and fig.render_result.paths == []
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3]
    assert img.shape == (240, 320, 3) and img.std() > 20
    assert fig.render_result.clim[1] == pytest.approx(np.nanmax(res.field("Ca", t=10.0)))
    probes = res.plot("probes", size=(320, 240))
    assert isinstance(probes, Figure) and probes.axes[0].get_lines()
    assert isinstance(res.plot("metrics", size=(320, 240)), Figure)


def test_a_result_in_memory_renders_and_plots_as_its_run_directory(tmp_path):
    import microdomain as md
    from tests.helpers import small_case

    sim = md.Simulation(md.case_from_dict(small_case(), "tiny.toml"))
    mem, disk = sim.run(), sim.run(out=tmp_path / "run")
    assert mem.path is None
    a = mem.render(per_compartment=True, size=(320, 240))
    b = disk.render(per_compartment=True, size=(320, 240))
    pa, pb = (np.asarray((f.canvas.draw(), f.canvas.buffer_rgba())[1])[..., :3] for f in (a, b))
    assert pa.shape == pb.shape == (240, 320, 3) and pa.std() > 20
    assert np.abs(pa.astype(int) - pb).mean() < 0.5
    # a 1D profile (cytosol | ER at 500 µM) has one concentration axis: per-compartment
    # limits are refused with a note, and the axis spans both compartments
    r = a.render_result
    assert any("do not apply to a 1D profile" in n for n in r.notes)
    assert r.clims["cytosol"] == r.clims["er"] and r.clim[1] == pytest.approx(500, rel=0.01)
    m = mem.plot("metrics", size=(320, 240))
    assert [ax.get_title() for ax in m.axes][:2] == ["per compartment (peak, mean)",
                                                    "at surfaces (peak)"]


def test_cleft_camera_on_a_structured_case_zooms_on_the_source(egta_run):
    """No cleft recorded (the structured builders): the region around the channel where the
    field is raised, far smaller than the mesh, with the channel (r = 0, z = 0) in it."""
    run, v = views(egta_run)
    assert run.mesh_info.get("clefts") is None and "cleft '" not in v["cleft"].note
    region, full = v["cleft"].region, v["iso"].region
    assert region[0, 0] == 0 and region[1, 0] <= 0 < region[1, 1]
    assert np.all(np.ptp(region[:2], axis=1) < 0.5 * np.ptp(full[:2], axis=1))


@offscreen
def test_pyvista_save_graphic_works_off_screen_but_rasterizes_the_3d_geometry(tmp_path):
    """What docs/rendering.md says of `plotter.save_graphic`: it writes an SVG off-screen here,
    and the 3D geometry in it is an embedded raster image (so the renderer embeds its own)."""
    from microdomain.render import _pyvista

    pv = _pyvista()
    p = pv.Plotter(off_screen=True, window_size=[64, 48])
    p.add_mesh(pv.Sphere(), color="red")
    p.show(auto_close=False)
    p.save_graphic(str(tmp_path / "s.svg"))
    p.close()
    text = (tmp_path / "s.svg").read_text()
    assert "<svg" in text and "<image" in text and "data:image/png;base64" in text


def test_cleft_camera_on_a_cluster_whose_field_fills_the_mesh_zooms_on_the_cluster(crosstalk_run):
    """zn_ca_crosstalk at 1 ms: Ca²⁺ is raised over most of the 1 µm domain, so the quarter-range
    region is the whole mesh; the cleft view takes a higher share of the log range instead."""
    run, v = views(crosstalk_run)
    radius = 0.030                                     # the ip3r_cluster: r ≤ 30 nm at z = 0
    region, full = v["cleft"].region, v["iso"].region
    assert region[0, 0] == 0 and region[0, 1] >= radius and region[1, 0] <= 0 < region[1, 1]
    assert np.all(np.ptp(region[:2], axis=1) < 0.5 * np.ptp(full[:2], axis=1))
    assert "of the field's log range" in v["cleft"].note
