"""Species, buffers and volume reactions: the unknowns, the local rates and their Jacobian
(numpy only).

Each buffer has one or more independent site groups (`count` copies per molecule); a site binds
one ion at a time, competitively among the ions it accepts (a dye binding Ca²⁺ or Zn²⁺). Free
and bound buffer share one diffusivity, so the total of each site group stays where it started
and only the bound states are unknowns: free = total − Σ bound.

    R_j = kon_j · c_ion(j) · free_site − koff_j · cb_j      (rate of binding into bound state j)

Volume reactions (reactions.py) add ν_u·r to every unknown u they name, r the rate law's value
in the cells of the reaction's compartments. Binding moves an element (an ion, or any species)
between its carriers — the free species and the bound states holding it — so it never changes
the element's total; a reaction may ("-> IP3", "Zn ->"): `reaction_rates` is that part alone,
which the solver integrates into each element's balance (solver/integrators.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Unknown:
    name: str                 # "Ca", "EGTA.Ca", "calbindin.s2.Ca"
    ion: str                  # the ion it carries (free or bound)
    bound: bool
    buffer: str | None = None


@dataclass(frozen=True)
class BoundState:
    unknown: int              # index of cb_j among the unknowns
    ion_unknown: int          # index of the free ion it binds
    group: int                # site group (free sites shared by competitive states)
    kon: float                # 1/(µM·ms)
    koff: float               # 1/ms

    @property
    def kd(self) -> float:
        return self.koff / self.kon

    @property
    def irreversible(self) -> bool:
        return self.koff == 0.0


@dataclass(frozen=True)
class SiteGroup:
    buffer: str
    site_total: np.ndarray    # per cell: count × buffer total (µM), zero outside the buffer
    states: tuple[int, ...]   # indices into Chemistry.bound


@dataclass(frozen=True)
class BoundReaction:
    """One reaction bound to its cells: which unknowns its rate reads and which it changes."""

    model: object              # a reactions.ReactionModel
    cells: np.ndarray | slice  # the cells of its compartments (slice(None): every cell)
    reads: tuple[tuple[str, int], ...]        # (species name, unknown index) the rate reads
    net: tuple[tuple[int, int], ...]          # (unknown index, ν ≠ 0)


@dataclass(frozen=True)
class Chemistry:
    unknowns: tuple[Unknown, ...]
    bound: tuple[BoundState, ...]
    groups: tuple[SiteGroup, ...]
    reactions: tuple[BoundReaction, ...] = ()
    # (n_unknowns, n_cells) bool: where each unknown exists (a species' `in`, a buffer's
    # compartments); None: everywhere. Elsewhere it is zero and nothing may change it.
    present: np.ndarray | None = None

    @property
    def ions(self) -> tuple[str, ...]:
        return tuple(u.name for u in self.unknowns if not u.bound)

    def index(self, name: str) -> int:
        return [u.name for u in self.unknowns].index(name)

    def carriers(self, ion: str) -> list[int]:
        """Unknowns that carry `ion` (free and bound): their sum is the conserved total."""
        return [k for k, u in enumerate(self.unknowns) if u.ion == ion]

    def free_sites(self, U: np.ndarray) -> list[np.ndarray]:
        return [g.site_total - sum(U[self.bound[j].unknown] for j in g.states) for g in self.groups]

    def rates(self, U: np.ndarray) -> np.ndarray:
        """Net production rate of every unknown per cell (µM/ms), shape like U: binding and
        reactions."""
        R = self.binding_rates(U)
        if self.reactions:
            R += self.reaction_rates(U)
        return R

    def reaction_rates(self, U: np.ndarray) -> np.ndarray:
        """The part of `rates` due to volume reactions."""
        R = np.zeros_like(U)
        for rx in self.reactions:
            r = self._rate(rx, U)
            for u, nu in rx.net:
                R[u, rx.cells] += nu * r
        return R

    @staticmethod
    def _concentrations(rx: BoundReaction, U: np.ndarray) -> dict[str, np.ndarray]:
        return {name: U[k, rx.cells] for name, k in rx.reads}

    def _rate(self, rx: BoundReaction, U: np.ndarray) -> np.ndarray:
        n = U[0, rx.cells].shape
        return np.broadcast_to(np.asarray(rx.model.rate(self._concentrations(rx, U)), float), n)

    def binding_rates(self, U: np.ndarray) -> np.ndarray:
        """The part of `rates` due to buffer binding."""
        R = np.zeros_like(U)
        free = self.free_sites(U)
        for g, group in enumerate(self.groups):
            for j in group.states:
                b = self.bound[j]
                r = b.kon * U[b.ion_unknown] * free[g] - b.koff * U[b.unknown]
                R[b.unknown] += r
                R[b.ion_unknown] -= r
        return R

    def jacobian_pairs(self) -> list[tuple[int, int]]:
        """(row, column) unknown pairs with a nonzero local Jacobian entry, in a fixed order."""
        pairs: dict[tuple[int, int], None] = {}
        for group in self.groups:
            for j in group.states:
                b = self.bound[j]
                cols = [b.ion_unknown] + [self.bound[k].unknown for k in group.states]
                for row in (b.unknown, b.ion_unknown):
                    for col in cols:
                        pairs[(row, col)] = None
        for rx in self.reactions:
            for row, _ in rx.net:
                for _, col in rx.reads:
                    pairs[(row, col)] = None
        return list(pairs)

    def jacobian(self, U: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
        """dR_row/dU_col per cell for each pair; shape (len(pairs), n_cells)."""
        where = {p: i for i, p in enumerate(pairs)}
        out = np.zeros((len(pairs), U.shape[1]))
        free = self.free_sites(U)
        for g, group in enumerate(self.groups):
            for j in group.states:
                b = self.bound[j]
                d_ion = b.kon * free[g]                      # dR_j/dc
                for row, sign in ((b.unknown, 1.0), (b.ion_unknown, -1.0)):
                    out[where[(row, b.ion_unknown)]] += sign * d_ion
                    for k in group.states:
                        col = self.bound[k].unknown
                        d = -b.kon * U[b.ion_unknown] - (b.koff if k == j else 0.0)
                        out[where[(row, col)]] += sign * d
        for rx in self.reactions:
            d = rx.model.drate(self._concentrations(rx, U))
            n = U[0, rx.cells].shape
            for name, col in rx.reads:
                if name not in d:
                    continue
                dr = np.broadcast_to(np.asarray(d[name], float), n)
                for row, nu in rx.net:
                    out[where[(row, col)], rx.cells] += nu * dr
        return out

    def equilibrium_bound(self, free_ions: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        """Bound states in equilibrium with given free ion concentrations (per cell).

        For competitive binding on one site: cb_j = S · (c_j/Kd_j) / (1 + Σ_k c_k/Kd_k).

        Irreversible states (koff = 0, Kd = 0) take the limit koff → 0 of that formula: where
        an irreversible state's ion is present (c > 0) the site is full — a site that never lets
        go is at rest with a free ion only once it is bound — and its reversible competitors
        hold nothing (they lose their sites to it in the end). Several irreversible competitors
        share the site as binding from a free site splits it, in proportion to kon_j·c_j. Where
        no irreversible state's ion is present the reversible formula holds.
        """
        out = {}
        for group in self.groups:
            states = [self.bound[j] for j in group.states]
            c = {b.unknown: np.asarray(free_ions[b.ion_unknown], float) for b in states}
            ratios = {b.unknown: np.zeros_like(c[b.unknown]) if b.irreversible
                      else c[b.unknown] / b.kd for b in states}
            denom = 1.0 + sum(ratios.values())
            drive = sum((b.kon * np.maximum(c[b.unknown], 0.0) for b in states if b.irreversible),
                        np.zeros_like(denom))
            full = drive > 0
            for b in states:
                value = group.site_total * ratios[b.unknown] / denom
                if b.irreversible:
                    share = np.where(full, b.kon * np.maximum(c[b.unknown], 0.0)
                                     / np.where(full, drive, 1.0), 0.0)
                    value = np.where(full, group.site_total * share, value)
                else:
                    value = np.where(full, 0.0, value)
                out[b.unknown] = value
        return out
