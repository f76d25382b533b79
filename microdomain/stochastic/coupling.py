"""The MarkovEngine bound to a system's stochastic clusters: what each channel's rates read
from the solution, and the clusters' open counts after each committed transition."""

from __future__ import annotations

import numpy as np

from .engine import MarkovEngine, Plan


def side_problems(system) -> list[tuple[str, str]]:
    """(case path, message) for each stochastic cluster whose channels would read [Ca²⁺] outside
    the mesh (the `senses` side of a wall): checked when the case is built."""
    names = [f.name for f in system.case.fluxes]
    rows = system.free_ion_index()
    out = []
    for b in system.bindings:
        if getattr(b.model, "stochastic", False):
            p = b.model.params
            if p.ip3_species is not None and p.ip3_species not in rows:
                out.append((f"fluxes[{names.index(b.name)}].params.ip3_species",
                            f"flux {b.name!r}: no free species {p.ip3_species!r} for its channels to "
                            f"read [IP3] from; species: {', '.join(rows)}"))
            side = b.tgt if p.senses == "to" else b.src
            if np.any(side[b.model.channel_face] < 0):
                out.append((f"fluxes[{names.index(b.name)}].params.senses",
                            f"flux {b.name!r}: its channels read [{p.ligand_ion}] on the {p.senses!r} "
                            "side, which is outside the mesh; the other side is in it"))
    return out


class Coupling:
    def __init__(self, system, bindings):
        case = system.case
        self.bindings = bindings
        rows = system.free_ion_index()
        self.rows, self.cells, self.ip3_rows = [], [], []
        for b in bindings:
            p = b.model.params
            side = b.tgt if p.senses == "to" else b.src
            cells = side[b.model.channel_face]
            if np.any(cells < 0):
                raise ValueError(f"flux {b.name!r}: its channels read [{p.ligand_ion}] on the "
                                 f"{p.senses!r} side, which is outside the mesh; set senses")
            self.rows.append(rows[p.ligand_ion])
            self.ip3_rows.append(rows[p.ip3_species] if p.ip3_species is not None else None)
            self.cells.append(cells)
        spec = case.stochastic
        self.engine = MarkovEngine([(b.name, b.model.scheme, b.model.params.channels) for b in bindings],
                                   spec.seed, spec.hazard_tol)

    @classmethod
    def for_system(cls, system) -> "Coupling | None":
        bindings = [b for b in system.bindings if getattr(b.model, "stochastic", False)]
        return cls(system, bindings) if bindings else None

    def ligands(self, U: np.ndarray) -> list[list[dict]]:
        return [b.model.ligands(U[row, cells], None if ip3 is None else U[ip3, cells])
                for b, row, ip3, cells in zip(self.bindings, self.rows, self.ip3_rows, self.cells)]

    def _apply(self) -> None:
        for b, g in zip(self.bindings, self.engine.groups):
            b.model.set_open(np.array([g.scheme.conducting[s] for s in g.state], bool))

    def start(self, U: np.ndarray, t: float) -> dict:
        self.engine.start(t, self.ligands(U))
        self._apply()
        return self.engine.snapshot()

    def restore(self, snapshot: dict | None) -> None:
        if snapshot is None:
            raise ValueError("the checkpoint holds no stochastic state (written by an older version?)")
        self.engine.restore(snapshot)
        self._apply()

    def plan(self, t: float, h: float, U0: np.ndarray, U1: np.ndarray, final: bool) -> Plan:
        return self.engine.plan(t, h, self.ligands(U0), self.ligands(U1), final)

    def commit(self, plan: Plan) -> bool:
        switched = self.engine.commit(plan)
        if switched:
            self._apply()
        return switched
