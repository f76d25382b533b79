"""Case files: TOML → a validated, unit-normalised, frozen :class:`Case`.

Every problem in a file is reported at once, each with the file, the field path, what is wrong
and what would be right. Structure and units are checked per section with pydantic; references
between sections (compartments, surfaces, ions, field names) are checked afterwards, over every
section that could be read.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError, field_validator, model_validator

from . import fluxes as flux_plugins
from . import limits
from . import edit
from .errors import CaseError, MicrodomainError, Problem  # noqa: F401  (re-exported: microdomain.case.CaseError)
from . import reactions as reaction_models
from .geometry import builders
from .parameters import buffer_presets, flux_presets
from .quantities import (Bool, Concentration, Diffusivity, FieldError, FieldName, FileName, Length,
                         Name, PerCompartment, Rate, SecondOrderRate, Strict, Time)
from .registry import UnknownNameError

OUTSIDE = "outside"


# ---------------------------------------------------------------------------------- schema --

class CaseInfo(Strict):
    name: FileName
    description: str = ""
    references: tuple[str, ...] = ()


class Species(Strict):
    """A diffusing species: an ion (`ion = "Ca"`, with a valence: membrane fluxes move ions) or
    any other solute (`name = "IP3"`: only diffusion, binding and volume reactions change it).
    `initial` is the free concentration; buffers start in equilibrium with it. `in` lists the
    compartments it exists in (default: every one); elsewhere it is absent — zero, and no
    value, flux or reaction may put it there."""

    ion: FieldName | None = None
    name: FieldName | None = None
    valence: int | None = None
    compartments: tuple[str, ...] | None = Field(None, alias="in")
    D: PerCompartment("diffusivity")
    initial: PerCompartment("concentration")
    references: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _ion_or_name(cls, data):
        if not isinstance(data, dict):
            return data
        if "ion" in data and "name" in data:
            raise FieldError("name", "give `ion` (an ion) or `name` (a species that is not an "
                             "ion), not both")
        if "ion" not in data and "name" not in data:
            raise FieldError("ion", 'required: `ion = "Ca"` for an ion, or `name = "IP3"` for a '
                             "species that is not an ion")
        if "name" in data and "valence" in data:
            raise FieldError("valence", "only ions have a valence; write `ion = ...` instead of "
                             "`name = ...` for an ion")
        if "ion" in data and "valence" not in data:
            data = {**data, "valence": 2}
        return data

    @field_validator("compartments", mode="before")
    @classmethod
    def _one_or_many(cls, v):
        return (v,) if isinstance(v, str) else v

    @property
    def symbol(self) -> str:
        """The species' field name: the ion, or the name of a species that is not an ion."""
        return self.ion if self.ion is not None else self.name

    @property
    def is_ion(self) -> bool:
        return self.ion is not None

    def present_in(self, compartment: str) -> bool:
        return self.compartments is None or compartment in self.compartments


class Binding(Strict):
    ion: str
    kon: SecondOrderRate = Field(gt=0)
    koff: Rate = Field(ge=0)          # 0: irreversible (chemistry.equilibrium_bound: the start)


class Site(Strict):
    """`count` identical sites per molecule; each binds one of the listed ions at a time."""

    count: int = Field(1, ge=1)
    binds: tuple[Binding, ...] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data):
        # { ion = "Ca", kon = ..., koff = ... } is a site binding one ion
        if isinstance(data, dict) and "ion" in data and "binds" not in data:
            data = dict(data)
            binding = {k: data.pop(k) for k in ("ion", "kon", "koff") if k in data}
            data["binds"] = [binding]
        return data


class Buffer(Strict):
    """A buffer confined to compartments; `preset` fills D, sites and references from
    microdomain/parameters/buffers.toml (any of them may still be given to override)."""

    name: FieldName
    preset: str | None = None
    compartments: tuple[str, ...] = Field(alias="in")
    total: Concentration = Field(ge=0)
    D: Diffusivity = Field(0.0, ge=0)
    sites: tuple[Site, ...] = Field(min_length=1)
    initial: Literal["equilibrium", "free"] = "equilibrium"
    references: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data):
        if not isinstance(data, dict) or data.get("preset") is None:
            return data
        presets = buffer_presets()
        name = data["preset"]
        if not isinstance(name, str):
            raise FieldError("preset", f"must be a preset name, one of {', '.join(sorted(presets))}")
        if name not in presets:
            raise FieldError("preset", f"unknown buffer preset {name!r}; {_suggest(str(name), sorted(presets))}")
        preset = presets[name]
        merged = {k: preset[k] for k in ("D", "sites", "references")}
        merged.update(data)
        return merged

    @field_validator("compartments", mode="before")
    @classmethod
    def _one_or_many(cls, v):
        return (v,) if isinstance(v, str) else v

    def state_names(self) -> list[str]:
        """Unknown names of the bound states: 'EGTA.Ca', or 'calbindin.s1.Ca' with several sites."""
        names = []
        for i, site in enumerate(self.sites):
            for b in site.binds:
                names.append(f"{self.name}.{b.ion}" if len(self.sites) == 1
                             else f"{self.name}.s{i + 1}.{b.ion}")
        return names


