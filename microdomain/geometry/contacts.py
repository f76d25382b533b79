"""Organelle contacts built from solids of revolution: `mam_contact` and `er_lysosome`.

Both put a flat ER sheet (lumen + membrane) with its top at z = 0 under an organelle idealised
as a ball flattened against the ER: the ball of radius R is cut by the plane z = gap, which
leaves a flat contact disk of radius `contact_radius` facing the ER across a cleft of uniform
width `gap`. A cylinder of cytosol surrounds everything out to `bulk` beyond the organelles.

Construction (Gmsh OpenCASCADE): the solids are made and fragmented together with a cleft
cylinder (r ≤ contact_radius, 0 ≤ z ≤ gap) whose faces split the ER top at the patch edge.
Every fragment is assigned a compartment from the solids that contain it; every interface
from the compartments on its two sides (and whether it touches the cleft). The 2D variant is
the (r, z) half-plane of the same bodies and FiPy weights it by r (see microdomain.mesh).

With `cluster_radius` the channel cluster on the ER side of the contact gets its own surface,
`er_cluster`: a disk of that radius about the axis (a compact cluster), cut out of the ER contact
patch by a second, narrower cleft cylinder and meshed finer (cells of at most a third of its
radius, and never coarser than `size_min`). Without it a cluster flux must be spread over the
whole contact patch (docs/cases.md, "compact clusters", shows what that footprint does).

With `ip3r_height` too, the IP3R exclusion rule places the cluster (`cluster_ring`, documented
in docs/geometry.md): an IP3R cannot sit where the ER faces the organelle across less than its
cytosolic height, so when the gap is narrower the cluster moves radially outwards, off the
contact, to the first radius where the local gap (the curved organelle above the flat ER)
reaches that height; it keeps its area: in 3D a disk beside the contact, its near edge there
(on the x axis), in (r, z) an annulus about the axis.

With `channels` (positions (x, y) on the ER top, z = 0) each channel is its own small disk of
`channel_radius`, `er_channel_1 … er_channel_N` in the order listed, cut out of the contact patch
or the rest of the ER membrane and meshed finer (the cluster's rule: cells of at most a third of
its radius), so a case can give every channel its own flux. The (r, z) variant holds only one
channel on the axis; `ip3r_height` checks the positions by the exclusion rule (it moves nothing).

With `er_network = true` the ER sheet runs out to the domain's outer wall instead of ending at
`er_radius`: its rim there (`er_network`) stands for the rest of the ER network, so a bath on
it holds the lumen near its resting [Ca2+] instead of a closed disk that a release empties.
"""

from __future__ import annotations

import math
from typing import Callable, Literal

from pydantic import Field, model_validator

from ..quantities import Bool, FieldError, Length
from . import builders
from .gmsh_tools import (Expr, GmshBuilder, GmshParams, Shapes, add_physical_groups,
                         cylinder_bounds, mesh_options, size_field, truncated_ball_measures)
from .unstructured import OUTSIDE, SurfaceClaim

NM = 1e-3
CHANNEL_RADIUS = 5 * NM     # an IP3R's membrane-spanning domain, ~10 nm across (Jiang2002)
MAX_CHANNELS = 64         # each adds a refined disk and a term to the size field: a bound on both
CLEFT_CELLS_3D = 5     # 3D default: a size field of gap/5 fills the cleft at resolution 1 (Gmsh's
                       # tetrahedra come out ~1.25x larger: >= 4 cells across, docs/geometry.md)


def _gap_range(gap: float) -> None:
    if not 5 * NM - 1e-12 <= gap <= 100 * NM + 1e-12:
        raise ValueError(f"gap must lie between 5 nm and 100 nm (got {gap / NM:g} nm)")



def _ball_on_sheet(R: float, p) -> dict:
    """Where an organelle of radius R, flattened over a contact disk of radius p.contact_radius,
    sits above an ER sheet at a uniform gap p.gap; the domain box around both, with p.bulk of
    cytosol beyond them (both contacts share this layout)."""
    a = p.contact_radius
    d = math.sqrt(R * R - a * a)
    zc = p.gap + d
    Rd = max(p.er_radius, R) + p.bulk
    r_er = Rd if p.er_network else p.er_radius       # the lumen's radius
    return dict(R=R, a=a, d=d, zc=zc, Rd=Rd, r_er=r_er, z0=-p.er_thickness - p.bulk,
                z1=zc + R + p.bulk)


