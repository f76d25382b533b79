"""Colours: the colour scale of a field (limits, log or linear, isosurface levels), the colour
map, the styles of isosurfaces and membranes, and the legend colours of flux surfaces."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .common import RenderError

CMAP = "viridis"
NAN_COLOR = (0.78, 0.78, 0.78)
SURFACE_COLORS = ("#e4007c", "#ff7f0e", "#17becf", "#d62728", "#8c564b")
MEMBRANE_COLOR = (0.55, 0.55, 0.6)
# isosurfaces: white glass, like the isolines on the cuts and the level marks on the colour bar
# (coloured by their level they would vanish against the field of the same colour)
ISO_STYLE = dict(color="white", opacity=0.32, ambient=0.25, diffuse=0.6, specular=0.5,
                 specular_power=25.0, smooth_shading=True)
SHEET_OPACITY = 0.18                # membranes; seen from above they would veil the cut: left out


@dataclass(frozen=True)
class Scale:
    lo: float
    hi: float
    log: bool
    data_lo: float
    data_hi: float
    n_nonpositive: int = 0

    def transform(self, v: np.ndarray) -> np.ndarray:
        """Values as the scene colours them: log10 (NaN where ≤ 0) or unchanged."""
        v = np.asarray(v, float)
        if not self.log:
            return v
        out = np.full(v.shape, np.nan)
        pos = v > 0
        out[pos] = np.log10(v[pos])
        return out

    @property
    def tlim(self) -> tuple[float, float]:
        return (math.log10(self.lo), math.log10(self.hi)) if self.log else (self.lo, self.hi)

    def norm(self):
        from matplotlib.colors import LogNorm, Normalize

        return LogNorm(self.lo, self.hi) if self.log else Normalize(self.lo, self.hi)

    def unit(self, v: np.ndarray) -> np.ndarray:
        """Values as a fraction of the colour bar: 0 at lo, 1 at hi (outside: beyond)."""
        a, b = self.tlim
        return (self.transform(v) - a) / (b - a)


@dataclass(frozen=True)
class Colouring:
    """How cells get their colour: one Scale for all compartments (`default`), or, per
    compartment, its own (`own`: compartment id → Scale; the others share `default`).

    The scenes and the map colour the 'colour coordinate' `coord(values, comp)` between `tlim`:
    the transformed value (log10 or unchanged) with one scale, the fraction of the cell's own
    compartment's bar (0 to 1) with several."""

    default: Scale
    own: dict = field(default_factory=dict)
    n_grey: int = 0                      # cells drawn grey: the field absent (NaN), or ≤ 0 on log

    @property
    def log(self) -> bool:
        return self.default.log

    def scale_of(self, k: int) -> Scale:
        return self.own.get(int(k), self.default)

    @property
    def tlim(self) -> tuple[float, float]:
        return (0.0, 1.0) if self.own else self.default.tlim

    def coord(self, values: np.ndarray, comp: np.ndarray) -> np.ndarray:
        values = np.asarray(values, float)
        if not self.own:
            return self.default.transform(values)
        out = np.full(values.shape, np.nan)
        for k in np.unique(comp):
            sel = comp == k
            out[sel] = self.scale_of(k).unit(values[sel])
        return out

    def level_coords(self, levels, k: int) -> np.ndarray:
        """Isosurface levels (µM) as colour coordinates in compartment k."""
        levels = np.asarray(levels, float)
        return self.scale_of(k).unit(levels) if self.own else self.default.transform(levels)


def parse_clim(items) -> tuple[float, float] | dict | None:
    """--clim values → the `clim` of render: 'LOW,HIGH' (µM, every compartment without its own)
    and 'NAME=LOW:HIGH' (or NAME=LOW,HIGH: that compartment's own colour bar); repeatable."""
    if not items:
        return None
    if isinstance(items, str):
        items = [items]
    out: dict = {}
    for item in items:
        text = str(item).replace(" ", "")
        name, _, lims = text.rpartition("=")
        try:
            parts = [float(x) for x in lims.replace(":", ",").split(",")]
        except ValueError:
            parts = []
        if len(parts) != 2 or (name == "" and "=" in text):
            raise RenderError(f"cannot read --clim {item!r}; write LOW,HIGH in µM (e.g. 0.1,100) "
                              "or COMPARTMENT=LOW:HIGH (e.g. er=100:600)")
        key = name or "*"
        if key in out:
            raise RenderError(f"--clim gives {'the shared range' if key == '*' else key} twice")
        out[key] = (parts[0], parts[1])
    return out["*"] if list(out) == ["*"] else out


