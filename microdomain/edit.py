"""Dotted paths into a case as read from TOML: `time.end`, `geometry.spacing.min`, and list items
by name — `buffers.EGTA.total`, `species.Ca.D`, `fluxes.ip3r.params.channels`,
`output.probes.r20nm.at` — or by index (`buffers.0.total`).

Changes are made to the raw dict, which is then validated as a whole (Case.replace, sweeps), so
a value given as a string with units is read exactly as in a case file.
"""

from __future__ import annotations

import copy
from typing import Any

from .errors import CaseError, Problem

# how list items are named: the first of these keys an item has (a flux without a label is
# named model@surface, as in metrics.json and fluxes.csv)
_NAME_KEYS = ("name", "ion", "label", "surface")


def _item_names(item: Any) -> list[str]:
    if not isinstance(item, dict):
        return []
    names = [str(item[k]) for k in _NAME_KEYS if isinstance(item.get(k), (str, int))]
    if "model" in item and "surface" in item and "label" not in item:
        names.append(f"{item['model']}@{item['surface']}")
    return names


def _plain(value: Any) -> Any:
    """Values as TOML would give them: quantities as strings, numpy numbers as Python ones."""
    if hasattr(value, "magnitude") and hasattr(value, "units"):       # a pint Quantity
        return f"{value.magnitude!r} {value.units}"
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "__fspath__"):
        return str(value)
    return value


def _fail(file: str, dotted: str, message: str):
    raise CaseError([Problem(file, dotted, message)])


def set_value(raw: dict, dotted: str, value: Any, file: str = "<case>") -> str:
    """Set `dotted` in `raw` (in place); return the path as validation reports it
    ('buffers[0].total'), so problems can be reported at the path the user gave."""
    parts = dotted.split(".")
    if not dotted or any(not p for p in parts):
        _fail(file, dotted, "not a dotted path such as 'time.end' or 'buffers.EGTA.total'")
    node: Any = raw
    where = ""
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        here = ".".join(parts[: i + 1])
        if isinstance(node, list):
            index = _index(node, part, file, here)
            where += f"[{index}]"
            if last:
                _fail(file, dotted, f"{here!r} is a whole [[{parts[0]}]] entry; give the path of a "
                      "key in it, e.g. " + f"'{here}.<key>'")
            node = node[index]
            continue
        if not isinstance(node, dict):
            _fail(file, dotted, f"{'.'.join(parts[:i])!r} is a value, not a table: it has no {part!r}")
        where += f".{part}" if where else part
        if last:
            old = node.get(part)
            if (isinstance(old, list) and old and all(isinstance(x, dict) for x in old)
                    and not isinstance(value, (list, tuple))):
                _fail(file, dotted, f"{here!r} is a list of tables ([[...]]); give the path of a key "
                      "in one of them")
            if i == 0 and isinstance(old, dict) and not isinstance(value, dict):
                _fail(file, dotted, f"{here!r} is a section; give the path of a key in it")
            node[part] = _plain(value)
        else:
            if node.get(part) is None:
                node[part] = {}        # e.g. time.dt.max in a case that gives no dt table
            node = node[part]
    return where


def _index(items: list, part: str, file: str, here: str) -> int:
    if part.lstrip("-").isdigit():
        k = int(part)
        if not -len(items) <= k < len(items):
            _fail(file, here, f"index {k} is out of range: there are {len(items)} entries")
        return k % len(items)
    found = [k for k, item in enumerate(items) if part in _item_names(item)]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        _fail(file, here, f"{len(found)} entries are named {part!r}; use an index")
    names = sorted({n for item in items for n in _item_names(item)[:1]})
    import difflib

    close = difflib.get_close_matches(part, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    _fail(file, here, f"no entry named {part!r}; {hint}names: {', '.join(names) or '(none)'}")


def apply(raw: dict, changes: dict[str, Any], file: str = "<case>") -> tuple[dict, dict[str, str]]:
    """A copy of `raw` with every change made; and, per change, the path validation reports."""
    out = copy.deepcopy(raw)
    where = {dotted: set_value(out, dotted, value, file) for dotted, value in changes.items()}
    return out, where


def rename_problems(exc: CaseError, where: dict[str, str]) -> CaseError:
    """The problems of a changed case reported at the paths the user gave ('buffers.EGTA.total'
    rather than 'buffers[0].total')."""
    problems = []
    for p in exc.problems:
        path = p.path
        for dotted, resolved in where.items():
            if path == resolved or path.startswith(resolved + ".") or path.startswith(resolved + "["):
                path = dotted + path[len(resolved):]
                break
        problems.append(Problem(p.file, path, p.message))
    return CaseError(problems)
