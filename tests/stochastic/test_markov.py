"""The Markov engine alone (no PDE), at clamped ligands: stepped exactly as along a PDE run
(run_clamped: the same plan/commit, the same landing on every opening and closing).

Tolerances: the open fraction of N independent channels over T is within 4 standard deviations
of the scheme's stationary open probability, the standard deviation computed exactly from the
scheme (KineticScheme.open_fraction_variance: the time-average's autocorrelation integral);
open- and closed-time samples pass a Kolmogorov–Smirnov test against the Colquhoun–Hawkes
distributions with p > 0.01, on fixed seeds."""

import numpy as np
import pytest
import scipy.stats

from microdomain.fluxes import FluxInputs
from microdomain.stochastic import (KineticScheme, MarkovEngine, RateLaw, Transition, build_scheme,
                                    run_clamped)

TWO = build_scheme("two_state", {"opening": "0.5 /ms", "closing": "2 /ms"})
LR = build_scheme("li_rinzel", {})
LR_LIG = {"Ca": 0.2, "IP3": 1.0}           # µM, held fixed


def open_fraction(eng, T, n):
    rows = eng.event_rows()
    return sum((T if c is None else c) - o for _, _, o, c in rows) / (n * T)


def open_times(eng):
    """Complete openings that began after t = 0 (those open at 0 are cut on the left)."""
    return np.array([c - o for _, _, o, c in eng.event_rows() if c is not None and o > 0])


def closed_times(eng):
    by = {}
    for _, ch, o, c in eng.event_rows():
        by.setdefault(ch, []).append((o, c))
    return np.array([o2 - c1 for l in by.values() for (_, c1), (o2, _) in zip(sorted(l), sorted(l)[1:])])


def first_passages(scheme, lig, which, n, seed, h=50.0):
    """n visits to the open (or closed) states, each from the entry distribution and run until
    it ends (one engine per visit, seeds seed, seed + 1, ...): dwell times without the
    censoring of a finite window (the slow h gates of Li–Rinzel give closed times of seconds)."""
    Q, pi = scheme.generator(lig), scheme.stationary(lig)
    o = np.array(scheme.conducting)
    A, B = (o, ~o) if which == "open" else (~o, o)
    entry = pi[B] @ Q[np.ix_(B, A)]
    entry = entry / entry.sum()
    starts = np.flatnonzero(A)[np.random.default_rng(seed).choice(A.sum(), size=n, p=entry)]
    ligs = [[lig]]
    out = []
    for i, s0 in enumerate(starts):
        eng = MarkovEngine([("c", scheme, 1)], seed + 1 + i)
        g = eng.groups[0]
        g.state[0] = s0
        g.opened = [0.0 if which == "open" else None]
        t = 0.0
        while bool(scheme.conducting[g.state[0]]) == (which == "open"):
            t += eng.advance(t, h, ligs)
        out.append(t)
    return np.array(out)


def test_open_fraction_variance_matches_the_two_state_closed_form():
    k, P, T = 2.5, 0.2, 40.0
    exact = 2 * P * (1 - P) / (k * T) * (1 - (1 - np.exp(-k * T)) / (k * T))
    assert TWO.open_fraction_variance({}, T) == pytest.approx(exact, rel=1e-9)


def test_two_state_open_probability_and_dwell_times():
    n, T = 5, 2000.0
    eng = run_clamped(TWO, {}, n, T, seed=7)
    P = TWO.open_probability({})
    sd = np.sqrt(TWO.open_fraction_variance({}, T) / n)
    assert P == pytest.approx(0.2, rel=1e-12)
    assert abs(open_fraction(eng, T, n) - P) < 4 * sd
    assert scipy.stats.kstest(open_times(eng), TWO.dwell_cdf({}, "open")).pvalue > 0.01
    assert scipy.stats.kstest(closed_times(eng), TWO.dwell_cdf({}, "closed")).pvalue > 0.01
    assert len(open_times(eng)) > 1000
    # and the KS test can fail: the same openings are not from a 20 % slower closing
    slow = build_scheme("two_state", {"opening": "0.5 /ms", "closing": "1.6 /ms"})
    assert scipy.stats.kstest(open_times(eng), slow.dwell_cdf({}, "open")).pvalue < 0.01