class FluxSpec(Strict):
    model: str
    preset: str | None = None         # a parameter set of the model (parameters/fluxes.toml)
    surface: str
    source: str = Field(alias="from")
    target: str = Field(alias="to")
    params: dict[str, Any] = {}
    start: Time | None = None
    stop: Time | None = None
    outside: PerCompartment("concentration") = {}
    label: Name | None = None

    @property
    def name(self) -> str:
        return self.label or f"{self.model}@{self.surface}"


class ReactionSpec(Strict):
    """A volume reaction in the cells of some compartments: an equation ("A + B <-> C"), a rate
    law (`model`, registered in microdomain/reactions.py) and its `params`, whose units are
    checked against the equation's stoichiometry."""

    compartments: tuple[str, ...] = Field(alias="in")
    equation: str
    model: str
    params: dict[str, Any] = {}
    references: tuple[str, ...] = ()

    @field_validator("compartments", mode="before")
    @classmethod
    def _one_or_many(cls, v):
        return (v,) if isinstance(v, str) else v

    @field_validator("equation")
    @classmethod
    def _readable(cls, v):
        try:
            reaction_models.parse_equation(v)
        except reaction_models.EquationError as exc:
            raise ValueError(str(exc)) from None
        return v

    @property
    def parsed(self) -> reaction_models.Equation:
        return reaction_models.parse_equation(self.equation)


class Boundary(Strict):
    """An outer surface that exchanges with the world beyond the mesh. Far values: ions at
    `concentrations` (default: the initial value in the adjacent compartment), bound buffer
    states in equilibrium with them.

    - "bath": every species is held at its far value there (Dirichlet).
    - "open": the far field of a localised source at `center` (default: the origin), where
      every species deviates from its far value as 1/ρ: a Robin condition that lets a small
      domain stand for an unbounded one (assembly._open_conductance states the formula)."""

    surface: str
    type: Literal["bath", "open"] = "bath"
    concentrations: PerCompartment("concentration") = {}
    center: tuple[Length, ...] | None = None

    @model_validator(mode="after")
    def _center_only_when_open(self):
        if self.center is not None and self.type != "open":
            raise ValueError("'center' is the source position of an open boundary; it needs "
                             'type = "open"')
        return self


class Dt(Strict):
    initial: Time = Field(1e-3, gt=0)
    max: Time = Field(1.0, gt=0)
    min: Time = Field(1e-8, gt=0)


class TimeSpec(Strict):
    """Time integration (docs/case-files.md, "Time"): `method` "trbdf2" (second order,
    L-stable, the default) or "bdf1" (backward Euler); each step's local error estimate must
    stay below atol + rtol·|u| in every cell; `adaptive = false` takes steps of dt.initial with
    no error control. `mode = "steady"` solves for the steady state directly (pseudo-transient
    Newton), falling back to time marching to `end` if that fails; `steady_state` stops a
    transient run once every field changes by less than that fraction of itself per ms."""

    end: Time = Field(gt=0)
    dt: Dt = Dt()
    method: Literal["trbdf2", "bdf1"] = "trbdf2"
    adaptive: Bool = True
    mode: Literal["transient", "steady"] = "transient"
    rtol: float = Field(1e-4, gt=0)
    atol: Concentration = Field(1e-4, gt=0)
    steady_state: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _order(self):
        if not self.dt.min <= self.dt.initial <= self.dt.max:
            raise ValueError("need dt.min ≤ dt.initial ≤ dt.max")
        return self


class SolverSpec(Strict):
    """Nonlinear and linear solvers (docs/case-files.md, "Solver"). Newton stops when its
    correction, measured in units of the error tolerance (atol + rtol·|u|), falls below
    `newton_tol`. `linear = "auto"` factorises (SuperLU) in 1D/2D and for 3D systems of at most
    `direct_limit` unknowns; otherwise Krylov (GMRES) with a preconditioner chosen from the
    problem (`preconditioner = "auto"`: Jacobi when diffusion over a step spans less than a cell,
    algebraic multigrid otherwise). `membrane = "face"` evaluates membrane fluxes at the membrane
    (half-cell diffusion resistance included), "cell" at the adjacent cell centres."""

    linear: Literal["auto", "direct", "iterative"] = "auto"
    newton_tol: float = Field(0.03, gt=0)
    max_newton: int = Field(10, ge=1)
    iterative_tol: float = Field(1e-4, gt=0)
    preconditioner: Literal["auto", "jacobi", "amg"] = "auto"
    direct_limit: int = Field(1_000, ge=0)
    membrane: Literal["face", "cell"] = "face"
    # non-orthogonal correction on unstructured meshes (solver/nonorthogonal.py): "correct"
    # unlimited in the operator (T − C: second order; its energy stability is checked on the
    # shipped meshes, not proven for every mesh), "limited" deferred with each face's correction
    # at most `nonorthogonal_limit` times its two-point flux (stable, about first order),
    # "symmetric" the SUSHI-type scheme of solver/symmetric_flux.py (symmetric positive
    # semi-definite and consistent; Cartesian meshes only), "none" FiPy's two-point flux.
    # "auto": "correct" on unstructured 3D meshes (the tetrahedral contacts, up to 35 % off
    # without it), "none" elsewhere (assembly.nonorthogonal_mode says why)
    nonorthogonal: Literal["auto", "correct", "limited", "symmetric", "none"] = "auto"
    nonorthogonal_limit: float = Field(0.5, gt=0, le=1)
    allow_large: Bool = False     # lift the cell limit of structured grids (limits.MAX_CELLS)


