"""cases/mam_gap_sweep_exclusion.toml (docs/cases.md): the gap sweep with the IP3R exclusion rule.
Default CI runs the two points either side of ip3r_height (15 and 20 nm, the sweep's own mesh and
times, ~6 s CPU); `-m slow` runs the whole sweep. Both assert the table in docs/cases.md."""

import pytest

import microdomain as md

from tests.helpers import ROOT

SWEEP = ROOT / "cases" / "mam_gap_sweep_exclusion.toml"
VALUES = '["5 nm", "10 nm", "15 nm", "20 nm", "30 nm", "50 nm"]'
# docs/cases.md: gap (nm) → OMM contact peak (µM), released (amol), MCU uptake (amol), fraction
TABLE = {5: (22.2, 0.0204, 2.81e-6, 1.38e-4),
         10: (23.6, 0.0199, 2.78e-6, 1.40e-4),
         15: (24.3, 0.0197, 2.92e-6, 1.48e-4),
         20: (69.9, 0.0084, 1.62e-6, 1.92e-4),
         30: (45.6, 0.0086, 0.98e-6, 1.14e-4),
         50: (24.9, 0.0088, 0.39e-6, 0.45e-4)}


def sweep(tmp_path, values):
    spec = SWEEP.read_text()
    assert VALUES in spec
    spec = spec.replace(VALUES, values).replace('case = "mam_transfer.toml"',
                                                f'case = "{ROOT / "cases" / "mam_transfer.toml"}"')
    path = tmp_path / "sweep.toml"
    path.write_text(spec)
    table = md.sweep(path, tmp_path / "runs", jobs=0).table
    return {int(round(g)): row for g, (_, row) in zip(table["geometry.gap_nm"], table.iterrows())}


def check(rows):
    for gap, row in rows.items():
        peak, released, uptake, fraction = TABLE[gap]
        assert row["omm_contact_peak_uM"] == pytest.approx(peak, abs=0.05), gap
        assert row["released_amol"] == pytest.approx(released, abs=5e-5), gap
        assert row["matrix_uptake_amol"] == pytest.approx(uptake, abs=5e-9), gap
        assert row["transfer_fraction"] == pytest.approx(fraction, abs=5e-7), gap


def test_either_side_of_the_ip3r_height(tmp_path):
    rows = sweep(tmp_path, '["15 nm", "20 nm"]')
    check(rows)
    # docs/cases.md: the fraction and the OMM hotspot peak once the cluster fits (20 nm) …
    assert rows[20]["transfer_fraction"] > rows[15]["transfer_fraction"]
    assert rows[20]["omm_contact_peak_uM"] > 2 * rows[15]["omm_contact_peak_uM"]
    # … but the displaced cluster releases more and the matrix takes up more
    assert rows[15]["released_amol"] > 2 * rows[20]["released_amol"]
    assert rows[15]["matrix_uptake_amol"] > rows[20]["matrix_uptake_amol"]


@pytest.mark.slow
def test_the_whole_sweep(tmp_path):
    rows = sweep(tmp_path, VALUES)
    check(rows)
    fractions = {g: r["transfer_fraction"] for g, r in rows.items()}
    assert max(fractions, key=fractions.get) == 20                 # the fraction's optimum
    uptake = {g: r["matrix_uptake_amol"] for g, r in rows.items()}
    assert max(uptake, key=uptake.get) == 15                       # uptake's: a displaced cluster
