"""The step policy: every constant of the time loop's decisions, named, in one place."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StepPolicy:
    safety: float = 0.9            # aim a little below the error bound: fewer rejections
    grow_max: float = 5.0          # most a step may grow after an accepted one
    shrink_min: float = 0.5        # a rejected step is cut at least by this factor...
    shrink_floor: float = 0.02     # ...and at most by this one
    min_rate: float = 0.25         # slowest error decay with h a restart assumes
    keep_low: float = 1.0          # a proposed factor in [keep_low, keep_high] keeps h: the
    keep_high: float = 1.2         # factorisation stays valid (linear.py), which pays more
    fail_shrink: float = 0.25      # dt after a Newton failure or real negativity
    land_stretch: float = 1.5      # a stop within this many steps: two equal steps to reach it
    newton_slow: float = 0.3       # contraction rate above which Newton refreshes its matrix
    negative_atol: float = 10.0    # values below −(this × atol) are real negativity...
    # ...unless the diffusion scheme is "correct" or "symmetric" and they lie within
    # negative_atol × negative_rel × the unknown's largest |value| of zero: a consistent
    # diffusion scheme on a skewed mesh (solver/nonorthogonal.py, the 3D default) has no
    # maximum principle, and next to a steep source it undershoots zero by a
    # fraction of the field's largest value — measured up to 1.6e-3 of it next to a 0.3 pA,
    # 5 nm channel on a 3D MAM contact (tests/geometry/test_channel_positions.py), after which
    # the front passes and the cell fills. That is discretisation error, not negativity: it is
    # let pass, warned about and recorded (loop._check_undershoot). A compartment a model drains
    # goes on below any such floor and still stops the run.
    negative_rel: float = 5e-4
    gate_atol: float = 1e-3        # absolute error allowed on a gate (open fraction in [0, 1])

    def next_dt(self, h: float, err: float, order: int, after_reject: bool) -> float:
        """Elementary controller for a method of the given order: h·safety·err^(−1/(order+1)),
        bounded, with a dead band that keeps h (and the factorisation) when a change is small."""
        if err <= 0 or not np.isfinite(err):
            factor = self.grow_max
        else:
            factor = self.safety * err ** (-1.0 / (order + 1))
        factor = min(max(factor, self.shrink_floor), self.grow_max)
        if after_reject:
            factor = min(factor, 1.0)
        if self.keep_low <= factor <= self.keep_high:
            factor = 1.0
        return h * factor

    def rejected_dt(self, h: float, err: float, order: int, previous=None) -> float:
        """The step to retry with after an error above tolerance. A second rejection at the same
        time measures how the error really scales with h — after a switch, near the edge of a
        channel patch, it can shrink like h^0.3 rather than h^(order+1) — and uses that rate
        (`previous` = the (h, err) of the first rejection)."""
        rate = order + 1.0
        if previous is not None:
            h0, err0 = previous
            if h0 > h and err0 > 0 and err > 0:
                rate = min(max(np.log(err0 / err) / np.log(h0 / h), self.min_rate), order + 1.0)
        return h * min(max(self.safety * err ** (-1.0 / rate), self.shrink_floor), self.shrink_min)

    def land(self, h: float, t: float, stop: float) -> tuple[float, bool]:
        """The step to take toward `stop`: exactly onto it when it is within reach, halfway when
        it is just beyond (so no sliver of a step is left). Returns (h, lands_on_stop)."""
        remaining = stop - t
        if h >= remaining * (1 - 1e-9):
            return remaining, True
        if h * self.land_stretch > remaining:
            return remaining / 2, False
        return h, False
