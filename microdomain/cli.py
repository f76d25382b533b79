"""Command line: microdomain validate | run | sweep | info | render | plot | mesh | verify.

FiPy reads its solver-suite flags (--petsc, --scipy, --trilinos, --pyamgx) from sys.argv, so no
option here may take those names.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .case import CaseError, Problem, load_case

EXIT_CASE_ERROR = 2
EXIT_RUN_FAILED = 1


def _check_model(case):
    """The case built into its Simulation (mesh and system, once); CaseError if they cannot be."""
    from .simulation import Simulation

    return Simulation(case)


def _print_problems(path, exc: CaseError) -> None:
    print(f"{len(exc.problems)} problem(s) in {path}:", file=sys.stderr)
    for p in exc.problems:
        print(f"  {p}", file=sys.stderr)


def cmd_validate(args) -> int:
    status = 0
    for path in args.cases:
        if _is_sweep(path):
            status = max(status, _validate_sweep(path))
            continue
        try:
            case = load_case(path)
            sim = _check_model(case)
        except CaseError as exc:
            _print_problems(path, exc)
            status = EXIT_CASE_ERROR
            continue
        unknowns = ", ".join(u.name for u in sim.system.chemistry.unknowns)
        print(f"{path}: OK — {sim.domain.n_cells} cells, unknowns {unknowns}")
    return status


def _is_sweep(path) -> bool:
    from .limits import InputError, read_toml
    try:
        return "sweep" in read_toml(path)[0]      # guarded: a FIFO or /dev/zero must not hang here
    except InputError:
        return False                              # load_case reports what is wrong with it


def _validate_sweep(path) -> int:
    from .sweeps import plan
    try:
        p = plan(path)
        # the model of every point (an ensemble's seeds share theirs: the first seed's is built)
        for pt in p.points:
            if pt.seed in (None, 0):
                _check_model(pt.case)
    except CaseError as exc:
        _print_problems(path, exc)
        return EXIT_CASE_ERROR
    print(f"{path}: OK — sweep of {p.spec.case}, {p.describe()}")
    return 0


def _default_out(case) -> Path:
    base = Path("runs") / case.info.name
    out, n = base, 2
    while out.exists() and any(out.iterdir()):
        out, n = base.with_name(f"{base.name}-{n}"), n + 1
    return out


def cmd_run(args) -> int:
    from .rundir import RunDirectoryError
    from .solver import SimulationError

    try:
        case = load_case(args.case)
        sim = _check_model(case)          # validated and built once; the run uses this build
    except CaseError as exc:
        _print_problems(args.case, exc)
        return EXIT_CASE_ERROR
    if args.resume and not args.out:
        print("--resume needs --out: the run directory to continue", file=sys.stderr)
        return EXIT_CASE_ERROR
    out = Path(args.out) if args.out else _default_out(case)
    if out.exists() and not out.is_dir():
        print(f"--out {out} is a file, not a directory: choose another --out", file=sys.stderr)
        return EXIT_CASE_ERROR
    if (args.out and out.exists() and any(out.iterdir()) and not args.overwrite
            and not args.resume):
        print(f"{out} exists and is not empty; choose another --out, pass --overwrite, or "
              "--resume to continue the run there", file=sys.stderr)
        return EXIT_CASE_ERROR
    warnings = _WarningCount()
    try:
        with warnings:
            result = sim.run(out=out, resume=args.resume, overwrite=not args.resume,
                             progress=not args.quiet, log_level=args.file_level)
    except RunDirectoryError as exc:
        print(f"cannot {'resume' if args.resume else 'run'} into {out}: {exc}", file=sys.stderr)
        return EXIT_CASE_ERROR
    except SimulationError as exc:
        print(f"run stopped: {exc}\nEverything written until then is in {out}/", file=sys.stderr)
        return EXIT_RUN_FAILED
    except KeyboardInterrupt:
        print(f"\ninterrupted; frames written so far are in {out}/; continue with "
              f"`microdomain run {args.case} --out {out} --resume`", file=sys.stderr)
        return 130
    finally:
        if warnings.count and not warnings.shown:
            print(f"{warnings.count} warning(s) in {out / 'log.txt'} (-v shows them here)",
                  file=sys.stderr)
    if not args.quiet:
        frames = "fields.vtkhdf" if sim.case.output.format == "vtkhdf" else "fields.pvd"
        print(f"{result.status}: {out}/ ({frames}, probes.csv, fluxes.csv, metrics.json, "
              "manifest.json, log.txt)")
    return 0


class _WarningCount:
    """Counts the package's warnings during a run, so the console (which shows them only at -v)
    can still say that log.txt holds some."""

    def __init__(self):

        self.count = 0
        self.shown = _console_level() <= logging.WARNING
        self.handler = logging.Handler(logging.WARNING)
        self.handler.emit = self._emit

    def _emit(self, record):

        if record.levelno == logging.WARNING:
            self.count += 1

    def __enter__(self):

        logging.getLogger("microdomain").addHandler(self.handler)
        return self

    def __exit__(self, *exc):

        logging.getLogger("microdomain").removeHandler(self.handler)
        return False


def cmd_info(args) -> int:
    from .fluxes import registry as fluxes
    from .geometry import builders
    from .parameters import buffer_presets, flux_presets
    from .reactions import registry as reactions

    def first_line(obj):
        return (obj.__doc__ or "").strip().splitlines()[0] if obj.__doc__ else ""

    print("geometry builders:")
    for name in builders.names():
        print(f"  {name:<18} {first_line(builders.get(name))}")
    print("flux models:")
    for name in fluxes.names():
        print(f"  {name:<18} {first_line(fluxes.get(name))}")
    print("reaction models:")
    for name in reactions.names():
        print(f"  {name:<18} {first_line(reactions.get(name))}")
    print("buffer presets:")
    for name, p in buffer_presets().items():
        refs = ", ".join(p["references"])
        print(f"  {name:<18} {p['description']} [{refs}]{'' if p['checked'] else ' (values to be checked)'}")
    from .stochastic import SCHEMES

    print('kinetic schemes (model = "stochastic_cluster", params.scheme = "..."; docs/stochastic.md):')
    for name, sch in SCHEMES.items():
        refs = ", ".join(sch.references) or "Illustrative"
        print(f"  {name:<18} {sch.description} [{refs}]")
    print('flux presets (model = "...", preset = "..."; case params override single values):')
    for model, sets in flux_presets().items():
        print(f"  {model}")
        for name, p in sets.items():
            refs = ", ".join(p.references)
            unchecked = f" (values to be checked: {', '.join(p.unchecked)})" if p.unchecked else ""
            print(f"    {name:<16} {p.description} [{refs}]{unchecked}")
    return 0


def cmd_render(args) -> int:
    from .render import RenderError, parse_size, render
    from .render.colours import parse_clim

    try:
        result = render(args.run_dir, field=args.field, time=args.time, frame=args.frame,
                        camera=args.camera, size=parse_size(args.size), out=args.out,
                        animate=args.animate, log=args.scale == "log", clim=parse_clim(args.clim),
                        fps=args.fps, log_to=sys.stderr, dpi=args.dpi,
                        per_compartment=args.clim_per_compartment)
    except RenderError as exc:
        print(f"render: {exc}", file=sys.stderr)
        return EXIT_CASE_ERROR
    for note in result.notes:
        print(f"  {note}")
    lo, hi = result.clim
    scale = "log" if result.log else "linear"
    if len(set(result.clims.values())) > 1:
        print("  colour bars: " + "; ".join(f"{c} {a:.4g}–{b:.4g} µM"
                                            for c, (a, b) in result.clims.items()))
    for path in result.paths:
        print(f"{path}  ({result.field}, colour scale {lo:.4g}–{hi:.4g} µM, {scale})")
    return 0


def cmd_plot(args) -> int:
    from .plot import plot
    from .render import RenderError, parse_size

    try:
        if (Path(args.run_dir) / "sweep.json").is_file():
            from .sweeps.plot import plot_sweep

            result = plot_sweep(args.run_dir, out=args.out, size=parse_size(args.size),
                                dpi=args.dpi)
        else:
            result = plot(args.run_dir, out=args.out, size=parse_size(args.size), dpi=args.dpi)
    except RenderError as exc:
        print(f"plot: {exc}", file=sys.stderr)
        return EXIT_CASE_ERROR
    for note in result.notes:
        print(f"  {note}")
    for path in result.paths:
        print(path)
    return 0


def cmd_mesh(args) -> int:
    """Build (or fetch from the cache) a case's mesh, check it, summarise it, draw it."""
    from .mesh import GeometryError, build_domain

    import warnings

    try:
        case = load_case(args.case)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                domain = build_domain(case.builder.build(case.geometry))
        except (GeometryError, ValueError) as exc:
            raise CaseError([Problem(str(case.path), "geometry", str(exc))]) from None
    except CaseError as exc:
        _print_problems(args.case, exc)
        return EXIT_CASE_ERROR
    st = domain.stats
    print(f"{args.case}: {domain.n_cells} cells, {st.get('faces', '?')} faces "
          f"({'axisymmetric (r, z)' if domain.cylindrical else f'{domain.dim}D'})")
    if st.get("mesh_file"):
        print(f"  mesh file: {st['mesh_file']}{' (cached)' if st.get('cache_hit') else ''}")
    for name, v in st.get("compartment_volumes_um3", {}).items():
        print(f"  compartment {name:<16} {v:.6g} um^3")
    for name, a in st.get("surface_areas_um2", {}).items():
        print(f"  surface     {name:<24} {a:.6g} um^2")
    for name, c in st.get("clefts", {}).items():
        print(f"  cleft {name}: {c['mean_um'] * 1e3:.3f} nm (nominal {c['nominal_um'] * 1e3:.3f} nm)")
    q = st.get("quality", {})
    if "non_orthogonality_deg" in q:
        no, sk = q["non_orthogonality_deg"], q["skewness"]
        print(f"  non-orthogonality: mean {no['mean']:.1f}°, max {no['max']:.1f}°; "
              f"skewness: mean {sk['mean']:.2f}, max {sk['max']:.2f}")
    for w in caught:
        print(f"  warning: {w.message}", file=sys.stderr)
    if args.png:
        from .geometry.picture import focus_of, render_mesh_png

        title = f"{case.info.name}: {case.geometry.builder}, {domain.n_cells} cells"
        out = render_mesh_png(args.png, domain.vtk_points, domain.vtk_cells, domain.compartment_id,
                              domain.compartment_names, domain.dim, domain.cylindrical,
                              focus=focus_of(domain), title=title)
        print(f"  picture: {out.path}")
    return 0