class Probe(Strict):
    """A point whose values are recorded every step; `in` names the compartment whose side of a
    membrane it reads (default: the compartment holding the point)."""

    name: Name
    at: tuple[Length, ...] = Field(min_length=1, max_length=3)
    fields: tuple[str, ...] | None = None
    compartment: str | None = Field(None, alias="in")


class OutputSpec(Strict):
    every: Time | None = Field(None, gt=0)
    fields: tuple[str, ...] | None = None
    probes: tuple[Probe, ...] = ()
    # axisymmetric runs: also write each frame revolved into 3D in this many angular segments
    # (fields_revolved.pvd), for ParaView; N× the cells of the (r, z) frames
    revolve: int | None = Field(None, ge=4, le=360)
    # the frames: "vtu" (fields.pvd + a .vtu per frame) or "vtkhdf" (all in fields.vtkhdf,
    # the mesh once; needs h5py, microdomain[hdf5]); docs/run-directory.md
    format: Literal["vtu", "vtkhdf"] = "vtu"


class StochasticSpec(Strict):
    """Stochastic channel gating (docs/stochastic.md): the seed of the run's random stream
    (numpy's PCG64) and the bound on each opening or closing time, in units of the
    unit-exponential threshold of the channel's integrated hazard."""

    seed: int = Field(ge=0)
    hazard_tol: float = Field(1e-3, gt=0, le=0.1)


SECTIONS: dict[str, Any] = {
    "case": CaseInfo,
    "geometry": None,            # builder-specific
    "species": list[Species],
    "buffers": list[Buffer],
    "reactions": list[ReactionSpec],
    "fluxes": list[FluxSpec],
    "boundaries": list[Boundary],
    "time": TimeSpec,
    "solver": SolverSpec,
    "output": OutputSpec,
    "stochastic": StochasticSpec,
}
REQUIRED = ("case", "geometry", "species", "time")


@dataclass(frozen=True)
class Case:
    """A validated case in internal units (µm, ms, µM): one pydantic record per section, the
    validated params of each flux, and the dict it was read from (for replace())."""

    path: Path
    sha256: str
    info: CaseInfo
    geometry: Strict
    species: tuple[Species, ...]
    buffers: tuple[Buffer, ...]
    fluxes: tuple[FluxSpec, ...]
    flux_params: tuple[Strict, ...]   # validated params of each flux, in order
    boundaries: tuple[Boundary, ...]
    time: TimeSpec
    solver: SolverSpec
    output: OutputSpec
    reactions: tuple[ReactionSpec, ...] = ()
    reaction_params: tuple[Strict, ...] = ()   # validated params of each reaction, in order
    stochastic: StochasticSpec | None = None   # the seed of stochastic gating, when given
    raw: dict = field(default_factory=dict, repr=False, compare=False)   # as read, for replace()

    def replace(self, changes: dict[str, Any]) -> "Case":
        """A new case with `changes` made and the whole case validated again, exactly as a case
        file: {"time.end": "50 ms", "buffers.EGTA.total": "2 mM"}. Keys are dotted paths; list
        entries are reached by name (species by ion, buffers, probes, compartments and surfaces
        by name, fluxes by label or model@surface, boundaries by surface) or by index. Raises
        CaseError naming the path given."""
        raw, where = edit.apply(self.raw, changes, str(self.path))
        try:
            return case_from_dict(raw, str(self.path))
        except CaseError as exc:
            raise edit.rename_problems(exc, where) from None

    @property
    def builder(self):
        """The geometry builder the case names."""
        return builders.get(self.geometry.builder)

    def compartments(self) -> list[str]:
        """The compartment names of the geometry."""
        return self.builder.compartment_names(self.geometry)

    def field_names(self) -> list[str]:
        """The unknowns: free species (ions and others), then bound buffer states ('EGTA.Ca')."""
        return [s.symbol for s in self.species] + [n for b in self.buffers for n in b.state_names()]

    def normalised(self) -> dict:
        """The case as read, in internal units (µm, ms, µM), for the manifest."""
        dump = lambda m: m.model_dump(mode="json", by_alias=True)  # noqa: E731
        return {
            "units": {"length": "um", "time": "ms", "concentration": "uM"},
            "case": dump(self.info), "geometry": dump(self.geometry),
            "species": [dump(s) for s in self.species], "buffers": [dump(b) for b in self.buffers],
            "reactions": [dict(dump(r), params=dump(p))
                          for r, p in zip(self.reactions, self.reaction_params)],
            "fluxes": [dict(dump(f), params=dump(p)) for f, p in zip(self.fluxes, self.flux_params)],
            "boundaries": [dump(b) for b in self.boundaries], "time": dump(self.time),
            "solver": dump(self.solver), "output": dump(self.output),
            **({"stochastic": dump(self.stochastic)} if self.stochastic is not None else {}),
        }


# ---------------------------------------------------------------------------------- errors --

def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_fields(model: Any) -> dict[str, Any] | None:
    if isinstance(model, type) and issubclass(model, BaseModel):
        return {(f.alias or k): f.annotation for k, f in model.model_fields.items()}
    return None


