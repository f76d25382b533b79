"""A sweep's tables: the design (sweep.json), the tidy summary (one row per point: parameter
values as numbers with their units in the column names, status, times, run directory, metrics)
in CSV and Parquet, the ensemble statistics per metric when points have seeds, and
`open_sweep` to read them back as a DataFrame or an xarray Dataset.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .events import FILES as EVENT_FILES, write_event_tables

SWEEP_JSON = "sweep.json"
SUMMARY_CSV = "summary.csv"
SUMMARY_PARQUET = "summary.parquet"
ENSEMBLE_CSV = "ensemble.csv"
ENSEMBLE_PARQUET = "ensemble.parquet"
FORMAT = 1
CONFIDENCE = 0.95

FILES = {
    SWEEP_JSON: "the design: parameters (path, column, unit), metrics, and every point's label, "
                "changes to the base case, values and case hash",
    SUMMARY_CSV: "one row per point (the columns below), 10 significant digits",
    SUMMARY_PARQUET: "the same table, full precision and typed",
    ENSEMBLE_CSV: "with `seeds`: per design point, n and each metric's mean, standard deviation "
                  "and 95 % confidence interval of the mean",
    ENSEMBLE_PARQUET: "the same table in Parquet",
}
FILES.update(EVENT_FILES)

# the columns after the parameters (and `seed`), then the metrics and ratios
STATUS_COLUMNS = ["status", "message"]
RUN_COLUMNS = ["t_ms", "wall_s", "cpu_s", "started", "finished", "resumed_from_ms", "worker",
               "run_dir", "log"]
UNITS = {"uM": "uM", "amol": "amol", "ms": "ms", "um": "um", "s": "s"}


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_design(plan, out: Path) -> None:
    """sweep.json: what the sweep is, so the tables can be read back with their meaning."""
    s = plan.spec
    doc = {
        "format": FORMAT, "name": s.name, "sweep_file": plan.file, "case_file": str(plan.base_path),
        "design": s.design, "seeds": s.seeds, "seed_parameter": s.seed_parameter if s.seeds else None,
        "parameters": [{"path": p.path, "column": p.column, "unit": p.unit} for p in plan.parameters],
        "metrics": dict(s.metrics), "ratios": {k: list(v) for k, v in s.ratios.items()},
        "points": [{"label": p.label, "changes": p.changes, "values": p.values, "seed": p.seed,
                    "case_sha256": p.case.sha256 if p.case is not None else None}
                   for p in plan.points],
    }
    text = json.dumps(doc, indent=1, default=str, ensure_ascii=False) + "\n"
    _atomic(out / SWEEP_JSON, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_design(path) -> dict:
    path = Path(path)
    try:
        return json.loads((path / SWEEP_JSON).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} holds no sweep ({SWEEP_JSON} is missing); "
                                "run `microdomain sweep FILE --out DIR` first") from None


def columns(plan) -> list[str]:
    s = plan.spec
    return ["point", *plan.columns, *STATUS_COLUMNS, *s.metrics, *s.ratios, *RUN_COLUMNS]


def table(plan, rows: dict[str, dict]) -> pd.DataFrame:
    """The summary: one row per point of the plan, in order; points without a row are pending."""
    s = plan.spec
    records = []
    for pt in plan.points:
        row = rows.get(pt.label) or {"status": "pending", "message": ""}
        rec = {"point": pt.label, **pt.values}
        for col in STATUS_COLUMNS:
            rec[col] = row.get(col, "")
        metrics = row.get("metrics") or {}
        for col in s.metrics:
            rec[col] = metrics.get(col, row.get(col, math.nan))
        for col, (a, b) in s.ratios.items():
            num, den = rec[a], rec[b]
            rec[col] = num / den if isinstance(den, float) and den and not math.isnan(den) else math.nan
        for col in RUN_COLUMNS:
            rec[col] = row.get(col)
        rec["run_dir"] = pt.label
        records.append(rec)
    df = pd.DataFrame.from_records(records, columns=columns(plan))
    for col in [*s.metrics, *s.ratios, "t_ms", "wall_s", "cpu_s", "resumed_from_ms"]:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    for col in ["status", "message", "started", "finished", "worker", "run_dir", "log"]:
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


def ensemble(df: pd.DataFrame, plan_or_design) -> pd.DataFrame:
    """Per design point (the parameters without the seed): n finished points, and per metric
    the mean, the standard deviation (n − 1) and the 95 % confidence interval of the mean
    (Student's t)."""
    from scipy import stats

    params, metrics = _param_and_metric_columns(plan_or_design)
    done = df[df["status"].isin(["completed", "steady state"])]
    groups = done.groupby(params, sort=False, dropna=False) if params else [((), done)]
    out = []
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        rec = dict(zip(params, key))
        n = len(g)
        rec["n"] = n
        for m in metrics:
            x = g[m].to_numpy(float)
            x = x[np.isfinite(x)]
            mean = float(x.mean()) if x.size else math.nan
            sd = float(x.std(ddof=1)) if x.size > 1 else math.nan
            half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, x.size - 1) * sd / math.sqrt(x.size)) \
                if x.size > 1 else math.nan
            rec.update({f"{m}_mean": mean, f"{m}_std": sd, f"{m}_ci95_low": mean - half,
                        f"{m}_ci95_high": mean + half})
        out.append(rec)
    if not out:
        return pd.DataFrame(columns=[*params, "n"])
    return pd.DataFrame(out)


