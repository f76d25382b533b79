"""A small case and sweep files for the sweep tests: a 1D box (cytosol | ER) with a mobile
buffer and a channel cluster on its left wall, fast enough to run many times."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import small_case, to_toml

METRICS = {"cyt_peak_uM": "compartments.cytosol.Ca.peak_uM",
           "entered_amol": "fluxes.ch.Ca.amount_amol"}


def case_dict(cells: int = 40, end: str = "4 ms", every: str = "1 ms", dt_max: str | None = None) -> dict:
    case = small_case(
        geometry={"cells": [cells]},
        fluxes=[{"model": "channel_cluster", "surface": "left", "from": "outside", "to": "cytosol",
                 "label": "ch", "params": {"channels": 1, "unitary_current": "0.1 pA", "ion": "Ca"}}],
        time={"end": end, **({"dt": {"max": dt_max}} if dt_max else {})},
        output={"every": every},
    )
    return case


def write_case(directory: Path, name: str = "case.toml", **kw) -> Path:
    path = Path(directory) / name
    path.write_text(to_toml(case_dict(**kw)), "utf-8")
    return path


def write_sweep(directory: Path, sweep: dict, name: str = "sweep.toml", **case_kw) -> Path:
    """A sweep file next to a small case (`case.toml`); `sweep` is its [sweep] table without
    `case` (and with the test metrics unless it names its own)."""
    write_case(directory, **case_kw)
    table = {"name": "s", "case": "case.toml", **sweep}
    table.setdefault("metrics", dict(METRICS))
    path = Path(directory) / name
    path.write_text(_sweep_toml(table), "utf-8")
    return path


def _sweep_toml(table: dict) -> str:
    head = {k: v for k, v in table.items() if not isinstance(v, dict)}
    subs = {k: v for k, v in table.items() if isinstance(v, dict)}
    text = to_toml({"sweep": head})
    for key, value in subs.items():
        nested = {k: v for k, v in value.items() if isinstance(v, dict)}
        flat = {k: v for k, v in value.items() if not isinstance(v, dict)}
        text += to_toml({f"sweep.{key}": flat}).replace(f'["sweep.{key}"]', f"[sweep.{key}]")
        for k, v in nested.items():
            text += to_toml({f"sweep.{key}.{k}": v}).replace(f'["sweep.{key}.{k}"]', f"[sweep.{key}.{k}]")
    return text
