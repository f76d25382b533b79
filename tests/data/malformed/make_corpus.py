"""Write the malformed-input corpus: every shipped case under cases/ with one mutation each.

    python tests/data/malformed/make_corpus.py

writes <case>__<mutation>.toml files next to this script and corpus.json, which maps each file
to the field path `microdomain validate` must name (tests/unit/test_malformed_corpus.py runs
them all). File-level mutations (bytes that are not UTF-8, broken TOML, deep nesting) have an
empty path and a message fragment instead. Deterministic: the same cases give the same corpus.
"""

from __future__ import annotations

import copy
import json
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

from tests.helpers import to_toml  # noqa: E402

STRUCTURED = ("box", "axisymmetric")


def _get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def _set(doc, path, value):
    _get(doc, path[:-1])[path[-1]] = value


def _fmt(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _quantity(doc, path):
    """The path of a quantity that may be one value or a per-compartment table: the table's first
    entry, where the message will point."""
    value = _get(doc, path)
    return path + (next(iter(value)),) if isinstance(value, dict) else path


def replace(path_fn, value):
    """A mutation setting the value at path_fn(doc) (None: not applicable to this case)."""
    def mutate(doc):
        path = path_fn(doc)
        if path is None:
            return None
        _set(doc, path, copy.deepcopy(value))
        return _fmt(path)
    return mutate


def at(*path):
    """The path if the case has everything above it, else None."""
    def find(doc):
        try:
            _get(doc, path[:-1])
        except (KeyError, IndexError, TypeError):
            return None
        return path
    return find


def existing(*path):
    def find(doc):
        try:
            _get(doc, path)
        except (KeyError, IndexError, TypeError):
            return None
        return path
    return find


def quantity(*path):
    def find(doc):
        p = existing(*path)(doc)
        return _quantity(doc, p) if p else None
    return find


def structured(*path):
    def find(doc):
        return path if doc["geometry"]["builder"] in STRUCTURED else None
    return find


def gmsh(*path):
    def find(doc):
        return path if doc["geometry"]["builder"] not in STRUCTURED else None
    return find


def axisymmetric(*path):
    def find(doc):
        return path if doc["geometry"]["builder"] == "axisymmetric" else None
    return find


def has_sites(doc):
    b = doc.get("buffers") or []
    return ("buffers", 0, "sites", 0) if b and "sites" in b[0] else None


def append_copy(section, field):
    """Append a copy of the section's first entry: a duplicate name at the new index."""
    def mutate(doc):
        items = doc.get(section)
        if not items:
            return None
        items.append(copy.deepcopy(items[0]))
        n = len(items) - 1
        if section == "fluxes":
            return _fmt((section, n, "label")) if "label" in items[0] else _fmt((section, n))
        return _fmt((section, n, field))
    return mutate


def duplicate_surface(doc):
    surfaces = doc["geometry"].get("surfaces")
    if doc["geometry"]["builder"] not in STRUCTURED or not surfaces:
        return None
    surfaces.append(dict(copy.deepcopy(surfaces[0]), wall="z+") if "wall" in surfaces[0]
                    else copy.deepcopy(surfaces[0]))
    return _fmt(("geometry", "surfaces", len(surfaces) - 1, "name"))


def duplicate_probe(doc):
    probes = (doc.get("output") or {}).get("probes")
    if not probes:
        return None
    probes.append(copy.deepcopy(probes[0]))
    return _fmt(("output", "probes", len(probes) - 1, "name"))


def site_ion_unknown(doc):
    """A site binding an ion that is no species (the shorthand site is read as binds[0])."""
    path = has_sites(doc)
    if path is None or "ion" not in _get(doc, path):
        return None
    _set(doc, path + ("ion",), "Mgx")
    return _fmt(path + ("binds", 0, "ion"))


def too_many_cells(doc):
    g = doc["geometry"]
    if g["builder"] not in STRUCTURED:
        return None
    if "cells" in g:
        g["cells"] = [100_000] * len(g["cells"])
        return "geometry.cells"
    g["spacing"] = dict(g["spacing"], min="1e-6 nm", max="1e-5 nm")
    return "geometry.spacing"


def unknown_key(section, key):
    def mutate(doc):
        if not isinstance(doc.get(section), dict):
            return None
        doc[section][key] = "1"
        return f"{section}.{key}"
    return mutate


def unknown_section(doc):
    doc["outptu"] = {"every": "1 ms"}
    return "outptu"


def missing(section):
    def mutate(doc):
        if section not in doc:
            return None
        del doc[section]
        return section
    return mutate


def probe_field(field, value):
    def find(doc):
        probes = (doc.get("output") or {}).get("probes")
        return ("output", "probes", 0, *field) if probes else None
    return replace(find, value)


MUTATIONS = {
    # non-finite and out-of-range numbers
    "D_1e400": replace(quantity("species", 0, "D"), "1e400 um**2/s"),
    "initial_inf": replace(quantity("species", 0, "initial"), "inf mM"),
    "initial_nan": replace(quantity("species", 0, "initial"), "nan uM"),
    "initial_huge": replace(quantity("species", 0, "initial"), "1e40 mM"),
    "end_inf": replace(at("time", "end"), "inf ms"),
    "end_negative": replace(at("time", "end"), "-1 ms"),
    "end_zero": replace(at("time", "end"), "0 ms"),
    "rtol_inf": replace(at("time", "rtol"), float("inf")),
    "rtol_nan": replace(at("time", "rtol"), float("nan")),
    "rtol_zero": replace(at("time", "rtol"), 0.0),
    "dt_initial_zero": replace(existing("time", "dt", "initial"), "0 ms"),
    "every_inf": replace(at("output", "every"), "inf ms"),
    "valence_huge": replace(at("species", 0, "valence"), 10**20),
    "newton_tol_nan": replace(at("solver", "newton_tol"), float("nan")),
    # expressions, long strings, exponents
    "D_power_tower": replace(quantity("species", 0, "D"), "9**9**9**9 um**2/s"),
    "D_long_string": replace(quantity("species", 0, "D"), "1" * 300 + " um**2/s"),
    "D_unit_exponent": replace(quantity("species", 0, "D"), "220 um**20/s"),
    "D_arithmetic": replace(quantity("species", 0, "D"), "2*110 um**2/s"),
    # wrong units and dimensions
    "D_length": replace(quantity("species", 0, "D"), "20 nm"),
    "initial_bare_number": replace(quantity("species", 0, "initial"), 5),
    "end_mass": replace(at("time", "end"), "5 kg"),
    "end_unknown_unit": replace(at("time", "end"), "5 fortnights_x"),
    "end_no_number": replace(at("time", "end"), "ms"),
    "atol_time": replace(at("time", "atol"), "1 ms"),
    # wrong types
    "D_list": replace(quantity("species", 0, "D"), ["220 um**2/s"]),
    "D_bool": replace(quantity("species", 0, "D"), True),
    "builder_list": replace(at("geometry", "builder"), ["box"]),
    "builder_table": replace(at("geometry", "builder"), {"name": "box"}),
    "builder_int": replace(at("geometry", "builder"), 3),
    "builder_unknown": replace(at("geometry", "builder"), "boxx"),
    "name_int": replace(at("case", "name"), 5),
    "description_list": replace(at("case", "description"), ["x"]),
    "references_string": replace(at("case", "references"), "Neher1986"),
    "ion_int": replace(at("species", 0, "ion"), 20),
    "rtol_string": replace(at("time", "rtol"), "tight"),
    "allow_large_yes": replace(at("solver", "allow_large"), "yes"),
    "linear_unknown": replace(at("solver", "linear"), "fast"),
    "params_string": replace(existing("fluxes", 0, "params"), "none"),
    "flux_model_list": replace(existing("fluxes", 0, "model"), ["channel_cluster"]),
    "probes_table": replace(existing("output", "probes"), {"a": 1}),
    "er_network_yes": replace(gmsh("geometry", "er_network"), "yes"),
    "resolution_nan": replace(gmsh("geometry", "resolution"), float("nan")),
    "gap_inf": replace(gmsh("geometry", "gap"), "inf nm"),
    "gap_huge": replace(gmsh("geometry", "gap"), "1e40 nm"),
    "variant_unknown": replace(gmsh("geometry", "variant"), "4d"),
    # names
    "name_path": replace(at("case", "name"), "../../x"),
    "name_empty": replace(at("case", "name"), ""),
    "name_hidden": replace(at("case", "name"), ".hidden"),
    "name_too_long": replace(at("case", "name"), "n" * 101),
    "ion_empty": replace(at("species", 0, "ion"), ""),
    "ion_dot": replace(at("species", 0, "ion"), "Ca.2"),
    "buffer_name_dot": replace(existing("buffers", 0, "name"), "EGTA.x"),
    "buffer_name_empty": replace(existing("buffers", 0, "name"), ""),
    "flux_label_empty": replace(at("fluxes", 0, "label"), ""),
    "probe_name_empty": probe_field(("name",), ""),
    "duplicate_flux": append_copy("fluxes", None),
    "duplicate_bath": append_copy("boundaries", "surface"),
    "duplicate_probe": duplicate_probe,
    "duplicate_surface": duplicate_surface,
    "compartment_name_empty": replace(structured("geometry", "compartments"), [{"name": ""}]),
    # broken references
    "flux_surface_unknown": replace(existing("fluxes", 0, "surface"), "nowhere"),
    "flux_from_unknown": replace(existing("fluxes", 0, "from"), "nowhere"),
    "flux_model_unknown": replace(existing("fluxes", 0, "model"), "serca_pump_x"),
    "bath_surface_unknown": replace(existing("boundaries", 0, "surface"), "nowhere"),
    "buffer_in_unknown": replace(existing("buffers", 0, "in"), "nowhere"),
    "buffer_preset_unknown": replace(existing("buffers", 0, "preset"), "EGTAx"),
    "site_ion_unknown": site_ion_unknown,
    "output_field_unknown": replace(at("output", "fields"), ["Cax"]),
    # probes outside the domain, non-finite, negative r
    "probe_far": probe_field(("at", 0), "1 km"),
    "probe_nan": probe_field(("at", 0), "nan um"),
    "probe_negative": probe_field(("at", 0), "-1 um"),
    # huge sizes
    "cells_huge": too_many_cells,
    "z_origin_nan": replace(axisymmetric("geometry", "z_origin"), "nan um"),
    # unknown keys, missing sections
    "unknown_key_case": unknown_key("case", "nmae"),
    "unknown_key_time": unknown_key("time", "ends"),
    "unknown_section": unknown_section,
    "missing_time": missing("time"),
    "missing_species": missing("species"),
}

FILE_LEVEL = {
    "not_utf8": (b"[case]\nname = \"\xff\xfe\"\n", "not UTF-8"),
    "broken_toml": (b"[case\nname = 1\n", "not valid TOML"),
    "deep_nesting": (b"[case]\nname = \"deep\"\nx = " + b"[" * 5000 + b"]" * 5000 + b"\n",
                     "nested more than"),
    "nesting_17": (b"[case]\nname = \"deep\"\nx = " + b"[" * 17 + b"]" * 17 + b"\n", "the limit is 16"),
    "empty_file": (b"", "required section is missing"),
}

SWEEPS = {
    "sweep_missing_case": ({"case": "no_such_case.toml"}, "sweep.case"),
    "sweep_case_is_directory": ({"case": "."}, "sweep.case"),
    "sweep_values_empty": ({"values": []}, "sweep.values"),
    "sweep_parameter_below_list": ({"parameter": "species.0"}, "species.0"),
    "sweep_value_inf": ({"values": ["inf nm"]}, "geometry.gap"),
    "sweep_unknown_key": ({"valeus": ["5 nm"]}, "sweep.valeus"),
}


def build(out: Path = HERE) -> dict[str, dict]:
    corpus: dict[str, dict] = {}
    for old in out.glob("*.toml"):
        old.unlink()
    bases = {f: tomllib.loads(f.read_text("utf-8")) for f in sorted((ROOT / "cases").glob("*.toml"))}
    bases = {f: doc for f, doc in bases.items() if "sweep" not in doc}
    for i, (name, mutate) in enumerate(MUTATIONS.items()):
        # each mutation on every other case it applies to (alternating which half), so every
        # mutation and every case appear and the corpus stays a few hundred files
        applied = []
        for case_file, base in bases.items():
            doc = copy.deepcopy(base)
            path = mutate(doc)
            if path is not None:
                applied.append((case_file, doc, path))
        for case_file, doc, path in applied[i % 2::2] or applied[:1]:
            file = f"{case_file.stem}__{name}.toml"
            (out / file).write_text(to_toml(doc), "utf-8")
            corpus[file] = {"case": case_file.name, "mutation": name, "path": path}
    for name, (data, fragment) in FILE_LEVEL.items():
        file = f"file__{name}.toml"
        (out / file).write_bytes(data)
        corpus[file] = {"case": None, "mutation": name, "path": "", "message": fragment}
    sweep = tomllib.loads((ROOT / "cases" / "mam_gap_sweep.toml").read_text("utf-8"))
    sweep["sweep"]["case"] = "../../../cases/mam_transfer.toml"   # relative to this folder
    for name, (change, path) in SWEEPS.items():
        doc = copy.deepcopy(sweep)
        doc["sweep"].update(change)
        file = f"sweep__{name}.toml"
        (out / file).write_text(to_toml(doc), "utf-8")
        corpus[file] = {"case": "mam_gap_sweep.toml", "mutation": name, "path": path}
        if not path.startswith("sweep"):
            corpus[file]["in_base_case"] = True
    (out / "corpus.json").write_text(json.dumps(corpus, indent=1, sort_keys=True) + "\n", "utf-8")
    return corpus


if __name__ == "__main__":
    corpus = build()
    print(f"{len(corpus)} malformed inputs in {HERE}")