def _sheet_measures(L: dict, p) -> dict:
    """ER volume, ER surface (patch included), outer wall area and, with er_network, the rim on
    the outer wall: the sheet's share of `reference` (both contacts share it)."""
    r, t, Rd, H = L["r_er"], p.er_thickness, L["Rd"], L["z1"] - L["z0"]
    rim = 2 * math.pi * r * t
    wall = 2 * math.pi * Rd * H + 2 * math.pi * Rd**2
    out = {"er": math.pi * r**2 * t, "er_surface": 2 * math.pi * r**2 + rim, "outer": wall}
    if p.er_network:        # the rim moves from the ER membrane onto the outer wall
        out.update(er_surface=2 * math.pi * r**2, outer=wall - rim, er_network=rim)
    return out


class _ContactParams(GmshParams):
    gap: Length = Field(0.020, gt=0)
    contact_radius: Length = Field(0.150, gt=0)
    er_thickness: Length = Field(0.050, gt=0)
    er_radius: Length = Field(0.400, gt=0)
    bulk: Length = Field(0.250, gt=0)
    er_network: Bool = Field(False, description="the ER sheet reaches the outer wall, where its "
                             "rim `er_network` stands for the rest of the ER network")
    cluster_radius: Length | None = Field(None, gt=0, description="a disk of this radius about "
                                          "the axis on the ER side of the contact becomes the "
                                          "surface `er_cluster` (a compact channel cluster)")
    ip3r_height: Length | None = Field(None, gt=0, description="the IP3R's cytosolic height: "
                                       "narrower gaps push the cluster off the contact to where "
                                       "the local gap reaches it; with channels, no channel may "
                                       "sit where the local gap is narrower (needs cluster_radius "
                                       "or channels)")
    channels: tuple[tuple[Length, Length], ...] | None = Field(
        None, description="channel positions [x, y] on the ER top face (z = 0): each a disk of "
        "channel_radius, its own surface er_channel_1 … er_channel_N in this order")
    channel_radius: Length | None = Field(None, gt=0, description="radius of each channel's disk "
                                          f"(default {CHANNEL_RADIUS / NM:g} nm; needs channels)")

    cleft_cells: float | None = Field(None, ge=0, le=50, description="the cleft's size field is "
                                      "gap/cleft_cells at resolution 1 (3D default 5: ≥ 4 cells "
                                      "across as meshed; axisymmetric: none, 2 nm at the patches, "
                                      "graded); 0: none, the patches at gap/2 (3D before issue 15)")

    def cleft_size(self) -> float | None:
        """Cell size throughout the cleft at resolution 1, or None (patches only, graded)."""
        n = self.cleft_cells
        if n is None and self.variant == "3d":
            n = CLEFT_CELLS_3D
        return self.gap / n if n else None

    def mesh_size(self, name: str) -> float:
        v = getattr(self, name)
        if v is None and name == "size_min" and (self.variant == "3d" or self.cleft_cells):
            # the cleft's size, or with cleft_cells = 0 the 3D default before issue 15
            return self.cleft_size() or 0.5 * self.gap
        return super().mesh_size(name)

    @model_validator(mode="after")
    def _contact(self):
        _gap_range(self.gap)
        if self.contact_radius >= self.er_radius:
            raise ValueError(f"contact_radius ({self.contact_radius / NM:g} nm) must be smaller than "
                             f"er_radius ({self.er_radius / NM:g} nm)")
        if self.cleft_cells is not None and 0 < self.cleft_cells < 1:
            raise ValueError(f"cleft_cells ({self.cleft_cells:g}) must be 0 (no cleft sizing) or "
                             "at least 1 (cells across the cleft)")
        rc = self.cluster_radius
        if rc is not None and not 2 * NM <= rc <= 0.8 * self.contact_radius:
            raise ValueError(f"cluster_radius ({rc / NM:g} nm) must lie between 2 nm and 0.8 × "
                             f"contact_radius ({0.8 * self.contact_radius / NM:g} nm): the cluster "
                             "sits inside the contact, its rim apart from the contact's")
        if self.ip3r_height is not None and rc is None and self.channels is None:
            raise ValueError("ip3r_height places a compact cluster or checks channel positions: "
                             "give cluster_radius or channels too")
        if self.channels is not None and rc is not None:
            raise FieldError("channels", "give either cluster_radius (the cluster as one disk, "
                             "er_cluster) or channels (one disk per channel), not both")
        if self.channel_radius is not None and self.channels is None:
            raise FieldError("channel_radius", "sizes the disks of `channels`: give channels too")
        return self

    def channel_size(self) -> float:
        """The radius of every channel's disk (µm)."""
        return CHANNEL_RADIUS if self.channel_radius is None else self.channel_radius


