"""microdomain: buffered Ca²⁺ and Zn²⁺ reaction–diffusion in cellular microdomains (FiPy).

    import microdomain as md
    case = md.load_case("cases/nanodomain_egta.toml").replace({"time.end": "50 ms"})
    res = md.Simulation(case).run()            # or .run(out="runs/x"); md.open_run("runs/x")
    res.probes, res.fluxes, res.metrics, res.field("Ca"), res.mesh, res.to_xarray()
    md.sweep("cases/mam_gap_sweep.toml", out="runs/gaps", jobs=2); md.open_sweep("runs/gaps")

docs/api.md describes the API; docs/run-directory.md the files a run writes.
"""

import os

# The solver's vector operations are small and many; a multi-threaded BLAS on them costs far
# more in thread hand-offs than it gains (18x slower per CG iteration measured on a loaded
# 2-core machine). Must be set before numpy is imported; an explicit setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"

# The public API. Imported lazily: `microdomain --version` and `microdomain validate` should
# not pay for FiPy, VTK and pandas before they need them.
_API = {
    "load_case": ("case", "load_case"),
    "case_from_dict": ("case", "case_from_dict"),
    "Case": ("case", "Case"),
    "MicrodomainError": ("errors", "MicrodomainError"),
    "CaseError": ("case", "CaseError"),
    "Simulation": ("simulation", "Simulation"),
    "SimulationError": ("solver", "SimulationError"),
    "Result": ("result", "Result"),
    "open_run": ("result", "open_run"),
    "Status": ("records", "Status"),
    "Manifest": ("records", "Manifest"),
    "Metrics": ("records", "Metrics"),
    "RunDirectory": ("rundir", "RunDirectory"),
    "ResumeError": ("rundir", "ResumeError"),
    "RunDirectoryError": ("rundir", "RunDirectoryError"),
    "RunLockedError": ("runlock", "RunLockedError"),
    "sweep": ("sweeps", "sweep"),
    "open_sweep": ("sweeps", "open_sweep"),
    "SweepOutcome": ("sweeps", "SweepOutcome"),
    "SweepInterrupted": ("sweeps", "SweepInterrupted"),
}

__all__ = ["__version__", *_API]


def __getattr__(name):
    if name in _API:
        import importlib

        module, attr = _API[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'microdomain' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
