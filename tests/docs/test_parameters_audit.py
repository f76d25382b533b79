"""docs/parameters.md, the audit of Illustrative magnitudes, cannot go stale: every value the
parameter files and cases mark Illustrative has a row with today's value; an "applied" row is no
longer Illustrative and cites its key; a "proposed" row waits on a preset a pinned case uses."""

import re
import tomllib

import pytest

from tests.helpers import ROOT

TEXT = (ROOT / "docs" / "parameters.md").read_text()
PARAMETERS = ROOT / "microdomain" / "parameters"
ILLUSTRATIVE = "Illustrative"
# cases whose numbers the 3D-twin work pins (docs/parameters.md): their presets change only later
PINNED_CASES = ("mam_transfer", "er_lysosome", "soce_punctum", "mam_stochastic_ip3r",
                "mam_stochastic_ensemble", "mam_gap_sweep", "mam_gap_sweep_exclusion")
STATUSES = ("applied", "proposed — waiting for the 3D twins", "stays Illustrative")
ROW = re.compile(r"^\| `(?P<file>[^`:]+): (?P<path>[^`]+)` \| (?P<value>[^|]+) \| (?P<unit>[^|]+) "
                 r"\| (?P<source>[^|]+) \| (?P<proposed>[^|]+) \| (?P<status>[^|]+) \|$", re.M)
ENTRY_KINDS = ("species", "buffers", "reactions", "fluxes")


def rows():
    return [{k: v.strip() for k, v in m.groupdict().items()} for m in ROW.finditer(TEXT)]


def load(file):
    path = PARAMETERS / file if "/" not in file else ROOT / file
    return tomllib.loads(path.read_text())


def steps(path):
    """`a.b[k=v].c[0]` → ["a", "b", ("k", "v"), "c", 0]; dots inside brackets do not split."""
    out = []
    for name, selector in re.findall(r"([^.\[\]]+)|\[([^\]]*)\]", path):
        if name:
            out.append(name)
        elif "=" in selector:
            out.append(tuple(selector.split("=", 1)))
        else:
            out.append(int(selector))
    return out


def walk(node, path):
    """The node at `path`, and the top-level case entry it lies in (None outside a case entry)."""
    entry = None
    for step in steps(path):
        if isinstance(step, tuple):
            key, wanted = step
            (node,) = [item for item in node if str(item.get(key)) == wanted]
            entry = entry or node
        else:
            node = node[step]
            if isinstance(step, int) and entry is None and isinstance(node, dict):
                entry = node
    return node, entry


def as_text(value):
    return value if isinstance(value, str) else str(value)


def today(row):
    return row["value"] if row["unit"] == "—" else f"{row['value']} {row['unit']}"


def refs_of(item):
    refs = item if isinstance(item, list) else [item]
    return [r for r in refs if isinstance(r, str)]


def commented_illustrative_lines(text):
    """Lines that set a value and say in their comment that it is illustrative."""
    for line in text.splitlines():
        code, _, comment = line.partition("#")
        if "=" in code and ILLUSTRATIVE.lower() in comment.lower():
            yield line


def resolve(row):
    """(value as written, is it still Illustrative, its reference keys) for one table row."""
    data = load(row["file"])
    if row["file"] == "fluxes.toml":
        model, preset, _, param, *inner = steps(row["path"])
        item = data[model][preset]["params"][param]
        value = item["value"]
        for key in inner:
            value = value[key]
        refs = refs_of(item["ref"])
        return as_text(value), ILLUSTRATIVE in refs, refs
    node, entry = walk(data, row["path"])
    if row["file"] == "buffers.toml":
        refs = refs_of(data[steps(row["path"])[0]]["references"])
        return as_text(node), ILLUSTRATIVE in refs, refs
    refs = refs_of(entry.get("references", [])) if entry else []
    value = as_text(node)
    raw = (ROOT / row["file"]).read_text()
    by_comment = any(value in line for line in commented_illustrative_lines(raw))
    return value, ILLUSTRATIVE in refs or by_comment, refs


def pinned_presets():
    used = set()
    for name in PINNED_CASES:
        raw = load(f"cases/{name}.toml")
        if "sweep" in raw:
            raw = load(f"cases/{raw['sweep']['case']}")
        used |= {(f["model"], f["preset"]) for f in raw.get("fluxes", []) if "preset" in f}
    return used


def test_the_table_is_there_and_linked():
    assert len(rows()) >= 40
    assert "[parameters.md](parameters.md)" in (ROOT / "docs" / "references.md").read_text()
    assert all(r["status"] in STATUSES for r in rows()), {r["status"] for r in rows()}


@pytest.mark.parametrize("row", rows(), ids=lambda r: f"{r['file']}:{r['path']}")
def test_each_row_states_todays_value_and_its_status_holds(row):
    value, illustrative, refs = resolve(row)
    assert value == today(row)
    if row["status"] == "applied":
        key = re.match(r"[A-Z][A-Za-z]+\d{4}\w*", row["source"]).group(0)
        assert not illustrative and key in refs
        assert f"{{{key}," in (ROOT / "docs" / "references.bib").read_text()
    else:
        assert illustrative, "a value no longer Illustrative must be marked applied"
    if row["status"].startswith("proposed"):
        assert row["file"] == "fluxes.toml" and not row["source"].startswith("none")
        model, preset = steps(row["path"])[:2]
        assert (model, preset) in pinned_presets(), "an unpinned preset is applied, not proposed"


def test_every_illustrative_preset_value_has_a_row():
    listed = {(r["file"], r["path"]) for r in rows()}
    for model, sets in load("fluxes.toml").items():
        for preset, entry in sets.items():
            for param, item in entry["params"].items():
                if ILLUSTRATIVE not in refs_of(item["ref"]):
                    continue
                paths = [f"{model}.{preset}.params.{param}"]
                if isinstance(item["value"], dict):
                    paths = [f"{paths[0]}.{ion}" for ion in item["value"]]
                for path in paths:
                    assert ("fluxes.toml", path) in listed, path
    for preset, entry in load("buffers.toml").items():
        if ILLUSTRATIVE in refs_of(entry["references"]):
            assert any(f == "buffers.toml" and p.startswith(f"{preset}.") for f, p in listed), preset


def test_every_illustrative_case_entry_and_commented_value_has_a_row():
    by_case: dict[str, list] = {}
    for r in rows():
        if r["file"].startswith("cases/"):
            by_case.setdefault(r["file"], []).append(r)
    for path in sorted((ROOT / "cases").glob("*.toml")):
        name = f"cases/{path.name}"
        raw = tomllib.loads(path.read_text())
        listed_entries = [id(walk(raw, r["path"])[1]) for r in by_case.get(name, [])]
        for kind in ENTRY_KINDS:
            for entry in raw.get(kind, []):
                if ILLUSTRATIVE in refs_of(entry.get("references", [])):
                    assert id(entry) in listed_entries, f"{name}: a {kind} entry"
        values = [today(r) for r in by_case.get(name, [])]
        for line in commented_illustrative_lines(path.read_text()):
            assert any(v in line for v in values), f"{name}: {line.strip()}"