def cluster_ring(p, L: dict) -> tuple[float, float] | None:
    """Where the cluster sits: (r0, r1) of its disk (r0 = 0) or annulus on the ER, or None.

    The IP3R exclusion rule (docs/geometry.md): the cluster sits in the cleft, a disk of
    `cluster_radius` about the axis, when the gap is at least `ip3r_height`; otherwise it moves
    out to r_H, where the organelle's lower surface, z = zc − √(R² − r²), stands `ip3r_height`
    above the ER, and keeps its area there: r1² − r_H² = rc². No factor is fitted."""
    rc, H = p.cluster_radius, p.ip3r_height
    if rc is None:
        return None
    if H is None or p.gap >= H - 1e-12:
        return 0.0, rc
    R, zc = L["R"], L["zc"]
    if zc - H <= 0:                     # cannot happen: zc − H > zc − gap = d > 0
        raise ValueError("ip3r_height larger than the organelle's height above the ER")
    rH = math.sqrt(R * R - (zc - H) ** 2)
    return rH, math.sqrt(rH * rH + rc * rc)


def _cluster_pieces(p, L, sh, shapes: dict) -> None:
    """The cluster's own piece of cytosol over the ER (listed after the cleft, so it splits the
    patch or, displaced, the ER membrane): its faces on the ER become `er_cluster`."""
    ring = cluster_ring(p, L)
    if ring is None:
        return
    if ring[0] == 0:
        shapes["cluster"] = sh.cylinder(ring[1], 0.0, p.gap)
    elif sh.dim == 3:       # displaced: a disk beside the contact, its near edge at r_H
        rc = p.cluster_radius
        shapes["cluster"] = sh.occ.addCylinder(ring[0] + rc, 0, 0, 0, 0, 0.5 * p.gap, rc)
    else:                   # (r, z): the same area as a ring about the axis
        shapes["cluster"] = sh.ring(ring[0], ring[1], 0.0, 0.5 * p.gap)


def _cluster_features(p, L, e) -> list[tuple[str, float]]:
    """Finer cells on the cluster: at most a third of its radius."""
    ring = cluster_ring(p, L)
    if ring is None:
        return []
    h = min(p.mesh_size("size_min"), p.cluster_radius / 3)
    if ring[0] > 0 and e.dim == 3:
        return [(e.plane_disk(0.0, p.cluster_radius, (ring[0] + p.cluster_radius, 0.0)), h)]
    return [(e.plane_annulus(0.0, ring[0], ring[1]), h)]


def _cluster_areas(p, L) -> tuple[float, float]:
    """The cluster's area taken off (the contact patch, the rest of the ER membrane)."""
    ring = cluster_ring(p, L)
    if ring is None:
        return 0.0, 0.0
    area = math.pi * (ring[1] ** 2 - ring[0] ** 2)
    return (area, 0.0) if ring[0] == 0 else (0.0, area)


# ---------------------------------------------------------------------------- channels --

def channel_names(p) -> list[str]:
    """The channels' surfaces, er_channel_1 … er_channel_N in the order `channels` lists them."""
    return [f"er_channel_{k}" for k in range(1, len(p.channels or ()) + 1)]


