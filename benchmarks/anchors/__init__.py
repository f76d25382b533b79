"""Independent anchors for the solver benchmark.

Each module computes something the benchmark compares microdomain against, without using
microdomain's solver: `references` (reference solutions), `calc` (runs an external CalC binary),
`naive_fipy` (the FiPy script a user would write), `floor` (a minimal numpy/scipy algorithm).
Every module has a function returning a plain dict (with `cpu_s` and `peak_mb`) and a
`__main__` that prints it as JSON, so the benchmark can run each anchor in its own process.

Internal units: µm, ms, µM; molar flows in µM·µm³/ms.
"""

from __future__ import annotations

import os
import resource

F = 96485.33212                          # C/mol
# 1 pA of a divalent ion: 1e-12 A / (2F) mol/s = 5.182e-21 mol/ms, and 1 µM·µm³ = 1e-21 mol
PA_CA = 1e-12 / (2 * F) * 1e-3 / 1e-21   # µM·µm³/ms per pA of Ca²⁺ (5.182134828)

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def single_thread_env() -> None:
    """One BLAS thread (the machine is shared and we time CPU); only takes effect before numpy
    is first imported, hence the call below, at package import."""
    for var in THREAD_VARS:
        os.environ.setdefault(var, "1")


single_thread_env()


def cpu_self() -> float:
    """User + system CPU seconds of this process so far."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def peak_mb_self() -> float:
    """This process's peak resident set size, MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
