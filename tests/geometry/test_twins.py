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
        ("3d", 3.0, "correct"): ((1.4, -0.0, 0.1), (4.5, 0.8, -1.0)),
        ("3d", 2.0, "none"): ((14.2, 13.9, 15.2), (16.2, 16.5, 16.2)),
        ("3d", 2.0, "correct"): ((-0.1, 0.3, 0.4), (1.8, 0.8, 0.6)),
        ("3d", 1.5, "none"): ((21.7, 23.4, 23.9), (25.9, 25.1, 25.9)),
        ("3d", 1.5, "correct"): ((1.5, 0.2, 0.4), (3.0, 0.3, 0.6)),
        ("3d", 1.0, "none"): ((3.0, 4.0, 8.0), (4.8, 5.7, 9.6)),
        ("3d", 1.0, "correct"): ((0.0, -0.0, 0.5), (-2.3, 0.3, 0.8)),
        ("3d", 0.75, "none"): ((9.1, 8.8, 7.5), (10.0, 9.6, 10.1)),
        ("3d", 0.75, "correct"): ((1.2, 0.3, 0.5), (3.1, 0.7, 0.5)),
        ("3d", 2.0, "symmetric"): ((0.6, 1.1, 2.0), (2.8, 1.4, 2.1)),
        ("3d", 1.0, "symmetric"): ((0.9, 0.4, 1.1), (2.6, 0.9, 1.3)),
        ("3d", 0.75, "symmetric"): ((1.3, 0.3, 0.7), (2.9, 0.6, 0.7)),
    },
    "er_lysosome": {
        ("axisymmetric", 1.0, "none"): ((0.2, -0.1, -1.0), (0.2, -0.1, -1.0)),
        ("3d", 3.0, "none"): ((-3.1, -4.2, 2.9), (-5.3, -6.2, 4.1)),
        ("3d", 3.0, "correct"): ((1.1, 0.2, 0.4), (1.8, 1.2, 0.6)),
        ("3d", 2.0, "none"): ((10.3, 12.8, 16.9), (13.1, 14.8, 18.2)),
        ("3d", 2.0, "correct"): ((-0.1, 0.4, 0.5), (-1.0, 0.7, 0.6)),
        ("3d", 1.5, "none"): ((26.6, 27.3, 27.8), (28.5, 30.8, 31.9)),
        ("3d", 1.5, "correct"): ((0.4, 0.3, 0.5), (2.0, 0.6, 0.6)),
        ("3d", 1.0, "none"): ((1.8, 2.8, 4.8), (2.6, 3.5, 7.1)),
        ("3d", 1.0, "correct"): ((-0.2, 0.1, 0.6), (-1.4, -0.5, 0.7)),
        ("3d", 0.75, "none"): ((8.8, 8.5, 8.1), (9.7, 9.2, 10.1)),
        ("3d", 0.75, "correct"): ((0.1, 0.4, 0.4), (0.6, 0.5, 0.5)),
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


# The same comparison on the 3D meshes as a case file makes them by default (the finer cleft,
# `twins --default-sizing`), per (resolution, nonorthogonal): the rows the 1 % point-source test
# of issue 15 is judged on. "auto", the default, is "correct" on these meshes. Cells as above.
DEFAULT_SIZING = {
    "mam_contact": {
        (3.0, "none"): ((31.0, 34.0, 26.4), (34.8, 35.8, 32.7)),
        (3.0, "auto"): ((1.4, 0.5, 0.7), (6.4, 0.7, 0.8)),
        (2.0, "none"): ((12.5, 16.4, 19.5), (14.6, 17.4, 19.9)),
        (2.0, "auto"): ((0.9, 0.5, 0.4), (2.1, 0.7, 0.5)),
        (1.0, "none"): ((5.0, 5.3, 6.5), (5.8, 5.5, 7.3)),
        (1.0, "auto"): ((0.1, 0.1, 0.2), (0.3, 0.2, 0.3)),
    },
    "er_lysosome": {
        (3.0, "none"): ((29.0, 33.0, 33.4), (30.9, 37.7, 38.0)),
        (3.0, "auto"): ((0.0, 0.3, 0.7), (-0.7, 0.4, 0.7)),
        (2.0, "none"): ((14.1, 15.9, 17.2), (15.9, 18.1, 18.2)),
        (2.0, "auto"): ((0.2, 0.2, 0.3), (0.5, 0.4, 0.4)),
        (1.0, "none"): ((5.3, 5.9, 6.7), (6.0, 6.6, 7.2)),
        (1.0, "auto"): ((0.0, 0.2, 0.3), (-0.4, 0.2, 0.3)),
    },
}
DEFAULT_SIZING_CELLS = {("mam_contact", 3.0): 15610, ("mam_contact", 2.0): 39881,
                        ("mam_contact", 1.0): 225960, ("er_lysosome", 3.0): 21863,
                        ("er_lysosome", 2.0): 59683, ("er_lysosome", 1.0): 344381}


def _check(builder, ref, key, default_sizing=False):
    row = twins.compare(builder, *key, ref, default_sizing=default_sizing)
    got = (tuple(round(100 * p["rel"], 1) for p in row["probes"].values()),
           tuple(round(100 * p["worst"], 1) for p in row["probes"].values()))
    if default_sizing:
        assert got == DEFAULT_SIZING[builder][key[1:]], (builder, key, got)
        assert row["cells"] == DEFAULT_SIZING_CELLS[(builder, key[1])]
    else:
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
    # azimuthal mean within 0.6 %; FiPy's two-point flux alone is off by more than 10 %
    assert all(abs(p["worst"]) < 0.02 and abs(p["rel"]) < 0.006 for p in fixed["probes"].values())
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
    for res, mode in DEFAULT_SIZING[builder]:
        _check(builder, ref, ("3d", res, mode), default_sizing=True)
    # the reference is converged: resolution 0.125 moves no probe by 0.01 %
    finer = twins.steady_cleft_profile(builder, "axisymmetric", 0.125, "correct")
    assert all(abs(finer["c"][r][0] / ref[r] - 1) < 1e-4 for r in twins.RADII_NM)


# Issue 15's point-source test at the settings a user gets: the builder's default resolution (1),
# the default sizing and the default scheme ("auto"). Every single probe (each azimuth) at 20,
# 50 and 100 nm is within 1 % of the converged twin (measured: within 0.3 % on the MAM, 0.4 % on
# the ER–lysosome contact); with the two-point flux alone 5–7 % off. 50–140 CPU s per mesh.
@pytest.mark.slow
@pytest.mark.parametrize("builder", ["mam_contact", "er_lysosome"])
def test_the_default_3d_mesh_meets_the_point_source_test(builder):
    ref = twins.reference_values(builder)
    row = _check(builder, ref, ("3d", 1.0, "auto"), default_sizing=True)
    assert all(abs(p["worst"]) < 0.004 for p in row["probes"].values())   # docs: 0.4 %; issue: 1 %
    plain = _check(builder, ref, ("3d", 1.0, "none"), default_sizing=True)
    assert all(abs(p["rel"]) > 0.02 for p in plain["probes"].values())


# The default sizing at resolution 2 (default CI): the shipped 3D cases' resolution. With the
# default scheme the azimuthal means are within 1 % (single probes next to the cluster up to 2.1
# %); the two-point flux alone is more than 10 % off.
@pytest.mark.parametrize("builder", ["mam_contact", "er_lysosome"])
def test_the_default_sizing_at_resolution_2(builder):
    ref = twins.reference_values(builder)
    row = _check(builder, ref, ("3d", 2.0, "auto"), default_sizing=True)
    assert all(abs(p["rel"]) < 0.01 and abs(p["worst"]) < 0.025 for p in row["probes"].values())
    plain = _check(builder, ref, ("3d", 2.0, "none"), default_sizing=True)
    assert all(p["rel"] > 0.10 for p in plain["probes"].values())