def _unwrap(annotation: Any) -> Any:
    """The model class inside list[...], tuple[..., ...], X | None, Annotated[...]."""
    for arg in typing.get_args(annotation) or ():
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        inner = _unwrap(arg)
        if inner is not None:
            return inner
    return None


def _valid_keys_at(model: Any, loc: tuple) -> list[str]:
    current = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = _model_fields(current)
        if fields is None or part not in fields:
            return []
        ann = fields[part]
        current = ann if _model_fields(ann) is not None else _unwrap(ann)
    fields = _model_fields(current)
    return sorted(fields) if fields else []


def _pydantic_problems(file: str, prefix: tuple, model: Any, exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):       # a model validator naming one of its fields
            loc += cause.field
        full = prefix + loc
        if err["type"] == "extra_forbidden":
            valid = _valid_keys_at(model, loc)
            close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            msg = f"unknown key {loc[-1]!r}; {hint}valid keys: {', '.join(valid)}"
        elif err["type"] == "missing":
            msg = "required but missing"
        else:
            msg = err["msg"].removeprefix("Value error, ")
        problems.append(Problem(file, _path(full), msg))
    return problems


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}known: {', '.join(known) if known else '(none)'}"


# --------------------------------------------------------------------------------- loading --

def load_case(path: str | Path) -> Case:
    """Read and check a case file; raise CaseError listing every problem found."""
    path = Path(path)
    file = str(path)
    try:
        raw, raw_bytes = limits.read_toml(path)     # a small regular UTF-8 TOML file, not too deep
    except limits.InputError as exc:
        raise CaseError([Problem(file, "", str(exc))]) from None
    return case_from_dict(raw, file, hashlib.sha256(raw_bytes).hexdigest())


def _input_problems(file: str, raw: Any) -> list[Problem]:
    """What no schema sees: the shape of the whole input, and bare numbers that are not finite or
    are too large (tolerances, counts and exponents are plain TOML numbers)."""
    if not isinstance(raw, dict):
        return [Problem(file, "", "a case is a TOML document of tables ([case], [geometry], ...)")]
    depth = limits.nesting_depth(raw)
    if depth > limits.MAX_DEPTH:
        return [Problem(file, "", f"tables or arrays nested {depth} deep; the limit is {limits.MAX_DEPTH}")]
    out = []
    for where, value in limits.walk_leaves(raw):
        msg = limits.number_problem(value)
        if msg:
            out.append(Problem(file, _path(where), msg))
    return out


def case_from_dict(raw: dict, file: str = "<case>", sha256: str | None = None) -> Case:
    """Check a case given as the dict a TOML file would read to (tests, sweeps, scripts)."""
    path = Path(file)
    early = _input_problems(file, raw)
    if early and (not isinstance(raw, dict) or not early[0].path):
        raise CaseError(early)             # not a document, or too deep to walk safely
    if sha256 is None:
        sha256 = hashlib.sha256(repr(raw).encode()).hexdigest()
    problems: list[Problem] = []
    parsed: dict[str, Any] = {}
    for key in raw:
        if key not in SECTIONS:
            problems.append(Problem(file, key, f"unknown section; {_suggest(key, list(SECTIONS))}"))
    for key in REQUIRED:
        if key not in raw:
            problems.append(Problem(file, key, "required section is missing"))

    for key, model in SECTIONS.items():
        if key not in raw or key == "geometry":
            continue
        if key in ("species", "buffers", "reactions", "fluxes", "boundaries"):
            items = raw[key]
            if not isinstance(items, list):
                problems.append(Problem(file, key, f"must be an array of tables ([[{key}]])"))
                continue
            item_model = typing.get_args(model)[0]
            good = []
            for i, item in enumerate(items):
                try:
                    good.append(item_model.model_validate(item))
                except ValidationError as exc:
                    problems += _pydantic_problems(file, (key, i), item_model, exc)
                    good.append(None)
            parsed[key] = good
        else:
            try:
                parsed[key] = TypeAdapter(model).validate_python(raw[key])
            except ValidationError as exc:
                problems += _pydantic_problems(file, (key,), model, exc)

    if "geometry" in raw:
        geo = raw["geometry"]
        name = geo.get("builder") if isinstance(geo, dict) else None
        if not isinstance(geo, dict):
            problems.append(Problem(file, "geometry", "must be a table ([geometry] with builder = ...)"))
        elif name is None:
            problems.append(Problem(file, "geometry.builder", f"required; builders: {', '.join(builders.names())}"))
        elif not isinstance(name, str):
            problems.append(Problem(file, "geometry.builder", f"must be a builder's name (a string), "
                                    f"got {_type_name(name)}; builders: {', '.join(builders.names())}"))
        else:
            try:
                builder = builders.get(name)
                parsed["geometry"] = builder.Params.model_validate(geo, context={"case_dir": str(path.parent)})
            except UnknownNameError as exc:
                problems.append(Problem(file, "geometry.builder", str(exc)))
            except ValidationError as exc:
                problems += _pydantic_problems(file, ("geometry",), builder.Params, exc)

    flux_params = _check_flux_models(file, parsed.get("fluxes", []), problems)
    reaction_params = _check_reaction_models(file, parsed.get("reactions", []), problems)
    problems += _cross_references(file, parsed)
    geometry = parsed.get("geometry")
    problems += _reaction_references(
        file, parsed, builders.get(geometry.builder).compartment_names(geometry) if geometry else None,
        reaction_params)
    problems += _duplicate_names(file, parsed)
    problems += _probes_in_domain(file, parsed)
    problems += _size_problems(file, parsed)
    problems += _stochastic_problems(file, parsed, raw)
    if early or problems:
        # a bare number already reported (e.g. inf) is not reported again by its schema, and an
        # ion whose species has a problem is not reported missing wherever it is used
        seen = {p.path for p in early}
        unread = _unread_ions(raw.get("species"), parsed.get("species"))
        raise CaseError(early + [p for p in problems if p.path not in seen
                                 and not p.message.startswith(unread)])
    return Case(
        path=path, sha256=sha256, info=parsed["case"],
        geometry=parsed["geometry"], species=tuple(parsed["species"]),
        buffers=tuple(parsed.get("buffers", [])), fluxes=tuple(parsed.get("fluxes", [])),
        flux_params=tuple(flux_params), boundaries=tuple(parsed.get("boundaries", [])),
        time=parsed["time"], solver=parsed.get("solver", SolverSpec()),
        output=parsed.get("output", OutputSpec()), raw=copy.deepcopy(raw),
        reactions=tuple(parsed.get("reactions", [])), reaction_params=tuple(reaction_params),
        stochastic=parsed.get("stochastic"),
    )


