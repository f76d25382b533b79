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


# ----------------------------------------------------------------------------- TOML --

def to_toml(doc: dict) -> str:
    """A dict as TOML (top-level tables and arrays of tables, everything below inline), enough
    for case files, including the inf/nan floats and odd values of malformed ones."""
    head, tables = [], []
    for key, value in doc.items():
        if isinstance(value, dict):
            tables.append(f"[{_toml_key(key)}]")
            tables += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()]
            tables.append("")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                tables.append(f"[[{_toml_key(key)}]]")
                tables += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in item.items()]
                tables.append("")
        else:
            head.append(f"{_toml_key(key)} = {_toml_value(value)}")
    return "\n".join(head + ([""] if head else []) + tables)


def _toml_key(key) -> str:
    import re

    key = str(key)
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def _toml_value(value) -> str:
    import json
    import math

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        # a JSON string is a TOML basic string, if astral characters stay unescaped (TOML has no
        # surrogate pairs) and DEL is escaped (JSON leaves it, TOML refuses it raw)
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {type(value).__name__}")


# --------------------------------------------------------------------------- timing --

def returns_within(seconds: float, fn, *args):
    """Run fn(*args) in a forked child; (True, repr of its result or exception) if it finished
    in time, (False, None) if it had to be killed. A thread cannot bound a call that hangs inside
    C code holding the GIL (a huge integer power), a process can."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)

    def target():
        try:
            out = repr(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - the caller inspects what happened
            out = f"{type(exc).__name__}: {exc}"
        child.send(out[:2000])

    proc = ctx.Process(target=target, daemon=True)
    proc.start()
    done = parent.poll(seconds)
    result = parent.recv() if done else None
    if proc.is_alive():
        proc.kill()
    proc.join(5)
    return done, result
