"""Sweep definitions: one base case, a design of points, the metrics to tabulate.

A sweep file (TOML) has one `[sweep]` section: `name`, `case` (the base case file, relative to
the sweep file), one design — `parameter` and `values` (one parameter), `[sweep.grid]` (several
parameters, every combination), `[sweep.zip]` (several parameters, the i-th values together) or
`[sweep.sample]` (a seeded random or Latin-hypercube design over ranges with units) — and/or
`seeds = N` (every point repeated with seeds 0…N−1 at `seed_parameter`), `overrides` (for every
point), `metrics` (column → dotted path into metrics.json) and `ratios`.

Paths are those of `Case.replace` (edit.py). `plan()` expands the design into points and
validates every point's case before anything runs; metric paths are checked against the
metrics.json schema (records.Metrics) and, where the case names them, against its compartments,
ions and fluxes. docs/sweeps.md describes the format.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from .. import edit
from ..case import Case, CaseError, Problem, case_from_dict
from ..limits import InputError, read_toml
from ..quantities import Strict
from ..records import Metrics

MAX_POINTS = 100_000          # a design larger than this is refused (a typo in a grid, not a plan)
MAX_SEEDS = 100_000
DEFAULT_SEED_PARAMETER = "stochastic.seed"


class Range(Strict):
    """A sampled parameter: `low` to `high` (quantities in the same dimension, or numbers),
    uniform in the value or, with `scale = "log"`, in its logarithm; `integer` rounds."""

    low: Any
    high: Any
    scale: Literal["linear", "log"] = "linear"
    integer: bool = False

    @model_validator(mode="before")
    @classmethod
    def _pair(cls, data):
        if isinstance(data, (list, tuple)):
            if len(data) != 2:
                raise ValueError("a range is [low, high] or { low = ..., high = ... }")
            return {"low": data[0], "high": data[1]}
        return data


class Sample(Strict):
    method: Literal["latin-hypercube", "random"] = "latin-hypercube"
    points: int = Field(ge=1, le=MAX_POINTS)
    seed: int = Field(0, ge=0)
    ranges: dict[str, Range] = Field(min_length=1)


class SweepSpec(Strict):
    name: str = Field(min_length=1, max_length=100)
    case: str                                     # base case file, relative to the sweep file
    parameter: str | None = None                  # one parameter: its dotted path ...
    values: list[Any] | None = Field(None, min_length=1)      # ... and its values
    grid: dict[str, list[Any]] | None = Field(None, min_length=1)
    zipped: dict[str, list[Any]] | None = Field(None, alias="zip", min_length=1)
    sample: Sample | None = None
    seeds: int | None = Field(None, ge=1, le=MAX_SEEDS)
    seed_parameter: str = DEFAULT_SEED_PARAMETER
    overrides: dict[str, Any] = {}                # dotted path → value, for every point
    metrics: dict[str, str] = {}                  # column → dotted path into metrics.json
    ratios: dict[str, tuple[str, str]] = {}       # column → (numerator column, denominator column)

    @property
    def design(self) -> str:
        """'values', 'grid', 'zip', 'sample' or 'seeds' (an ensemble of the base case alone)."""
        for name, given in (("values", self.parameter is not None), ("grid", self.grid),
                            ("zip", self.zipped), ("sample", self.sample)):
            if given:
                return name
        return "seeds"


# ---------------------------------------------------------------------------- points --

@dataclass(frozen=True)
class Parameter:
    """A swept parameter: its dotted path, its column in the summary and the unit of the
    numbers there ('' for plain numbers and text)."""

    path: str
    column: str
    unit: str = ""


@dataclass
class Point:
    """One run of the sweep: its label (the run directory's name), the changes made to the base
    case, the numbers of its parameters in the summary's units, its seed, and its case."""

    index: int
    label: str
    changes: dict[str, Any]
    values: dict[str, Any]                 # column → number (or text) for the summary
    seed: int | None = None
    case: Case | None = field(default=None, repr=False)


@dataclass
class Plan:
    """A validated sweep: the spec, where it came from, its parameters and its points."""

    spec: SweepSpec
    file: str
    base_path: Path
    parameters: list[Parameter]
    points: list[Point]

    @property
    def columns(self) -> list[str]:
        return [p.column for p in self.parameters] + (["seed"] if self.spec.seeds else [])

    def describe(self) -> str:
        s = self.spec
        what = {"values": f"{s.parameter} over {len(s.values or [])} values",
                "grid": f"a grid of {' × '.join(f'{len(v)} {k}' for k, v in (s.grid or {}).items())}",
                "zip": f"{', '.join(s.zipped or {})} together over {len(next(iter((s.zipped or {'': []}).values())))} values",
                "sample": f"{s.sample.points if s.sample else 0} {s.sample.method if s.sample else ''} "
                          f"samples of {', '.join((s.sample.ranges if s.sample else {}))}",
                "seeds": "the case"}[s.design]
        seeds = f", each with seeds 0…{s.seeds - 1}" if s.seeds else ""
        return f"{len(self.points)} points: {what}{seeds}"


# --------------------------------------------------------------------------- reading --

def _problems(file: str, exc: ValidationError) -> list[Problem]:
    out = []
    for e in exc.errors():
        loc = ["sweep", *("zip" if x == "zipped" else str(x) for x in e["loc"])]
        out.append(Problem(file, ".".join(loc), e["msg"].removeprefix("Value error, ")))
    return out


def load_sweep(source, file: str | None = None) -> SweepSpec:
    """A sweep file (path) or its [sweep] table (dict), checked on its own; CaseError lists every
    problem, each at its field (`sweep.grid.geometry.gap`)."""
    if isinstance(source, SweepSpec):
        return source
    if isinstance(source, dict):
        raw = {"sweep": source} if "sweep" not in source else source
        file = file or "<sweep>"
    else:
        path = Path(source)
        file = str(path)
        try:
            raw, _ = read_toml(path)
        except InputError as exc:
            raise CaseError([Problem(file, "", f"cannot read the sweep file: {exc}")]) from None
    if set(raw) != {"sweep"}:
        raise CaseError([Problem(file, ",".join(sorted(set(raw) - {"sweep"})) or "sweep",
                                 "a sweep file has exactly one section, [sweep]")])
    if not isinstance(raw["sweep"], dict):
        raise CaseError([Problem(file, "sweep", "must be a table ([sweep])")])
    try:
        spec = SweepSpec.model_validate(raw["sweep"])
    except ValidationError as exc:
        raise CaseError(_problems(file, exc)) from None
    problems = _design_problems(spec, file)
    problems += [Problem(file, f"sweep.ratios.{k}", f"{a!r} or {b!r} is not a metrics column")
                 for k, (a, b) in spec.ratios.items() if a not in spec.metrics or b not in spec.metrics]
    problems += [Problem(file, f"sweep.metrics.{k}", why) for k, p in spec.metrics.items()
                 if (why := Metrics.path_problem(p))]
    clash = set(spec.ratios) & set(spec.metrics)
    problems += [Problem(file, f"sweep.ratios.{k}", "is also a metrics column") for k in sorted(clash)]
    if problems:
        raise CaseError(problems)
    return spec


def _design_problems(spec: SweepSpec, file: str) -> list[Problem]:
    P = lambda path, msg: Problem(file, path, msg)  # noqa: E731
    out = []
    if (spec.parameter is None) != (spec.values is None):
        out.append(P("sweep.values" if spec.values is None else "sweep.parameter",
                     "`parameter` and `values` go together: the path and its list of values"))
    given = [n for n, g in (("parameter", spec.parameter is not None), ("grid", spec.grid),
                            ("zip", spec.zipped), ("sample", spec.sample)) if g]
    if len(given) > 1:
        out.append(P(f"sweep.{given[1]}", f"one design per sweep: `{given[0]}` is given already "
                     "(a grid takes several parameters: [sweep.grid])"))
    if not given and not spec.seeds:
        out.append(P("sweep", "no design: give `parameter` and `values`, [sweep.grid], [sweep.zip], "
                     "[sweep.sample], or `seeds = N` for an ensemble of the case"))
    if spec.zipped:
        lengths = {k: len(v) for k, v in spec.zipped.items()}
        first, n = next(iter(lengths.items()))
        for k, m in lengths.items():
            if m != n:
                out.append(P(f"sweep.zip.{k}", f"{m} values, but {first!r} has {n}: zipped lists "
                             "are taken together and must be as long"))
    if spec.sample:
        for k, r in spec.sample.ranges.items():
            why = _range_problem(r)
            if why:
                out.append(P(f"sweep.sample.ranges.{k}", why))
    paths = list(_swept_paths(spec))
    for p in paths:
        if p in spec.overrides:
            out.append(P(f"sweep.overrides.{p}", "is also swept; a point would get both values"))
    if spec.seeds and spec.seed_parameter in paths:
        out.append(P("sweep.seed_parameter", f"{spec.seed_parameter!r} is also swept"))
    n = _count(spec)
    if n > MAX_POINTS:
        out.append(P("sweep", f"{n} points; a sweep is limited to {MAX_POINTS}"))
    return out


def _swept_paths(spec: SweepSpec):
    if spec.parameter is not None:
        yield spec.parameter
    for table in (spec.grid, spec.zipped, spec.sample.ranges if spec.sample else None):
        yield from (table or {})


def _count(spec: SweepSpec) -> int:
    n = {"values": len(spec.values or []), "grid": math.prod(len(v) for v in (spec.grid or {}).values()),
         "zip": len(next(iter(spec.zipped.values()))) if spec.zipped else 0,
         "sample": spec.sample.points if spec.sample else 0, "seeds": 1}[spec.design]
    return n * (spec.seeds or 1)


# --------------------------------------------------------------------------- numbers --

def _quantity(value):
    """A pint quantity for a string with a unit, None for anything else."""
    from ..units import UnitError, _parse

    if not isinstance(value, str) or not re.match(r"\s*[+-]?(\d|\.\d)", value):
        return None
    try:
        q = _parse(value)
    except UnitError:
        return None
    return q if not q.dimensionless or re.search(r"[A-Za-z]", value) else None


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _range_problem(r: Range) -> str | None:
    lo, hi = _quantity(r.low), _quantity(r.high)
    if lo is None and hi is None:
        a, b = _number(r.low), _number(r.high)
        if a is None or b is None:
            return "low and high must be numbers, or quantities with units such as '5 nm'"
    elif lo is None or hi is None:
        return "give both bounds with units (or neither), e.g. ['5 nm', '50 nm']"
    else:
        if lo.dimensionality != hi.dimensionality:
            return f"{r.low!r} and {r.high!r} are not of the same kind"
        a, b = float(lo.magnitude), float(hi.to(lo.units).magnitude)
    if not a < b:
        return f"low must be below high ({r.low!r} ≥ {r.high!r})"
    if r.scale == "log" and a <= 0:
        return "a log scale needs a positive low bound"
    return None


def unit_tag(unit: str) -> str:
    """A unit as written ('um**2/s') for a column name ('um2_per_s')."""
    tag = re.sub(r"\s+", "", unit).replace("**", "").replace("^", "")
    tag = tag.replace("/", "_per_").replace("*", "_").replace("µ", "u")
    return tag.strip("_")


def _unit_text(value: str) -> str:
    m = re.match(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*(.*)$", value)
    return m.group(1).strip() if m else ""


def column_numbers(path: str, values: list[Any]) -> tuple[Parameter, list[Any]]:
    """The summary column of a parameter and its values there: quantities become numbers in the
    unit of the first one (named in the column: `geometry.gap_nm`), numbers stay numbers, and
    anything else (a preset name, a boolean) stays as it is."""
    quantities = [_quantity(v) for v in values]
    units = [q for q in quantities if q is not None]
    if units and all(q is not None or _number(v) == 0 for q, v in zip(quantities, values)):
        first = units[0]
        if all(q is None or q.dimensionality == first.dimensionality for q in quantities):
            unit = _unit_text(next(v for v, q in zip(values, quantities) if q is not None))
            numbers = [0.0 if q is None else float(q.to(first.units).magnitude) for q in quantities]
            return Parameter(path, f"{path}_{unit_tag(unit)}", unit), numbers
    return Parameter(path, path), list(values)


def _format(magnitude: float, unit: str, integer: bool) -> Any:
    if integer:
        magnitude = int(round(magnitude))
    if not unit:
        return magnitude
    return f"{magnitude!r} {unit}"


def sample_values(sample: Sample) -> dict[str, list[Any]]:
    """The sampled values per parameter: numbers, or strings in the unit of `low`."""
    import numpy as np

    rng = np.random.default_rng(sample.seed)
    n, names = sample.points, list(sample.ranges)
    if sample.method == "latin-hypercube":
        # one point in each of n strata per parameter, the strata paired at random
        u = np.column_stack([(rng.permutation(n) + rng.random(n)) / n for _ in names])
    else:
        u = rng.random((n, len(names)))
    out = {}
    for j, name in enumerate(names):
        r = sample.ranges[name]
        lo = _quantity(r.low)
        if lo is None:
            a, b, unit = float(r.low), float(r.high), ""
        else:
            unit = _unit_text(r.low)
            a, b = float(lo.magnitude), float(_quantity(r.high).to(lo.units).magnitude)
        x = np.exp(np.log(a) + u[:, j] * (np.log(b) - np.log(a))) if r.scale == "log" \
            else a + u[:, j] * (b - a)
        out[name] = [_format(float(v), unit, r.integer) for v in x]
    return out


# ------------------------------------------------------------------------------ plan --

def _label_part(path: str, value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "", f"{path.split('.')[-1]}_{value}".replace(" ", ""))


def run_label(parameter: str, value: Any) -> str:
    """The run directory name of one value of one parameter ('gap_5nm')."""
    return _label_part(parameter, value)


def _design(spec: SweepSpec) -> tuple[list[str], list[tuple]]:
    """(paths, rows of values) of the design, seeds not included."""
    if spec.design == "values":
        return [spec.parameter], [(v,) for v in spec.values]
    if spec.design == "grid":
        paths = list(spec.grid)
        return paths, list(itertools.product(*(spec.grid[p] for p in paths)))
    if spec.design == "zip":
        paths = list(spec.zipped)
        return paths, list(zip(*(spec.zipped[p] for p in paths)))
    if spec.design == "sample":
        values = sample_values(spec.sample)
        paths = list(values)
        return paths, list(zip(*(values[p] for p in paths)))
    return [], [()]


def points(spec: SweepSpec) -> tuple[list[Parameter], list[Point]]:
    """The design expanded: the parameters (summary columns) and the points, in order (seeds
    innermost), without their cases."""
    paths, rows = _design(spec)
    params, numbers = [], []
    for j, path in enumerate(paths):
        p, nums = column_numbers(path, [r[j] for r in rows])
        params.append(p)
        numbers.append(nums)
    # run directory names: the values (gap_5nm__channels_3), or numbered for samples and where
    # the values do not make unique names
    labels = ["__".join(_label_part(p, v) for p, v in zip(paths, r)) for r in rows]
    if spec.design == "sample" or len(set(labels)) != len(labels) or any(not x for x in labels[1:]):
        width = max(4, len(str(len(rows) - 1)))
        labels = [f"{'sample' if spec.design == 'sample' else 'point'}_{i:0{width}d}"
                  for i in range(len(rows))]
    out = []
    seeds = list(range(spec.seeds)) if spec.seeds else [None]
    for i, row in enumerate(rows):
        for seed in seeds:
            changes = {**spec.overrides, **dict(zip(paths, row))}
            label = labels[i]
            if seed is not None:
                changes[spec.seed_parameter] = seed
                label = f"{label}__seed_{seed}" if label else f"seed_{seed}"
            values = {p.column: nums[i] for p, nums in zip(params, numbers)}
            if seed is not None:
                values["seed"] = seed
            out.append(Point(len(out), label, changes, values, seed))
    return params, out


def plan(source, *, max_problems: int = 30) -> Plan:
    """Read a sweep (file path, dict or SweepSpec), expand its design and validate every point's
    case; CaseError lists every problem (at most `max_problems`, then how many more)."""
    file = str(source) if isinstance(source, (str, Path)) else "<sweep>"
    spec = load_sweep(source, file)
    where = Path(file).parent if isinstance(source, (str, Path)) else Path.cwd()
    base_path = (where / spec.case).resolve()
    try:
        base, _ = read_toml(base_path)
    except InputError as exc:
        raise CaseError([Problem(file, "sweep.case", f"{spec.case!r} ({base_path}) {exc}")]) from None
    params, pts = points(spec)
    problems: list[Problem] = []
    if spec.seeds and not _has_path(base, spec.seed_parameter):
        # setting the seed would add it to a case that reads none: identical runs per seed
        raise CaseError([Problem(file, "sweep.seeds", f"sets {spec.seed_parameter!r} in every "
                                 f"point's case, but the case has no {spec.seed_parameter!r}. A "
                                 "deterministic case has no seed; name the case's seed with "
                                 "`seed_parameter`")])
    seen: dict[tuple[str, str], list] = {}        # the same problem at many points: said once
    for pt in pts:
        try:
            # the base case need not be valid alone: the changes are made, then it is checked
            raw, resolved = edit.apply(base, pt.changes, file)
            try:
                pt.case = case_from_dict(raw, str(base_path))
            except CaseError as exc:
                raise edit.rename_problems(exc, resolved) from None
        except CaseError as exc:
            for p in exc.problems:
                if _is_seed(p.path, spec):
                    p = Problem(file, "sweep.seeds", f"sets {spec.seed_parameter!r} in every "
                                f"point's case, but {p.path}: {p.message}. A deterministic case "
                                "has no seed; name the case's seed with `seed_parameter`")
                key = (p.path, p.message)
                if key not in seen:
                    seen[key] = [p.file, pt.label, 0]
                    problems.append(key)
                seen[key][2] += 1
    problems = [Problem(seen[k][0], k[0] if k[0] == "sweep.seeds" else
                        f"{seen[k][1]}{_more(seen[k][2] - 1)}: {k[0]}", k[1]) for k in problems]
    if not problems and pts:
        problems = _metric_name_problems(spec, pts[0].case, file)
    if problems:
        if len(problems) > max_problems:
            more = len(problems) - max_problems
            problems = problems[:max_problems] + [Problem(file, "sweep", f"... and {more} more problems")]
        raise CaseError(problems)
    return Plan(spec, file, base_path, params, pts)


def _more(n: int) -> str:
    return f" (and {n} more point{'s' * (n > 1)})" if n else ""


def _has_path(raw: dict, dotted: str) -> bool:
    """Whether the case as written gives `dotted` (through tables; a path into a list of
    tables is left to the case's own validation)."""
    node = raw
    for part in dotted.split("."):
        if isinstance(node, list):
            return True
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _is_seed(path: str, spec: SweepSpec) -> bool:
    """A problem about the seed parameter (or the section it would be in)."""
    if not spec.seeds:
        return False
    seed = spec.seed_parameter
    return seed == path or seed.startswith(path + ".") or path.startswith(seed + ".")


def _metric_name_problems(spec: SweepSpec, case: Case, file: str) -> list[Problem]:
    """Metric paths whose names (compartment, ion, flux) the case does not have: caught here,
    not after every point has run."""
    compartments = set(case.compartments())
    ions = {s.symbol for s in case.species}
    fluxes = {f.name for f in case.fluxes}
    known = {"compartments": compartments, "fluxes": fluxes, "gates": fluxes, "mass_balance": ions}
    out = []
    for col, path in spec.metrics.items():
        parts = path.split(".")
        names = known.get(parts[0])
        if names is not None and len(parts) > 1 and parts[1] not in names:
            what = {"compartments": "compartment", "mass_balance": "ion"}.get(parts[0], "flux")
            out.append(Problem(file, f"sweep.metrics.{col}", f"{path!r}: the case has no {what} "
                               f"{parts[1]!r}; {what}s: {', '.join(sorted(names)) or '(none)'}"))
        elif parts[0] in ("compartments", "surfaces") and len(parts) > 2 and parts[2] not in ions:
            out.append(Problem(file, f"sweep.metrics.{col}", f"{path!r}: the case has no species "
                               f"{parts[2]!r}; species: {', '.join(sorted(ions))}"))
    return out


# ----------------------------------------------------------------- older entry points --

def sweep_cases(path: str | Path):
    """(spec, [(changes, label, Case)]): every point's case checked before any runs."""
    p = plan(path)
    return p.spec, [(pt.changes, pt.label, pt.case) for pt in p.points]