def _stochastic_problems(file: str, parsed: dict, raw: dict) -> list[Problem]:
    """A case with stochastic channels needs a seed, and a transient run."""
    stochastic = [i for i, f in enumerate(parsed.get("fluxes") or []) if f is not None
                  and getattr(_model_or_none(f.model), "stochastic", False)]
    if not stochastic:
        return []
    out = []
    if "stochastic" not in raw:
        out.append(Problem(file, "stochastic", f"fluxes[{stochastic[0]}] gates stochastically: "
                           "give the seed of its random stream, [stochastic] seed = 123"))
    time = parsed.get("time")
    if time is not None and time.mode == "steady":
        out.append(Problem(file, "time.mode", f"fluxes[{stochastic[0]}] gates stochastically, "
                           "which has no steady state: use mode = \"transient\""))
    if time is not None and time.steady_state is not None:
        out.append(Problem(file, "time.steady_state", f"fluxes[{stochastic[0]}] gates stochastically: "
                           "fields at rest while every channel is shut are not a steady state "
                           "(one may open later); remove steady_state"))
    return out


def _model_or_none(name: str):
    try:
        return flux_plugins.registry.get(name)
    except UnknownNameError:
        return None


def _check_flux_models(file, specs, problems) -> list:
    out = []
    for i, spec in enumerate(specs):
        if spec is None:
            out.append(None)
            continue
        try:
            model = flux_plugins.registry.get(spec.model)
        except UnknownNameError as exc:
            problems.append(Problem(file, f"fluxes[{i}].model", str(exc)))
            out.append(None)
            continue
        params = dict(spec.params)
        if spec.preset is not None:
            presets = flux_presets().get(spec.model, {})
            if spec.preset not in presets:
                problems.append(Problem(file, f"fluxes[{i}].preset", f"no preset {spec.preset!r} for "
                                        f"flux model {spec.model!r}; {_suggest(spec.preset, sorted(presets))}"))
                out.append(None)
                continue
            params = {**presets[spec.preset].params, **params}   # the case overrides single values
        try:
            out.append(model.Params.model_validate(params))
        except ValidationError as exc:
            problems += _pydantic_problems(file, ("fluxes", i, "params"), model.Params, exc)
            out.append(None)
    return out


def _check_reaction_models(file, specs, problems) -> list:
    """Each reaction's params, read with its model's units for its equation (a rate constant's
    unit follows the reaction's order), and the model's own checks of the equation."""
    out = []
    for i, spec in enumerate(specs):
        if spec is None:
            out.append(None)
            continue
        try:
            model = reaction_models.registry.get(spec.model)
        except UnknownNameError as exc:
            problems.append(Problem(file, f"reactions[{i}].model", str(exc)))
            out.append(None)
            continue
        equation = spec.parsed
        params_model = model.params_model(equation)
        try:
            params = params_model.model_validate(spec.params)
        except ValidationError as exc:
            problems += _pydantic_problems(file, ("reactions", i, "params"), params_model, exc)
            out.append(None)
            continue
        found = model.check(equation, params)
        for key, message in found:
            problems.append(Problem(file, f"reactions[{i}].{key}", message))
        out.append(None if found else params)
    return out


