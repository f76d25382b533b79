"""The OMM hot spot against the bulk cytosol over a run's frames (docs/cases.md, the
mam_omm_bulk cases: Giacomello 2010's comparison).

Giacomello 2010 read [Ca²⁺] with a sensor anchored in the outer mitochondrial membrane and
compared it with the bulk cytosol. The model's counterparts, per frame:

- **hot spot**: the area-weighted mean free [Ca²⁺] in the cytosolic cells touching the OMM
  faces that face the IP3R cluster across the MAM gap (surface `omm_mam`): what OMM-anchored
  sensors in the contact would report;
- **whole OMM**: the same mean over the whole OMM (surface `omm`): what the sensor reports
  averaged over the mitochondrion's surface;
- **bulk**: the volume-weighted mean free [Ca²⁺] of the cytosol: what a cytosolic sensor
  averaged over the cell reports.

Run as `python -m microdomain.hotspots CASE.toml [CASE.toml ...]` to print these for each case.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from .errors import MicrodomainError


def side_cells(domain, surface: str, compartment: str) -> tuple[np.ndarray, np.ndarray]:
    """The cells of `compartment` touching `surface`, one per face, and the faces' areas."""
    if surface not in domain.surfaces:
        raise MicrodomainError(f"no surface {surface!r}; surfaces: {', '.join(domain.surfaces)}")
    fs = domain.surfaces[surface]
    inside = domain.compartment_mask(compartment)
    cells = np.where((fs.cells_a >= 0) & inside[np.maximum(fs.cells_a, 0)], fs.cells_a, fs.cells_b)
    if np.any(cells < 0) or not np.all(inside[cells]):
        raise MicrodomainError(f"surface {surface!r} does not border compartment {compartment!r} "
                               "on every face")
    return cells, domain.face_areas[fs.faces]


def surface_mean(domain, result, surface: str, compartment: str, field: str = "Ca") -> np.ndarray:
    """Per frame, the area-weighted mean of `field` in the `compartment` cells on `surface`."""
    cells, areas = side_cells(domain, surface, compartment)
    return np.array([np.sum(result.field(field, t)[cells] * areas) / np.sum(areas)
                     for t in result.times])


def compartment_mean(domain, result, compartment: str, field: str = "Ca") -> np.ndarray:
    """Per frame, the volume-weighted mean of `field` over `compartment`."""
    mask = domain.compartment_mask(compartment)
    volumes = domain.volumes[mask]
    return np.array([np.sum(result.field(field, t)[mask] * volumes) / np.sum(volumes)
                     for t in result.times])


@dataclass(frozen=True)
class HotSpots:
    """The three traces (µM, one value per frame) and what docs/cases.md reports from them."""

    times: np.ndarray
    hot: np.ndarray        # OMM facing the cluster (omm_mam)
    omm: np.ndarray        # the whole OMM
    bulk: np.ndarray       # cytosol, volume mean

    @property
    def peak_ratio(self) -> float:
        """Peak of the hot spot over peak of the bulk (each at its own time)."""
        return float(self.hot.max() / self.bulk.max())

    @property
    def omm_peak_ratio(self) -> float:
        """Peak of the whole-OMM mean over peak of the bulk."""
        return float(self.omm.max() / self.bulk.max())

    def ratio_at(self, t: float) -> float:
        """Hot spot over bulk at the frame nearest t (ms)."""
        i = int(np.argmin(np.abs(self.times - t)))
        return float(self.hot[i] / self.bulk[i])

    def rows(self) -> list[tuple[str, float]]:
        return [("hot spot peak (uM)", float(self.hot.max())),
                ("hot spot peak time (ms)", float(self.times[np.argmax(self.hot)])),
                ("whole-OMM peak (uM)", float(self.omm.max())),
                ("bulk peak (uM)", float(self.bulk.max())),
                ("bulk peak time (ms)", float(self.times[np.argmax(self.bulk)])),
                ("hot spot / bulk, peak over peak", self.peak_ratio),
                ("whole OMM / bulk, peak over peak", self.omm_peak_ratio)]


def hot_spots(sim, result, field: str = "Ca") -> HotSpots:
    """The traces of a finished run of a mam_omm_bulk-like case (surfaces omm_mam and omm)."""
    d = sim.domain
    return HotSpots(np.asarray(result.times, float),
                    surface_mean(d, result, "omm_mam", "cytosol", field),
                    surface_mean(d, result, "omm", "cytosol", field),
                    compartment_mean(d, result, "cytosol", field))


def run_case(path) -> HotSpots:
    """Run the case in memory and measure it."""
    import microdomain as md

    sim = md.Simulation(md.load_case(path))
    res = sim.run()
    if not res.status.finished:
        raise MicrodomainError(f"{path}: the run did not finish ({res.status}): "
                               f"{res.manifest.message}")
    return hot_spots(sim, res)


def main(argv: list[str] | None = None) -> int:
    paths = sys.argv[1:] if argv is None else argv
    if not paths:
        print("usage: python -m microdomain.hotspots CASE.toml [CASE.toml ...]", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
        for name, value in run_case(path).rows():
            print(f"  {name:36s} {value:.4g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
