"""probes.csv and fluxes.csv read as tidy pandas DataFrames, whichever format wrote them.

Format 2 (this version) writes them tidy, one line per time and column. Format 1 wrote one row
per time with a column per probe and field (`r10nm:Ca_uM`) or per flux and quantity
(`ip3r:Ca_amol_per_ms`, `ip3r:h`); those files are converted on reading, with probe coordinates
taken from the case in the manifest.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from .records import Manifest


class TableError(ValueError):
    """A probes.csv or fluxes.csv that cannot be read."""


FLUX_COLUMNS = ["time_ms", "flux", "surface", "kind", "field", "value", "unit"]
_TEXT = {"probe", "field", "unit", "flux", "surface", "kind"}


def _axes(manifest: Manifest | None, n: int) -> list[str]:
    axes = list(manifest.mesh.axes) if manifest is not None and manifest.mesh else []
    return axes if len(axes) == n or n == 0 else ["x", "y", "z"][:n]


def _probe_columns(axes) -> list[str]:
    return ["time_ms", "probe", *(f"{a}_um" for a in axes), "field", "value", "unit"]


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise TableError(f"cannot read {path} ({exc.strerror})") from None
    if not rows or not rows[0] or rows[0][0] != "time_ms":
        raise TableError(f"{path}: expected a header starting with time_ms")
    return rows[0], [r for r in rows[1:] if r]


def _frame(header: list[str], body: list[list[str]]) -> pd.DataFrame:
    df = pd.DataFrame(body, columns=header)
    for col in header:
        df[col] = df[col].astype(str) if col in _TEXT else pd.to_numeric(df[col])
    return df


def read_probes(path: Path, manifest: Manifest | None = None) -> pd.DataFrame:
    """Columns time_ms, probe, <axis>_um per axis, field, value (µM), unit."""
    path = Path(path)
    if not path.is_file():
        return _frame(_probe_columns(_axes(manifest, 0)), [])
    header, body = _read(path)
    if len(header) > 1 and header[1] == "probe":
        return _frame(header, body)
    return _wide_probes(header, body, manifest)


def _wide_probes(header, body, manifest) -> pd.DataFrame:
    at = {}
    if manifest is not None:
        for p in (manifest.case.get("output") or {}).get("probes") or []:
            at[p["name"]] = tuple(p["at"])
    n = len(next(iter(at.values()))) if at else 0
    axes = _axes(manifest, n)
    data = np.array([[float(x) for x in r] for r in body], float).reshape(len(body), len(header))
    parts = []
    for k, name in enumerate(header[1:], start=1):
        probe, _, rest = name.partition(":")
        field, unit = (rest[:-3], "uM") if rest.endswith("_uM") else (rest, "")
        coords = at.get(probe, (np.nan,) * len(axes))
        part = pd.DataFrame({"time_ms": data[:, 0], "probe": probe})
        for a, x in zip(axes, coords):
            part[f"{a}_um"] = x
        part["field"], part["value"], part["unit"] = field, data[:, k], unit
        parts.append(part)
    return _interleave(parts, _probe_columns(axes))


def read_fluxes(path: Path, manifest: Manifest | None = None) -> pd.DataFrame:
    """Columns time_ms, flux, surface, kind ('flow' or 'gate'), field (ion or gate), value,
    unit (amol/ms for flows, 1 for gates)."""
    path = Path(path)
    if not path.is_file():
        return _frame(FLUX_COLUMNS, [])
    header, body = _read(path)
    if len(header) > 1 and header[1] == "flux":
        return _frame(header, body)
    surface = {}
    if manifest is not None:
        for f in manifest.case.get("fluxes") or []:
            surface[f.get("label") or f"{f['model']}@{f['surface']}"] = f["surface"]
    data = np.array([[float(x) for x in r] for r in body], float).reshape(len(body), len(header))
    parts = []
    for k, name in enumerate(header[1:], start=1):
        flux, _, rest = name.rpartition(":")
        flow = rest.endswith("_amol_per_ms")
        parts.append(pd.DataFrame({
            "time_ms": data[:, 0], "flux": flux, "surface": surface.get(flux, ""),
            "kind": "flow" if flow else "gate",
            "field": rest.removesuffix("_amol_per_ms"), "value": data[:, k],
            "unit": "amol/ms" if flow else "1"}))
    return _interleave(parts, FLUX_COLUMNS)


def _interleave(parts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """The per-column frames as one tidy frame in format 2's line order (time, then column)."""
    if not parts:
        return _frame(columns, [])
    out = pd.concat(parts, keys=range(len(parts)), names=["column", "row"]).reset_index()
    out = out.sort_values(["row", "column"], kind="stable")
    return out[columns].reset_index(drop=True)


def tidy_frame(header: list[str], columns, rows) -> pd.DataFrame:
    """The tidy DataFrame of recorder rows ([t, v1, v2, ...] per step, one value per column
    spec), in the line order of the files, without their rounding to 10 digits."""
    n = len(columns)
    data = np.asarray(rows, float).reshape(len(rows), n + 1) if n else np.zeros((0, 1))
    out: dict[str, object] = {"time_ms": np.repeat(data[:, 0], n)}
    labels = header[1:-2]
    for j, label in enumerate(labels):
        per_column = [_label_values(c)[j] for c in columns]
        out[label] = np.tile(np.asarray(per_column, dtype=object if isinstance(per_column[0], str)
                                        else float), data.shape[0]) if n else []
    out["value"] = data[:, 1:].ravel()
    out["unit"] = np.tile(np.asarray([c.unit for c in columns], dtype=object), data.shape[0]) if n else []
    frame = pd.DataFrame(out, columns=header)
    for col in header:
        if col in _TEXT:
            frame[col] = frame[col].astype(str)
    return frame


def _label_values(column) -> list:
    if hasattr(column, "probe"):
        return [column.probe, *map(float, column.at), column.field]
    return [column.flux, column.surface, column.kind, column.field]
