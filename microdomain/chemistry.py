"""Ions and buffers: the unknowns, mass-action binding rates and their Jacobian (numpy only).

Each buffer has one or more independent site groups (`count` copies per molecule); a site binds
one ion at a time, competitively among the ions it accepts (a dye binding Ca²⁺ or Zn²⁺). Free
and bound buffer share one diffusivity, so the total of each site group stays where it started
and only the bound states are unknowns: free = total − Σ bound.

    R_j = kon_j · c_ion(j) · free_site − koff_j · cb_j      (rate of binding into bound state j)
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


@dataclass(frozen=True)
class SiteGroup:
    buffer: str
    site_total: np.ndarray    # per cell: count × buffer total (µM), zero outside the buffer
    states: tuple[int, ...]   # indices into Chemistry.bound


@dataclass(frozen=True)
class Chemistry:
    unknowns: tuple[Unknown, ...]
    bound: tuple[BoundState, ...]
    groups: tuple[SiteGroup, ...]

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
        """Net production rate of every unknown per cell (µM/ms), shape like U."""
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
        return out

    def equilibrium_bound(self, free_ions: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        """Bound states in equilibrium with given free ion concentrations (per cell).

        For competitive binding on one site: cb_j = S · (c_j/Kd_j) / (1 + Σ_k c_k/Kd_k).
        """
        out = {}
        for group in self.groups:
            ratios = {j: free_ions[self.bound[j].ion_unknown] / self.bound[j].kd for j in group.states}
            denom = 1.0 + sum(ratios.values())
            for j, ratio in ratios.items():
                out[self.bound[j].unknown] = group.site_total * ratio / denom
        return out