def test_li_rinzel_open_probability_is_the_deterministic_one():
    """The stationary open probability of the 64-state scheme is Li–Rinzel's m∞³n∞³h∞³."""
    p = LR_LIG
    m = p["IP3"] / (p["IP3"] + 0.13)
    n = p["Ca"] / (p["Ca"] + 0.08234)
    ah = 2e-4 * 1.049 * (p["IP3"] + 0.13) / (p["IP3"] + 0.9434)
    h = ah / (ah + 2e-4 * p["Ca"])
    assert len(LR.states) == 64
    assert LR.open_probability(p) == pytest.approx((m * n * h) ** 3, rel=1e-9)
    # docs/stochastic.md
    assert LR.open_probability(p) == pytest.approx(0.105, abs=5e-4)
    assert LR.mean_dwell(p, "open") == pytest.approx(6.21, abs=5e-3)
    assert LR.mean_dwell(p, "closed") == pytest.approx(52.8, abs=0.05)


def test_li_rinzel_channels_at_clamped_ca_and_ip3():
    n, T = 10, 2000.0
    eng = run_clamped(LR, LR_LIG, n, T, seed=3)
    P = LR.open_probability(LR_LIG)
    sd = np.sqrt(LR.open_fraction_variance(LR_LIG, T) / n)
    assert abs(open_fraction(eng, T, n) - P) < 4 * sd
    assert sd < 0.5 * P                     # the test has teeth
    ot = open_times(eng)
    assert len(ot) > 200
    assert scipy.stats.kstest(ot, LR.dwell_cdf(LR_LIG, "open")).pvalue > 0.01


def test_li_rinzel_closed_times_from_first_passages():
    closed = first_passages(LR, LR_LIG, "closed", 300, seed=5)
    cdf = LR.dwell_cdf(LR_LIG, "closed")
    assert scipy.stats.kstest(closed, cdf).pvalue > 0.01
    # the mean within 4 standard errors, the variance from the phase-type second moment
    Q, pi = LR.generator(LR_LIG), LR.stationary(LR_LIG)
    o = np.array(LR.conducting)
    entry = pi[o] @ Q[np.ix_(o, ~o)]
    entry /= entry.sum()
    inv = np.linalg.inv(Q[np.ix_(~o, ~o)])
    mean = LR.mean_dwell(LR_LIG, "closed")
    second = 2 * entry @ inv @ inv @ np.ones((~o).sum())
    assert abs(closed.mean() - mean) < 4 * np.sqrt((second - mean**2) / closed.size)


def test_time_dependent_rate_first_openings():
    """Opening at k·[Ca](t) with [Ca] rising linearly (the PDE's case: rates that change along
    the step): first-opening times follow 1 − exp(−∫k·c dt)."""
    k, c0, slope = 0.05, 0.5, 0.02            # /uM/ms, uM, uM/ms
    sch = KineticScheme("ca_two_state", ("closed", "open"), (False, True),
                        (Transition(0, 1, 1.0, RateLaw("mass_action", k, "Ca")),
                         Transition(1, 0, 1.0, RateLaw("constant", 1e-9))))
    n = 250
    eng = MarkovEngine([("c", sch, n)], seed=11)
    g = eng.groups[0]
    g.counts.append((0.0, 0))
    first = {}
    t, h = 0.0, 2.0
    lig = lambda tt: [[{"Ca": c0 + slope * tt}] * n]   # noqa: E731
    while len(first) < n:
        t += eng.advance(t, h, lig)
        for ch in np.flatnonzero(g.state == 1):
            first.setdefault(int(ch), t)
    times = np.array(list(first.values()))
    cdf = lambda x: 1 - np.exp(-k * (c0 * x + slope * x * x / 2))   # noqa: E731
    assert scipy.stats.kstest(times, cdf).pvalue > 0.01
    # a constant rate at the initial [Ca] is rejected: the ramp matters
    assert scipy.stats.kstest(times, lambda x: 1 - np.exp(-k * c0 * x)).pvalue < 0.01