def _reaction_references(file: str, parsed: dict, comps, reaction_params) -> list[Problem]:
    """Every species a reaction names or reads exists (a species, or a bound state of a buffer)
    and is present in each compartment the reaction runs in."""
    P = lambda path, msg: Problem(file, path, msg)  # noqa: E731
    problems: list[Problem] = []
    species = {s.symbol: s for s in parsed.get("species", []) if s is not None}
    buffers = [b for b in parsed.get("buffers", []) if b is not None]
    states = {n: b for b in buffers for n in b.state_names()}
    known = list(species) + list(states)
    for i, spec in enumerate(parsed.get("reactions", [])):
        if spec is None:
            continue
        for c in spec.compartments:
            if comps is not None and c not in comps:
                problems.append(P(f"reactions[{i}].in", f"no compartment {c!r} in the geometry; "
                                  f"{_suggest(c, comps)}"))
        params = reaction_params[i] if i < len(reaction_params) else None
        names = [(n, "equation") for n in spec.parsed.species()]
        if params is not None:
            model = reaction_models.registry.get(spec.model)(params, spec.parsed)
            values = params.model_dump()
            for n in model.reads():
                if n not in spec.parsed.species():
                    key = next((k for k, v in values.items() if v == n), None)
                    names.append((n, f"params.{key}" if key else "params"))
        for name, where in names:
            path = f"reactions[{i}].{where}"
            if name in species:
                absent = [c for c in spec.compartments if not species[name].present_in(c)]
                if absent:
                    problems.append(P(path, f"{name!r} is absent from {', '.join(absent)} (its "
                                      f"`in` lists {', '.join(species[name].compartments)}); a "
                                      "reaction there cannot use it"))
            elif name in states:
                absent = [c for c in spec.compartments if c not in states[name].compartments]
                if absent:
                    problems.append(P(path, f"{name!r} is a bound state of buffer "
                                      f"{states[name].name!r}, which is not in {', '.join(absent)}"))
            elif any(b.name == name for b in buffers):
                buf = next(b for b in buffers if b.name == name)
                problems.append(P(path, f"{name!r} is a buffer: its free sites are not an unknown; "
                                  f"reactions take species and bound states ({', '.join(buf.state_names())})"))
            else:
                hint = " (a coefficient is written apart: '2 A')" if re.match(r"\d+\D", name) else ""
                problems.append(P(path, f"no species {name!r}{hint}; {_suggest(name, known)}"))
    return problems


@dataclass(frozen=True)
class _Names:
    """What the other sections may refer to, read once from the validated sections: the
    geometry's compartments and surfaces (None without a valid geometry: those checks are
    then skipped, the geometry's own problem is already reported), the species and fields."""

    comps: list[str] | None
    surfs: list[str] | None
    species: dict[str, Any]              # symbol → species (ions and the others)
    fields: list[str]                    # species and bound buffer states
    dim: int | None

    @property
    def ions(self) -> list[str]:
        return list(self.species)

    @classmethod
    def of(cls, parsed: dict) -> "_Names":
        geometry = parsed.get("geometry")
        builder = builders.get(geometry.builder) if geometry else None
        species = [s for s in parsed.get("species", []) if s is not None]
        buffers = [b for b in parsed.get("buffers", []) if b is not None]
        symbols = [s.symbol for s in species]
        return cls(builder.compartment_names(geometry) if builder else None,
                   builder.surface_names(geometry) if builder else None,
                   {s.symbol: s for s in species},
                   symbols + [n for b in buffers for n in b.state_names()],
                   _geometry_dim(geometry))


def _cross_references(file: str, parsed: dict) -> list[Problem]:
    """Every name one section uses that another defines, section by section."""
    known = _Names.of(parsed)
    return [Problem(file, path, message)
            for check in (_species_references, _buffer_references, _flux_references,
                          _boundary_references, _output_references)
            for path, message in check(parsed, known)]


def _table_problems(path: str, table: dict, what: str, comps: list[str] | None,
                    where: list[str] | None = None) -> Iterator[tuple[str, str]]:
    """A per-compartment table covers the compartments `where` (default: all) and no other."""
    if comps is not None:
        inside = comps if where is None else [c for c in comps if c in where]
        for key in table:
            if key != "*" and key not in comps:
                yield f"{path}.{key}", f"no compartment {key!r} in the geometry; {_suggest(key, comps)}"
            elif key != "*" and key not in inside:
                yield (f"{path}.{key}", f"the species is absent from {key!r} (not in its `in`: "
                       f"{', '.join(where)}); give no value there")
        missing = [c for c in inside if c not in table and "*" not in table]
        if missing:
            yield (path, f"no {what} for compartment(s) {', '.join(missing)}; give one value for all "
                   "or a table covering every compartment" + ("" if where is None else " of its `in`"))
    for key, v in table.items():
        if v < 0:
            yield (path if key == "*" else f"{path}.{key}",
                   f"{what} must not be negative (got {v:g} in internal units)")


def _species_references(parsed: dict, known: _Names) -> Iterator[tuple[str, str]]:
    comps, symbols = known.comps, [s.symbol for s in parsed.get("species", []) if s is not None]
    for i, s in enumerate(parsed.get("species", [])):
        if s is None:
            continue
        key = "ion" if s.is_ion else "name"
        if symbols.count(s.symbol) > 1:
            yield f"species[{i}].{key}", f"species {s.symbol!r} is listed twice"
        if s.is_ion and s.valence == 0:
            yield (f"species[{i}].valence", "an ion needs a nonzero valence; a species without "
                   "charge is written `name = ...`")
        for c in s.compartments or ():
            if comps is not None and c not in comps:
                yield f"species[{i}].in", f"no compartment {c!r} in the geometry; {_suggest(c, comps)}"
        if s.compartments is not None and not s.compartments:
            yield f"species[{i}].in", "lists no compartment; leave `in` out for every compartment"
        yield from _table_problems(f"species[{i}].D", s.D, "diffusivity", comps, s.compartments)
        yield from _table_problems(f"species[{i}].initial", s.initial, "initial concentration",
                                   comps, s.compartments)


