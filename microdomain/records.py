"""Typed records of a run: its status, manifest.json and metrics.json.

One definition serves writing, reading and documentation: the run directory writes these records,
`open_run` reads them back, and docs/schemas/*.schema.json are generated from them
(`python -m microdomain.records docs/schemas`), so the files, the API and the documented schema
cannot drift apart. Numbers are in internal units (µm, ms, µM; amounts in amol); the unit is
part of every key that carries one (`peak_uM`, `amount_amol`).
"""

from __future__ import annotations

import enum
import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

FORMAT = 2
"""Run-directory format: 1 = wide probes.csv/fluxes.csv, free-text status (before 0.2);
2 = tidy CSVs with probe coordinates, status enum with a separate message, VTK field data."""


class Status(str, enum.Enum):
    """Where a run stands. `completed` and `steady state` are finished runs; `interrupted`
    (Ctrl-C, SIGINT), `stopped` (SIGTERM, e.g. a batch system's time limit) and `failed` (an
    error: the message says which) leave a checkpoint that `--resume` continues from."""

    RUNNING = "running"
    COMPLETED = "completed"
    STEADY_STATE = "steady state"
    INTERRUPTED = "interrupted"
    STOPPED = "stopped"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        """Completed or at steady state."""
        return self in (Status.COMPLETED, Status.STEADY_STATE)

    @classmethod
    def parse(cls, text: str) -> tuple["Status", str]:
        """(status, message) from a manifest's status text; format 1 wrote 'failed: why'."""
        head, _, message = str(text).partition(":")
        try:
            return cls(head.strip()), message.strip()
        except ValueError:
            return cls.FAILED, str(text)


class _Record(BaseModel):
    # keys a later version adds are kept when an older one reads the file
    model_config = ConfigDict(extra="allow")


# ------------------------------------------------------------------------------ manifest --

class MeshInfo(_Record):
    """What the mesh is: axes (("r", "z") for axisymmetric runs, whose frames hold the (r, z)
    plane with x = r, y = z), compartment names in id order (the `compartment` cell array of
    the frames indexes them), surface names in id order (the `surface` array of surfaces.vtu),
    and the builder's statistics (cells, spacing, volumes, areas, quality) as extra keys."""

    kind: str | None = None
    axes: list[str] = []
    cylindrical: bool = False
    cells: int | None = None
    compartments: list[str] = []
    surfaces: list[str] = []


class StochasticInfo(_Record):
    seed: int
    generator: str = Field(description="numpy's generator and bit generator")


class Manifest(_Record):
    """manifest.json: what was run, with what, and how it went."""

    format: int = Field(1, description="run-directory format (records.FORMAT)")
    status: Status
    message: str = Field("", description="why a run stopped or failed")
    case_file: str
    case_sha256: str
    case: dict[str, Any] = Field(description="the case as validated, internal units "
                                 "(Case.normalised())")
    versions: dict[str, str | None] = {}
    fipy_solver_suite: str | None = None
    solver: dict[str, Any] | None = Field(None, description="the solver's choices and counters")
    linear_strategy: str | None = None
    mesh: MeshInfo | None = None
    time_ms: float | None = Field(None, description="time reached")
    wall_time_s: float = 0.0
    started: str | None = Field(None, description="when this run (or its latest resume) "
                                "started: ISO 8601, UTC")
    finished: str | None = Field(None, description="when it ended (absent while it runs)")
    steps: int = 0
    rejected_steps: int = 0
    newton_iterations: int = 0
    linear_solves: int = 0
    citations: list[str] = []
    stochastic: StochasticInfo | None = Field(None, description="stochastic channel gating: "
                                                "the seed and the random number generator")

    @classmethod
    def read(cls, data: dict) -> "Manifest":
        """A manifest from its JSON, format 1 ('failed: why' statuses) included."""
        data = dict(data)
        status, message = Status.parse(data.get("status", "failed"))
        data["status"] = status
        if not data.get("message"):
            data["message"] = message
        return cls.model_validate(data)

    def to_json(self) -> dict:
        """The record as manifest.json holds it."""
        return self.model_dump(mode="json")


# ------------------------------------------------------------------------------- metrics --

class CompartmentIon(_Record):
    peak_uM: float
    peak_time_ms: float
    mean_uM: float = Field(description="volume-weighted mean at time_ms")


class SurfaceIon(_Record):
    peak_uM: float = Field(description="highest value in the cells next to the surface")
    peak_time_ms: float


class FluxAmount(_Record):
    amount_amol: float = Field(description="moved from `from` to `to` since t = 0")


class GateStats(_Record):
    mean: float = Field(description="area-weighted over the surface, as fluxes.csv")
    min: float
    max: float


class MassBalance(_Record):
    initial_amol: float
    final_amol: float
    bath_inflow_amol: float
    outside_inflow_amol: float
    reaction_inflow_amol: float = Field(0.0, description="made (or removed) by volume reactions")
    error_amol: float = Field(description="final − initial − inflows")
    relative_error: float = Field(description="error over the largest of |initial|, |final|, "
                                  "|inflow|")


class SteadyFlow(_Record):
    rate_amol_per_ms: float


class SteadyBalance(_Record):
    bath_inflow_amol_per_ms: float
    outside_inflow_amol_per_ms: float
    reaction_inflow_amol_per_ms: float = 0.0
    net_amol_per_ms: float = Field(description="must vanish at a steady state")
    relative_imbalance: float = Field(description="net over the largest single inflow")