def test_one_seed_one_event_log():
    a = run_clamped(TWO, {}, 3, 200.0, seed=42).event_rows()
    b = run_clamped(TWO, {}, 3, 200.0, seed=42).event_rows()
    c = run_clamped(TWO, {}, 3, 200.0, seed=43).event_rows()
    assert a == b
    assert a != c


def test_snapshot_restore_continues_the_same_stream():
    """Stopping, snapshotting and restoring into a new engine gives the uninterrupted log."""
    whole = run_clamped(TWO, {}, 2, 100.0, seed=9)
    half = run_clamped(TWO, {}, 2, 50.0, seed=9)
    snap = half.snapshot()
    eng = MarkovEngine([("clamped", TWO, 2)], seed=9)
    eng.restore(snap)
    lig = [[{}] * 2]
    t = 50.0
    while t < 100.0:
        t += eng.advance(t, min(1.0, 100.0 - t), lig)
    rows = lambda e: [(ch, round(o, 9), None if c is None else round(c, 9)) for _, ch, o, c in e.event_rows()]  # noqa: E731
    assert rows(eng) == rows(whole)


def test_de_young_keizer_stationary_open_probability_is_the_product_form():
    """With detailed balance made exact (d3 = d1·d2/d4), the subunit's stationary distribution is
    the product of its binding ratios, and the channel's open probability is x110³."""
    I, c = LR_LIG["IP3"], LR_LIG["Ca"]
    d1, d2, d4, d5 = 0.13, 1.049, 0.1445, 0.08234
    w = {}
    for i in (0, 1):
        for j in (0, 1):
            for k in (0, 1):
                w[i, j, k] = (c / d5) ** j * ((I / d1) ** i if k == 0 else
                                              (c / d4 if i == 0 else I / d1 * c / d2))
    x110 = w[1, 1, 0] / sum(w.values())
    exact = build_scheme("de_young_keizer", {"d3": f"{d1 * d2 / d4!r} uM"})
    assert len(exact.states) == 120
    assert exact.open_probability(LR_LIG) == pytest.approx(x110**3, rel=1e-9)
    # the published d3 breaks detailed balance by 0.04 % (docs/stochastic.md): the product
    # form within 1e-3
    assert d1 * d2 / (0.9434 * d4) - 1 == pytest.approx(3.6e-4, abs=5e-5)
    dyk = build_scheme("de_young_keizer", {})
    assert dyk.open_probability(LR_LIG) == pytest.approx(x110**3, rel=1e-3)
    eng = run_clamped(dyk, LR_LIG, 5, 1000.0, seed=2)
    ot = open_times(eng)
    assert len(ot) > 50
    assert scipy.stats.kstest(ot, dyk.dwell_cdf(LR_LIG, "open")).pvalue > 0.01