def _buffer_references(parsed: dict, known: _Names) -> Iterator[tuple[str, str]]:
    comps, ions, names = known.comps, known.ions, list(known.ions)
    for i, b in enumerate(parsed.get("buffers", [])):
        if b is None:
            continue
        if b.name in names or any(n.startswith(b.name + ".") for n in names):
            yield f"buffers[{i}].name", f"name {b.name!r} is already used"
        names.append(b.name)
        for c in b.compartments:
            if comps is not None and c not in comps:
                yield f"buffers[{i}].in", f"no compartment {c!r} in the geometry; {_suggest(c, comps)}"
        for j, site in enumerate(b.sites):
            seen = [x.ion for x in site.binds]
            for k, binding in enumerate(site.binds):
                path = f"buffers[{i}].sites[{j}].binds[{k}].ion"
                if binding.ion not in ions:
                    yield path, f"no species {binding.ion!r}; {_suggest(binding.ion, ions)}"
                else:
                    absent = [c for c in b.compartments if not known.species[binding.ion].present_in(c)]
                    if absent:
                        yield (path, f"{binding.ion!r} is absent from {', '.join(absent)}, where "
                               f"buffer {b.name!r} lies")
                if seen.count(binding.ion) > 1:
                    yield f"buffers[{i}].sites[{j}]", f"binds {binding.ion!r} twice"


def _flux_references(parsed: dict, known: _Names) -> Iterator[tuple[str, str]]:
    comps, surfs, ions = known.comps, known.surfs, known.ions
    for i, f in enumerate(parsed.get("fluxes", [])):
        if f is None:
            continue
        if surfs is not None and f.surface not in surfs:
            yield f"fluxes[{i}].surface", f"no surface {f.surface!r} in the geometry; {_suggest(f.surface, surfs)}"
        for key, side in (("from", f.source), ("to", f.target)):
            if comps is not None and side != OUTSIDE and side not in comps:
                yield f"fluxes[{i}].{key}", f"no compartment {side!r}; {_suggest(side, comps + [OUTSIDE])}"
        if f.source == f.target:
            yield f"fluxes[{i}]", "'from' and 'to' are the same compartment"
        if f.start is not None and f.stop is not None and f.stop <= f.start:
            yield f"fluxes[{i}].stop", "must come after 'start'"
        for ion, v in f.outside.items():
            if ion not in ions:
                yield f"fluxes[{i}].outside.{ion}", f"no species {ion!r}; {_suggest(ion, ions)}"
            elif v < 0:
                yield f"fluxes[{i}].outside.{ion}", "concentration must not be negative"
        for key in ("ion", "gating_ion"):           # the species a model moves or is gated by
            ion = f.params.get(key)
            if not isinstance(ion, str):
                continue
            if ion not in ions:
                yield f"fluxes[{i}].params.{key}", f"no species {ion!r}; {_suggest(ion, ions)}"
            elif not known.species[ion].is_ion:
                yield (f"fluxes[{i}].params.{key}", f"{ion!r} is not an ion (it is declared with "
                       "`name =`); membrane flux models move ions and are gated by ions")


def _boundary_references(parsed: dict, known: _Names) -> Iterator[tuple[str, str]]:
    surfs, ions = known.surfs, known.ions
    for i, b in enumerate(parsed.get("boundaries", [])):
        if b is None:
            continue
        if surfs is not None and b.surface not in surfs:
            yield f"boundaries[{i}].surface", f"no surface {b.surface!r}; {_suggest(b.surface, surfs)}"
        for ion, v in b.concentrations.items():
            path = f"boundaries[{i}].concentrations.{ion}"
            if ion not in ions:
                yield path, f"no species {ion!r}; {_suggest(ion, ions)}"
            elif v < 0:
                yield path, "concentration must not be negative"


def _output_references(parsed: dict, known: _Names) -> Iterator[tuple[str, str]]:
    output, comps, fields, dim = parsed.get("output"), known.comps, known.fields, known.dim
    if output is None:
        return
    for k, name in enumerate(output.fields or ()):
        if name not in fields:
            yield f"output.fields[{k}]", f"no field {name!r}; {_suggest(name, fields)}"
    probe_names = [p.name for p in output.probes]
    for k, probe in enumerate(output.probes):
        if probe.compartment is not None and comps is not None and probe.compartment not in comps:
            yield (f"output.probes[{k}].in", f"no compartment {probe.compartment!r}; "
                   f"{_suggest(probe.compartment, comps)}")
        if probe_names.count(probe.name) > 1:
            yield f"output.probes[{k}].name", f"probe name {probe.name!r} is used twice"
        if dim is not None and len(probe.at) != dim:
            yield (f"output.probes[{k}].at", f"needs {dim} coordinates for this {dim}D geometry, "
                   f"got {len(probe.at)}")
        for name in probe.fields or ():
            if name not in fields:
                yield f"output.probes[{k}].fields", f"no field {name!r}; {_suggest(name, fields)}"


def _geometry_dim(geometry) -> int | None:
    return builders.get(geometry.builder).dim(geometry) if geometry is not None else None


