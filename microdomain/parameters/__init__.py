"""Parameter sets as data: every value with its unit and a reference key (docs/references.bib)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files


@lru_cache(maxsize=1)
def buffer_presets() -> dict[str, dict]:
    return tomllib.loads(files(__package__).joinpath("buffers.toml").read_text("utf-8"))


@dataclass(frozen=True)
class FluxPreset:
    """A named parameter set of one flux model; each value carries its own reference."""

    model: str
    name: str
    description: str
    params: dict[str, object]          # as written in the file: unit strings, numbers, tables
    references: tuple[str, ...]        # every key cited by a value, in order of appearance
    unchecked: tuple[str, ...]         # parameters whose value is not yet checked in its source


@lru_cache(maxsize=1)
def flux_presets() -> dict[str, dict[str, FluxPreset]]:
    """model → preset name → FluxPreset, from fluxes.toml.

    Each parameter is written `name = { value = "0.15 pA", ref = "Vais2010" }`, with
    `checked = false` where the value comes from a secondary source (docs/references.md ◇).
    """
    raw = tomllib.loads(files(__package__).joinpath("fluxes.toml").read_text("utf-8"))
    out: dict[str, dict[str, FluxPreset]] = {}
    for model, sets in raw.items():
        for name, entry in sets.items():
            params, refs, unchecked = {}, [], []
            for key, item in entry["params"].items():
                params[key] = item["value"]
                refs += item["ref"] if isinstance(item["ref"], list) else [item["ref"]]
                if not item.get("checked", True):
                    unchecked.append(key)
            out.setdefault(model, {})[name] = FluxPreset(
                model, name, entry.get("description", ""), params,
                tuple(dict.fromkeys(refs)), tuple(unchecked))
    return out