def local_gap(L: dict, r: float) -> float:
    """How far above the ER (z = 0) the organelle's lower surface stands at radius r: the gap on
    the flat contact, the curved ball beyond it, infinite past the ball."""
    if r <= L["a"]:
        return L["zc"] - L["d"]
    if r >= L["R"]:
        return math.inf
    return L["zc"] - math.sqrt(L["R"] ** 2 - r * r)


def check_channels(p, L: dict) -> None:
    """Every channel a disk wholly on the ER top, on one side of the contact's edge, apart from
    the others, and (with ip3r_height) where an IP3R fits; FieldError naming the channel."""
    if p.channels is None:
        return
    rc, n = p.channel_size(), len(p.channels)
    if not 1 * NM - 1e-12 <= rc <= 50 * NM + 1e-12:
        raise FieldError("channel_radius", f"must lie between 1 nm and 50 nm (got {rc / NM:g} nm)")
    if not 1 <= n <= MAX_CHANNELS:
        raise FieldError("channels", f"give 1 to {MAX_CHANNELS} channel positions (got {n})")
    if p.variant != "3d":
        if n > 1 or any(abs(c) > 1e-12 for c in p.channels[0]):
            raise FieldError("channels", "the axisymmetric (r, z) variant holds one channel on the "
                             'axis only, channels = [["0 nm", "0 nm"]]: use variant = "3d" for '
                             "channels off the axis or more than one")
    a, r_er, Rd = L["a"], L["r_er"], L["Rd"]
    for i, (x, y) in enumerate(p.channels):
        where, name = ("channels", i), f"channel {i + 1} (er_channel_{i + 1})"
        r = math.hypot(x, y)
        if r > Rd:
            raise FieldError(where, f"{name} at r = {r / NM:g} nm lies outside the domain "
                             f"(radius {Rd / NM:g} nm)")
        if r + rc >= r_er - 1e-12:
            raise FieldError(where, f"{name} is off the ER top face: its disk reaches r = "
                             f"{(r + rc) / NM:g} nm, the ER sheet ends at {r_er / NM:g} nm")
        if abs(r - a) <= rc + 1e-12:
            raise FieldError(where, f"{name} straddles the contact's edge (r = {a / NM:g} nm): put "
                             f"its centre at r ≤ {(a - rc) / NM:g} nm or beyond {(a + rc) / NM:g} nm")
        if p.ip3r_height is not None:
            h = local_gap(L, max(0.0, r - rc))
            if h < p.ip3r_height - 1e-12:
                raise FieldError(where, f"{name} sits where the ER faces the organelle across "
                                 f"{h / NM:.3g} nm, less than ip3r_height ({p.ip3r_height / NM:g} nm): "
                                 "an IP3R does not fit there (docs/geometry.md, IP3R exclusion)")
        for j in range(i):
            xj, yj = p.channels[j]
            dist = math.hypot(x - xj, y - yj)
            if dist <= 2 * rc + 1e-12:
                raise FieldError(where, f"{name} overlaps channel {j + 1}: centres "
                                 f"{dist / NM:g} nm apart, need more than 2 × channel_radius = "
                                 f"{2 * rc / NM:g} nm")


def _channel_pieces(p, sh, shapes: dict) -> None:
    """One thin cylinder of cytosol over each channel (listed after the cleft, so it splits the
    patch or the ER membrane): its face on the ER becomes er_channel_k."""
    rc = p.channel_size()
    for k, (x, y) in enumerate(p.channels or (), start=1):
        if sh.dim == 3:
            shapes[f"channel_{k}"] = sh.occ.addCylinder(x, y, 0, 0, 0, 0.5 * p.gap, rc)
        else:                   # (r, z): the one channel on the axis (check_channels)
            shapes[f"channel_{k}"] = sh.cylinder(rc, 0.0, 0.5 * p.gap)


def _channel_features(p, e) -> list[tuple[str, float]]:
    """Finer cells on every channel: at most a third of its radius (as on a cluster)."""
    rc = p.channel_size()
    h = min(p.mesh_size("size_min"), rc / 3)
    return [(e.plane_disk(0.0, rc, (x, y)), h) for x, y in p.channels or ()]


