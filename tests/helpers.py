"""Shared test helpers: small in-memory cases for fast tests."""

from __future__ import annotations

import copy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def small_case(**overrides) -> dict:
    """A tiny closed 1D box: cytosol | er, Ca with a mobile buffer; overrides merge per section."""
    case = {
        "case": {"name": "tiny"},
        "geometry": {
            "builder": "box", "size": ["1 um"], "cells": [20],
            "compartments": [{"name": "cytosol"}, {"name": "er", "x": ["0.5 um", "1 um"]}],
            "surfaces": [{"name": "er_membrane", "between": ["er", "cytosol"]},
                         {"name": "left", "wall": "x-"}],
        },
        "species": [{"ion": "Ca", "D": "220 um**2/s",
                     "initial": {"cytosol": "0.1 uM", "er": "500 uM"}}],
        "buffers": [{"name": "B", "in": "cytosol", "total": "100 uM", "D": "20 um**2/s",
                     "sites": [{"ion": "Ca", "kon": "100 /uM/s", "koff": "100 /s"}]}],
        "time": {"end": "1 ms"},
    }
    for key, value in overrides.items():
        if value is None:
            case.pop(key, None)
        elif isinstance(value, dict) and isinstance(case.get(key), dict):
            case[key] = {**case[key], **value}
        else:
            case[key] = value
    return copy.deepcopy(case)