def _param_and_metric_columns(plan_or_design) -> tuple[list[str], list[str]]:
    if isinstance(plan_or_design, dict):
        params = [p["column"] for p in plan_or_design["parameters"]]
        metrics = [*plan_or_design["metrics"], *plan_or_design["ratios"]]
    else:
        params = [p.column for p in plan_or_design.parameters]
        metrics = [*plan_or_design.spec.metrics, *plan_or_design.spec.ratios]
    return params, metrics


def write_tables(plan, rows: dict[str, dict], out: Path) -> pd.DataFrame:
    """summary.csv and summary.parquet (and the ensemble tables with seeds), atomically."""
    df = table(plan, rows)
    _write(df, out / SUMMARY_CSV, out / SUMMARY_PARQUET)
    if plan.spec.seeds:
        _write(ensemble(df, plan), out / ENSEMBLE_CSV, out / ENSEMBLE_PARQUET)
        design = {"seeds": plan.spec.seeds, "metrics": dict(plan.spec.metrics),
                  "parameters": [{"column": p.column} for p in plan.parameters]}
        write_event_tables(df, design, out, _atomic)
    return df


def _write(df: pd.DataFrame, csv_path: Path, parquet_path: Path) -> None:
    _atomic(csv_path, lambda tmp: df.to_csv(tmp, index=False, float_format="%.10g",
                                            lineterminator="\n"))
    _atomic(parquet_path, lambda tmp: df.to_parquet(tmp, index=False))


def previous_rows(out: Path) -> dict[str, dict]:
    """The rows of an earlier summary (what reused points cost when they ran), by point."""
    try:
        df = pd.read_parquet(out / SUMMARY_PARQUET)
    except Exception:  # noqa: BLE001 - none, or unreadable: nothing to carry over
        return {}
    return {r["point"]: r for r in df.to_dict("records")}


# --------------------------------------------------------------------------- reading --

def open_sweep(path, to: str = "dataframe"):
    """A sweep directory's summary: `to="dataframe"` (one row per point; `.attrs` hold the
    design and the units of the columns), `"xarray"` (a Dataset indexed by the parameters —
    and `seed` — with units in attrs; a zip or sampled design is indexed by `point`, its
    parameters as coordinates), or `"ensemble"` (the per-design-point statistics of a sweep with
    seeds)."""
    path = Path(path)
    design = read_design(path)
    if to == "ensemble":
        if not design.get("seeds"):
            raise ValueError(f"{path} is not an ensemble (its sweep has no `seeds`)")
        df = _read(path / ENSEMBLE_PARQUET, path / ENSEMBLE_CSV)
    elif to in ("dataframe", "xarray"):
        df = _read(path / SUMMARY_PARQUET, path / SUMMARY_CSV)
    else:
        raise ValueError(f"to={to!r}: use 'dataframe', 'xarray' or 'ensemble'")
    units = column_units(design)
    df.attrs.update(name=design["name"], design=design["design"],
                    parameters=[p["column"] for p in design["parameters"]],
                    metrics=[*design["metrics"], *design["ratios"]], units=units)
    if to != "xarray":
        return df
    return _to_xarray(df, design, units)


def _read(parquet: Path, csv: Path) -> pd.DataFrame:
    if parquet.is_file():
        return pd.read_parquet(parquet)
    if csv.is_file():
        return pd.read_csv(csv)
    raise FileNotFoundError(f"{parquet.parent} has no {parquet.name} or {csv.name}")


def column_units(design: dict) -> dict[str, str]:
    """The unit of every numeric column that has one: parameters (as given), metrics (from the
    key: peak_uM → uM), times."""
    units = {p["column"]: p["unit"] for p in design["parameters"] if p["unit"]}
    for col, path in design["metrics"].items():
        suffix = path.rsplit(".", 1)[-1].rsplit("_", 1)[-1]
        if suffix in UNITS:
            units[col] = UNITS[suffix]
    units.update(t_ms="ms", wall_s="s", cpu_s="s", resumed_from_ms="ms")
    return units


def _to_xarray(df: pd.DataFrame, design: dict, units: dict[str, str]):
    params = [p["column"] for p in design["parameters"]]
    seeded = bool(design.get("seeds"))
    df = df.copy()
    if design["design"] in ("values", "grid") and params:
        index = params + (["seed"] if seeded else [])
        if not df.set_index(index).index.is_unique:
            index = None
    else:
        index = None
    if index is None:
        df["point"] = df["point"].str.replace(r"__seed_\d+$|^seed_\d+$", "", regex=True)
        df.loc[df["point"] == "", "point"] = "case"
        index = ["point"] + (["seed"] if seeded else [])
        coords = df.drop_duplicates("point").set_index("point")[params]
        ds = df.drop(columns=params).set_index(index).to_xarray()
        ds = ds.assign_coords({c: ("point", coords.loc[ds["point"].values, c].to_numpy())
                               for c in params})
    else:
        ds = df.set_index(index).to_xarray()
    for name, unit in units.items():
        if name in ds.variables:
            ds[name].attrs["units"] = unit
    ds.attrs.update(sweep=design["name"], design=design["design"])
    return ds
