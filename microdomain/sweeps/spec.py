"""Parameter sweeps: one case, one parameter over a list of values, a table of headline metrics.

A sweep file (TOML) names a base case, the dotted path of the parameter and its values, optional
overrides applied to every run, and the metrics to tabulate (dotted paths into metrics.json,
checked against its schema (records.Metrics), plus ratios of two of them). Paths are those of
Case.replace (edit.py): list entries by name, e.g. `buffers.EGTA.total`. Runs go one after the
other in this process, each into its own run directory; summary.csv collects the table. A run
already complete in its directory (same case hash, status completed or steady state) is reused,
so an interrupted sweep continues where it stopped.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from pydantic import Field

from . import edit
from .case import CaseError, Problem, case_from_dict
from .limits import InputError, read_toml
from .quantities import Strict
from .records import Metrics
from .rundir import RunDirectory


class SweepSpec(Strict):
    name: str
    case: str                                     # base case file, relative to the sweep file
    parameter: str                                # dotted path, e.g. "geometry.gap"
    values: list[Any] = Field(min_length=1)
    overrides: dict[str, Any] = {}                # dotted path → value, for every run
    metrics: dict[str, str] = {}                  # column → dotted path into metrics.json
    ratios: dict[str, tuple[str, str]] = {}       # column → (numerator column, denominator column)


def load_sweep(path: str | Path) -> SweepSpec:
    path = Path(path)
    try:
        raw, _ = read_toml(path)
    except InputError as exc:
        raise CaseError([Problem(str(path), "", f"cannot read the sweep file: {exc}")]) from None
    if set(raw) != {"sweep"}:
        raise CaseError([Problem(str(path), ",".join(sorted(set(raw) - {"sweep"})) or "sweep",
                                 "a sweep file has exactly one section, [sweep]")])
    from pydantic import ValidationError
    try:
        spec = SweepSpec.model_validate(raw["sweep"])
    except ValidationError as exc:
        raise CaseError([Problem(str(path), ".".join(["sweep", *(str(x) for x in e["loc"])]),
                                 e["msg"].removeprefix("Value error, ")) for e in exc.errors()]) from None
    problems = [Problem(str(path), f"sweep.ratios.{k}", f"{a!r} or {b!r} is not a metrics column")
                for k, (a, b) in spec.ratios.items() if a not in spec.metrics or b not in spec.metrics]
    problems += [Problem(str(path), f"sweep.metrics.{k}", why) for k, p in spec.metrics.items()
                 if (why := Metrics.path_problem(p))]
    if problems:
        raise CaseError(problems)
    return spec


def run_label(parameter: str, value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "", f"{parameter.split('.')[-1]}_{value}".replace(" ", ""))


def sweep_cases(path: str | Path):
    """(spec, [(value, label, Case)]) — every run's case checked before any runs."""
    path = Path(path)
    spec = load_sweep(path)
    base_path = (path.parent / spec.case).resolve()
    try:
        base, _ = read_toml(base_path)
    except InputError as exc:
        raise CaseError([Problem(str(path), "sweep.case", f"{spec.case!r} ({base_path}) {exc}")]) from None
    cases, problems = [], []
    for value in spec.values:
        try:
            # the base case need not be valid alone: the changes are made, then it is checked
            raw, where = edit.apply(base, {**spec.overrides, spec.parameter: value}, str(path))
            try:
                case = case_from_dict(raw, str(base_path))
            except CaseError as exc:
                raise edit.rename_problems(exc, where) from None
            cases.append((value, run_label(spec.parameter, value), case))
        except CaseError as exc:
            problems += [Problem(p.file, f"{spec.parameter} = {value!r}: {p.path}", p.message)
                         for p in exc.problems]
    if problems:
        raise CaseError(problems)
    return spec, cases


def run_sweep(path: str | Path, out_dir: str | Path, quiet: bool = True, simulations=None) -> Path:
    """Run every value; write out_dir/summary.csv; return its path. `simulations`: the cases
    already built (the CLI builds each once to check it), in the order of sweep_cases."""
    from .simulation import Simulation

    spec, cases = sweep_cases(path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = [spec.parameter, "status", *spec.metrics, *spec.ratios]
    rows = []
    for k, (value, label, case) in enumerate(cases):
        rundir = RunDirectory(out_dir / label)
        if not rundir.is_complete(case.sha256):
            sim = simulations[k] if simulations is not None else Simulation(case)
            sim.run(out=rundir.path, overwrite=True, progress=not quiet)
        metrics = rundir.metrics()
        row = {spec.parameter: value, "status": str(rundir.manifest().status)}
        row.update({col: metrics.value(p) for col, p in spec.metrics.items()})
        row.update({col: row[a] / row[b] if row[b] else float("nan") for col, (a, b) in spec.ratios.items()})
        rows.append(row)
        _write(out_dir / "summary.csv", columns, rows)
    return out_dir / "summary.csv"


def _write(path: Path, columns: list[str], rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, columns, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)
