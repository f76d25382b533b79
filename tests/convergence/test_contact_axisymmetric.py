"""The contact MMS (verification/contact_studies.py) on the (r, z) variant of the MAM contact:
its Frontal-Delaunay triangles are non-orthogonal too, and the default two-point flux is first
order there as on the 3D tetrahedra; the non-orthogonal correction makes it second order
(docs/geometry.md, "Accuracy on the 3D meshes", quotes these orders). Resolutions 2, 1, 0.5;
h = cells^(−1/2)."""

import pytest

from microdomain.verification.contact_studies import contact_errors
from microdomain.verification.order import observed_order

LEVELS = (2.0, 1.0, 0.5)
EXPECTED = {"none": (0.98, 0.77), "correct": (2.17, 1.78)}     # c: (L2, max)


@pytest.mark.parametrize("mode", ["none", "correct"])
def test_mam_contact_axisymmetric_orders(mode):
    runs = [contact_errors("mam_contact", r, mode, "axisymmetric") for r in LEVELS]
    assert [r["cells"] for r in runs] == [1538, 4950, 17663]
    hs = [r["cells"] ** -0.5 for r in runs]
    got = tuple(round(observed_order(hs, [r[norm][0] for r in runs]), 2) for norm in ("L2", "max"))
    assert got == EXPECTED[mode], got
