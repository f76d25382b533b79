"""How much of a Ca²⁺ source a lysosome takes up (docs/cases.md, the lys_ip3r_vs_soce cases:
Atakpa 2018's comparison of IP3R release with store-operated entry).

`microdomain.organelle_uptake` with the lysosome's fluxes: uptake `lysosomal_uptake`, leak
`lysosomal_leak`; the method (net uptake against the counterfactual control with the source
shut) is described there.

Run as `python -m microdomain.lysosome_uptake CASE.toml SOURCE [CASE.toml SOURCE ...]`, SOURCE a
flux label (`ip3r`, `orai1`); `--thapsigargin` also runs each case with every SERCA at vmax 0.
"""

from __future__ import annotations

from . import organelle_uptake
from .organelle_uptake import LYSOSOME, Uptake, thapsigargin

__all__ = ["UPTAKE", "LEAK", "Uptake", "attributable_uptake", "thapsigargin", "main"]

UPTAKE = LYSOSOME.uptake
LEAK = LYSOSOME.efflux


def attributable_uptake(case, source: str) -> Uptake:
    """Run the case with and without the flux labelled `source` (open_probability 0)."""
    return organelle_uptake.attributable_uptake(case, source, LYSOSOME)


def main(argv: list[str] | None = None) -> int:
    return organelle_uptake.main(argv, LYSOSOME, prog="python -m microdomain.lysosome_uptake")


if __name__ == "__main__":
    raise SystemExit(main())