def make_colouring(values: np.ndarray, comp: np.ndarray, names: list[str], log: bool = True,
                   clim=None, per_compartment: bool = False) -> Colouring:
    """The colouring of a field (values per cell, several frames concatenated if need be).

    clim: None (the data range), (lo, hi) in µM for all compartments, or {compartment name:
    (lo, hi) or None (its data range)} giving those compartments their own bars ("*": the limits
    of the others). per_compartment: every compartment where the field exists gets its own bar
    (its data range unless clim names it)."""
    values = np.asarray(values, float)
    comp = np.asarray(comp)
    limits = dict(clim) if isinstance(clim, dict) else {"*": clim}
    rest_lim = limits.pop("*", None)
    for name in limits:
        if name not in names:
            raise RenderError(f"--clim {name}=…: no compartment {name!r}; compartments: "
                              f"{', '.join(names)}")
    ids = [int(k) for k in np.unique(comp)]
    own = {}
    for k in ids:
        name = names[k] if 0 <= k < len(names) else f"compartment {k}"
        if name not in limits and not per_compartment:
            continue
        v = values[comp == k]
        if not np.any(np.isfinite(v)):
            continue                           # the field is absent there: grey
        try:
            own[k] = make_scale(v, log, limits.get(name))
        except RenderError as exc:
            raise RenderError(f"--clim {name}: {exc}") from None
    rest = ~np.isin(comp, list(own))
    finite = np.isfinite(values)
    if np.any(rest & finite):
        default = make_scale(values[rest], log, rest_lim)
    else:                                      # every compartment has its own bar
        default = next(iter(own.values())) if own else make_scale(values, log, rest_lim)
    if own and len(own) == 1 and not np.any(rest & finite):
        own = {}                               # one compartment with data: one bar, as without
    grey = int(np.sum(~finite)) + (int(np.sum(finite & (values <= 0))) if default.log else 0)
    return Colouring(default, own, grey)


def make_scale(values: np.ndarray, log: bool = True, clim: tuple[float, float] | None = None) -> Scale:
    """Colour limits = the data range (positive values on a log scale). A uniform field gets ±5 %
    so the bar has a width; `clim` overrides (µM)."""
    v = np.asarray(values, float)
    # NaN marks cells where the field does not exist (a bound state outside its buffer's
    # compartments): drawn grey, as values ≤ 0 are on a log scale
    n_nonpos = int(np.sum(~np.isfinite(v)))
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise RenderError("the field has no finite value to colour")
    if log:
        pos = v[v > 0]
        n_nonpos += int(v.size - pos.size)
        if pos.size == 0:
            log, pos = False, v
        v = pos
    data_lo, data_hi = float(v.min()), float(v.max())
    lo, hi = (data_lo, data_hi) if clim is None else (float(clim[0]), float(clim[1]))
    if clim is not None and (hi <= lo or (log and lo <= 0)):
        raise RenderError(f"colour range {clim} is empty or not positive on a log scale")
    if hi <= lo * (1 + 1e-12) if log else hi <= lo:
        pad = 0.05 * max(abs(lo), 1e-30) if lo != 0 else 1.0
        lo, hi = lo - pad, hi + pad
    return Scale(lo, hi, log, data_lo, data_hi, n_nonpos)


def iso_levels(scale: Scale, lo: float, hi: float, max_levels: int = 4) -> list[float]:
    """Isosurface levels inside (lo, hi): decades if two or more fit, else three round values."""
    if hi <= lo or (scale.log and lo <= 0):
        return []
    if scale.log:
        a, b = math.log10(lo), math.log10(hi)
        margin = 0.12 * (b - a)
        decades = [10.0**k for k in range(math.ceil(a + margin), math.floor(b - margin) + 1)]
        if len(decades) >= 2:
            while len(decades) > max_levels:
                decades = decades[1::2] if len(decades) % 2 == 0 else decades[::2]
            return decades
        return _distinct([10 ** (a + f * (b - a)) for f in (0.25, 0.5, 0.75)], lo, hi)
    return _distinct([lo + f * (hi - lo) for f in (0.25, 0.5, 0.75)], lo, hi)


def _distinct(values: list[float], lo: float, hi: float) -> list[float]:
    """Round to as few significant digits as keep the values distinct and inside (lo, hi)."""
    for sig in range(2, 8):
        r = [_round_sig(v, sig) for v in values]
        if len(set(r)) == len(r) and all(lo < x < hi for x in r):
            return r
    return values


def _round_sig(x: float, sig: int = 2) -> float:
    if x == 0:
        return 0.0
    return float(f"{x:.{sig}g}")


def fmt_conc(c: float, sig: int = 3) -> str:
    if c == 0:
        return "0"
    if abs(c) >= 1e5 or abs(c) < 1e-3:
        return f"{c:.2g}"
    text = f"{c:.{sig}g}"
    if "e" in text:                       # 1e+03 → 1000
        text = f"{c:.{max(0, sig - 1 - math.floor(math.log10(abs(c))))}f}"
    return text


def fmt_levels(levels: list[float]) -> str:
    """Levels with as many digits as keep them apart."""
    for sig in range(2, 8):
        texts = [fmt_conc(x, sig) for x in levels]
        if len(set(texts)) == len(texts):
            return ", ".join(texts)
    return ", ".join(repr(x) for x in levels)


def _cmap():
    import matplotlib

    return matplotlib.colormaps[CMAP].with_extremes(bad=NAN_COLOR)


def _mesh_kw(scale: Scale, **extra) -> dict:
    """add_mesh keyword arguments of a surface coloured by the (transformed) field."""
    kw = dict(cmap=CMAP, clim=scale.tlim, show_scalar_bar=False, nan_color=NAN_COLOR,
              ambient=0.7, diffuse=0.4, specular=0.0)
    kw.update(extra)
    return kw


def _iso_style(camera: str) -> dict:
    """Isosurfaces seen edge-on from the side would veil the cut they stand in front of."""
    return {**ISO_STYLE, "opacity": 0.12} if camera == "side" else ISO_STYLE


def flux_colour(run, name: str) -> str:
    """Legend colour of a flux-carrying surface (by its place among them), else black."""
    names = [s["name"] for s in run.surfaces() if s["role"] == "flux"]
    return SURFACE_COLORS[names.index(name) % len(SURFACE_COLORS)] if name in names else "black"
