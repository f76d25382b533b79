"""How much of a Ca²⁺ source a lysosome takes up (docs/cases.md, the lys_ip3r_vs_soce cases:
Atakpa 2018's comparison of IP3R release with store-operated entry).

The lysosome's net uptake is its uptake flux minus its leak. A cell with a depleted store is not
at rest (SERCA pumps the cytosol down), so the uptake **attributable** to a source is the net
uptake of the run with the source minus that of the same run with the source shut
(`open_probability = 0`): the counterfactual control, same case otherwise. Its share is that
amount over what the source let in.

Run as `python -m microdomain.lysosome_uptake CASE.toml SOURCE [CASE.toml SOURCE ...]`, SOURCE a
flux label (`ip3r`, `orai1`); `--thapsigargin` also runs each case with every SERCA at vmax 0.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from .errors import MicrodomainError

UPTAKE = ("lysosomal_uptake",)
LEAK = ("lysosomal_leak",)


@dataclass(frozen=True)
class Uptake:
    source_amol: float         # what the source let into the cytosol
    net_amol: float            # lysosomal uptake minus leak, with the source
    control_amol: float        # the same with the source shut

    @property
    def attributable_amol(self) -> float:
        return self.net_amol - self.control_amol

    @property
    def share(self) -> float:
        return self.attributable_amol / self.source_amol


def _run(case):
    import microdomain as md

    res = md.Simulation(case).run()
    if not res.status.finished:
        raise MicrodomainError(f"{case.case.name}: the run did not finish ({res.status}): "
                               f"{res.manifest.message}")
    return res.metrics


def _net(metrics) -> float:
    flows = metrics.fluxes
    return (sum(flows[k]["Ca"].amount_amol for k in UPTAKE)
            - sum(flows[k]["Ca"].amount_amol for k in LEAK))


def thapsigargin(case):
    """The case with every SERCA flux at vmax 0."""
    labels = [f.name for f in case.fluxes if f.model == "serca"]
    return case.replace({f"fluxes.{label}.params.vmax": "0 uM*um/ms" for label in labels})


def attributable_uptake(case, source: str) -> Uptake:
    """Run the case with and without the flux labelled `source` (open_probability 0)."""
    if source not in {f.name for f in case.fluxes}:
        raise MicrodomainError(f"no flux labelled {source!r}; fluxes: "
                               f"{', '.join(f.name for f in case.fluxes)}")
    with_source = _run(case)
    control = _run(case.replace({f"fluxes.{source}.params.open_probability": 0.0}))
    return Uptake(with_source.fluxes[source]["Ca"].amount_amol, _net(with_source), _net(control))


def main(argv: list[str] | None = None) -> int:
    import microdomain as md

    args = sys.argv[1:] if argv is None else list(argv)
    tg = "--thapsigargin" in args
    args = [a for a in args if a != "--thapsigargin"]
    if not args or len(args) % 2:
        print("usage: python -m microdomain.lysosome_uptake CASE.toml SOURCE [CASE.toml SOURCE "
              "...] [--thapsigargin]", file=sys.stderr)
        return 2
    for path, source in zip(args[::2], args[1::2]):
        case = md.load_case(path)
        for label, variant in [("", case)] + ([(" + thapsigargin", thapsigargin(case))] if tg else []):
            u = attributable_uptake(variant, source)
            print(f"{path}{label}: {source} let in {u.source_amol:.3g} amol; lysosome net uptake "
                  f"{u.net_amol:.3g} amol, {u.control_amol:.3g} without it; attributable "
                  f"{u.attributable_amol:.3g} amol = {100 * u.share:.3g} % of the source")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