def cmd_verify(args) -> int:
    import time

    from .verification.report import text_table, write_report
    from .verification.studies import STUDIES, run_studies

    names = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    unknown = [n for n in names or [] if n not in STUDIES]
    if unknown:
        print(f"unknown stud{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
              f"known: {', '.join(STUDIES)}", file=sys.stderr)
        return EXIT_CASE_ERROR
    mode = "full" if args.full else "quick"
    start = time.perf_counter()
    results = run_studies(quick=not args.full, names=names,
                          progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    command = "microdomain verify" + (" --full" if args.full else " --quick")
    if names:
        command += f" --only {','.join(names)}"
    command += f" --out {args.out}" + (f" --report {args.report}" if args.report else "")
    report = write_report(results, Path(args.out), Path(args.report) if args.report else None, mode,
                          command, time.perf_counter() - start)
    print(text_table(results))
    failed = [r.name for r in results if not r.passed]
    # order targets (issue 15) are reported, not failed: say which were missed
    missed = sorted({r.name for r in results for row in r.rows if row.met is False})
    print(f"\n{len(results) - len(failed)}/{len(results)} studies passed; report: {report}"
          + (f"; FAILED: {', '.join(failed)}" if failed else "")
          + (f"; order targets missed in: {', '.join(missed)}" if missed else ""))
    return EXIT_RUN_FAILED if failed else 0


def cmd_sweep(args) -> int:
    from .sweeps import SweepError, SweepInterrupted, plan, sweep

    try:
        p = plan(args.sweep)          # every point's case checked before anything runs
    except CaseError as exc:
        _print_problems(args.sweep, exc)
        return EXIT_CASE_ERROR
    if args.jobs is not None and args.jobs < 0:
        print("--jobs must be 0 (in this process) or more", file=sys.stderr)
        return EXIT_CASE_ERROR
    if args.scheduler and args.jobs is not None:
        print("--jobs starts a local cluster, --scheduler uses a running one: pick one",
              file=sys.stderr)
        return EXIT_CASE_ERROR
    out = Path(args.out) if args.out else Path("runs") / p.spec.name
    jobs = 1 if args.jobs is None else args.jobs
    where = (f"the cluster at {args.scheduler}" if args.scheduler else
             "this process" if jobs == 0 else f"{jobs} local worker{'s' * (jobs > 1)}")
    print(f"{p.spec.name}: {p.describe()}, into {out}/ on {where} "
          "(points already finished there are reused, unfinished ones resumed)")
    try:
        outcome = sweep(p, out, jobs=jobs, scheduler=args.scheduler, transfer=args.transfer,
                        fail_fast=args.fail_fast, progress=not args.quiet,
                        log_level=args.file_level)
    except SweepError as exc:
        print(f"sweep: {exc}", file=sys.stderr)
        return EXIT_CASE_ERROR
    except SweepInterrupted as exc:
        o = exc.outcome
        counts = ", ".join(f"{n} {s}" for s, n in o.counts.items())
        print(f"\ninterrupted ({counts}); running points checkpointed. Continue with the same "
              f"command: `microdomain sweep {args.sweep} --out {out}`", file=sys.stderr)
        return 130
    except KeyboardInterrupt:         # before the points were under way, or while it closed
        print(f"\ninterrupted; continue with `microdomain sweep {args.sweep} --out {out}`",
              file=sys.stderr)
        return 130
    _print_summary(outcome, p)
    if outcome.problems:
        print(f"{len(outcome.problems)} problem(s) in cases of {args.sweep}:", file=sys.stderr)
        for file, path, message in outcome.problems:
            print(f"  {Problem(file, path, message)}", file=sys.stderr)
        return EXIT_CASE_ERROR
    if outcome.interrupted == "fail-fast":
        print("stopped at the first failed point (--fail-fast); rerun to continue", file=sys.stderr)
    return 0 if outcome.ok else EXIT_RUN_FAILED


def _print_summary(outcome, p) -> None:
    df = outcome.table
    shown = ["point", "status", *p.spec.metrics, *p.spec.ratios, "wall_s"]
    print(df[shown].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    counts = ", ".join(f"{n} {s}" for s, n in outcome.counts.items())
    print(f"{counts}; summary: {outcome.path / 'summary.csv'} (and summary.parquet; "
          f"md.open_sweep({str(outcome.path)!r}))")
    bad = df[~df["status"].isin(["completed", "steady state"])]
    for _, r in bad.iterrows():
        print(f"  {r['point']}: {r['status']} {r['message'] or ''} (log: {outcome.path / str(r['log'])})"
              if r["log"] else f"  {r['point']}: {r['status']} {r['message'] or ''}", file=sys.stderr)


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _console_level() -> int:

    for h in logging.getLogger("microdomain").handlers:
        if getattr(h, "_microdomain_console", False):
            return h.level
    return logging.WARNING


class _ConsoleHandler(logging.StreamHandler):
    """A StreamHandler on whatever sys.stderr is when a record is written, not the one it was
    made with: a notebook or a test harness that swaps stderr after `main()` must not leave the
    package logging to a closed stream (as logging's own last-resort handler does)."""

    def __init__(self):
        logging.Handler.__init__(self)

    @property
    def stream(self):
        return sys.stderr


def _setup_logging(args) -> None:
    """Console: errors by default (a run's warnings — concentration ceiling, NumPy floating-point
    errors — go to log.txt, and the run says how many there were), -v warnings and info, -vv
    debug, or --log-level; log.txt: info, or debug when either asks for it."""

    if args.log_level:
        console = getattr(logging, args.log_level)
    else:
        console = {0: logging.ERROR, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    args.file_level = min(console, logging.INFO) if not args.log_level else console
    logger = logging.getLogger("microdomain")
    for h in [h for h in logger.handlers if getattr(h, "_microdomain_console", False)]:
        logger.removeHandler(h)
    handler = _ConsoleHandler()
    handler.setLevel(console)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler._microdomain_console = True
    logger.addHandler(handler)
    logger.setLevel(min(console, args.file_level))


def main(argv: list[str] | None = None) -> int:
    from . import __version__

    parser = argparse.ArgumentParser(prog="microdomain", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"microdomain {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more on the console: -v warnings and info, -vv debug (log.txt "
                        "gets debug too)")
    parser.add_argument("--log-level", type=str.upper, choices=LEVELS,
                        help="level of the console and of log.txt (default: ERROR on the "
                        "console, INFO in log.txt)")
    # the same options after the command (`microdomain run CASE -v`); SUPPRESS keeps what was
    # given before it when they are absent
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS)
    common.add_argument("--log-level", type=str.upper, choices=LEVELS, default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("validate", parents=[common], help="check case files and report every problem")
    p.add_argument("cases", nargs="+")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("run", parents=[common], help="run a case into a run directory")
    p.add_argument("case")
    p.add_argument("--out", help="run directory (default: runs/<case name>, numbered if taken)")
    p.add_argument("--overwrite", action="store_true", help="reuse a non-empty --out directory")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last complete frame")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("sweep", parents=[common], help="run a case over a design of points on Dask "
                       "(grid, zip, samples, seeds): a run directory per point, summary.csv/.parquet")
    p.add_argument("sweep", help="sweep file ([sweep] section: docs/sweeps.md)")
    p.add_argument("--out", help="directory for the runs and the summary (default: runs/<sweep "
                   "name>); rerunning into it reuses finished points and resumes the others")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=int, help="worker processes of a local Dask cluster, one "
                       "thread each (default 1; 0: in this process, without Dask)")
    where.add_argument("--scheduler", help="a running Dask scheduler: its address "
                       "(tcp://host:8786) or its scheduler file")
    p.add_argument("--transfer", action="store_true", help="the workers do not share --out: "
                   "send run directories to and from them through Dask")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failed point "
                   "(by default a failed point is recorded and the others go on)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_sweep)
    p = sub.add_parser("info", parents=[common], help="list geometry builders, flux models and buffer presets")
    p.set_defaults(func=cmd_info)
    p = sub.add_parser("render", parents=[common], help="pictures of a run directory (PNG, SVG, PDF; GIF with --animate)")
    p.add_argument("run_dir")
    p.add_argument("--field", help="field to show (default: the first ion, e.g. Ca)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--time", help="time with unit, e.g. 5ms, '500 us' (nearest frame)")
    when.add_argument("--frame", type=int, help="frame number (negative counts from the end)")
    p.add_argument("--camera", default="auto", choices=["auto", "iso", "top", "side", "cleft"],
                   help="view; cleft = close-up of a contact's cleft, else of the source region (default: auto)")
    p.add_argument("--size", default="1024x768", help="WIDTHxHEIGHT in pixels (default 1024x768)")
    p.add_argument("--out", help="output directory (default: RUN_DIR/render), or a file: its suffix "
                   ".png, .svg or .pdf chooses the format")
    p.add_argument("--animate", action="store_true", help="every frame into a GIF (and MP4 with "
                   "the video extra: pip install 'microdomain[video]')")
    p.add_argument("--fps", type=float, default=4.0, help="frames per second of --animate")
    p.add_argument("--scale", default="log", choices=["log", "linear"], help="colour scale")
    p.add_argument("--clim", action="append", metavar="[COMPARTMENT=]LOW,HIGH",
                   help="colour range in µM (default: the data range); COMPARTMENT=LOW:HIGH gives "
                   "that compartment its own colour bar (repeatable, e.g. --clim er=100:600)")
    p.add_argument("--clim-per-compartment", action="store_true",
                   help="a colour bar per compartment, each over its own data range")
    p.add_argument("--dpi", type=float, default=100.0,
                   help="resolution: a PNG of SIZE × DPI/100 pixels, same layout; in SVG/PDF the "
                   "3D panel's raster (default 100)")
    p.set_defaults(func=cmd_render)
    p = sub.add_parser("plot", parents=[common], help="probe traces and metrics of a run directory, or each metric "
                       "against the parameters of a sweep directory (PNG, SVG, PDF)")
    p.add_argument("run_dir")
    p.add_argument("--size", default="1024x768", help="WIDTHxHEIGHT in pixels (default 1024x768)")
    p.add_argument("--out", help="output directory (default: RUN_DIR/render), or a file name: its "
                   "suffix .png, .svg or .pdf chooses the format (STEM_probes.SUFFIX, ...)")
    p.add_argument("--dpi", type=float, default=100.0,
                   help="resolution: SIZE × DPI/100 pixels, same layout (default 100)")
    p.set_defaults(func=cmd_plot)
    p = sub.add_parser("mesh", parents=[common], help="build, check and summarise a case's mesh; --png draws it")
    p.add_argument("case")
    p.add_argument("--png", help="write a picture of the tagged mesh (compartments, cut, zoom)")
    p.set_defaults(func=cmd_mesh)
    p = sub.add_parser("verify", parents=[common], help="convergence and exact-solution studies: report.md + plots")
    level = p.add_mutually_exclusive_group()
    level.add_argument("--quick", action="store_true", help="small sizes, ~1 min (default)")
    level.add_argument("--full", action="store_true", help="full refinement, several minutes")
    p.add_argument("--out", required=True, help="directory for report.md and the PNG plots")
    p.add_argument("--report", help="write the Markdown report here instead of OUT/report.md")
    p.add_argument("--only", help="comma-separated study names (default: all)")
    p.set_defaults(func=cmd_verify)
    args = parser.parse_args(argv)
    _setup_logging(args)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
