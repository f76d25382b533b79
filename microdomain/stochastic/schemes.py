"""Kinetic schemes as data: the states of one channel, which of them conduct, and the
transitions between them with their rate laws.

A rate is `multiplicity × law(ligands)`, the law one of three forms (internal units: ms, µM):

    constant      k                       k in 1/ms
    mass_action   k·[L]                   k in 1/(µM·ms), L a ligand ("Ca" or "IP3")
    ratio         k·([L] + K1)/([L] + K2) k in 1/ms, K1, K2 in µM

Ligands are what a channel reads: "Ca" is the free [Ca²⁺] at its mouth (the flux plugin says
which cell, fluxes/stochastic.py), "IP3" the cluster's [IP3]. The Colquhoun–Hawkes formulas
for a scheme at fixed ligands (stationary distribution, open- and closed-time distributions)
are here too: the validation tests compare simulated channels with them.

Presets (`SCHEMES`, listed by `microdomain info`), and `custom`, a scheme the case writes:

- `two_state`: closed ⇄ open at constant rates (Illustrative: the rates are the case's).
- `li_rinzel`: the Li–Rinzel reduction of the De Young–Keizer IP3R, with its gates taken as
  independent two-state Markov gates: three subunits, each with an IP3 gate m (opens at
  a1·[IP3], closes at a1·d1), a Ca²⁺-activation gate n (a5·[Ca²⁺], a5·d5) and a
  Ca²⁺-inactivation gate h (opens at a2·d2·([IP3] + d1)/([IP3] + d3), closes at a2·[Ca²⁺]);
  the channel conducts when all nine gates are open. Its states are the numbers of open m, n
  and h gates (4 × 4 × 4 = 64), and its stationary open probability is Li–Rinzel's
  m∞³·n∞³·h∞³. Rates: De Young & Keizer 1992 (PNAS 89:9895), Table 1, as used by Li & Rinzel
  1994 (J Theor Biol 166:461): a1 = 400, a2 = 0.2, a5 = 20 µM⁻¹s⁻¹; d1 = 0.13, d2 = 1.049,
  d3 = 0.9434, d5 = 0.08234 µM.
- `de_young_keizer`: the full scheme those gates reduce: three subunits of eight states S_ijk
  (IP3, activating Ca²⁺ and inactivating Ca²⁺ sites bound or not), the channel conducting when
  all three are in S110; 120 channel states. Adds a3 = 400, a4 = 0.2 µM⁻¹s⁻¹, d4 = 0.1445 µM
  (De Young & Keizer 1992, Table 1).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
import scipy.linalg
from pydantic import Field, model_validator

from ..quantities import Concentration, Rate, SecondOrderRate, Strict

LIGANDS = ("Ca", "IP3")


@dataclass(frozen=True)
class RateLaw:
    kind: Literal["constant", "mass_action", "ratio"]
    k: float
    ligand: str | None = None
    K1: float = 0.0
    K2: float = 0.0

    def __call__(self, ligands: dict[str, float]) -> float:
        if self.kind == "constant":
            return self.k
        L = max(float(ligands[self.ligand]), 0.0)
        if self.kind == "mass_action":
            return self.k * L
        return self.k * (L + self.K1) / (L + self.K2)


@dataclass(frozen=True)
class Transition:
    source: int
    target: int
    multiplicity: float
    law: RateLaw


@dataclass(frozen=True)
class KineticScheme:
    name: str
    states: tuple[str, ...]
    conducting: tuple[bool, ...]          # per state
    transitions: tuple[Transition, ...]
    references: tuple[str, ...] = ()

    def __post_init__(self):
        exits = [[] for _ in self.states]
        for i, tr in enumerate(self.transitions):
            exits[tr.source].append(i)
        object.__setattr__(self, "_exits", tuple(np.array(e, int) for e in exits))
        object.__setattr__(self, "_targets", tuple(np.array([self.transitions[i].target for i in e], int)
                                                   for e in exits))

    @property
    def ligands(self) -> tuple[str, ...]:
        return tuple(sorted({t.law.ligand for t in self.transitions if t.law.ligand}))

    def targets(self, state: int) -> np.ndarray:
        return self._targets[state]

    def exit_rates(self, state: int, ligands: dict[str, float]) -> np.ndarray:
        """Rates (1/ms) of the transitions out of `state`, in the order of `targets(state)`."""
        return np.array([self.transitions[i].multiplicity * self.transitions[i].law(ligands)
                         for i in self._exits[state]], float)

    # ------------------------------------------------ at fixed ligands (Colquhoun–Hawkes) --

    def generator(self, ligands: dict[str, float]) -> np.ndarray:
        """The rate matrix Q (rows sum to zero), 1/ms."""
        n = len(self.states)
        Q = np.zeros((n, n))
        for tr in self.transitions:
            Q[tr.source, tr.target] += tr.multiplicity * tr.law(ligands)
        Q[np.diag_indices(n)] = -Q.sum(axis=1)
        return Q

    def stationary(self, ligands: dict[str, float]) -> np.ndarray:
        """π with π·Q = 0, Σπ = 1."""
        Q = self.generator(ligands)
        A = np.vstack([Q.T, np.ones(len(self.states))])
        b = np.zeros(len(self.states) + 1)
        b[-1] = 1.0
        return np.linalg.lstsq(A, b, rcond=None)[0]

    def open_probability(self, ligands: dict[str, float]) -> float:
        return float(self.stationary(ligands)[list(self.conducting)].sum())

    def dwell_cdf(self, ligands: dict[str, float], which: Literal["open", "closed"]) -> Callable:
        """F(t) of the time spent in the open (or closed) states per visit at equilibrium:
        1 − φ·exp(Q_AA t)·1, φ the distribution of entry into A (Colquhoun & Hawkes 1981)."""
        Q, pi = self.generator(ligands), self.stationary(ligands)
        o = np.array(self.conducting)
        A, B = (o, ~o) if which == "open" else (~o, o)
        entry = pi[B] @ Q[np.ix_(B, A)]
        entry = entry / entry.sum()
        QAA = Q[np.ix_(A, A)]

        def cdf(t):
            t = np.atleast_1d(np.asarray(t, float))
            return np.array([1.0 - entry @ scipy.linalg.expm(QAA * x) @ np.ones(A.sum()) for x in t])

        return cdf

    def mean_dwell(self, ligands: dict[str, float], which: Literal["open", "closed"]) -> float:
        """Mean time per visit to the open (or closed) states: −φ·Q_AA⁻¹·1."""
        Q, pi = self.generator(ligands), self.stationary(ligands)
        o = np.array(self.conducting)
        A, B = (o, ~o) if which == "open" else (~o, o)
        entry = pi[B] @ Q[np.ix_(B, A)]
        entry = entry / entry.sum()
        return float(-entry @ np.linalg.solve(Q[np.ix_(A, A)], np.ones(A.sum())))


    def open_fraction_variance(self, ligands: dict[str, float], T: float) -> float:
        """Variance of the fraction of [0, T] that one channel, started at equilibrium, spends
        open: (2/T)·∫₀ᵀ (1 − τ/T)·C(τ) dτ with C(τ) = Σ_i π_i·o_i·(e^{Qτ}·o)_i − P², by the
        eigen-decomposition of Q (the validation tests' tolerance)."""
        Q, pi = self.generator(ligands), self.stationary(ligands)
        o = np.array(self.conducting, float)
        lam, V = np.linalg.eig(Q)
        coef = ((pi * o) @ V) * np.linalg.solve(V, o)
        P = float(pi @ o)
        f = np.empty(lam.shape, complex)
        small = np.abs(lam) * T < 1e-8
        f[small] = T / 2
        x = lam[~small]
        f[~small] = -1 / x + np.expm1(x * T) / (x * x * T)
        integral = float(np.real(np.sum(coef * f))) - P * P * T / 2
        return max(2.0 / T * integral, 0.0)


def independent_gates(name: str, gates: list[tuple[str, int, RateLaw, RateLaw]],
                      references: tuple[str, ...] = ()) -> KineticScheme:
    """A channel made of independent two-state gates, `count` of each kind; it conducts when
    every gate is open. States are the numbers of open gates of each kind."""
    ranges = [range(count + 1) for _, count, _, _ in gates]
    states = list(itertools.product(*ranges))
    index = {s: i for i, s in enumerate(states)}
    transitions = []
    for s in states:
        for g, (_, count, opening, closing) in enumerate(gates):
            if s[g] < count:
                up = s[:g] + (s[g] + 1,) + s[g + 1:]
                transitions.append(Transition(index[s], index[up], count - s[g], opening))
            if s[g] > 0:
                down = s[:g] + (s[g] - 1,) + s[g + 1:]
                transitions.append(Transition(index[s], index[down], s[g], closing))
    full = tuple(count for _, count, _, _ in gates)
    labels = tuple("".join(f"{gname}{k}" for (gname, _, _, _), k in zip(gates, s)) for s in states)
    return KineticScheme(name, labels, tuple(s == full for s in states), tuple(transitions), references)


def identical_subunits(name: str, subunit_states: tuple[str, ...],
                       subunit_transitions: list[tuple[int, int, RateLaw]], count: int,
                       open_state: int, references: tuple[str, ...] = ()) -> KineticScheme:
    """A channel of `count` identical, independent subunits, each a Markov chain of its own
    states; it conducts when every subunit is in `open_state`. Channel states are the numbers
    of subunits in each subunit state (multisets: C(S + count − 1, count) of them)."""
    S = len(subunit_states)
    states = [c for c in itertools.product(range(count + 1), repeat=S) if sum(c) == count]
    index = {c: i for i, c in enumerate(states)}
    transitions = []
    for c in states:
        for a, b, law in subunit_transitions:
            if c[a] > 0:
                d = list(c)
                d[a] -= 1
                d[b] += 1
                transitions.append(Transition(index[c], index[tuple(d)], c[a], law))
    labels = tuple("+".join(f"{k}{subunit_states[s]}" for s, k in enumerate(c) if k) for c in states)
    return KineticScheme(name, labels, tuple(c[open_state] == count for c in states),
                         tuple(transitions), references)


# ----------------------------------------------------------------------------- presets --

class TwoStateParams(Strict):
    """closed ⇄ open: `opening` (closed → open) and `closing` rates, 1/ms. Illustrative."""

    opening: Rate = Field(gt=0)
    closing: Rate = Field(gt=0)


def two_state(p: TwoStateParams) -> KineticScheme:
    return KineticScheme("two_state", ("closed", "open"), (False, True),
                         (Transition(0, 1, 1.0, RateLaw("constant", p.opening)),
                          Transition(1, 0, 1.0, RateLaw("constant", p.closing))))


class LiRinzelParams(Strict):
    """De Young & Keizer 1992, Table 1 (the values Li & Rinzel 1994 use); internal units."""

    a1: SecondOrderRate = Field(0.4, gt=0)       # 400 /uM/s: IP3 binding
    a2: SecondOrderRate = Field(2e-4, gt=0)      # 0.2 /uM/s: inactivating Ca2+ binding
    a5: SecondOrderRate = Field(0.02, gt=0)      # 20 /uM/s: activating Ca2+ binding
    d1: Concentration = Field(0.13, gt=0)        # IP3 dissociation
    d2: Concentration = Field(1.049, gt=0)       # inactivating Ca2+ dissociation
    d3: Concentration = Field(0.9434, gt=0)      # IP3 dissociation, inactivation branch
    d5: Concentration = Field(0.08234, gt=0)     # activating Ca2+ dissociation


def li_rinzel(p: LiRinzelParams) -> KineticScheme:
    m = ("m", 3, RateLaw("mass_action", p.a1, "IP3"), RateLaw("constant", p.a1 * p.d1))
    n = ("n", 3, RateLaw("mass_action", p.a5, "Ca"), RateLaw("constant", p.a5 * p.d5))
    h = ("h", 3, RateLaw("ratio", p.a2 * p.d2, "IP3", p.d1, p.d3), RateLaw("mass_action", p.a2, "Ca"))
    return independent_gates("li_rinzel", [m, n, h], ("DeYoungKeizer1992", "LiRinzel1994"))


class DeYoungKeizerParams(LiRinzelParams):
    """De Young & Keizer 1992, Table 1; internal units. a3, a4 and d4 complete the 8-state
    subunit (d1·d2 = d3·d4 within 0.1 %: detailed balance)."""

    a3: SecondOrderRate = Field(0.4, gt=0)       # 400 /uM/s: IP3 binding, inactivated subunit
    a4: SecondOrderRate = Field(2e-4, gt=0)      # 0.2 /uM/s: inactivating Ca2+ binding, no IP3
    d4: Concentration = Field(0.1445, gt=0)      # inactivating Ca2+ dissociation, no IP3


def de_young_keizer(p: DeYoungKeizerParams) -> KineticScheme:
    """Subunit states S_ijk: i IP3, j activating Ca²⁺, k inactivating Ca²⁺ bound (1) or not;
    three subunits; the channel conducts when all three are in S110."""
    labels = tuple(f"S{i}{j}{k}" for i in (0, 1) for j in (0, 1) for k in (0, 1))
    at = {lab: n for n, lab in enumerate(labels)}
    const = lambda k: RateLaw("constant", k)            # noqa: E731
    ip3 = lambda k: RateLaw("mass_action", k, "IP3")    # noqa: E731
    ca = lambda k: RateLaw("mass_action", k, "Ca")      # noqa: E731
    tr = []
    for j in (0, 1):
        # IP3 binding: a1 without inactivating Ca2+, a3 with it
        tr += [(at[f"S0{j}0"], at[f"S1{j}0"], ip3(p.a1)), (at[f"S1{j}0"], at[f"S0{j}0"], const(p.a1 * p.d1)),
               (at[f"S0{j}1"], at[f"S1{j}1"], ip3(p.a3)), (at[f"S1{j}1"], at[f"S0{j}1"], const(p.a3 * p.d3))]
        # inactivating Ca2+: a4 without IP3, a2 with it
        tr += [(at[f"S0{j}0"], at[f"S0{j}1"], ca(p.a4)), (at[f"S0{j}1"], at[f"S0{j}0"], const(p.a4 * p.d4)),
               (at[f"S1{j}0"], at[f"S1{j}1"], ca(p.a2)), (at[f"S1{j}1"], at[f"S1{j}0"], const(p.a2 * p.d2))]
    for i in (0, 1):
        for k in (0, 1):                                # activating Ca2+: a5, either way
            tr += [(at[f"S{i}0{k}"], at[f"S{i}1{k}"], ca(p.a5)), (at[f"S{i}1{k}"], at[f"S{i}0{k}"], const(p.a5 * p.d5))]
    return identical_subunits("de_young_keizer", labels, tr, 3, at["S110"], ("DeYoungKeizer1992",))


class CustomTransition(Strict):
    """One transition of a user's scheme: `rate` is k of its law — 1/time for `constant` and
    `ratio`, 1/(concentration·time) for `mass_action` (the default when a `ligand` is given)."""

    source: str = Field(alias="from")
    target: str = Field(alias="to")
    rate: str | float
    ligand: Literal["Ca", "IP3"] | None = None
    law: Literal["constant", "mass_action", "ratio"] | None = None
    K1: Concentration | None = None
    K2: Concentration | None = None

    def rate_law(self) -> RateLaw:
        from ..units import UnitError, to_internal

        law = self.law or ("mass_action" if self.ligand else "constant")
        if (law == "constant") != (self.ligand is None):
            raise ValueError(f"law {law!r} {'takes no' if law == 'constant' else 'needs a'} ligand")
        if law == "ratio" and (self.K1 is None or self.K2 is None):
            raise ValueError("law 'ratio' needs K1 and K2 (concentrations)")
        try:
            k = to_internal(self.rate, "second_order_rate" if law == "mass_action" else "rate")
        except UnitError as exc:
            raise ValueError(f"rate: {exc}") from None
        if k < 0:
            raise ValueError("rate must be ≥ 0")
        return RateLaw(law, k, self.ligand, self.K1 or 0.0, self.K2 or 0.0)


class CustomParams(Strict):
    """A scheme written in the case: `states`, the `open` ones, `transitions`."""

    states: list[str] = Field(min_length=2)
    open: list[str] = Field(min_length=1)
    transitions: list[CustomTransition] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self):
        if len(set(self.states)) != len(self.states):
            raise ValueError("states must be distinct")
        unknown = sorted({x for tr in self.transitions for x in (tr.source, tr.target)} - set(self.states)
                         | set(self.open) - set(self.states))
        if unknown:
            raise ValueError(f"{', '.join(unknown)} not among the states ({', '.join(self.states)})")
        if set(self.open) == set(self.states):
            raise ValueError("every state is open: some state must be closed")
        for i, tr in enumerate(self.transitions):
            if tr.source == tr.target:
                raise ValueError(f"transitions[{i}] goes from {tr.source!r} to itself")
            try:
                tr.rate_law()
            except ValueError as exc:
                raise ValueError(f"transitions[{i}]: {exc}") from None
        return self


