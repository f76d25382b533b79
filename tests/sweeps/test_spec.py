"""Sweep files: designs expand as documented (grid, zip, samples, seeds), values become numbers
with their units in the column names, and every bad sweep file is exit 2 naming the field —
before anything runs. Nothing here runs a case."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from microdomain import cli
from microdomain.case import CaseError
from microdomain.sweeps import plan
from microdomain.sweeps.spec import column_numbers, unit_tag

from tests.sweeps.small import METRICS, write_sweep


def run_cli(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(map(str, args)))
    return code, out.getvalue(), err.getvalue()


def test_a_grid_is_every_combination_with_numbers_and_units_in_the_columns(tmp_path):
    p = plan(write_sweep(tmp_path, {"grid": {"buffers.B.total": ["50 uM", "0.1 mM"],
                                              "fluxes.ch.params.channels": [1, 2, 3]}}))
    assert [x.column for x in p.parameters] == ["buffers.B.total_uM", "fluxes.ch.params.channels"]
    assert [(pt.values["buffers.B.total_uM"], pt.values["fluxes.ch.params.channels"]) for pt in p.points] \
        == [(50.0, 1), (50.0, 2), (50.0, 3), (100.0, 1), (100.0, 2), (100.0, 3)]
    assert p.points[0].label == "total_50uM__channels_1"
    assert p.points[4].case.buffers[0].total == 100.0 and p.points[4].case.flux_params[0].channels == 2
    assert len({pt.case.sha256 for pt in p.points}) == 6


def test_zipped_lists_go_together(tmp_path):
    p = plan(write_sweep(tmp_path, {"zip": {"buffers.B.total": ["50 uM", "100 uM"],
                                             "time.end": ["2 ms", "3 ms"]}}))
    assert [(pt.case.buffers[0].total, pt.case.time.end) for pt in p.points] == [(50.0, 2.0), (100.0, 3.0)]


def test_one_parameter_keeps_the_labels_of_earlier_sweeps(tmp_path):
    p = plan(write_sweep(tmp_path, {"parameter": "buffers.B.total", "values": ["50 uM", "100 uM"]}))
    assert [pt.label for pt in p.points] == ["total_50uM", "total_100uM"]


@pytest.mark.parametrize("method", ["latin-hypercube", "random"])
def test_a_sampled_design_is_seeded_in_range_and_in_the_unit_of_low(tmp_path, method):
    sample = {"method": method, "points": 8, "seed": 3,
              "ranges": {"buffers.B.total": ["10 uM", "0.5 mM"],
                         "species.Ca.D": {"low": "100 um**2/s", "high": "300 um**2/s",
                                                  "scale": "log"}}}
    p1 = plan(write_sweep(tmp_path, {"sample": sample}))
    p2 = plan(write_sweep(tmp_path, {"sample": sample}))
    total = np.array([pt.values["buffers.B.total_uM"] for pt in p1.points])
    D = np.array([pt.values["species.Ca.D_um2_per_s"] for pt in p1.points])
    assert [pt.label for pt in p1.points] == [f"sample_{i:04d}" for i in range(8)]
    assert total.tolist() == [pt.values["buffers.B.total_uM"] for pt in p2.points]   # seeded
    assert ((10 <= total) & (total <= 500)).all() and ((100 <= D) & (D <= 300)).all()
    assert p1.points[0].case.buffers[0].total == pytest.approx(total[0])           # µM inside
    if method == "latin-hypercube":       # one sample in each eighth of each range
        assert sorted(np.floor((total - 10) / 490 * 8).astype(int)) == list(range(8))
        assert sorted(np.floor(np.log(D / 100) / np.log(3) * 8).astype(int)) == list(range(8))


def test_seeds_repeat_every_point_and_set_the_seed_parameter(tmp_path):
    # a deterministic case has no seed; `channels` stands in for one here (docs/sweeps.md)
    p = plan(write_sweep(tmp_path, {"parameter": "buffers.B.total", "values": ["50 uM", "100 uM"],
                                    "seeds": 3, "seed_parameter": "fluxes.ch.params.channels"}))
    assert [pt.label for pt in p.points][:4] == ["total_50uM__seed_0", "total_50uM__seed_1",
                                                 "total_50uM__seed_2", "total_100uM__seed_0"]
    assert [pt.case.flux_params[0].channels for pt in p.points] == [0, 1, 2, 0, 1, 2]
    assert p.columns == ["buffers.B.total_uM", "seed"]
    alone = plan(write_sweep(tmp_path, {"seeds": 2, "seed_parameter": "fluxes.ch.params.channels"}))
    assert [pt.label for pt in alone.points] == ["seed_0", "seed_1"]


def test_column_numbers():
    param, numbers = column_numbers("g", ["5 nm", "0.02 um", 0])
    assert param == column_numbers("g", ["5 nm"])[0] and numbers == pytest.approx([5.0, 20.0, 0.0])
    assert column_numbers("g", ["5 nm"])[0].column == "g_nm"
    assert column_numbers("p", ["egta", "bapta"])[1] == ["egta", "bapta"]
    assert column_numbers("n", [1, 2])[0].column == "n"
    assert unit_tag("um**2/s") == "um2_per_s" and unit_tag("/uM/s") == "per_uM_per_s"


# ------------------------------------------------------------------- bad sweep files --

BAD = [
    ({"grid": {"buffers.B.total": ["50 uM"]}, "parameter": "time.end", "values": ["1 ms"]},
     "sweep.grid", "one design per sweep"),
    ({"metrics": dict(METRICS)}, "sweep", "no design"),
    ({"parameter": "time.end"}, "sweep.values", "go together"),
    ({"zip": {"time.end": ["1 ms", "2 ms"], "buffers.B.total": ["1 uM"]}},
     "sweep.zip.buffers.B.total", "1 values, but 'time.end' has 2"),
    ({"sample": {"points": 4, "ranges": {"time.end": ["2 ms", "1 ms"]}}},
     "sweep.sample.ranges.time.end", "low must be below high"),
    ({"sample": {"points": 4, "ranges": {"time.end": ["1 ms", "2 nm"]}}},
     "sweep.sample.ranges.time.end", "not of the same kind"),
    ({"sample": {"points": 4, "ranges": {"time.end": {"low": "0 ms", "high": "2 ms", "scale": "log"}}}},
     "sweep.sample.ranges.time.end", "positive low bound"),
    ({"sample": {"points": 0, "ranges": {"time.end": ["1 ms", "2 ms"]}}},
     "sweep.sample.points", "greater than or equal to 1"),
    ({"sample": {"points": 2, "method": "sobol", "ranges": {"time.end": ["1 ms", "2 ms"]}}},
     "sweep.sample.method", "latin-hypercube"),
    ({"grid": {"time.end": ["1 ms"]}, "colour": 1}, "sweep.colour", "Extra inputs"),
    ({"grid": {"time.end": ["1 ms"]}, "seeds": 0}, "sweep.seeds", "greater than or equal to 1"),
    ({"grid": {"time.end": ["1 ms"]}, "overrides": {"time.end": "3 ms"}},
     "sweep.overrides.time.end", "also swept"),
    ({"parameter": "buffers.B.total", "values": ["2 parsec"]},
     "total_2parsec: buffers.B.total", "is a length, but a concentration is needed"),
    ({"grid": {"buffers.X.total": ["1 uM", "2 uM"]}}, "total_1uM (and 1 more point): buffers.X",
     "no entry named 'X'"),
    ({"grid": {"time.end": ["1 ms"]}, "metrics": {"p": "compartments.cytosol.Ca.peak"}},
     "sweep.metrics.p", "no key 'peak'"),
    ({"grid": {"time.end": ["1 ms"]}, "metrics": {"p": "compartments.cytosl.Ca.peak_uM"}},
     "sweep.metrics.p", "the case has no compartment 'cytosl'; compartments: cytosol, er"),
    ({"grid": {"time.end": ["1 ms"]}, "metrics": {"p": "fluxes.chan.Ca.amount_amol"}},
     "sweep.metrics.p", "the case has no flux 'chan'; fluxs: ch"),
    ({"grid": {"time.end": ["1 ms"]}, "metrics": {"p": "compartments.cytosol.Zn.peak_uM"}},
     "sweep.metrics.p", "no species 'Zn'"),
    ({"grid": {"time.end": ["1 ms"]}, "ratios": {"r": ["cyt_peak_uM", "nothing"]}},
     "sweep.ratios.r", "not a metrics column"),
    ({"grid": {"time.end": ["1 ms"]}, "seeds": 2}, "sweep.seeds",
     "sets 'stochastic.seed' in every point's case, but the case has no 'stochastic.seed'"),
    ({"grid": {"time.end": ["1 ms"]}, "case": "missing.toml"}, "sweep.case", "cannot read the file"),
]


@pytest.mark.parametrize("sweep, field, message", BAD, ids=[b[1] + ":" + b[2][:20] for b in BAD])
def test_a_bad_sweep_file_is_exit_2_naming_the_field(tmp_path, monkeypatch, sweep, field, message):
    monkeypatch.setattr("microdomain.sweeps.engine.sweep", lambda *a, **k: pytest.fail("it ran"))
    path = write_sweep(tmp_path, sweep)
    code, _, err = run_cli("sweep", path, "--out", tmp_path / "out", "--jobs", "0")
    assert code == 2, err
    assert f": {field}" in err and message in err, err
    assert not (tmp_path / "out").exists()
    with pytest.raises(CaseError):
        plan(path)


def test_validate_checks_a_sweep_and_builds_each_point_once(tmp_path, monkeypatch):
    built = []
    monkeypatch.setattr(cli, "_check_model", lambda case: built.append(case.sha256))
    path = write_sweep(tmp_path, {"grid": {"time.end": ["1 ms", "2 ms"]}, "seeds": 3,
                                  "seed_parameter": "fluxes.ch.params.channels"})
    code, out, err = run_cli("validate", path)
    assert code == 0, err
    assert "6 points: a grid of 2 time.end, each with seeds 0…2" in out
    assert len(built) == 2            # one model per design point: seeds share it


def test_a_huge_grid_is_refused_before_it_is_expanded(tmp_path):
    path = write_sweep(tmp_path, {"grid": {"time.end": [f"{i + 1} ms" for i in range(400)],
                                           "buffers.B.total": [f"{i + 1} uM" for i in range(400)]}})
    with pytest.raises(CaseError, match="160000 points; a sweep is limited to 100000"):
        plan(path)
