"""3D against axisymmetric (issue 15 item 4; docs/geometry.md, "The 3D meshes against their
(r, z) twins"): one 10 nm cluster on the axis of the MAM and ER–lysosome contacts, steady
unbuffered [Ca²⁺] in the middle of the cleft at 20, 50 and 100 nm, 3D (mean of four azimuths)
against the (r, z) twin refined to convergence. Default CI pins the 3D resolution-2 rows of the
table; the slow test the whole table as microdomain.verification.twins prints it (the
"symmetric" rows: `--resolutions 2,1 --modes symmetric`)."""

import pytest

from microdomain.verification import twins

# reference (µM) and, per (variant, resolution, nonorthogonal), the difference from it in % per
# radius (20, 50, 100 nm): (mean over azimuths, worst single probe), one decimal, as
# docs/geometry.md quotes them
REFERENCE = {"mam_contact": (221.58, 136.19, 71.23), "er_lysosome": (285.96, 171.59, 84.98)}
TABLE = {
    "mam_contact": {
        ("axisymmetric", 1.0, "none"): ((0.4, -0.1, 0.2), (0.4, -0.1, 0.2)),
        ("3d", 3.0, "none"): ((0.1, 1.1, 3.4), (5.7, 2.8, 6.9)),
        ("3d", 3.0, "correct"): ((1.4, -0.2, -0.2), (4.5, -0.5, -1.2)),
        ("3d", 2.0, "none"): ((14.2, 13.9, 15.2), (16.2, 16.5, 16.2)),
        ("3d", 2.0, "correct"): ((-0.2, 0.1, 0.2), (1.6, 0.6, 0.4)),
        ("3d", 1.5, "none"): ((21.7, 23.4, 23.9), (25.9, 25.1, 25.9)),
        ("3d", 1.5, "correct"): ((1.3, 0.1, 0.1), (2.8, 0.3, 0.4)),
        ("3d", 1.0, "none"): ((3.0, 4.0, 8.0), (4.8, 5.7, 9.6)),
        ("3d", 1.0, "correct"): ((0.1, 0.1, 0.5), (-2.2, 0.3, 0.7)),
        ("3d", 0.75, "none"): ((9.1, 8.8, 7.5), (10.0, 9.6, 10.1)),
        ("3d", 0.75, "correct"): ((1.0, 0.1, 0.3), (2.9, 0.5, 0.4)),
        ("3d", 2.0, "symmetric"): ((0.6, 1.1, 2.0), (2.8, 1.4, 2.1)),
        ("3d", 1.0, "symmetric"): ((0.9, 0.4, 1.1), (2.6, 0.9, 1.3)),
        ("3d", 0.75, "symmetric"): ((1.3, 0.3, 0.7), (2.9, 0.6, 0.7)),
    },
    "er_lysosome": {
        ("axisymmetric", 1.0, "none"): ((0.2, -0.1, -1.0), (0.2, -0.1, -1.0)),
        ("3d", 3.0, "none"): ((-3.1, -4.2, 2.9), (-5.3, -6.2, 4.1)),
        ("3d", 3.0, "correct"): ((1.1, 0.1, 0.3), (1.9, 1.0, 0.8)),
        ("3d", 2.0, "none"): ((10.3, 12.8, 16.9), (13.1, 14.8, 18.2)),
        ("3d", 2.0, "correct"): ((-0.3, 0.2, 0.2), (-1.2, 0.4, 0.3)),
        ("3d", 1.5, "none"): ((26.6, 27.3, 27.8), (28.5, 30.8, 31.9)),
        ("3d", 1.5, "correct"): ((0.3, 0.1, 0.2), (1.9, 0.4, 0.3)),
        ("3d", 1.0, "none"): ((1.8, 2.8, 4.8), (2.6, 3.5, 7.1)),
        ("3d", 1.0, "correct"): ((-0.3, 0.1, 0.5), (-1.4, 0.6, 0.6)),
        ("3d", 0.75, "none"): ((8.8, 8.5, 8.1), (9.7, 9.2, 10.1)),
        ("3d", 0.75, "correct"): ((-0.2, 0.2, 0.2), (-0.6, 0.3, 0.3)),
        ("3d", 2.0, "symmetric"): ((0.7, 1.2, 2.2), (1.6, 1.5, 2.3)),
        ("3d", 1.0, "symmetric"): ((0.0, 0.5, 1.1), (1.5, 1.1, 1.2)),
    },
}
# cells of each mesh in the table (3D meshes with the 10 nm cluster)
CELLS = {
    ("mam_contact", "axisymmetric", 1.0): 4948,
    ("mam_contact", "3d", 3.0): 6885,
    ("mam_contact", "3d", 2.0): 14563,
    ("mam_contact", "3d", 1.5): 26060,
    ("mam_contact", "3d", 1.0): 64356,
    ("mam_contact", "3d", 0.75): 127085,
    ("er_lysosome", "axisymmetric", 1.0): 4329,
    ("er_lysosome", "3d", 3.0): 6801,
    ("er_lysosome", "3d", 2.0): 14567,
    ("er_lysosome", "3d", 1.5): 26572,
    ("er_lysosome", "3d", 1.0): 66901,
    ("er_lysosome", "3d", 0.75): 133337,
}


def _check(builder, ref, key):
    row = twins.compare(builder, *key, ref)
    got = (tuple(round(100 * p["rel"], 1) for p in row["probes"].values()),
           tuple(round(100 * p["worst"], 1) for p in row["probes"].values()))
    assert got == TABLE[builder][key], (builder, key, got)
    assert row["cells"] == CELLS[(builder, key[0], key[1])]
    return row


@pytest.mark.parametrize("builder", ["mam_contact", "er_lysosome"])
def test_3d_at_resolution_2_against_the_axisymmetric_twin(builder):
    ref = twins.reference_values(builder)
    assert tuple(round(ref[r], 2) for r in twins.RADII_NM) == REFERENCE[builder]
    plain = _check(builder, ref, ("3d", 2.0, "none"))
    fixed = _check(builder, ref, ("3d", 2.0, "correct"))
    # with the correction every single probe (each azimuth) is within 2 % of the twin, the
    # azimuthal mean within 0.5 %; FiPy's two-point flux alone is off by more than 10 %
    assert all(abs(p["worst"]) < 0.02 and abs(p["rel"]) < 0.005 for p in fixed["probes"].values())
    assert all(p["rel"] > 0.10 for p in plain["probes"].values())
    # the symmetric scheme (solver/symmetric_flux.py): within 3 % at every probe, but its mean
    # is 2.0–2.2 % high at 100 nm, outside the 1 % of issue 15 (docs/geometry.md)
    sym = _check(builder, ref, ("3d", 2.0, "symmetric"))
    assert all(abs(p["worst"]) < 0.03 for p in sym["probes"].values())
    assert sym["probes"][100.0]["rel"] > 0.01


@pytest.mark.slow
@pytest.mark.parametrize("builder", ["mam_contact", "er_lysosome"])
def test_the_whole_twin_table(builder):
    ref = twins.reference_values(builder)
    for key in TABLE[builder]:
        _check(builder, ref, key)
    # the reference is converged: resolution 0.125 moves no probe by 0.01 %
    finer = twins.steady_cleft_profile(builder, "axisymmetric", 0.125, "correct")
    assert all(abs(finer["c"][r][0] / ref[r] - 1) < 1e-4 for r in twins.RADII_NM)
