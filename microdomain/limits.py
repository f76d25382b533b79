"""Limits on what a case file may ask for, and the guards that enforce them before any work.

Every limit here is a number a user can hit; docs/case-files.md states each one and
tests/unit/test_input_limits.py asserts it. The guards turn hostile or mistaken input (a device
instead of a file, a megabyte-long number, tables nested thousands deep) into a one-line
message instead of a hang, a MemoryError or a traceback.
"""

from __future__ import annotations

import math
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 1_000_000        # a case or sweep file; the shipped ones are < 5 kB
MAX_DEPTH = 16                     # nesting of tables and arrays; the shipped cases reach 5
MAX_QUANTITY_CHARS = 200           # a quantity string such as "220 um**2/s"
MAX_NAME_CHARS = 100               # case, species, buffer, compartment, surface, probe names
MAX_MAGNITUDE = 1e30               # |value| of any number, in internal units (µm, ms, µM)
MAX_INTEGER = 10**15               # |value| of any integer (cell counts, channels, valences)
MAX_CELLS = 20_000_000             # structured grids, unless [solver] allow_large = true

# A floor on the memory a structured case needs before its first step: per cell (FiPy mesh and
# geometry arrays) and per unknown (cell × field: the coupled matrix and its vectors). Measured
# with ru_maxrss on 400 × 400 boxes: building the mesh and the system took 2.5 kB per cell with one
# field and 2.7 kB with two; a run with the direct solver 3.1 and 6.0 kB (3D grids have more
# faces per cell, and direct solvers fill in more). A case above the machine's memory by this
# floor cannot run at all.
BYTES_PER_CELL = 1_800
BYTES_PER_UNKNOWN = 400


class InputError(ValueError):
    """Input refused by a guard; the message says what is wrong and what would be right."""


def physical_memory() -> int | None:
    """Bytes of RAM on this machine, or None where the OS does not say."""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} TB"  # pragma: no cover


# ------------------------------------------------------------------------------- files --

def read_input_bytes(path: str | Path) -> bytes:
    """The bytes of a case or sweep file, refusing anything that is not a small regular file.

    The type is checked with stat() before opening: opening a FIFO blocks, and /dev/zero or
    a directory never yields a TOML document. The read itself is capped too, in case the file
    grows between stat() and read().
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError("is a directory, not a case file")
    if not stat.S_ISREG(st.st_mode):
        raise InputError("is not a regular file (a device, FIFO or socket); give a .toml file")
    if st.st_size > MAX_FILE_BYTES:
        raise InputError(f"is {st.st_size} bytes; case files are limited to {MAX_FILE_BYTES} bytes")
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read the file ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"is larger than {MAX_FILE_BYTES} bytes, the limit for case files")
    return data


def parse_toml(data: bytes) -> dict:
    """TOML bytes → dict, with undecodable text, syntax errors and deep nesting as InputError."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}") from None
    except RecursionError:          # tomllib recurses once per level of nesting
        raise InputError(f"tables or arrays nested more than {MAX_DEPTH} deep") from None
    except ValueError as exc:       # an integer of more than 4300 digits
        raise InputError(f"not valid TOML: {exc}") from None
    depth = nesting_depth(raw)
    if depth > MAX_DEPTH:
        raise InputError(f"tables or arrays nested {depth} deep; the limit is {MAX_DEPTH}")
    return raw


def read_toml(path: str | Path) -> tuple[dict, bytes]:
    """A case or sweep file, guarded: (the parsed dict, its bytes for hashing)."""
    data = read_input_bytes(path)
    return parse_toml(data), data


# ------------------------------------------------------------------------ data checks --

def nesting_depth(obj: Any) -> int:
    """Depth of nested dicts/lists/tuples (a scalar is 0), without recursion."""
    best, stack = 0, [(obj, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, (list, tuple)):
            depth += 1
            best = max(best, depth)
            stack.extend((child, depth) for child in node)
    return best


def walk_leaves(obj: Any, path: tuple = ()):
    """(path, value) of every scalar in nested dicts and lists, without recursion."""
    stack = [(obj, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            stack.extend((v, where + (k,)) for k, v in reversed(list(node.items())))
        elif isinstance(node, (list, tuple)):
            stack.extend((v, where + (i,)) for i, v in reversed(list(enumerate(node))))
        else:
            yield where, node


def number_problem(value: Any) -> str | None:
    """What is wrong with a bare number in a case file (non-finite, too large), or None.

    Quantity strings are checked by microdomain.units; this catches the plain numbers
    (tolerances, counts, exponents) that no unit reader sees.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        if abs(value) > MAX_INTEGER:
            return f"integer {_short(value)} is beyond the limit of ±{MAX_INTEGER:.0e}"
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"{value!r} is not a finite number"
        if abs(value) > MAX_MAGNITUDE:
            return f"{value:g} is beyond the limit of ±{MAX_MAGNITUDE:g}"
    return None


def _short(n: int) -> str:
    # str() of a huge int is slow and refused past 4300 digits; say its size instead
    return str(n) if abs(n) < 10**40 else f"of about {int(n.bit_length() * 0.30103)} digits"