class ChannelEvent(_Record):
    """A cluster event: a maximal interval with at least one channel of the cluster open."""

    start_ms: float
    duration_ms: float = Field(description="to the run's end for an event still going on")
    amplitude_channels: int = Field(description="most channels open at once")
    channels: list[int] = Field(description="the channels (0-based) open during it")
    # what the event moved and reached (stochastic/events.py); absent in runs of older versions
    open_at_start: bool | None = Field(None, description="channels were open at t = 0 (drawn from "
                                       "the stationary distribution): the event began before the run")
    open_at_end: bool | None = Field(None, description="still going at the run's end")
    amplitude_pA: float | None = Field(None, description="amplitude_channels × the unitary current "
                                       "(the case's, at its `at` concentration)")
    released_amol: float | None = Field(None, description="the cluster's ligand ion moved during "
                                        "the event: its current integrated over the event")
    peak_current_pA: float | None = Field(None, description="the largest step-mean current of the "
                                          "cluster during the event")
    window_ms: float | None = Field(None, description="from the event's start to the next event's "
                                    "start, or to the run's end for the last")
    transfer_amol: dict[str, float] | None = Field(None, description="flux → the ligand ion it "
                                                   "moved over the window")
    peak_uM: dict[str, float] | None = Field(None, description="surface → the highest [ligand ion] "
                                             "in the cells next to it during the event")


class ChannelCluster(_Record):
    seed: int
    generator: str
    channels: int
    openings: int = Field(description="channel openings since t = 0 (one going on included)")
    open_time_ms: float = Field(description="channel-time spent open, summed over channels")
    max_hazard_mismatch: float = Field(description="largest |integrated hazard − threshold| at a "
                                       "fired transition (docs/stochastic.md)")
    n_events: int = Field(description="cluster events (intervals with a channel open)")
    max_amplitude_channels: int = Field(description="most channels open at once (0: none opened)")
    unitary_current_pA: float | None = Field(None, description="one open channel's current of the "
                                             "ligand ion at the case's `at` concentration")
    events: list[ChannelEvent]


class Steady(_Record):
    fluxes: dict[str, dict[str, SteadyFlow]]
    balance: dict[str, SteadyBalance]


class Metrics(_Record):
    """metrics.json: peaks and means per compartment and surface, flux totals and gates, mass
    balance per ion. A direct steady solve has `steady` (rates) instead of `fluxes` and
    `mass_balance` (amounts). Keys below the top level are names: compartment → ion,
    surface → ion, flux → ion, flux → gate, ion."""

    time_ms: float
    compartments: dict[str, dict[str, CompartmentIon]]
    surfaces: dict[str, dict[str, SurfaceIon]] = {}
    fluxes: dict[str, dict[str, FluxAmount]] | None = None
    gates: dict[str, dict[str, GateStats]] = {}
    mass_balance: dict[str, MassBalance] | None = None
    steady: Steady | None = None
    channels: dict[str, ChannelCluster] | None = Field(None, description="stochastic clusters: "
                                                       "flux label → its events")

    def to_json(self) -> dict:
        """The record as metrics.json holds it."""
        # python mode keeps ±inf as floats (json writes them); json mode would turn them to null
        return self.model_dump(exclude_none=True)

    def value(self, dotted: str) -> Any:
        """The value at a dotted path, e.g. 'compartments.cytosol.Ca.peak_uM' (sweep metrics)."""
        node: Any = self.to_json()
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise KeyError(f"metrics have no {dotted!r} (no {part!r} there)")
            node = node[part]
        return node

    @classmethod
    def path_problem(cls, dotted: str) -> str | None:
        """Why a dotted path cannot name a number of metrics.json, or None if it can: keys of
        the records must match, names (compartments, ions, fluxes, gates) are free."""
        return _path_problem(cls, dotted.split("."), dotted)


def _strip_optional(node):
    if typing.get_origin(node) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(node) if a is not type(None))
    return node


def _path_problem(model, parts: list[str], dotted: str) -> str | None:
    node: Any = model
    for i, part in enumerate(parts):
        node = _strip_optional(node)
        if isinstance(node, type) and issubclass(node, BaseModel):
            if part not in node.model_fields:
                return (f"{'.'.join(parts[:i + 1])!r}: metrics.json has no key {part!r} there; "
                        f"keys: {', '.join(node.model_fields)}")
            node = node.model_fields[part].annotation
        elif typing.get_origin(node) is dict:
            node = typing.get_args(node)[1]          # a name: any key
        else:
            return f"{dotted!r} goes below a number at {'.'.join(parts[:i])!r}"
    if _strip_optional(node) not in (float, int):
        return f"{dotted!r} names a table, not a number; go on to one of its keys"
    return None


def schemas() -> dict[str, dict]:
    """The JSON schemas of manifest.json and metrics.json."""
    return {"manifest": Manifest.model_json_schema(), "metrics": Metrics.model_json_schema()}


def write_schemas(directory) -> list:
    import json
    from pathlib import Path

    out = []
    for name, schema in schemas().items():
        path = Path(directory) / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
        out.append(path)
    return out


if __name__ == "__main__":
    import sys

    for p in write_schemas(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas"):
        print(p)
