"""Stochastic channels coupled to the PDE: a 2-channel Li–Rinzel cluster on the ER membrane of
a 1D box (its rates read [Ca²⁺] in the cytosolic cell at the membrane, which its own opening
raises). One seed, one event log; another seed, another; every opening and closing lands on a
step; the hazard bound holds; an interrupted run resumes the same random stream."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import microdomain as md
from microdomain.case import CaseError, case_from_dict

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from helpers import small_case  # noqa: E402

CLUSTER = {"model": "stochastic_cluster", "label": "ip3r", "surface": "er_membrane", "from": "er",
           "to": "cytosol", "params": {"channels": 2, "unitary_current": "0.15 pA", "at": "500 uM",
                                       "scheme": "li_rinzel", "ip3": "10 uM"}}


def cluster_case(seed=1, end="20 ms", **params):
    raw = small_case(fluxes=[{**CLUSTER, "params": {**CLUSTER["params"], **params}}],
                     stochastic={"seed": seed},
                     time={"end": end, "dt": {"initial": "1 us", "max": "0.5 ms"}},
                     output={"every": "5 ms"})
    raw["species"][0]["initial"]["cytosol"] = "0.3 uM"
    return case_from_dict(raw, "cluster.toml")


@pytest.fixture(scope="module")
def seed1(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "seed1"
    return md.Simulation(cluster_case(1)).run(out=out)


def test_one_seed_one_event_log_another_seed_another(seed1):
    again = md.Simulation(cluster_case(1)).run()          # in memory, the same log
    other = md.Simulation(cluster_case(4)).run()
    events = seed1.channel_events
    assert len(events) >= 4                               # the seed gives a busy cluster
    pd.testing.assert_frame_equal(events, again.channel_events, check_exact=True)
    pd.testing.assert_frame_equal(seed1.channel_counts, again.channel_counts, check_exact=True)
    assert not events.equals(other.channel_events)
    assert seed1.manifest.stochastic.seed == 1
    assert seed1.manifest.stochastic.generator == "numpy.random.Generator(PCG64)"


def test_openings_and_closings_land_on_steps_within_the_hazard_bound(seed1):
    steps = seed1.fluxes["time_ms"].unique()             # accepted steps (10 digits in the file)
    times = pd.concat([seed1.channel_events["open_ms"], seed1.channel_events["close_ms"]]).dropna()
    times = times[times > 0]
    assert len(times) >= 4
    assert all(np.min(np.abs(steps - t)) <= 1e-9 * t for t in times)
    ch = seed1.metrics.channels["ip3r"]
    assert 0 < ch.max_hazard_mismatch <= 1e-3             # [stochastic] hazard_tol (default)
    assert seed1.manifest.solver["stochastic_retakes"] >= 1


def test_cluster_events_in_metrics(seed1):
    ch = seed1.metrics.channels["ip3r"]
    ev = seed1.channel_events
    assert ch.openings == len(ev)
    assert ch.channels == 2
    assert sum(e.duration_ms for e in ch.events) <= 20.0 + 1e-9
    assert max(e.amplitude_channels for e in ch.events) <= 2
    # the open count file steps at every opening and closing after t = 0
    counts = seed1.channel_counts
    changes = len(ev[ev.open_ms > 0]) + ev.close_ms.notna().sum()
    assert len(counts) - 1 <= changes and len(counts) >= 2
    # Ca2+ moved by the cluster only while channels were open: the ER lost some
    assert seed1.metrics.fluxes["ip3r"]["Ca"].amount_amol > 0


def test_resume_continues_the_same_random_stream(seed1, tmp_path):
    polls = {"n": 0}

    def stop_after_100_steps():
        polls["n"] += 1
        return "SIGINT" if polls["n"] == 100 else None

    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        md.Simulation(cluster_case(1)).run(out=out, stop=stop_after_100_steps)
    assert md.open_run(out).status == md.Status.INTERRUPTED
    res = md.Simulation(cluster_case(1)).run(out=out, resume=True)
    assert res.status == md.Status.COMPLETED
    a, b = res.channel_events, seed1.channel_events
    assert list(a.channel) == list(b.channel)
    np.testing.assert_allclose(a[["open_ms", "close_ms"]], b[["open_ms", "close_ms"]], rtol=1e-9)
    # the per-event ledger carried through the checkpoint: the same events, their amounts to
    # the time tolerance (a resumed run takes other steps)
    a, b = res.cluster_events, seed1.cluster_events
    assert len(a) == len(b) >= 2
    np.testing.assert_allclose(a[["start_ms", "duration_ms"]], b[["start_ms", "duration_ms"]], rtol=1e-9)
    np.testing.assert_allclose(a[["released_amol", "transfer_ip3r_amol", "peak_er_membrane_uM"]],
                               b[["released_amol", "transfer_ip3r_amol", "peak_er_membrane_uM"]], rtol=1e-2)


@pytest.mark.parametrize("change, path", [
    ({"stochastic": None}, "stochastic"),
    ({"scheme": "three_state"}, "fluxes[0].params"),
    ({"rates": {"a1": "400 /s"}}, "fluxes[0].params"),
    ({"scheme": "custom", "rates": {"states": ["C", "O"], "open": ["X"],
                                    "transitions": [{"from": "C", "to": "O", "rate": "1 /ms"}]}},
     "fluxes[0].params"),
    ({"scheme": "custom", "rates": {"states": ["C", "O"], "open": ["O"],
                                    "transitions": [{"from": "C", "to": "O", "rate": "1 /ms", "ligand": "Ca"}]}},
     "fluxes[0].params"),
])
def test_bad_input_names_the_field(change, path):
    params = {k: v for k, v in change.items() if k != "stochastic"}
    raw = small_case(fluxes=[{**CLUSTER, "params": {**CLUSTER["params"], **params}}],
                     stochastic=change.get("stochastic", {"seed": 1}))
    with pytest.raises(CaseError) as err:
        case_from_dict(raw, "bad.toml")
    assert any(p.path.startswith(path) for p in err.value.problems), err.value
    assert all("Traceback" not in p.message for p in err.value.problems)


def test_info_lists_the_schemes_and_a_run_cites_them(capsys):
    from microdomain.cli import main
    from microdomain.run import citations

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "kinetic schemes" in out and "li_rinzel" in out and "two_state" in out
    assert {"LiRinzel1994", "DeYoungKeizer1992", "Vais2010", "Anderson2007"} <= set(citations(cluster_case(1)))


def test_channels_reading_outside_the_mesh_are_refused():
    flux = {**CLUSTER, "surface": "left", "from": "outside", "to": "cytosol", "outside": {"Ca": "2 mM"},
            "params": {**CLUSTER["params"], "senses": "from"}}
    raw = small_case(fluxes=[flux], stochastic={"seed": 1})
    with pytest.raises(CaseError) as err:
        md.Simulation(case_from_dict(raw, "outside.toml"))
    assert [p.path for p in err.value.problems] == ["fluxes[0].params.senses"]


@pytest.mark.parametrize("time, path", [({"mode": "steady"}, "time.mode"),
                                        ({"steady_state": 1e-6}, "time.steady_state")])
def test_a_stochastic_case_has_no_steady_state(time, path):
    raw = small_case(fluxes=[CLUSTER], stochastic={"seed": 1}, time={"end": "1 ms", **time})
    with pytest.raises(CaseError) as err:
        case_from_dict(raw, "steady.toml")
    assert [p.path for p in err.value.problems] == [path]


def test_ensemble_events_gathers_every_run_s_events(seed1, tmp_path):
    from microdomain.stochastic import ensemble_events

    other = md.Simulation(cluster_case(4)).run(out=tmp_path / "seed4")
    ev = ensemble_events([seed1.path, other.path])
    per_run = [len(seed1.metrics.channels["ip3r"].events), len(other.metrics.channels["ip3r"].events)]
    assert len(ev) == sum(per_run) and per_run[0] >= 1
    assert list(ev.groupby("seed").size().reindex([1, 4], fill_value=0)) == per_run
    first = seed1.metrics.channels["ip3r"].events[0]
    row = ev.iloc[0]
    assert (row.flux, row.start_ms, row.duration_ms, row.amplitude_channels, row.n_channels) == \
        ("ip3r", first.start_ms, first.duration_ms, first.amplitude_channels, len(first.channels))


def test_each_event_s_release_transfer_and_peaks(seed1):
    """Per event (stochastic/events.py): the releases add up to the run's, each flux's window
    amounts add up to what it moved from the first event on, no event's peak passes the run's."""
    m = seed1.metrics
    ch = m.channels["ip3r"]
    assert ch.unitary_current_pA == pytest.approx(0.15)
    ev = seed1.cluster_events
    assert len(ev) == len(ch.events) >= 2
    total = m.fluxes["ip3r"]["Ca"].amount_amol
    assert ev["released_amol"].sum() == pytest.approx(total, rel=1e-12)
    assert (ev["released_amol"] > 0).all()
    # the cluster moves nothing between events: its window amount is its release
    np.testing.assert_allclose(ev["transfer_ip3r_amol"], ev["released_amol"], rtol=1e-12)
    # windows tile the run from the first event's start to its end
    assert ev["window_ms"].sum() == pytest.approx(20.0 - ev["start_ms"].iloc[0], rel=1e-12)
    np.testing.assert_allclose(ev["start_ms"].iloc[1:], (ev["start_ms"] + ev["window_ms"]).iloc[:-1],
                               rtol=1e-12)
    assert (ev["amplitude_pA"] == 0.15 * ev["amplitude_channels"]).all()
    # the actual current: at most the nominal (the ER side depletes, the cytosol rises)
    assert (ev["peak_current_pA"] <= ev["amplitude_pA"] * (1 + 1e-9)).all()
    assert (ev["peak_current_pA"] > 0.5 * 0.15).all()
    for s, per_ion in m.surfaces.items():
        assert ev[f"peak_{s}_uM"].max() <= per_ion["Ca"].peak_uM * (1 + 1e-12)



def ip3_species_case(seed=1, ip3="10 uM", end="20 ms"):
    """cluster_case with [IP3] read from a species (uniform, nothing makes or removes it)."""
    raw = small_case(fluxes=[{**CLUSTER, "params": {**{k: v for k, v in CLUSTER["params"].items()
                                                        if k != "ip3"}, "ip3_species": "IP3"}}],
                     stochastic={"seed": seed},
                     time={"end": end, "dt": {"initial": "1 us", "max": "0.5 ms"}},
                     output={"every": "5 ms"})
    raw["species"][0]["initial"]["cytosol"] = "0.3 uM"
    raw["species"].append({"name": "IP3", "in": "cytosol", "D": "280 um**2/s", "initial": ip3})
    return case_from_dict(raw, "cluster.toml")


def test_ip3_read_from_a_species(seed1):
    """A uniform IP3 species at the fixed value gives the fixed-value run's events; none at 0."""
    res = md.Simulation(ip3_species_case(1)).run()
    a, b = res.channel_events, seed1.channel_events
    assert list(a.channel) == list(b.channel)
    np.testing.assert_allclose(a[["open_ms", "close_ms"]], b[["open_ms", "close_ms"]], rtol=1e-9)
    none = md.Simulation(ip3_species_case(1, ip3="0 uM", end="5 ms")).run()
    assert none.metrics.channels["ip3r"].openings == 0      # the m gates cannot open


def test_ip3_species_must_exist_and_not_double_the_fixed_value():
    raw = small_case(fluxes=[{**CLUSTER, "params": {**CLUSTER["params"], "ip3_species": "IP3"}}],
                     stochastic={"seed": 1})
    with pytest.raises(CaseError) as err:
        case_from_dict(raw, "cluster.toml")
    assert [p.path for p in err.value.problems] == ["fluxes[0].params"]
    assert "not both" in str(err.value)
    params = {k: v for k, v in CLUSTER["params"].items() if k != "ip3"}
    raw = small_case(fluxes=[{**CLUSTER, "params": {**params, "ip3_species": "IP4"}}],
                     stochastic={"seed": 1})
    with pytest.raises(CaseError) as err:
        md.Simulation(case_from_dict(raw, "cluster.toml"))
    assert [p.path for p in err.value.problems] == ["fluxes[0].params.ip3_species"]
    assert "'IP4'" in str(err.value)
