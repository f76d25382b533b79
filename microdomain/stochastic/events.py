"""What each event of a stochastic cluster moved and reached, accumulated along the accepted steps
(the Metrics observer's ledger; docs/stochastic.md, docs/run-directory.md).

An event is a maximal interval with at least one channel of the cluster open. Openings and
closings land on step ends (engine.py), so a step lies wholly inside an event or wholly outside
one, and the channels open during a step are those open after the previous step's commit. Per
event, in the units metrics.json gives them:

- `released_amol`: the cluster's own transfer of its ligand ion during the event (its current
  integrated over the event, as the integrator moved it);
- `peak_current_pA`: the largest step-mean current of the cluster during the event (the actual
  current, which falls below open count × unitary current as the ER at the mouth depletes);
- `transfer_amol`: per flux, the ligand ion moved from the event's start to the next event's
  start (or the run's end) — the window that partitions everything after the first event among
  the events, so the matrix uptake that follows a release is counted with it however long it
  lags, and the per-event sums add up to the run's totals (resting uptake between events
  included: it is not separable from the event's without a baseline run);
- `peak_uM`: per named surface, the highest [ligand ion] in the cells next to it at the event's
  start and at the end of every step during it;
- `open_at_start`, `open_at_end`: the event was going on when the run began (channels drawn
  open at t = 0) or when it ended — its duration and amounts are then cut by the run (censored).

The ledger's running values are what the report holds, so a resumed run rebuilds it from the
checkpoint's metrics.
"""

from __future__ import annotations

import numpy as np

from ..fluxes.generic import per_ion
from ..units import AMOUNT_TO_AMOL, current_to_molar_flow


class EventLedger:
    def __init__(self, engine, system, ion_rows: dict[str, int], surface_cells: dict[str, np.ndarray]):
        self.engine = engine
        self.ion_rows, self.surface_cells = ion_rows, surface_cells
        bindings = {b.name: b for b in system.bindings}
        valence = {s.symbol: s.valence for s in system.case.species if s.is_ion}
        self.ion, self.unitary_pA, self.pA_per_flow = {}, {}, {}
        for g in engine.groups:
            p = bindings[g.name].model.params
            self.ion[g.name] = ion = p.ligand_ion
            self.unitary_pA[g.name] = per_ion(p.unitary_current, p.ion).get(ion, 0.0)
            self.pA_per_flow[g.name] = 1.0 / current_to_molar_flow(1.0, valence[ion])
        self.events: dict[str, list[dict]] = {g.name: [] for g in engine.groups}
        self.open: dict[str, int] = {}

    def _peaks(self, U, ion: str) -> dict[str, float]:
        row = self.ion_rows[ion]
        return {s: float(U[row, cells].max()) for s, cells in self.surface_cells.items()}

    def _begin(self, name: str, U, t: float, at_start: bool = False) -> None:
        self.events[name].append({"start_ms": t, "open_at_start": at_start, "released_amol": 0.0,
                                  "peak_current_pA": 0.0, "transfer_amol": {},
                                  "peak_uM": self._peaks(U, self.ion[name])})

    def start(self, U, t: float) -> None:
        for g in self.engine.groups:
            self.open[g.name] = g.n_open
            if g.n_open > 0:            # drawn open: the event began before the run
                self._begin(g.name, U, t, at_start=True)

    def resume(self, U, t: float, saved_channels: dict) -> None:
        """The events so far from a checkpoint's metrics report (`channels.<flux>.events`)."""
        for g in self.engine.groups:
            self.open[g.name] = g.n_open
            self.events[g.name] = [
                {"start_ms": e["start_ms"], "open_at_start": e["open_at_start"],
                 "released_amol": e["released_amol"],
                 "peak_current_pA": e["peak_current_pA"], "transfer_amol": dict(e["transfer_amol"]),
                 "peak_uM": dict(e["peak_uM"])}
                for e in saved_channels.get(g.name, {}).get("events", [])]

    def step(self, U, t: float, dt: float, flux_amounts: dict) -> None:
        for g in self.engine.groups:
            name, ion = g.name, self.ion[g.name]
            events = self.events[name]
            if events:                          # the last event's window runs to the next start
                window = events[-1]["transfer_amol"]
                for flux, amounts in flux_amounts.items():
                    window[flux] = window.get(flux, 0.0) + amounts.get(ion, 0.0) * AMOUNT_TO_AMOL
            if self.open[name] > 0:             # open during this step: the event goes on
                ev = events[-1]
                amount = flux_amounts.get(name, {}).get(ion, 0.0)
                ev["released_amol"] += amount * AMOUNT_TO_AMOL
                if dt > 0:
                    ev["peak_current_pA"] = max(ev["peak_current_pA"],
                                                amount / dt * self.pA_per_flow[name])
                for s, v in self._peaks(U, ion).items():
                    ev["peak_uM"][s] = max(ev["peak_uM"][s], v)
            elif g.n_open > 0:                  # the first opening after a quiet spell
                self._begin(name, U, t)
            self.open[name] = g.n_open

    def report(self, summary: dict, t: float) -> dict:
        """The engine's summary (engine.summary) with each event's amounts and peaks added."""
        for name, cluster in summary.items():
            mine = self.events[name]
            if len(mine) != len(cluster["events"]):
                raise RuntimeError(f"cluster {name!r}: {len(cluster['events'])} events in the channel "
                                   f"log but {len(mine)} in the metrics' ledger")
            cluster["unitary_current_pA"] = self.unitary_pA[name]
            for k, (ev, acc) in enumerate(zip(cluster["events"], mine)):
                last = k + 1 == len(mine)
                end = t if last else mine[k + 1]["start_ms"]
                ev.update(open_at_start=acc["open_at_start"], open_at_end=last and self.open[name] > 0,
                          amplitude_pA=ev["amplitude_channels"] * self.unitary_pA[name],
                          released_amol=acc["released_amol"], peak_current_pA=acc["peak_current_pA"],
                          window_ms=end - acc["start_ms"], transfer_amol=dict(acc["transfer_amol"]),
                          peak_uM=dict(acc["peak_uM"]))
        return summary