def test_ensemble_mean_follows_the_deterministic_li_rinzel_plugin():
    """Where the two should agree — m and n gates at equilibrium, every h gate open at t = 0,
    [Ca²⁺] and [IP3] clamped — the mean open time of the stochastic channels over [0, T] is the
    integral of the deterministic `ip3r` plugin's P = m∞³n∞³h(t)³ (its gate h relaxing from 1),
    within 4 standard errors (the spread between channels); the stationary P is rejected."""
    from microdomain.fluxes import FluxContext, registry

    lig, n, T = {"Ca": 5.0, "IP3": 1.0}, 200, 400.0
    model = registry.get("ip3r")(registry.get("ip3r").Params.model_validate(
        {"mode": "gated", "ip3": "1 uM", "unitary_current": "0.15 pA", "at": "500 uM"}),
        FluxContext(areas=np.ones(1), valence={"Ca": 2}))
    conc = {"Ca": np.array([lig["Ca"]])}
    (a, b), = model.gate_rates(FluxInputs(conc, conc, 0.0)).values()
    t = np.linspace(0.0, T, 4001)
    h = a / b + (1 - a / b) * np.exp(-b * t[:, None])
    P = np.array([float(model.open_probability(FluxInputs(conc, conc, 0.0, {"h": hi}))[0]) for hi in h])
    expected = np.trapezoid(P, t)

    # one engine per channel (independent at clamped ligands; one cluster of 200 would retake
    # every channel's step at each of their openings and closings)
    rng = np.random.default_rng(1)
    m_inf, n_inf = lig["IP3"] / (lig["IP3"] + 0.13), lig["Ca"] / (lig["Ca"] + 0.08234)
    per_channel = np.zeros(n)
    for ch in range(n):
        eng = MarkovEngine([("c", LR, 1)], seed=8 + ch)
        g = eng.groups[0]
        g.state[0] = LR.states.index(f"m{rng.binomial(3, m_inf)}n{rng.binomial(3, n_inf)}h3")
        g.opened[0] = 0.0 if LR.conducting[g.state[0]] else None
        now = 0.0
        while now < T:
            now += eng.advance(now, min(20.0, T - now), [[lig]])
        per_channel[ch] = sum((T if c is None else c) - o for _, _, o, c in eng.event_rows())
    se = per_channel.std(ddof=1) / np.sqrt(n)
    assert abs(per_channel.mean() - expected) < 4 * se
    assert abs(per_channel.mean() - LR.open_probability(lig) * T) > 4 * se


def test_a_custom_scheme_is_data_like_the_presets():
    custom = build_scheme("custom", {"states": ["shut", "open"], "open": ["open"], "transitions": [
        {"from": "shut", "to": "open", "rate": "0.5 /ms"}, {"from": "open", "to": "shut", "rate": "2 /ms"}]})
    np.testing.assert_array_equal(custom.generator({}), TWO.generator({}))
    assert custom.conducting == TWO.conducting
    ca = build_scheme("custom", {"states": ["C", "O"], "open": ["O"], "transitions": [
        {"from": "C", "to": "O", "rate": "2 /uM/s", "ligand": "Ca"},
        {"from": "O", "to": "C", "rate": "1 /ms", "ligand": "IP3", "law": "ratio", "K1": "1 uM", "K2": "3 uM"}]})
    # opening 0.002/ms/µM × 500 µM = 1/ms; closing 1/ms × (1 + 1)/(1 + 3) = 0.5/ms
    assert ca.open_probability({"Ca": 500.0, "IP3": 1.0}) == pytest.approx(2 / 3, rel=1e-12)


def test_the_docs_toml_examples_read():
    """docs/stochastic.md's TOML blocks are valid, and its custom scheme builds."""
    import re
    import tomllib
    from pathlib import Path

    from microdomain.fluxes import registry

    text = (Path(__file__).resolve().parents[2] / "docs" / "stochastic.md").read_text()
    blocks = [tomllib.loads(b) for b in re.findall(r"```toml\n(.*?)```", text, re.S)]
    assert len(blocks) == 2
    params = registry.get("stochastic_cluster").Params.model_validate(blocks[0]["fluxes"][0]["params"])
    assert params.scheme == "li_rinzel" and blocks[0]["stochastic"]["seed"] == 10
    custom = registry.get("stochastic_cluster").Params.model_validate(blocks[1]["params"])
    assert build_scheme(custom.scheme, custom.rates).states == ("C", "O")


def test_the_documented_rate_constants_are_the_defaults():
    """docs/stochastic.md's table (De Young & Keizer 1992, Table 1), read with their units."""
    from microdomain.stochastic.schemes import DeYoungKeizerParams

    given = {"a1": "400 /uM/s", "a2": "0.2 /uM/s", "a3": "400 /uM/s", "a4": "0.2 /uM/s",
             "a5": "20 /uM/s", "d1": "0.13 uM", "d2": "1.049 uM", "d3": "0.9434 uM",
             "d4": "0.1445 uM", "d5": "0.08234 uM"}
    assert DeYoungKeizerParams().model_dump() == pytest.approx(DeYoungKeizerParams(**given).model_dump(),
                                                               rel=1e-12)
