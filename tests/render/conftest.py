"""Run directories for the rendering tests, made once per session by small fast runs:

* `egta_run`: cases/nanodomain_egta.toml on a coarser grid and a smaller domain, marched in time
  to 20 ms (the case itself solves for the steady state: one frame) — an axisymmetric (r, z)
  run of a few frames, ~3 s;
* `box3d_run`: tests/data/box3d_cleft.toml on 10 x 10 x 5 cells, to 1 ms (a 3D run, ~2 s).
"""

import os
import tomllib
import warnings

import pytest

from tests.helpers import ROOT

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
REQUIRE = "MICRODOMAIN_REQUIRE_RENDER"


@pytest.fixture(scope="session")
def offscreen_opengl():
    """Skip the rendering tests, with the reason, where no off-screen OpenGL exists (no EGL /
    Mesa): docs/design.md, 'Stack facts', lists the Debian packages that provide it. With
    MICRODOMAIN_REQUIRE_RENDER=1 (CI sets it: .ci/run) the skip is a failure instead, so CI
    cannot pass with its rendering tests silently skipped."""
    from microdomain.render import _pyvista

    pv = _pyvista()
    try:
        p = pv.Plotter(off_screen=True, window_size=[64, 48])
        p.add_mesh(pv.Sphere())
        p.screenshot(return_img=True)
        p.close()
    except Exception as exc:  # VTK raises various errors when no context can be made
        why = f"no off-screen OpenGL here ({exc}); install libegl1 libegl-mesa0 libgl1-mesa-dri"
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{REQUIRE}=1 and {why}", pytrace=False)
        pytest.skip(why)


def _run(raw: dict, name: str, out):
    import microdomain as md

    res = md.Simulation(md.case_from_dict(raw, name)).run(out=out)
    assert res.status in (md.Status.COMPLETED, md.Status.STEADY_STATE), res.status
    return out


@pytest.fixture(scope="session")
def egta_run(tmp_path_factory):
    raw = tomllib.loads((ROOT / "cases" / "nanodomain_egta.toml").read_text())
    raw["geometry"].update(radius="1.5 um", height="1.5 um",
                           spacing={"min": "1 nm", "max": "100 nm", "growth": 1.15,
                                    "focus": ["0 nm", "0 nm"]})
    raw["time"].update(end="20 ms", mode="transient", rtol=1e-2)
    raw["output"]["every"] = "5 ms"
    return _run(raw, "nanodomain_egta_small.toml", tmp_path_factory.mktemp("egta"))


@pytest.fixture(scope="session")
def box3d_run(tmp_path_factory):
    raw = tomllib.loads((ROOT / "tests" / "data" / "box3d_cleft.toml").read_text())
    raw["geometry"]["cells"] = [10, 10, 5]
    raw["time"]["end"] = "1 ms"
    return _run(raw, "box3d_small.toml", tmp_path_factory.mktemp("box3d"))


# the contact cases, coarsened (every Gmsh mesh size × CONTACT_RESOLUTION) and run for 10 µs:
# enough for a field on the mesh; their pictures test the cleft camera
CONTACT_CASES = ("mam_contact", "er_lysosome_contact", "pm_punctum_contact")
CONTACT_RESOLUTION = 5.0


@pytest.fixture(scope="session")
def contact_runs(tmp_path_factory):
    """{(case, variant): run directory} for the three Gmsh contacts, axisymmetric and 3D."""
    from microdomain.mesh_checks import MeshQualityWarning

    runs = {}
    for name in CONTACT_CASES:
        for variant, suffix in (("axisymmetric", ""), ("3d", "_3d")):
            raw = tomllib.loads((ROOT / "cases" / f"{name}{suffix}.toml").read_text())
            assert raw["geometry"]["variant"] == variant
            raw["geometry"]["resolution"] = CONTACT_RESOLUTION
            raw["time"].update(end="10 us")
            raw["output"]["every"] = "10 us"
            out = tmp_path_factory.mktemp(f"{name}_{variant}")
            with warnings.catch_warnings():         # the coarse meshes are poor, knowingly
                warnings.simplefilter("ignore", MeshQualityWarning)
                runs[name, variant] = _run(raw, f"{name}{suffix}_coarse.toml", out)
    return runs


@pytest.fixture(scope="session")
def crosstalk_run(tmp_path_factory):
    """cases/zn_ca_crosstalk.toml (a structured (r, z) biology case: an IP3R cluster and a ZIP7
    patch on the ER membrane) on a coarser grid, to 1 ms, when Ca²⁺ is raised over most of it."""
    raw = tomllib.loads((ROOT / "cases" / "zn_ca_crosstalk.toml").read_text())
    raw["geometry"]["spacing"].update(min="6 nm", growth=1.3)
    raw["time"].update(end="1 ms")
    raw["output"]["every"] = "0.5 ms"
    return _run(raw, "zn_ca_crosstalk_small.toml", tmp_path_factory.mktemp("crosstalk"))