def _unread_ions(raw_species: Any, parsed_species: list | None) -> tuple[str, ...]:
    """Message prefixes ("no species 'Ca'", "no field 'Ca'") for the ions of species entries
    that failed to validate: those ions exist, their entry is what needs fixing."""
    if not isinstance(raw_species, list) or not parsed_species:
        return ()
    out: list[str] = []
    for item, ok in zip(raw_species, parsed_species):
        name = item.get("ion", item.get("name")) if isinstance(item, dict) else None
        if ok is None and isinstance(name, str):
            out += [f"no species {name!r}", f"no field {name!r}"]
    return tuple(out)


def _type_name(value: Any) -> str:
    names = {list: "a list", dict: "a table", bool: "a boolean", int: "an integer", float: "a number"}
    return names.get(type(value), f"a {type(value).__name__}")


def _duplicate_names(file: str, parsed: dict) -> list[Problem]:
    """Names that must be unique: a second surface of one name would be silently dropped, two
    fluxes of one name would share their metrics, two boundary conditions (baths) on one surface
    would fight."""
    problems: list[Problem] = []

    def repeats(names: list[str]):
        seen: dict[str, int] = {}
        for i, n in enumerate(names):
            if n in seen:
                yield i, n, seen[n]
            else:
                seen[n] = i

    geometry = parsed.get("geometry")
    specs = getattr(geometry, "surfaces", None)
    if isinstance(specs, tuple):
        names = [getattr(s, "name", s) for s in specs]
        for i, n, first in repeats(names):
            where = f"geometry.surfaces[{i}]" + (".name" if hasattr(specs[i], "name") else "")
            problems.append(Problem(file, where, f"surface name {n!r} is already used by "
                                    f"geometry.surfaces[{first}]; give each surface its own name"))
    fluxes = [(i, f) for i, f in enumerate(parsed.get("fluxes", [])) if f is not None]
    for k, n, first in repeats([f.name for _, f in fluxes]):
        i, f = fluxes[k]
        problems.append(Problem(file, f"fluxes[{i}].label" if f.label else f"fluxes[{i}]",
                                f"flux name {n!r} is already used by fluxes[{fluxes[first][0]}]; "
                                "metrics and fluxes.csv are keyed by it: give each a distinct `label`"))
    baths = [(i, b) for i, b in enumerate(parsed.get("boundaries", [])) if b is not None]
    for k, n, first in repeats([b.surface for _, b in baths]):
        problems.append(Problem(file, f"boundaries[{baths[k][0]}].surface",
                                f"surface {n!r} already has a boundary condition "
                                f"(boundaries[{baths[first][0]}]); give each surface one"))
    return problems


def _probes_in_domain(file: str, parsed: dict) -> list[Problem]:
    """Every probe inside the domain's box (r ≥ 0 in axisymmetric ones), where the builder can
    say its extent before meshing (structured grids, Gmsh contacts; not user mesh files)."""
    geometry, output = parsed.get("geometry"), parsed.get("output")
    if geometry is None or output is None:
        return []
    box = builders.get(geometry.builder).bounds(geometry)
    if not box:
        return []
    problems = []
    for k, probe in enumerate(output.probes):
        if len(probe.at) != len(box):
            continue                        # reported as a wrong number of coordinates
        for i, (x, (axis, lo, hi)) in enumerate(zip(probe.at, box)):
            tol = 1e-9 * max(hi - lo, 1e-12)
            if not lo - tol <= x <= hi + tol:
                problems.append(Problem(file, f"output.probes[{k}].at[{i}]",
                                        f"{axis} = {x:g} um lies outside the domain, which spans "
                                        f"{axis} = {lo:g} to {hi:g} um (probe {probe.name!r})"))
    return problems


def _size_problems(file: str, parsed: dict) -> list[Problem]:
    """Refuse a structured grid too large to build, from its cell count computed without
    allocating it: above limits.MAX_CELLS cells unless [solver] allow_large = true, and always
    above this machine's memory by a floor estimate (such a case could never run)."""
    geometry = parsed.get("geometry")
    cells = builders.get(geometry.builder).estimate_cells(geometry) if geometry else None
    if cells is None:
        return []
    species = [s for s in parsed.get("species", []) if s is not None]
    buffers = [b for b in parsed.get("buffers", []) if b is not None]
    fields = max(1, len(species) + sum(len(b.state_names()) for b in buffers))
    unknowns = cells * fields
    memory = cells * limits.BYTES_PER_CELL + unknowns * limits.BYTES_PER_UNKNOWN
    ram = limits.physical_memory()
    solver = parsed.get("solver")
    allow_large = bool(solver is not None and solver.allow_large)
    where = "geometry.cells" if getattr(geometry, "cells", None) is not None else "geometry.spacing"
    what = (f"the grid would have {cells:.3g} cells, {unknowns:.3g} unknowns ({fields} fields) and "
            f"need at least {limits.human_bytes(memory)} of memory")
    if ram is not None and memory > ram:
        return [Problem(file, where, f"{what}, more than this machine's "
                        f"{limits.human_bytes(ram)}; use fewer cells or a coarser spacing")]
    if cells > limits.MAX_CELLS and not allow_large:
        return [Problem(file, where, f"{what}; the limit is {limits.MAX_CELLS:.3g} cells: use fewer "
                        "cells or a coarser spacing, or set [solver] allow_large = true")]
    return []