def _channel_areas(p, L) -> tuple[float, float, dict[str, float]]:
    """The channels' area taken off (the contact patch, the rest of the ER membrane) and the area
    of each channel's surface."""
    rc = p.channel_size()
    in_patch = off_patch = 0.0
    areas = {}
    for name, (x, y) in zip(channel_names(p), p.channels or ()):
        areas[name] = math.pi * rc * rc
        if math.hypot(x, y) < L["a"]:
            in_patch += areas[name]
        else:
            off_patch += areas[name]
    return in_patch, off_patch, areas


def _er_footprints(p, L) -> tuple[float, float, dict[str, float]]:
    """What the cluster or the channels take off the patch and the ER membrane, and their own
    surfaces' areas (for `reference`)."""
    in_c, off_c = _cluster_areas(p, L)
    in_ch, off_ch, areas = _channel_areas(p, L)
    if p.cluster_radius is not None:
        areas["er_cluster"] = in_c + off_c
    return in_c + in_ch, off_c + off_ch, areas


def _er_zone_surface(zone: str | None, patch: str) -> str:
    """The ER–cytosol surface by the zone of the cytosol piece above it."""
    if zone and zone.startswith("channel_"):
        return "er_" + zone
    return {"cluster": "er_cluster", "cleft": patch}.get(zone, "er_membrane")


def _fragment_and_classify(gmsh, dim: int, shapes: dict[str, int],
                           compartment_of: Callable[[set[str]], str],
                           surface_of: Callable[[str, str, str | None], str | None]):
    """Fragment the solids; map every piece to a compartment and every interface to a surface.

    `shapes` lists the domain first. `surface_of(comp_a, comp_b, zone)` names an interface
    (comp_b is OUTSIDE on the outer boundary) or returns None to leave it untagged; `zone` is
    "channel_k", "cluster" or "cleft" when a piece next to the interface lies in that shape (in
    this order of precedence), else None.
    """
    occ = gmsh.model.occ
    names = list(shapes)
    objects = [(dim, shapes[names[0]])]
    tools = [(dim, shapes[n]) for n in names[1:]]
    _, children = occ.fragment(objects, tools)
    occ.synchronize()
    member: dict[int, set[str]] = {}
    for name, kids in zip(names, children):
        for d, tag in kids:
            if d == dim:
                member.setdefault(tag, set()).add(name)
    volumes: dict[str, list[int]] = {}
    comp_of_piece = {}
    for tag, sset in member.items():
        comp = compartment_of(sset)
        comp_of_piece[tag] = comp
        volumes.setdefault(comp, []).append(tag)
    surfaces: dict[str, list[int]] = {}
    for _, e in gmsh.model.getEntities(dim - 1):
        up, _ = gmsh.model.getAdjacencies(dim - 1, e)
        pieces = [t for t in up if t in comp_of_piece]
        if dim == 2:
            xmin, _, _, xmax, _, _ = gmsh.model.getBoundingBox(1, e)
            if len(pieces) == 1 and xmax < 1e-6:
                continue            # the symmetry axis r = 0: no flux by symmetry
        comps = [comp_of_piece[t] for t in pieces]
        channel = next((n for t in pieces for n in member[t] if n.startswith("channel_")), None)
        cleft = (channel or
                 ("cluster" if any("cluster" in member[t] for t in pieces) else
                  "cleft" if any("cleft" in member[t] for t in pieces) else None))
        if len(comps) == 1:
            name = surface_of(comps[0], OUTSIDE, cleft)
        else:
            name = surface_of(comps[0], comps[1], cleft)
        if name:
            surfaces.setdefault(name, []).append(e)
    return volumes, surfaces


