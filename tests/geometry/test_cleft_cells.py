"""The 3D contacts resolve their cleft (issue 15 item 3): at resolution 1 the default sizing puts
at least four cells across it (by size: gap / the mean tetrahedron-equivalent edge there,
microdomain/geometry/cleft_cells.py), and a sizing change changes the mesh cache key.

Default CI measures a small contact (the same cleft and sizing on a 60 nm contact, organelles and
bulk scaled down): the cleft cells depend on the size field near the cleft only. The full-size
default meshes, and the 10⁶ cells of resolution 0.5, are behind `-m slow`:
    python -m pytest -m slow tests/geometry/test_cleft_cells.py
"""

import re

import pytest

from microdomain.geometry import builders
from microdomain.geometry.cleft_cells import cells_across
from microdomain.geometry.gmsh_tools import cache_key

SMALL = {"mam_contact": dict(contact_radius="60 nm", mito_radius="120 nm", er_radius="150 nm",
                             bulk="60 nm"),
         "er_lysosome": dict(contact_radius="60 nm", lysosome_radius="120 nm", er_radius="150 nm",
                             bulk="60 nm")}


def params(builder, **kw):
    cls = builders.get(builder)
    return cls.Params.model_validate({"builder": builder, "variant": "3d", **kw})


# by size, measured: 3.99 on the small MAM, >= 4 on the small ER-lysosome contact; 4.06 on the
# full-size default MAM (slow test below). The margin over 4 is thin: asserted to 1 %.
@pytest.mark.parametrize("builder", ["mam_contact",
                                     pytest.param("er_lysosome", marks=pytest.mark.slow)])
def test_four_cells_across_the_cleft_at_resolution_1(built, builder):
    p = params(builder, **SMALL[builder])
    _, d = built(builder, variant="3d", **SMALL[builder])
    got = cells_across(d, p)
    assert got["cleft_cells"] > 1000
    assert got["across_by_size"] >= 3.96, got
    assert got["across_by_lines"] > got["across_by_size"]     # the upper count


def test_the_sizing_before_issue_15_had_fewer(built):
    """cleft_cells = 0 (what the order studies were measured on): under three across."""
    extra = dict(SMALL["mam_contact"], cleft_cells=0)
    _, d = built("mam_contact", variant="3d", **extra)
    assert cells_across(d, params("mam_contact", **extra))["across_by_size"] < 3.0


def test_a_sizing_change_changes_the_cache_key():
    base = params("mam_contact")
    keys = {cache_key("mam_contact", p) for p in
            (base, params("mam_contact", cleft_cells=4), params("mam_contact", cleft_cells=0),
             params("mam_contact", size_min="3 nm"), params("mam_contact", threads=2),
             params("mam_contact", resolution=0.5))}
    assert len(keys) == 6


def test_the_3d_default_is_five_and_the_axisymmetric_variant_unchanged():
    assert params("mam_contact").mesh_size("size_min") == pytest.approx(0.020 / 5)
    assert params("er_lysosome").mesh_size("size_min") == pytest.approx(0.015 / 5)
    assert params("mam_contact", cleft_cells=0).mesh_size("size_min") == pytest.approx(0.010)
    axi = params("mam_contact", variant="axisymmetric")
    assert axi.cleft_size() is None and axi.mesh_size("size_min") == pytest.approx(0.002)


def _tetrahedra(path) -> int:
    text = path.read_text()
    block = text[text.index("$Elements"):text.index("$EndElements")]
    return len(re.findall(r"^\d+ 4 ", block, flags=re.M))


@pytest.mark.slow
@pytest.mark.parametrize("builder", ["mam_contact", "er_lysosome"])
def test_the_default_meshes_resolve_the_cleft(built, builder):
    """The full-size defaults at resolution 1 (docs/geometry.md): ≥ 4 across, > 10⁵ cells."""
    _, d = built(builder, variant="3d")
    got = cells_across(d, params(builder))
    assert got["across_by_size"] >= 4.0 and d.n_cells > 100_000, (got, d.n_cells)


@pytest.mark.slow
def test_resolution_half_makes_a_million_cells():
    cls = builders.get("mam_contact")
    geo = cls.build(params("mam_contact", resolution=0.5))
    assert _tetrahedra(geo.path) >= 1_000_000
