"""Volume reactions: equations, rate laws and their registry (numpy and pydantic only).

A reaction is written as an equation and a rate law (a *model*) that runs in the cells of some
compartments:

    equation = "A + 2 B <-> C"      model = "mass_action"      params = { kf = ..., kr = ... }

Every species term changes at ν·r (µM/ms), ν = (coefficient as product) − (coefficient as
reactant), r the model's rate, forward positive. The models say which concentrations r reads
and give ∂r/∂c for each, so the solver's Newton Jacobian stays exact (chemistry.py).

Equations are read strictly: terms `[coefficient] name` separated by " + " (spaces around the
plus: names may contain other characters), one arrow "->" (irreversible) or "<->"
(reversible), either side may be empty ("-> IP3", "IP3 ->") but not both; coefficients are
whole numbers 1–9 written apart from the name ("2 A", not "2A"); a species repeated on one side
adds up ("A + A" is "2 A"); a species on both sides is a catalyst (its net change is the
difference).

Built-in models (rate constants in µM^(1−n)/ms for a reaction of order n, so the case file's
units are checked against the stoichiometry):

- `mass_action`: r = kf·Π c_i^(n_i) − kr·Π c_j^(m_j) (kr only with "<->");
- `michaelis_menten`: r = Vmax·S/(Km + S), S the single reactant (coefficient 1) — or, for
  production "-> X", the concentration of an `activator` that is not consumed;
- `hill`: r = Vmax·Sⁿ/(Kⁿ + Sⁿ), S as for michaelis_menten;
- `constant`: r = rate, zero-order production ("-> X").

Third-party models subclass :class:`ReactionModel` and declare an entry point in the group
``microdomain.reactions``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import BeforeValidator, Field, model_validator

from .quantities import Concentration, FieldError, Strict
from .registry import Registry
from .units import Kind, UnitError, to_unit

def _check_reaction_model(obj) -> None:
    if not (isinstance(obj, type) and issubclass(obj, ReactionModel)):
        raise TypeError(f"{obj!r} is not a ReactionModel subclass")
    if not isinstance(getattr(obj, "Params", None), type) and "params_model" not in vars(obj):
        raise TypeError(f"reaction model {obj.__name__} sets neither Params nor params_model")


registry: Registry = Registry("reaction model", "microdomain.reactions", _check_reaction_model)
register = registry.register

MAX_COEFFICIENT = 9          # stoichiometric coefficients 1..9: "10 A" is surely a typo
ARROWS = ("<->", "->")


# -------------------------------------------------------------------------------- equations --

class EquationError(ValueError):
    """An equation that cannot be read; the message says what would be right."""


@dataclass(frozen=True)
class Term:
    coefficient: int
    species: str


@dataclass(frozen=True)
class Equation:
    reactants: tuple[Term, ...]
    products: tuple[Term, ...]
    reversible: bool

    @property
    def forward_order(self) -> int:
        return sum(t.coefficient for t in self.reactants)

    @property
    def reverse_order(self) -> int:
        return sum(t.coefficient for t in self.products)

    def species(self) -> list[str]:
        """Every species named, in order of appearance."""
        return list(dict.fromkeys(t.species for t in self.reactants + self.products))

    def net(self) -> dict[str, int]:
        """Net stoichiometry ν per species (products − reactants); catalysts may have 0."""
        out = {s: 0 for s in self.species()}
        for t in self.reactants:
            out[t.species] -= t.coefficient
        for t in self.products:
            out[t.species] += t.coefficient
        return out

    def __str__(self) -> str:
        side = lambda terms: " + ".join(  # noqa: E731
            (f"{t.coefficient} " if t.coefficient > 1 else "") + t.species for t in terms)
        arrow = "<->" if self.reversible else "->"
        return " ".join(x for x in (side(self.reactants), arrow, side(self.products)) if x)


def _side(text: str, which: str) -> tuple[Term, ...]:
    tokens = text.split()
    terms: dict[str, int] = {}
    i = 0
    while i < len(tokens):
        coefficient = 1
        if tokens[i].isdigit():
            coefficient = int(tokens[i])
            if not 1 <= coefficient <= MAX_COEFFICIENT:
                raise EquationError(f"coefficient {tokens[i]} on the {which} side: coefficients "
                                    f"are whole numbers from 1 to {MAX_COEFFICIENT}")
            i += 1
            if i == len(tokens) or tokens[i] == "+":
                raise EquationError(f"coefficient {coefficient} on the {which} side has no species "
                                    "after it")
        name = tokens[i]
        if name == "+":
            raise EquationError(f"a '+' on the {which} side has no species before it")
        if "+" in name:
            raise EquationError(f"{name!r}: write '+' between terms with spaces, e.g. 'A + B'")
        terms[name] = terms.get(name, 0) + coefficient
        i += 1
        if i < len(tokens):
            if tokens[i] != "+":
                raise EquationError(f"expected '+' or the arrow after {name!r} on the {which} "
                                    f"side, got {tokens[i]!r}; terms are '[coefficient] name' "
                                    "separated by ' + '")
            i += 1
            if i == len(tokens):
                raise EquationError(f"the {which} side ends with '+'")
    for name, coefficient in terms.items():
        if coefficient > MAX_COEFFICIENT:
            raise EquationError(f"{name!r} appears {coefficient} times on the {which} side: "
                                f"coefficients are whole numbers from 1 to {MAX_COEFFICIENT}")
    return tuple(Term(c, n) for n, c in terms.items())


def parse_equation(text: Any) -> Equation:
    """'A + 2 B <-> C' → Equation; EquationError says what is wrong."""
    if not isinstance(text, str):
        raise EquationError("an equation is a string, e.g. 'A + B <-> C' or 'IP3 ->'")
    found = [(m.start(), m.group()) for m in re.finditer(r"<->|->", text)]
    if not found:
        wrong = re.search(r"<=>|=>|<=|<-|=|→|⇌|⟶", text)
        what = f"{wrong.group()!r} is not an arrow here" if wrong else f"{text!r} has no arrow"
        raise EquationError(f"{what}; write '->' (irreversible) or '<->' (reversible), e.g. "
                            "'A + B <-> C', 'IP3 ->', '-> IP3'")
    if len(found) > 1:
        raise EquationError(f"{text!r} has {len(found)} arrows; a reaction has one")
    pos, arrow = found[0]
    reactants = _side(text[:pos], "left")
    products = _side(text[pos + len(arrow):], "right")
    if not reactants and not products:
        raise EquationError("a reaction needs at least one species")
    if arrow == "<->" and (not reactants or not products):
        raise EquationError("a reversible reaction ('<->') needs species on both sides; "
                            "for production or removal write '-> X' or 'X ->'")
    return Equation(reactants, products, arrow == "<->")


# ------------------------------------------------------------------------------ quantities --

def rate_constant_kind(order: int) -> Kind:
    """The unit of a mass-action rate constant of a reaction of `order`: µM^(1−order)/ms."""
    units = {0: ("uM/ms", "0.5 uM/s", "zero-order rate constant"),
             1: ("1/ms", "1.25 /s", "first-order rate constant"),
             2: ("1/uM/ms", "10 /uM/s", "second-order rate constant"),
             3: ("1/uM**2/ms", "0.1 /uM**2/s", "third-order rate constant")}
    unit, example, what = units.get(order, (f"1/uM**{order - 1}/ms", f"1 /uM**{order - 1}/s",
                                            f"rate constant of order {order}"))
    pretty = unit.replace("uM", "µM")
    return Kind(f"{what} ({pretty})", unit, example)


def _reader(spec: Kind):
    def read(value: Any) -> float:
        try:
            return to_unit(value, spec)
        except UnitError as exc:
            raise ValueError(str(exc)) from None

    return read


def RateConstant(order: int):
    return Annotated[float, BeforeValidator(_reader(rate_constant_kind(order))), Field(ge=0)]


# a rate of change of concentration: maximal rates, zero-order production
VOLUME_RATE = Kind("rate of change of concentration (µM/ms)", "uM/ms", "0.5 uM/s")
VolumeRate = Annotated[float, BeforeValidator(_reader(VOLUME_RATE)), Field(ge=0)]


# ------------------------------------------------------------------------------- the contract --

class ReactionModel:
    """Base class of rate laws. Subclasses set `Params` (a Strict pydantic model) or override
    `params_model` when the parameters' units depend on the equation; `check` refuses equations
    the law does not fit; `reads` names the concentrations r depends on, `rate` gives r (µM/ms,
    forward positive) per cell and `drate` ∂r/∂c for every species in `reads` (exact: the
    Newton Jacobian is built from it).

    Concentrations are passed per species name as arrays over the reaction's cells; bound
    buffer states (`EGTA.Ca`) are species too."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[Strict]]
    references: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: Strict, equation: Equation):
        self.params = params
        self.equation = equation

    @classmethod
    def params_model(cls, equation: Equation) -> type[Strict]:
        return cls.Params

    @classmethod
    def check(cls, equation: Equation, params: Strict) -> list[tuple[str, str]]:
        """Problems as (key under the reaction, message): ("equation", ...) or ("params.x", ...)."""
        return []

    def reads(self) -> tuple[str, ...]:
        raise NotImplementedError

    def rate(self, c: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def drate(self, c: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError


# ------------------------------------------------------------------------------ mass action --

def _power_product(c: dict[str, np.ndarray], terms: tuple[Term, ...], shape) -> np.ndarray:
    out = np.ones(shape)
    for t in terms:
        out = out * c[t.species] ** t.coefficient
    return out


def _power_product_derivative(c, terms, wrt: str, shape) -> np.ndarray:
    out = np.ones(shape)
    for t in terms:
        if t.species == wrt:
            out = out * t.coefficient * c[t.species] ** (t.coefficient - 1)
        else:
            out = out * c[t.species] ** t.coefficient
    return out


@lru_cache(maxsize=None)
def _mass_action_params(forward: int, reverse: int | None) -> type[Strict]:
    KF = RateConstant(forward)
    if reverse is None:
        class MassActionParams(Strict):
            kf: KF

            @model_validator(mode="before")
            @classmethod
            def _no_kr(cls, data):
                if isinstance(data, dict) and "kr" in data:
                    raise FieldError("kr", "an irreversible reaction ('->') has no reverse rate "
                                     "constant; write '<->' to make it reversible")
                return data
    else:
        KR = RateConstant(reverse)

        class MassActionParams(Strict):  # type: ignore[no-redef]
            kf: KF
            kr: KR
    return MassActionParams


@register("mass_action")
class MassAction(ReactionModel):
    """Mass action: r = kf·Π c_i^(n_i) − kr·Π c_j^(m_j); kf, kr in µM^(1−order)/ms."""

    name = "mass_action"

    @classmethod
    def params_model(cls, equation):
        return _mass_action_params(equation.forward_order,
                                   equation.reverse_order if equation.reversible else None)

    def reads(self):
        eq = self.equation
        return tuple(dict.fromkeys(t.species for t in eq.reactants +
                                   (eq.products if eq.reversible else ())))

    def _shape(self, c):
        return np.shape(next(iter(c.values()))) if c else ()

    def rate(self, c):
        eq, p = self.equation, self.params
        shape = self._shape(c)
        r = p.kf * _power_product(c, eq.reactants, shape)
        if eq.reversible:
            r = r - p.kr * _power_product(c, eq.products, shape)
        return r

    def drate(self, c):
        eq, p = self.equation, self.params
        shape = self._shape(c)
        out = {}
        for s in self.reads():
            d = np.zeros(shape)
            if any(t.species == s for t in eq.reactants):
                d = d + p.kf * _power_product_derivative(c, eq.reactants, s, shape)
            if eq.reversible and any(t.species == s for t in eq.products):
                d = d - p.kr * _power_product_derivative(c, eq.products, s, shape)
            out[s] = d
        return out


# ------------------------------------------------------------------- saturable rate laws --

class _SaturableParams(Strict):
    activator: str | None = None


class MichaelisMentenParams(_SaturableParams):
    Vmax: VolumeRate
    Km: Concentration = Field(gt=0)


class HillParams(_SaturableParams):
    Vmax: VolumeRate
    K: Concentration = Field(gt=0)
    n: float = Field(gt=0)


def _one_substrate(model: str, equation: Equation, params) -> list[tuple[str, str]]:
    """Saturable laws read one concentration: the single reactant (coefficient 1), or, for
    production with no reactant, an `activator` that the reaction does not consume."""
    if equation.reversible:
        return [("equation", f"{model} is irreversible; write '->'")]
    if equation.reactants:
        if len(equation.reactants) > 1 or equation.reactants[0].coefficient != 1:
            return [("equation", f"{model} takes one reactant with coefficient 1 (its substrate), "
                     f"got {equation}; use mass_action for other stoichiometries")]
        if params.activator is not None:
            return [("params.activator", f"{model} reads its substrate "
                     f"{equation.reactants[0].species!r}; an activator is only for production "
                     "without a reactant ('-> X')")]
        return []
    if params.activator is None:
        return [("params.activator", f"production without a reactant ({equation}) needs the "
                 f"species whose concentration drives it, e.g. activator = \"Ca\"")]
    return []


class _Saturable(ReactionModel):
    def substrate(self) -> str:
        eq = self.equation
        return eq.reactants[0].species if eq.reactants else self.params.activator

    def reads(self):
        return (self.substrate(),)

    @classmethod
    def check(cls, equation, params):
        return _one_substrate(cls.name, equation, params)


@register("michaelis_menten")
class MichaelisMenten(_Saturable):
    """Michaelis–Menten: r = Vmax·S/(Km + S), S the reactant or an activator (negative S read as 0)."""

    name = "michaelis_menten"
    Params = MichaelisMentenParams
    references = ("Michaelis1913",)

    def rate(self, c):
        p = self.params
        s = np.maximum(c[self.substrate()], 0.0)
        return p.Vmax * s / (p.Km + s)

    def drate(self, c):
        p = self.params
        raw = c[self.substrate()]
        s = np.maximum(raw, 0.0)
        return {self.substrate(): np.where(raw >= 0, p.Vmax * p.Km / (p.Km + s) ** 2, 0.0)}


@register("hill")
class Hill(_Saturable):
    """Hill: r = Vmax·Sⁿ/(Kⁿ + Sⁿ), S the reactant or an activator (negative S read as 0)."""

    name = "hill"
    Params = HillParams
    references = ("Hill1910",)

    def rate(self, c):
        p = self.params
        s = np.maximum(c[self.substrate()], 0.0)
        return p.Vmax * s**p.n / (p.K**p.n + s**p.n)

    def drate(self, c):
        p = self.params
        s = np.maximum(c[self.substrate()], 0.0)
        Kn = p.K**p.n
        with np.errstate(divide="ignore"):
            # n < 1 has an infinite slope at S = 0: Newton gets a large finite one there
            d = p.Vmax * p.n * Kn * np.where(s > 0, s, 1e-300) ** (p.n - 1) / (Kn + s**p.n) ** 2
        return {self.substrate(): np.where(c[self.substrate()] >= 0, np.minimum(d, 1e300), 0.0)}


class ConstantParams(Strict):
    rate: VolumeRate


@register("constant")
class Constant(ReactionModel):
    """Zero-order production: r = rate (µM/ms), for '-> X'."""

    name = "constant"
    Params = ConstantParams

    @classmethod
    def check(cls, equation, params):
        if equation.reactants or equation.reversible:
            return [("equation", f"constant is zero-order production, written '-> X'; got "
                     f"{equation}; use mass_action for removal ('X ->', kf in /s)")]
        return []

    def reads(self):
        return ()

    def rate(self, c):
        return np.asarray(self.params.rate, float)

    def drate(self, c):
        return {}
