"""Parameter sweeps: one case, one parameter over a list of values, a table of headline metrics.

A sweep file (TOML) names a base case, the dotted path of the parameter and its values, optional
overrides applied to every run, and the metrics to tabulate (dotted paths into metrics.json,
plus ratios of two of them). Runs go one after the other in this process, each into its own
run directory; summary.csv collects the table. A run already complete in its directory (same
case hash, status completed) is reused, so an interrupted sweep continues where it stopped.
"""

from __future__ import annotations

import copy
import csv
import json
import re
from pathlib import Path
from typing import Any

from pydantic import Field

from .case import CaseError, Problem, case_from_dict
from .limits import InputError, read_toml
from .quantities import Strict


class SweepSpec(Strict):
    name: str
    case: str                                     # base case file, relative to the sweep file
    parameter: str                                # dotted path, e.g. "geometry.gap"
    values: list[Any] = Field(min_length=1)
    overrides: dict[str, Any] = {}                # dotted path → value, for every run
    # TODO: check these paths against the metrics.json schema (docs: metrics.json in README's
    # "What you get"; the schema itself is being written in another issue)
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
    if problems:
        raise CaseError(problems)
    return spec


def _set(raw: dict, dotted: str, value: Any, where: str) -> None:
    keys = dotted.split(".")
    node = raw
    for i, k in enumerate(keys[:-1]):
        if not isinstance(node, dict) or k not in node:
            raise CaseError([Problem(where, dotted, f"the base case has no {'.'.join(keys[:i + 1])!r}")])
        node = node[k]
    if not isinstance(node, dict):
        raise CaseError([Problem(where, dotted, f"{'.'.join(keys[:-1])!r} in the base case is not a "
                                 "table; give the dotted path of a key in a table")])
    node[keys[-1]] = value


def _get(data: dict, dotted: str) -> Any:
    for k in dotted.split("."):
        data = data[k]
    return data


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
        raw = copy.deepcopy(base)
        try:
            for k, v in spec.overrides.items():
                _set(raw, k, v, str(path))
            _set(raw, spec.parameter, value, str(path))
            cases.append((value, run_label(spec.parameter, value),
                          case_from_dict(raw, str(base_path))))
        except CaseError as exc:
            problems += [Problem(p.file, f"{spec.parameter} = {value!r}: {p.path}", p.message)
                         for p in exc.problems]
    if problems:
        raise CaseError(problems)
    return spec, cases


def run_sweep(path: str | Path, out_dir: str | Path, quiet: bool = True) -> Path:
    """Run every value; write out_dir/summary.csv; return its path."""
    from .run import run
    spec, cases = sweep_cases(path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = [spec.parameter, "status", *spec.metrics, *spec.ratios]
    rows = []
    for value, label, case in cases:
        run_dir = out_dir / label
        if not _complete(run_dir, case.sha256):
            run(case, run_dir, quiet=quiet)
        manifest = json.loads((run_dir / "manifest.json").read_text())
        metrics = json.loads((run_dir / "metrics.json").read_text())
        row = {spec.parameter: value, "status": manifest["status"]}
        row.update({col: _get(metrics, p) for col, p in spec.metrics.items()})
        row.update({col: row[a] / row[b] if row[b] else float("nan") for col, (a, b) in spec.ratios.items()})
        rows.append(row)
        _write(out_dir / "summary.csv", columns, rows)
    return out_dir / "summary.csv"


def _complete(run_dir: Path, sha256: str) -> bool:
    try:
        m = json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return m.get("case_sha256") == sha256 and m.get("status") in ("completed", "steady state")


def _write(path: Path, columns: list[str], rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, columns, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)