def _cleft_features(p, L, e) -> list[tuple[str, float]]:
    """The contact patches at size_min and, with a cleft size, the whole cleft (0 ≤ z ≤ gap over
    the contact disk) at it: without it the size grows from the patches into the cleft (from
    gap/2 to gap at its middle by the 3D defaults before issue 15: three cells across, not four)."""
    hmin = p.mesh_size("size_min")
    features = [(e.plane_disk(0.0, L["a"]), hmin), (e.plane_disk(p.gap, L["a"]), hmin)]
    h = p.cleft_size()
    if h is not None:
        features.append((e.solid_cylinder(L["a"], 0.0, p.gap), h))
    return features


def _pair(a: str, b: str, x: str, y: str) -> bool:
    return {a, b} == {x, y}


def _network_claim(p) -> tuple[SurfaceClaim, ...]:
    return (SurfaceClaim("er_network", (("er", OUTSIDE),)),) if p.er_network else ()


def _cluster_claim(p) -> tuple[SurfaceClaim, ...]:
    """The cluster's and the channels' surfaces, each between the ER and the cytosol."""
    names = (["er_cluster"] if p.cluster_radius is not None else []) + channel_names(p)
    return tuple(SurfaceClaim(n, (("er", "cytosol"),)) for n in names)


def _footprint_names(p) -> list[str]:
    return (["er_cluster"] if p.cluster_radius is not None else []) + channel_names(p)


# ------------------------------------------------------------------------ mam_contact --

class MamContactParams(_ContactParams):
    builder: Literal["mam_contact"] = "mam_contact"
    mito_radius: Length = Field(0.300, gt=0)
    ims_width: Length = Field(0.020, gt=0)

    @model_validator(mode="after")
    def _mito(self):
        R, a, w = self.mito_radius, self.contact_radius, self.ims_width
        if a >= R:
            raise ValueError(f"contact_radius ({a / NM:g} nm) must be smaller than mito_radius "
                             f"({R / NM:g} nm)")
        if w >= 0.5 * R:
            raise ValueError(f"ims_width ({w / NM:g} nm) must be less than half of mito_radius")
        d = math.sqrt(R * R - a * a)
        if a * a <= 2 * w * (R - d):
            raise ValueError("contact_radius too small for the inner membrane to stay flat under the "
                             f"contact: need contact_radius > {math.sqrt(2 * w * (R - d)) / NM:.0f} nm "
                             "or a thinner ims_width")
        check_channels(self, _ball_on_sheet(R, self))
        return self


