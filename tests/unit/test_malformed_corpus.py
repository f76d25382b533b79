"""Every file of the malformed-input corpus (tests/data/malformed, made by make_corpus.py from the
shipped cases, one mutation each) is refused by `microdomain validate` with exit code 2, the
mutated field's path in the message and no traceback, before any mesh or system is built."""

from __future__ import annotations

import contextlib
import io
import json

import microdomain.cli as cli
from tests.helpers import ROOT, returns_within

CORPUS_DIR = ROOT / "tests" / "data" / "malformed"
CORPUS = json.loads((CORPUS_DIR / "corpus.json").read_text("utf-8"))


def _no_model_build(case):
    raise AssertionError(f"{case.path} passed validation and reached the mesh/system build")


def test_the_corpus_is_large_and_matches_its_files():
    assert len(CORPUS) >= 300
    on_disk = {p.name for p in CORPUS_DIR.glob("*.toml")}
    assert on_disk == set(CORPUS)
    mutations = {entry["mutation"] for entry in CORPUS.values()}
    assert len(mutations) >= 70


def test_the_corpus_is_what_make_corpus_writes(tmp_path):
    """The committed corpus is the script's output (rerun it after changing a shipped case)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS_DIR / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build(tmp_path) == CORPUS
    for name in CORPUS:
        assert (tmp_path / name).read_bytes() == (CORPUS_DIR / name).read_bytes(), name


def test_every_malformed_input_is_exit_2_naming_its_field(monkeypatch):
    monkeypatch.setattr(cli, "_check_model", _no_model_build)
    failures = []
    for name, entry in sorted(CORPUS.items()):
        path = CORPUS_DIR / name
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = cli.main(["validate", str(path)])
        text = err.getvalue()
        expected = f"{path}: {entry['path']}" if entry["path"] else entry["message"]
        if entry.get("in_base_case"):     # a sweep value's problem is reported in the base case
            expected = f": {entry['path']}"
        if status != 2 or expected not in text or "Traceback" in text:
            failures.append(f"{name}: exit {status}, wanted {expected!r} in:\n{text}")
    assert not failures, f"{len(failures)} of {len(CORPUS)}:\n" + "\n".join(failures[:20])


def test_the_inputs_that_hung_are_refused_within_seconds():
    """'9**9**9**9 um**2/s' made pint compute a power for ever (holding the GIL, so only a
    separate process can bound it)."""
    towers = sorted(CORPUS_DIR.glob("*__D_power_tower.toml"))
    assert towers
    for path in towers:
        def validate(p=str(path)):
            with contextlib.redirect_stderr(io.StringIO()):
                return cli.main(["validate", p])
        finished, result = returns_within(10.0, validate)
        assert finished and result == "2", (path.name, result)
