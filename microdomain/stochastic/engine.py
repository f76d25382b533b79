"""Channels as individuals: the exact integrated-hazard method along the PDE's steps.

Each channel carries its state, a unit-exponential threshold E and a uniform u (drawn when it
entered that state) and the hazard Λ accumulated since. Over a step [t0, t0 + h] the exit
rate of a channel's state is taken linear in time between its values at the two ends (the
ligands at the step's start and end: trapezoidal quadrature of the hazard along the solved
trajectory). The channel leaves its state when Λ reaches E, to the target whose share of the
rates at that instant covers u — the next-reaction method for time-dependent propensities
(Gillespie 1977; Anderson 2007), exact for the rates as interpolated.

A step is first solved with the channels as they were; `plan` then walks every channel along
it. Transitions that do not change what a channel conducts happen inside the step, at their
crossing times. One that does (an opening or a closing) must not be smeared over the step: the
PDE step is retaken to land on it (`Plan.land`), and it fires at the end of a step whose
hazard meets the threshold to within `hazard_tol` (absolute, in units of the unit-exponential
threshold) — the stated bound, logged per transition (`mismatch`) and tested. A step already
at dt.min fires there (its mismatch is logged too).

Random numbers: one numpy Generator (PCG64) for the run, seeded from the case. Draws are
taken in a fixed order (per channel, on demand, queued until used), so one seed gives one
event log on one machine; `snapshot`/`restore` carry the generator's state, the queues and the
logs through a checkpoint.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from .schemes import KineticScheme

GENERATOR = "numpy.random.Generator(PCG64)"


@dataclass
class Group:
    """The channels of one cluster (one flux binding)."""

    name: str
    scheme: KineticScheme
    state: np.ndarray                       # per channel
    hazard: np.ndarray                      # Λ since the channel entered its state
    queue: list[list[tuple[float, float]]]  # per channel: (E, u) drawn, not yet used
    opened: list[float | None]              # per channel: when its current opening began
    events: list[tuple[int, float, float]] = field(default_factory=list)   # (channel, open, close)
    counts: list[tuple[float, int]] = field(default_factory=list)          # (t, channels open)
    mismatch: float = 0.0                   # the largest |Λ − E| at a fired transition

    @property
    def n_open(self) -> int:
        return int(sum(self.scheme.conducting[s] for s in self.state))


@dataclass
class Plan:
    land: float | None                      # retake the step to end here; nothing fired
    fired: dict                             # group → channel → [(t, from, to, mismatch)]
    hazard: dict                            # group → Λ per channel at the step's end


class MarkovEngine:
    def __init__(self, groups: list[tuple[str, KineticScheme, int]], seed: int,
                 hazard_tol: float = 1e-3):
        self.seed = int(seed)
        self.hazard_tol = float(hazard_tol)
        self.rng = np.random.Generator(np.random.PCG64(self.seed))
        self.groups = [Group(name, scheme, np.zeros(n, int), np.zeros(n), [[] for _ in range(n)],
                             [None] * n) for name, scheme, n in groups]
        self.pending_stop: float | None = None  # a landing time asked for and not yet reached

    # --------------------------------------------------------------------- the draws --

    def _peek(self, g: Group, ch: int, k: int) -> tuple[float, float]:
        q = g.queue[ch]
        while len(q) <= k:
            q.append((float(self.rng.exponential()), float(self.rng.random())))
        return q[k]

    def start(self, t: float, ligands: list[list[dict]]) -> None:
        """Each channel's state drawn from its scheme's stationary distribution at the initial
        ligands (ligands[group][channel])."""
        for g, lig in zip(self.groups, ligands):
            for ch in range(len(g.state)):
                pi = np.clip(g.scheme.stationary(lig[ch]), 0.0, None)
                g.state[ch] = int(np.searchsorted(np.cumsum(pi) / pi.sum(), self.rng.random()))
                g.state[ch] = min(g.state[ch], len(pi) - 1)
                g.opened[ch] = t if g.scheme.conducting[g.state[ch]] else None
            g.hazard[:] = 0.0
            g.counts.append((t, g.n_open))

    # ----------------------------------------------------------------------- a step --

    def plan(self, t0: float, h: float, lig0: list[list[dict]], lig1: list[list[dict]],
             final: bool = False) -> Plan:
        """Walk every channel along [t0, t0 + h]; `final`: the step cannot be shortened (it is
        at dt.min), so a conducting transition inside it fires at its end."""
        tol = self.hazard_tol
        land = None
        fired, hazards = {}, {}
        for gi, g in enumerate(self.groups):
            sch = g.scheme
            fired[gi], hazards[gi] = {}, g.hazard.copy()
            for ch in range(len(g.state)):
                state, lam, s, k, path = int(g.state[ch]), float(g.hazard[ch]), 0.0, 0, []
                while True:
                    r0 = sch.exit_rates(state, lig0[gi][ch])
                    r1 = sch.exit_rates(state, lig1[gi][ch])
                    a0, a1 = float(r0.sum()), float(r1.sum())
                    E, u = self._peek(g, ch, k)
                    need = E - lam
                    rest = h * (a0 * (1 - s) + (a1 - a0) * (1 - s * s) / 2)
                    if rest < need - tol:
                        lam += rest
                        break
                    if rest <= need + tol:
                        x, miss = 1.0, rest - need
                    else:
                        x, miss = _crossing(h, a0, a1, s, need), 0.0
                    r = np.clip(r0 + (r1 - r0) * x, 0.0, None)
                    c = np.cumsum(r)
                    j = min(int(np.searchsorted(c / c[-1], u)), len(c) - 1)
                    target = int(sch.targets(state)[j])
                    switches = sch.conducting[state] != sch.conducting[target]
                    if switches and x < 1.0:
                        if not final:
                            when = t0 + x * h
                            land = when if land is None else min(land, when)
                            break
                        x, miss = 1.0, rest - need
                    path.append((t0 + x * h, state, target, miss))
                    state, lam, s, k = target, 0.0, x, k + 1
                    if x >= 1.0:
                        break
                fired[gi][ch] = path
                hazards[gi][ch] = lam
        return Plan(land, fired, hazards)

    def advance(self, t: float, h: float, ligands) -> float:
        """One step of at most h from t without a PDE: shortened to land on the first opening
        or closing inside it (as the Stepper does), then committed; returns the step taken.
        `ligands` per group and channel, or a function of time giving them."""
        at = ligands if callable(ligands) else (lambda _t: ligands)
        plan = self.plan(t, h, at(t), at(t + h))
        while plan.land is not None:
            h = plan.land - t
            plan = self.plan(t, h, at(t), at(t + h))
        self.commit(plan)
        return h

    def commit(self, plan: Plan) -> bool:
        """Apply a plan's transitions; True when what some channel conducts changed."""
        switched = False
        for gi, g in enumerate(self.groups):
            sch = g.scheme
            changed = False
            for ch, path in plan.fired[gi].items():
                for t, old, new, miss in path:
                    g.queue[ch].pop(0)
                    g.state[ch] = new
                    g.mismatch = max(g.mismatch, abs(miss))
                    if sch.conducting[new] and not sch.conducting[old]:
                        g.opened[ch] = t
                        changed = True
                    elif sch.conducting[old] and not sch.conducting[new]:
                        g.events.append((ch, g.opened[ch], t))
                        g.opened[ch] = None
                        changed = True
            g.hazard[:] = plan.hazard[gi]
            if changed:
                times = sorted({p[0] for path in plan.fired[gi].values() for p in path})
                g.counts.append((times[-1], g.n_open))
            switched |= changed
        return switched

    # ------------------------------------------------------------------ checkpoints --

    def snapshot(self) -> dict:
        """Everything a resumed run needs to continue the same random stream, as JSON data."""
        return {"seed": self.seed, "generator": GENERATOR,
                "bit_generator": copy.deepcopy(self.rng.bit_generator.state),
                "pending_stop": self.pending_stop,
                "groups": [{"name": g.name, "state": g.state.tolist(), "hazard": g.hazard.tolist(),
                            "queue": copy.deepcopy(g.queue), "opened": list(g.opened),
                            "events": [list(e) for e in g.events],
                            "counts": [list(c) for c in g.counts], "mismatch": g.mismatch}
                           for g in self.groups]}

    def restore(self, snap: dict) -> None:
        if snap.get("seed") != self.seed:
            raise ValueError(f"the checkpoint's stochastic seed {snap.get('seed')} is not the "
                             f"case's ({self.seed})")
        self.rng.bit_generator.state = copy.deepcopy(snap["bit_generator"])
        self.pending_stop = snap.get("pending_stop")
        by_name = {d["name"]: d for d in snap["groups"]}
        for g in self.groups:
            d = by_name[g.name]
            g.state = np.array(d["state"], int)
            g.hazard = np.array(d["hazard"], float)
            g.queue = [[tuple(x) for x in q] for q in d["queue"]]
            g.opened = list(d["opened"])
            g.events = [tuple(e) for e in d["events"]]
            g.counts = [tuple(c) for c in d["counts"]]
            g.mismatch = float(d["mismatch"])

    # ----------------------------------------------------------------------- outputs --

    def event_rows(self, t_end: float | None = None) -> list[tuple[str, int, float, float | None]]:
        """(cluster, channel, open_ms, close_ms) of every opening, by opening time; an opening
        still going at `t_end` has no close time."""
        rows = [(g.name, ch, o, c) for g in self.groups for ch, o, c in g.events]
        rows += [(g.name, ch, o, None) for g in self.groups for ch, o in enumerate(g.opened)
                 if o is not None]
        return sorted(rows, key=lambda r: (r[2], r[0], r[1]))

    def count_rows(self) -> list[tuple[str, float, int]]:
        """(cluster, t, channels open from t on) at the start and at every change."""
        return [(g.name, t, n) for g in self.groups for t, n in g.counts]

    def summary(self, t_end: float) -> dict:
        """Per cluster: the detected events — maximal intervals with at least one channel
        open — with amplitude (most channels open at once), duration and channels involved."""
        out = {}
        for g in self.groups:
            openings = [(ch, o, c if c is not None else t_end)
                        for name, ch, o, c in self.event_rows() if name == g.name]
            events = detect_events(g.counts, openings, t_end)
            out[g.name] = {"seed": self.seed, "generator": GENERATOR, "channels": len(g.state),
                           "openings": len(openings),
                           "open_time_ms": float(sum(c - o for _, o, c in openings)),
                           "max_hazard_mismatch": g.mismatch, "n_events": len(events),
                           "max_amplitude_channels": max((e["amplitude_channels"] for e in events), default=0),
                           "events": events}
        return out


