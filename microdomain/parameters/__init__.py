"""Parameter sets as data: every value with its unit and a reference key (docs/references.bib)."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib.resources import files


@lru_cache(maxsize=1)
def buffer_presets() -> dict[str, dict]:
    return tomllib.loads(files(__package__).joinpath("buffers.toml").read_text("utf-8"))
