"""`microdomain mesh CASE --png`: builds and checks the mesh, prints its measures, draws it."""

import numpy as np
import pytest

from microdomain.cli import main

CASE = """
[case]
name = "{name}"
[geometry]
builder = "{builder}"
variant = "{variant}"
resolution = {resolution}
[[species]]
ion = "Ca"
D = "220 um**2/s"
initial = "0.1 uM"
[time]
end = "1 ms"
"""


@pytest.mark.parametrize("builder,variant,resolution", [("pm_punctum", "axisymmetric", 2.0),
                                                        ("mam_contact", "3d", 3.0)])
def test_mesh_command_prints_measures_and_draws(tmp_path, capsys, builder, variant, resolution):
    import matplotlib.image as mpimg

    case = tmp_path / "case.toml"
    case.write_text(CASE.format(name=f"{builder}_{variant}", builder=builder, variant=variant,
                                resolution=resolution))
    png = tmp_path / "mesh.png"
    assert main(["mesh", str(case), "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert "cells" in out and "cleft" in out and "compartment er" in out
    img = mpimg.imread(png)[..., :3]
    assert img.shape[0] >= 600 and img.shape[1] >= 1200
    colours = {tuple(c) for c in (img.reshape(-1, 3) * 255).round().astype(int)[::7]}
    er_green = (0x4d, 0xaf, 0x4a)
    assert any(np.abs(np.subtract(c, er_green)).max() <= 40 for c in colours)   # the ER is drawn
    assert len(colours) > 20


def test_mesh_command_reports_a_bad_case(tmp_path, capsys):
    case = tmp_path / "case.toml"
    case.write_text(CASE.format(name="x", builder="mam_contact", variant="3d", resolution=1.0)
                    .replace('variant = "3d"', 'variant = "3d"\ngap = "2 nm"'))
    assert main(["mesh", str(case)]) == 2
    assert "between 5 nm and 100 nm" in capsys.readouterr().err