@builders.register("mam_contact")
class MamContact(GmshBuilder):
    """ER sheet facing a flattened mitochondrion (OMM, IMS, IMM, matrix) across a cleft `gap`."""

    name = "mam_contact"
    Params = MamContactParams

    @staticmethod
    def compartment_names(p) -> list[str]:
        return ["cytosol", "er", "ims", "matrix"]

    @staticmethod
    def surface_names(p) -> list[str]:
        names = ["er_membrane", "er_mam_patch", "omm", "omm_mam_patch", "imm", "outer"]
        return names + (["er_network"] if p.er_network else []) + _footprint_names(p)

    @classmethod
    def claims(cls, p):
        return (SurfaceClaim("er_membrane", (("er", "cytosol"),)),
                SurfaceClaim("er_mam_patch", (("er", "cytosol"),)),
                SurfaceClaim("omm", (("ims", "cytosol"),)),
                SurfaceClaim("omm_mam_patch", (("ims", "cytosol"),)),
                SurfaceClaim("imm", (("matrix", "ims"),)),
                SurfaceClaim("outer", (("cytosol", OUTSIDE),))) + _network_claim(p) + _cluster_claim(p)

    @staticmethod
    def _layout(p):
        return _ball_on_sheet(p.mito_radius, p)

    @classmethod
    def bounds(cls, p):
        L = cls._layout(p)
        return cylinder_bounds(p, L["Rd"], L["z0"], L["z1"])

    @classmethod
    def reference(cls, p) -> dict:
        L = cls._layout(p)
        R, a, d, w = L["R"], L["a"], L["d"], p.ims_width
        Vo, So, Fo = truncated_ball_measures(R, d)
        Vi, Si, Fi = truncated_ball_measures(R - w, d - w)
        V_dom = math.pi * L["Rd"] ** 2 * (L["z1"] - L["z0"])
        er = _sheet_measures(L, p)
        in_patch, off_patch, footprints = _er_footprints(p, L)
        areas = {"er_mam_patch": math.pi * a * a - in_patch,
                 "er_membrane": er["er_surface"] - math.pi * a * a - off_patch,
                 "omm_mam_patch": Fo, "omm": So, "imm": Si + Fi, "outer": er["outer"]}
        if p.er_network:
            areas["er_network"] = er["er_network"]
        areas.update(footprints)
        return {
            "volumes": {"cytosol": V_dom - er["er"] - Vo, "er": er["er"], "ims": Vo - Vi,
                        "matrix": Vi},
            "areas": areas,
            "clefts": {"mam": ["er_mam_patch", "omm_mam_patch", p.gap]},
        }

    @classmethod
    def _generate(cls, gmsh, p) -> dict:
        dim = cls.dim(p)
        L = cls._layout(p)
        sh = Shapes(gmsh, dim)
        shapes = {
            "domain": sh.cylinder(L["Rd"], L["z0"], L["z1"]),
            "er": sh.cylinder(L["r_er"], -p.er_thickness, 0.0),
            "omm": sh.truncated_ball(L["zc"], L["R"], p.gap),
            "imm": sh.truncated_ball(L["zc"], L["R"] - p.ims_width, p.gap + p.ims_width),
            "cleft": sh.cylinder(L["a"], 0.0, p.gap),
        }
        _cluster_pieces(p, L, sh, shapes)
        _channel_pieces(p, sh, shapes)

        def compartment_of(s):
            if "imm" in s:
                return "matrix"
            if "omm" in s:
                return "ims"
            if "er" in s:
                return "er"
            return "cytosol"

        def surface_of(x, y, cleft):
            if _pair(x, y, "er", "cytosol"):
                return _er_zone_surface(cleft, "er_mam_patch")
            if _pair(x, y, "ims", "cytosol"):
                return "omm_mam_patch" if cleft else "omm"
            if _pair(x, y, "matrix", "ims"):
                return "imm"
            if _pair(x, y, "cytosol", OUTSIDE):
                return "outer"
            if _pair(x, y, "er", OUTSIDE):
                return "er_network"
            return None

        volumes, surfaces = _fragment_and_classify(gmsh, dim, shapes, compartment_of, surface_of)
        e = Expr(dim)
        hmem = p.mesh_size("size_membrane")
        features = _cleft_features(p, L, e) + [
            (e.cylinder_surface(L["r_er"], -p.er_thickness, 0.0), hmem),
            (e.sphere(L["zc"], L["R"]), hmem),
            (e.sphere(L["zc"], L["R"] - p.ims_width), hmem),
            (e.plane_disk(p.gap + p.ims_width, L["a"]), hmem),
        ] + _cluster_features(p, L, e) + _channel_features(p, e)
        size_field(gmsh, features, p.mesh_size("grading"), p.mesh_size("size_max"), p.resolution)
        mesh_options(gmsh, dim, p.threads)
        add_physical_groups(gmsh, dim, volumes, surfaces, cls.compartment_names(p))
        gmsh.model.mesh.generate(dim)
        return {}


# ------------------------------------------------------------------------ er_lysosome --

class ErLysosomeParams(_ContactParams):
    builder: Literal["er_lysosome"] = "er_lysosome"
    gap: Length = Field(0.015, gt=0)
    lysosome_radius: Length = Field(0.250, gt=0)

    @model_validator(mode="after")
    def _lysosome(self):
        if self.contact_radius >= self.lysosome_radius:
            raise ValueError(f"contact_radius ({self.contact_radius / NM:g} nm) must be smaller than "
                             f"lysosome_radius ({self.lysosome_radius / NM:g} nm)")
        check_channels(self, _ball_on_sheet(self.lysosome_radius, self))
        return self


