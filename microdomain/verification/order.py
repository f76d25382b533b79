"""Observed order of convergence from errors on a sequence of refinements (numpy only)."""

from __future__ import annotations

import numpy as np


def _check(h, err) -> tuple[np.ndarray, np.ndarray]:
    h = np.asarray(h, dtype=float).ravel()
    err = np.asarray(err, dtype=float).ravel()
    if h.size != err.size:
        raise ValueError(f"h and err need the same length (got {h.size} and {err.size})")
    if h.size < 2:
        raise ValueError("an observed order needs at least two refinements")
    if np.any(h <= 0) or np.any(err <= 0) or not np.all(np.isfinite(err)):
        raise ValueError("h and err must be positive and finite to take logarithms")
    if np.unique(h).size != h.size:
        raise ValueError("every refinement needs a distinct h")
    return h, err


def observed_order(h, err) -> float:
    """Least-squares slope p of log(err) against log(h), i.e. the p in err ≈ C·h^p."""
    h, err = _check(h, err)
    slope, _ = np.polyfit(np.log(h), np.log(err), 1)
    return float(slope)


def pairwise_orders(h, err) -> np.ndarray:
    """Order between consecutive refinements: log(e_i/e_{i+1}) / log(h_i/h_{i+1})."""
    h, err = _check(h, err)
    return np.log(err[:-1] / err[1:]) / np.log(h[:-1] / h[1:])


def fit_constant(h, err, order: float) -> float:
    """C in err ≈ C·h^order fitted (geometric mean) to the data: for reference-slope lines."""
    h, err = _check(h, err)
    return float(np.exp(np.mean(np.log(err) - order * np.log(h))))
