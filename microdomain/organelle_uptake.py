"""How much of a Ca²⁺ source an organelle takes up (docs/cases.md: lys_ip3r_vs_soce and
mito_ip3r_vs_soce, Atakpa 2018's comparison of IP3R release with store-operated entry).

The organelle's net uptake is the sum of its uptake fluxes minus the sum of its leak or efflux
fluxes (a lysosome: `lysosomal_uptake` − `lysosomal_leak`; a mitochondrion: matrix uptake by
`mcu` − efflux by `nclx`). A cell with a depleted store is not at rest (SERCA pumps the cytosol
down), so the uptake **attributable** to a source is the net uptake of the run with the source
minus that of the same run with the source shut (`open_probability = 0`): the counterfactual
control, same case otherwise. Its share is that amount over what the source let in.

Run as

    python -m microdomain.organelle_uptake --organelle mitochondrion --uptake mcu --efflux nclx \\
        CASE.toml SOURCE [CASE.toml SOURCE ...] [--thapsigargin]

SOURCE a flux label (`ip3r`, `orai1`); `--uptake`/`--efflux` take comma-separated flux labels;
`--thapsigargin` also runs each case with every SERCA at vmax 0; `--uptake-alone` also prints
the uptake fluxes' own attributable amount. `python -m
microdomain.lysosome_uptake` is this command with the lysosome's labels.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from .errors import CaseError, MicrodomainError, Problem


@dataclass(frozen=True)
class Organelle:
    """Which fluxes of a case fill an organelle (`uptake`) and which empty it (`efflux`)."""
    name: str                   # as printed: "lysosome", "mitochondrion"
    uptake: tuple[str, ...]
    efflux: tuple[str, ...]


LYSOSOME = Organelle("lysosome", ("lysosomal_uptake",), ("lysosomal_leak",))
# the matrix's uptake: Ca2+ that only crossed the OMM (VDAC) into the IMS is not counted
MITOCHONDRION = Organelle("mitochondrion", ("mcu",), ("nclx",))


@dataclass(frozen=True)
class Uptake:
    source_amol: float         # what the source let into the cytosol
    net_amol: float            # the organelle's uptake minus its leak/efflux, with the source
    control_amol: float        # the same with the source shut
    # the uptake fluxes alone, with and without the source: where the efflux is large and the
    # source's part small (a mitochondrion's NCLX against SOCE), their difference is not lost
    # in the solver's error on the efflux
    gross_amol: float
    control_gross_amol: float

    @property
    def attributable_amol(self) -> float:
        return self.net_amol - self.control_amol

    @property
    def share(self) -> float:
        return self.attributable_amol / self.source_amol

    @property
    def attributable_gross_amol(self) -> float:
        return self.gross_amol - self.control_gross_amol


def _run(case):
    import microdomain as md

    res = md.Simulation(case).run()
    if not res.status.finished:
        raise MicrodomainError(f"{case.path}: the run of {case.info.name} did not finish "
                               f"({res.status}): {res.manifest.message}")
    return res.metrics


def _amount(metrics, labels) -> float:
    return sum(metrics.fluxes[k]["Ca"].amount_amol for k in labels)


def _net(metrics, organelle: Organelle) -> float:
    return _amount(metrics, organelle.uptake) - _amount(metrics, organelle.efflux)


def _require_labels(case, roles: dict[str, tuple[str, ...]]) -> None:
    """One CaseError naming the case file and every label of `roles` ({role: labels}) that is
    not a flux of the case, before anything is run."""
    known = [f.name for f in case.fluxes]
    problems = [Problem(str(case.path), "fluxes", f"no flux labelled {label!r} (the {role}); "
                        f"fluxes: {', '.join(known)}")
                for role, labels in roles.items() for label in labels if label not in known]
    if problems:
        raise CaseError(problems)


def thapsigargin(case):
    """The case with every SERCA flux at vmax 0."""
    labels = [f.name for f in case.fluxes if f.model == "serca"]
    return case.replace({f"fluxes.{label}.params.vmax": "0 uM*um/ms" for label in labels})


def attributable_uptake(case, source: str, organelle: Organelle) -> Uptake:
    """Run the case with and without the flux labelled `source` (open_probability 0)."""
    _require_labels(case, {"source": (source,), f"{organelle.name}'s uptake": organelle.uptake,
                           f"{organelle.name}'s efflux": organelle.efflux})
    with_source = _run(case)
    control = _run(case.replace({f"fluxes.{source}.params.open_probability": 0.0}))
    return Uptake(with_source.fluxes[source]["Ca"].amount_amol, _net(with_source, organelle),
                  _net(control, organelle), _amount(with_source, organelle.uptake),
                  _amount(control, organelle.uptake))


def report(path: str, source: str, organelle: Organelle, tg: bool,
           uptake_alone: bool = False) -> list[str]:
    """One line per run pair: the case at `path`, then (with `tg`) the case with thapsigargin;
    with `uptake_alone`, each followed by the uptake fluxes' own attributable amount."""
    import microdomain as md

    case = md.load_case(path)
    lines = []
    for label, variant in [("", case)] + ([(" + thapsigargin", thapsigargin(case))] if tg else []):
        u = attributable_uptake(variant, source, organelle)
        lines.append(f"{path}{label}: {source} let in {u.source_amol:.3g} amol; {organelle.name} "
                     f"net uptake {u.net_amol:.3g} amol, {u.control_amol:.3g} without it; "
                     f"attributable {u.attributable_amol:.3g} amol = {100 * u.share:.3g} % of "
                     f"the source")
        if uptake_alone:
            lines.append(f"    through {' + '.join(organelle.uptake)} alone: "
                         f"{u.gross_amol:.3g} amol, {u.control_gross_amol:.3g} without it; "
                         f"attributable {u.attributable_gross_amol:.3g} amol = "
                         f"{100 * u.attributable_gross_amol / u.source_amol:.3g} % of the source")
    return lines


def _labels(text: str) -> tuple[str, ...]:
    labels = tuple(s.strip() for s in text.split(",") if s.strip())
    if not labels:
        raise argparse.ArgumentTypeError("give at least one flux label")
    return labels


def main(argv: list[str] | None = None, organelle: Organelle | None = None,
         prog: str = "python -m microdomain.organelle_uptake") -> int:
    """The command; with `organelle` given, its labels are fixed and not asked for."""
    parser = argparse.ArgumentParser(prog=prog, description="The share of a Ca2+ source an "
                                     "organelle takes up, against the source shut.")
    parser.add_argument("pairs", nargs="+", metavar="CASE.toml SOURCE")
    parser.add_argument("--thapsigargin", action="store_true",
                        help="also run each case with every SERCA at vmax 0")
    parser.add_argument("--uptake-alone", action="store_true",
                        help="also print what the uptake fluxes alone took up (no efflux)")
    if organelle is None:
        parser.add_argument("--organelle", default="organelle", help="its name, as printed")
        parser.add_argument("--uptake", type=_labels, required=True,
                            help="comma-separated flux labels that fill the organelle")
        parser.add_argument("--efflux", type=_labels, required=True,
                            help="comma-separated flux labels that empty it (leak, exchanger)")
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if len(args.pairs) % 2:
        parser.error("give CASE.toml SOURCE pairs: an odd number of arguments was given")
    organelle = organelle or Organelle(args.organelle, args.uptake, args.efflux)
    try:
        for path, source in zip(args.pairs[::2], args.pairs[1::2]):
            print("\n".join(report(path, source, organelle, args.thapsigargin,
                                    args.uptake_alone)), flush=True)
    except MicrodomainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