@builders.register("er_lysosome")
class ErLysosome(GmshBuilder):
    """Lysosome flattened against an ER sheet across a cleft `gap` (~15 nm)."""

    name = "er_lysosome"
    Params = ErLysosomeParams

    @staticmethod
    def compartment_names(p) -> list[str]:
        return ["cytosol", "er", "lysosome"]

    @staticmethod
    def surface_names(p) -> list[str]:
        names = ["er_membrane", "er_contact_patch", "lysosome_membrane", "lysosome_contact_patch",
                 "outer"]
        return names + (["er_network"] if p.er_network else []) + _footprint_names(p)

    @classmethod
    def claims(cls, p):
        return (SurfaceClaim("er_membrane", (("er", "cytosol"),)),
                SurfaceClaim("er_contact_patch", (("er", "cytosol"),)),
                SurfaceClaim("lysosome_membrane", (("lysosome", "cytosol"),)),
                SurfaceClaim("lysosome_contact_patch", (("lysosome", "cytosol"),)),
                SurfaceClaim("outer", (("cytosol", OUTSIDE),))) + _network_claim(p) + _cluster_claim(p)

    @staticmethod
    def _layout(p):
        return _ball_on_sheet(p.lysosome_radius, p)

    @classmethod
    def bounds(cls, p):
        L = cls._layout(p)
        return cylinder_bounds(p, L["Rd"], L["z0"], L["z1"])

    @classmethod
    def reference(cls, p) -> dict:
        L = cls._layout(p)
        a = L["a"]
        V, S, F = truncated_ball_measures(L["R"], L["d"])
        V_dom = math.pi * L["Rd"] ** 2 * (L["z1"] - L["z0"])
        er = _sheet_measures(L, p)
        in_patch, off_patch, footprints = _er_footprints(p, L)
        areas = {"er_contact_patch": math.pi * a * a - in_patch,
                 "er_membrane": er["er_surface"] - math.pi * a * a - off_patch,
                 "lysosome_contact_patch": F, "lysosome_membrane": S, "outer": er["outer"]}
        if p.er_network:
            areas["er_network"] = er["er_network"]
        areas.update(footprints)
        return {
            "volumes": {"cytosol": V_dom - er["er"] - V, "er": er["er"], "lysosome": V},
            "areas": areas,
            "clefts": {"er_lysosome": ["er_contact_patch", "lysosome_contact_patch", p.gap]},
        }

    @classmethod
    def _generate(cls, gmsh, p) -> dict:
        dim = cls.dim(p)
        L = cls._layout(p)
        sh = Shapes(gmsh, dim)
        shapes = {
            "domain": sh.cylinder(L["Rd"], L["z0"], L["z1"]),
            "er": sh.cylinder(L["r_er"], -p.er_thickness, 0.0),
            "lysosome": sh.truncated_ball(L["zc"], L["R"], p.gap),
            "cleft": sh.cylinder(L["a"], 0.0, p.gap),
        }
        _cluster_pieces(p, L, sh, shapes)
        _channel_pieces(p, sh, shapes)

        def compartment_of(s):
            if "lysosome" in s:
                return "lysosome"
            if "er" in s:
                return "er"
            return "cytosol"

        def surface_of(x, y, cleft):
            if _pair(x, y, "er", "cytosol"):
                return _er_zone_surface(cleft, "er_contact_patch")
            if _pair(x, y, "lysosome", "cytosol"):
                return "lysosome_contact_patch" if cleft else "lysosome_membrane"
            if _pair(x, y, "cytosol", OUTSIDE):
                return "outer"
            if _pair(x, y, "er", OUTSIDE):
                return "er_network"
            return None

        volumes, surfaces = _fragment_and_classify(gmsh, dim, shapes, compartment_of, surface_of)
        e = Expr(dim)
        hmem = p.mesh_size("size_membrane")
        features = _cleft_features(p, L, e) + [
            (e.cylinder_surface(L["r_er"], -p.er_thickness, 0.0), hmem),
            (e.sphere(L["zc"], L["R"]), hmem),
        ] + _cluster_features(p, L, e) + _channel_features(p, e)
        size_field(gmsh, features, p.mesh_size("grading"), p.mesh_size("size_max"), p.resolution)
        mesh_options(gmsh, dim, p.threads)
        add_physical_groups(gmsh, dim, volumes, surfaces, cls.compartment_names(p))
        gmsh.model.mesh.generate(dim)
        return {}
