"""docs/plugins.md: its third-party flux model example runs and meets the accuracy it states."""

import re
from pathlib import Path

import microdomain as md
from microdomain import fluxes

ROOT = Path(__file__).resolve().parents[2]


def test_the_plugin_example_runs_and_matches_the_well_mixed_solution(monkeypatch):
    text = (ROOT / "docs" / "plugins.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert "0.2 %" in text and "< 2e-3" in block       # the tolerance the text states
    # the example registers a model: leave the registry as it was for the other tests
    monkeypatch.setattr(fluxes.registry, "_items", dict(fluxes.registry._items))
    namespace: dict = {}
    exec(compile(block, "docs/plugins.md", "exec"), namespace)
    assert namespace["res"].status in (md.Status.COMPLETED, md.Status.STEADY_STATE)