def custom(p: CustomParams) -> KineticScheme:
    at = {name: i for i, name in enumerate(p.states)}
    return KineticScheme("custom", tuple(p.states), tuple(s in p.open for s in p.states),
                         tuple(Transition(at[tr.source], at[tr.target], 1.0, tr.rate_law())
                               for tr in p.transitions))


@dataclass(frozen=True)
class SchemePreset:
    Params: type[Strict]
    build: Callable[[Strict], KineticScheme]
    description: str
    references: tuple[str, ...]


SCHEMES: dict[str, SchemePreset] = {
    "two_state": SchemePreset(TwoStateParams, two_state,
                              "closed <-> open at constant rates `opening`, `closing` (1/ms, the case gives them)",
                              ()),
    "li_rinzel": SchemePreset(LiRinzelParams, li_rinzel,
                              "IP3R: Li-Rinzel gates m, n, h x 3 subunits as Markov gates (64 states); "
                              "rates read [Ca2+] at the mouth and [IP3]",
                              ("DeYoungKeizer1992", "LiRinzel1994")),
    "custom": SchemePreset(CustomParams, custom,
                           "your own: rates = { states, open, transitions = [{ from, to, rate, "
                           "ligand, law }] } (Illustrative unless you cite it)", ()),
    "de_young_keizer": SchemePreset(DeYoungKeizerParams, de_young_keizer,
                                    "IP3R: the full De Young-Keizer scheme, 3 subunits of 8 states "
                                    "(IP3, activating and inactivating Ca2+ sites; 120 states)",
                                    ("DeYoungKeizer1992",)),
}


def build_scheme(name: str, rates: dict) -> KineticScheme:
    """A preset with its rate parameters (quantities with units, validated)."""
    preset = SCHEMES[name]
    return preset.build(preset.Params.model_validate(rates))