def run_clamped(scheme: KineticScheme, ligands: dict, channels: int, t_end: float, seed: int,
                h: float = 1.0, hazard_tol: float = 1e-3) -> MarkovEngine:
    """Channels at fixed ligands, stepped exactly as along a PDE run (the same `plan`, the same
    landing on every opening and closing), without the PDE: the validation tests' engine."""
    eng = MarkovEngine([("clamped", scheme, channels)], seed, hazard_tol)
    lig = [[ligands] * channels]
    eng.start(0.0, lig)
    t = 0.0
    while t < t_end:
        t = t + eng.advance(t, min(h, t_end - t), lig)
    return eng


def detect_events(counts: list[tuple[float, int]], openings, t_end: float) -> list[dict]:
    """Maximal intervals where the open count is ≥ 1."""
    events, start, peak = [], None, 0
    for t, n in counts + [(t_end, 0)]:
        if n > 0 and start is None:
            start, peak = t, n
        elif n > 0:
            peak = max(peak, n)
        elif start is not None:
            involved = sorted({ch for ch, o, c in openings if o < t and c > start})
            events.append({"start_ms": start, "duration_ms": t - start, "amplitude_channels": peak,
                           "channels": involved})
            start = None
    return events


def _crossing(h: float, a0: float, a1: float, s: float, need: float) -> float:
    """x in (s, 1] where h·∫_s^x (a0 + (a1 − a0)·ξ) dξ = need (the hazard meets the threshold)."""
    A = h * (a1 - a0) / 2
    B = h * (a0 + (a1 - a0) * s)          # h·a(s) ≥ 0
    disc = max(B * B + 4 * A * need, 0.0)
    y = 2 * need / (B + np.sqrt(disc)) if B + np.sqrt(disc) > 0 else 1.0 - s
    return float(min(max(s + y, s), 1.0))
