"""An ensemble's event distributions (sweeps/events.py): histograms whose counts are the events,
the bootstrap interval over runs (fixed seed: the same events, the same interval), and the
per-event counterparts of a sweep's metrics."""

import numpy as np
import pandas as pd
import pytest

from microdomain.sweeps import events as E


def test_histograms_count_every_value():
    edges, counts = E.histogram(np.array([1, 2, 2, 5]), integer=True)
    assert edges == [0.5, 1.5, 2.5, 3.5, 4.5, 5.5] and counts == [1, 2, 0, 0, 1]
    x = np.random.default_rng(3).exponential(size=57)
    edges, counts = E.histogram(x, integer=False)
    assert len(edges) == E.BINS + 1 and sum(counts) == 57          # the maximum is counted
    assert edges[0] == x.min() and edges[-1] == x.max()


def test_the_interval_resamples_runs_and_is_reproducible():
    values = np.array([1.0, 2.0, 3.0, 10.0, 11.0])
    runs = ["a", "a", "b", "c", "c"]
    first = E.mean_interval(values, np.array(runs), ["a", "b", "c", "d"])
    assert first == E.mean_interval(values, np.array(runs), ["a", "b", "c", "d"])
    mean, low, high = first
    assert mean == pytest.approx(5.4) and low < mean < high
    # between the extremes of a per-event mean over resampled runs: run a alone, run c alone
    assert 1.5 <= low and high <= 10.5
    assert np.isnan(E.mean_interval(values[:2], np.array(runs[:2]), ["a"])[1])


def test_summaries_of_a_toy_ensemble():
    ev = pd.DataFrame({"point": ["s0", "s0", "s2"], "amplitude_channels": [1, 2, 2],
                       "duration_ms": [0.5, 3.0, 1.0], "released_amol": [1e-3, 4e-3, 2e-3],
                       "transfer_mcu_amol": [1e-7, 2e-7, 3e-7], "open_at_start": [True, False, False],
                       "open_at_end": [False, False, True]})
    what = E.quantities({"uptake_amol": "fluxes.mcu.Ca.amount_amol",
                         "omm_peak_uM": "surfaces.omm.Ca.peak_uM", "events": "channels.ip3r.n_events"})
    assert what["uptake_amol"] == ("transfer_mcu_amol", "amol")
    assert what["omm_peak_uM"] == ("peak_omm_uM", "uM") and "events" not in what
    s = E.summarise(ev, ["s0", "s1", "s2"], what)
    assert (s["n_runs"], s["n_events"], s["n_open_at_start"], s["n_open_at_end"]) == (3, 3, 1, 1)
    assert "omm_peak_uM" not in s["quantities"]                    # no such column: left out
    for q in ("amplitude_channels", "duration_ms", "released_amol", "uptake_amol"):
        assert sum(s["quantities"][q]["counts"]) == 3
    up = s["quantities"]["uptake_amol"]
    assert up["mean"] == pytest.approx(2e-7) and up["ci95_low"] <= up["mean"] <= up["ci95_high"]
