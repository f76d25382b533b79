"""`pm_punctum`: a cortical ER sheet 10–25 nm beneath the plasma membrane, STIM1/Orai1 puncta.

Layout (z up): cytosol below, the ER sheet (lumen −er_thickness < z < 0, radius er_radius), the
junctional cleft 0 < z < gap, the plasma membrane at z = gap and, above it, the extracellular
space (a compartment of depth `extracellular_depth`, or nothing: then the PM is the outer wall
of the mesh and fluxes name `outside` as their other side). Each punctum is a disk of
`punctum_radius` on the PM (`pm_punctum_patch`) facing an equal disk on the ER
(`er_punctum_patch`); an optional pore disk `pm_channel` of `channel_radius` sits at its centre
(an overlapping subset of `pm_punctum_patch`, for a single channel as a point source).

Every interface is a plane z = const or a vertical cylinder, so the mesh is a base mesh of the
(r) line or the (x, y) disk, graded around the puncta, pores and sheet edge, extruded through
graded z-layers: quadrilaterals in 2D, prisms in 3D. Faces are orthogonal to the lines joining
cell centres across every horizontal face (and every face in 2D), which keeps FiPy's two-point
fluxes accurate near the channel.

With `er_network = true` the ER lumen runs out to the outer wall (radius Rd) instead of ending
at `er_radius`; its rim there is the surface `er_network`, where a bath can stand for the rest
of the ER network.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from ..quantities import Bool, Length
from . import builders
from .contacts import NM, _gap_range
from .gmsh_tools import (GmshBuilder, GmshParams, add_physical_groups, cylinder_bounds, graded_layers,
                         mesh_options)
from .unstructured import OUTSIDE, SurfaceClaim


class PmPunctumParams(GmshParams):
    builder: Literal["pm_punctum"] = "pm_punctum"
    gap: Length = Field(0.015, gt=0)
    punctum_radius: Length = Field(0.100, gt=0)
    channel_radius: Length | None = Field(0.002, gt=0)
    puncta: int = Field(1, ge=1, le=25)
    spacing: Length = Field(0.400, gt=0)
    er_thickness: Length = Field(0.030, gt=0)
    er_radius: Length = Field(0.400, gt=0)
    bulk: Length = Field(0.250, gt=0)
    extracellular: Literal["compartment", "boundary"] = "compartment"
    extracellular_depth: Length = Field(0.200, gt=0)
    er_network: Bool = Field(False, description="the ER sheet reaches the outer wall, where its "
                             "rim `er_network` stands for the rest of the ER network")

    DEFAULTS = {
        "axisymmetric": {"size_min": 0.0005, "size_membrane": 0.002, "size_max": 0.05, "grading": 0.2},
        "3d": {"size_min": 0.001, "size_membrane": 0.004, "size_max": 0.08, "grading": 0.35},
    }

    def centers(self) -> list[float]:
        n = self.puncta
        return [(i - 0.5 * (n - 1)) * self.spacing for i in range(n)]

    @model_validator(mode="after")
    def _layout(self):
        _gap_range(self.gap)
        a, rc = self.punctum_radius, self.channel_radius
        if rc is not None and rc >= a:
            raise ValueError(f"channel_radius ({rc / NM:g} nm) must be smaller than punctum_radius "
                             f"({a / NM:g} nm)")
        if self.puncta > 1:
            if self.variant != "3d":
                raise ValueError("several puncta need variant = \"3d\" (the axisymmetric variant has "
                                 "one punctum on its axis)")
            if self.spacing <= 2 * a:
                raise ValueError(f"spacing ({self.spacing / NM:g} nm) must exceed the punctum "
                                 f"diameter ({2 * a / NM:g} nm)")
        reach = max(abs(c) for c in self.centers()) + a
        if reach >= self.er_radius:
            raise ValueError(f"the puncta reach {reach / NM:g} nm from the axis; er_radius "
                             f"({self.er_radius / NM:g} nm) must be larger")
        return self


@builders.register("pm_punctum")
class PmPunctum(GmshBuilder):
    """Cortical ER sheet 10–25 nm under the plasma membrane with STIM1/Orai1 puncta."""

    name = "pm_punctum"
    Params = PmPunctumParams

    @staticmethod
    def compartment_names(p) -> list[str]:
        names = ["cytosol", "er"]
        return names + (["extracellular"] if p.extracellular == "compartment" else [])

    @staticmethod
    def surface_names(p) -> list[str]:
        names = ["pm", "pm_punctum_patch", "er_membrane", "er_punctum_patch", "outer"]
        if p.channel_radius is not None:
            names.append("pm_channel")
        if p.extracellular == "compartment":
            names.append("extracellular_outer")
        if p.er_network:
            names.append("er_network")
        return names

    @classmethod
    def claims(cls, p):
        pm = ("cytosol", "extracellular" if p.extracellular == "compartment" else OUTSIDE)
        out = [SurfaceClaim("pm", (pm,)), SurfaceClaim("pm_punctum_patch", (pm,)),
               SurfaceClaim("er_membrane", (("er", "cytosol"),)),
               SurfaceClaim("er_punctum_patch", (("er", "cytosol"),)),
               SurfaceClaim("outer", (("cytosol", OUTSIDE),))]
        if p.channel_radius is not None:
            out.append(SurfaceClaim("pm_channel", (pm,)))
        if p.extracellular == "compartment":
            out.append(SurfaceClaim("extracellular_outer", (("extracellular", OUTSIDE),)))
        if p.er_network:
            out.append(SurfaceClaim("er_network", (("er", OUTSIDE),)))
        return tuple(out)

    @staticmethod
    def _layout(p):
        Rd = p.er_radius + p.bulk
        z0 = -p.er_thickness - p.bulk
        z_top = p.gap + (p.extracellular_depth if p.extracellular == "compartment" else 0.0)
        r_er = Rd if p.er_network else p.er_radius       # the lumen's radius
        return dict(Rd=Rd, z0=z0, z_top=z_top, r_er=r_er)

    @classmethod
    def bounds(cls, p):
        L = cls._layout(p)
        return cylinder_bounds(p, L["Rd"], L["z0"], L["z_top"])

    @classmethod
    def reference(cls, p) -> dict:
        L = cls._layout(p)
        Rd, n, a, t, r_er = L["Rd"], p.puncta, p.punctum_radius, p.er_thickness, L["r_er"]
        H_cyt = p.gap - L["z0"]
        V_er = math.pi * r_er**2 * t
        rim = 2 * math.pi * r_er * t
        volumes = {"cytosol": math.pi * Rd**2 * H_cyt - V_er, "er": V_er}
        areas = {"pm_punctum_patch": n * math.pi * a * a, "pm": math.pi * (Rd**2 - n * a * a),
                 "er_punctum_patch": n * math.pi * a * a,
                 "er_membrane": 2 * math.pi * r_er**2 + rim - n * math.pi * a * a,
                 "outer": 2 * math.pi * Rd * H_cyt + math.pi * Rd**2}
        if p.er_network:        # the rim moves from the ER membrane onto the outer wall
            areas.update(er_membrane=areas["er_membrane"] - rim, outer=areas["outer"] - rim,
                         er_network=rim)
        if p.channel_radius is not None:
            areas["pm_channel"] = n * math.pi * p.channel_radius**2
        if p.extracellular == "compartment":
            volumes["extracellular"] = math.pi * Rd**2 * p.extracellular_depth
            areas["extracellular_outer"] = 2 * math.pi * Rd * p.extracellular_depth + math.pi * Rd**2
        return {"volumes": volumes, "areas": areas,
                "clefts": {"er_pm": ["er_punctum_patch", "pm_punctum_patch", p.gap]}}

    @classmethod
    def _generate(cls, gmsh, p) -> dict:
        dim = cls.dim(p)
        L = cls._layout(p)
        info: dict = {"base": "polar (revolved)" if p.puncta == 1 and dim == 3 else
                      ("line" if dim == 2 else "triangulated disk")}
        Rd, z0 = L["Rd"], L["z0"]
        a, rc, r_er = p.punctum_radius, p.channel_radius, L["r_er"]
        hmin, hmem = p.mesh_size("size_min"), p.mesh_size("size_membrane")
        s, hmax, f = p.mesh_size("grading"), p.mesh_size("size_max"), p.resolution

        # ---- base (r line or x-y disk at z0), each piece labelled by its radial region
        if p.puncta == 1:
            # built-in kernel: the r line, in 3D revolved about the axis in four quarter turns
            # with a structured (polar) mesh: every face normal to its centre-to-centre line
            kernel = gmsh.model.geo
            radii = sorted(r for r in (rc, a, r_er) if r is not None and 0 < r < Rd)
            xs = [0.0, *radii, Rd]
            pts = [kernel.addPoint(x, z0 if dim == 2 else 0.0, 0.0 if dim == 2 else z0) for x in xs]
            segments = []
            for i in range(len(xs) - 1):
                rm = 0.5 * (xs[i] + xs[i + 1])
                if rc is not None and rm < rc:
                    label = "channel"
                elif rm < a:
                    label = "punctum"
                elif rm < r_er:
                    label = "sheet"
                else:
                    label = "beyond"
                segments.append((kernel.addLine(pts[i], pts[i + 1]), label))
            if dim == 2:
                pieces = segments
            else:
                n_theta = 4 * max(6, math.ceil(2 * math.pi / (s * f) / 4))
                pieces, current = [], [(1, t) for t, _ in segments]
                for _ in range(4):
                    ex = kernel.revolve(current, 0, 0, z0, 0, 0, 1, math.pi / 2,
                                        numElements=[n_theta // 4], recombine=True)
                    made = [i for i, (d, _) in enumerate(ex) if d == 2]
                    pieces += [(ex[i][1], label) for i, (_, label) in zip(made, segments)]
                    current = [ex[i - 1] for i in made]
                kernel.synchronize()
                kernel.removeAllDuplicates()        # close the seam of the last quarter
            kernel.synchronize()
            info["angular_cells"] = None if dim == 2 else n_theta
        else:
            kernel = gmsh.model.occ
            disk = kernel.addDisk(0, 0, z0, Rd, Rd)
            tools = {"sheet": [kernel.addDisk(0, 0, z0, r_er, r_er)]}
            tools["punctum"] = [kernel.addDisk(c, 0, z0, a, a) for c in p.centers()]
            if rc is not None:
                tools["channel"] = [kernel.addDisk(c, 0, z0, rc, rc) for c in p.centers()]
            order = [k for k in ("sheet", "punctum", "channel") if k in tools]
            tool_list = [(2, t) for k in order for t in tools[k]]
            kinds = [k for k in order for _ in tools[k]]
            _, children = kernel.fragment([(2, disk)], tool_list)
            kernel.synchronize()
            rank = {"beyond": 0, "sheet": 1, "punctum": 2, "channel": 3}
            label_of = {t: "beyond" for d, t in children[0] if d == 2}
            for kind, kids in zip(kinds, children[1:]):
                for d, t in kids:
                    if d == 2 and rank[kind] > rank[label_of.get(t, "beyond")]:
                        label_of[t] = kind
            pieces = sorted(label_of.items())
            # pores and punctum edges are polygons: keep enough sides for their areas (≥ 24
            # sides: area within 1.2 %) whatever the resolution
            for _, c in gmsh.model.getEntities(1):
                x0, y0, _, x1, y1, _ = gmsh.model.getBoundingBox(1, c)
                radius = 0.25 * ((x1 - x0) + (y1 - y0))
                for want, h in ([(rc, hmin + s * rc)] if rc is not None else []) + [(a, hmem)]:
                    if abs(radius - want) < 1e-3 * want + 1e-6:
                        sides = max(24, math.ceil(2 * math.pi * want / (f * h)))
                        gmsh.model.mesh.setTransfiniteCurve(c, sides + 1)

        # ---- in-plane sizes: fine at the pores, membrane-sized at patch and sheet edges
        r = "Abs(x)" if dim == 2 else "Sqrt(x*x+y*y)"
        h_edge = max(hmem, p.er_thickness / 3)     # the sheet edge: nothing localised happens there
        terms = [f"({h_edge}+{s}*Abs({r}-{r_er}))"]
        for c in ([0.0] if dim == 2 else p.centers()):
            rr = r if dim == 2 else f"Sqrt((x-({c}))^2+y*y)"
            terms.append(f"({hmem}+{s}*Abs({rr}-{a}))")
            terms.append(f"({hmin if rc is not None else hmem}+{s}*{rr})")
        expr = str(hmax)
        for t in terms:
            expr = f"Min({expr},{t})"
        field = gmsh.model.mesh.field
        tag = field.add("MathEval")
        field.setString(tag, "F", f"{f}*{expr}")
        field.setAsBackgroundMesh(tag)

        # ---- graded z layers through each interval, extruded piece by piece
        planes = [(p.gap, hmin if rc is not None else hmem), (0.0, hmem), (-p.er_thickness, hmem)]
        levels = [z0, -p.er_thickness, 0.0, p.gap] + ([L["z_top"]] if L["z_top"] > p.gap else [])
        kinds = ["below", "lumen", "cleft", "extracellular"]
        current = [(t, label) for t, label in pieces]
        volumes: dict[str, list[int]] = {}
        vol_info: dict[int, tuple[str, str]] = {}
        layer_counts = []
        for k in range(len(levels) - 1):
            za, zb = levels[k], levels[k + 1]
            nodes = graded_layers(za, zb, [(zp, h * f) for zp, h in planes], s * f, hmax * f)
            heights = list((nodes[1:] - za) / (zb - za))
            layer_counts.append(len(heights))
            dz = zb - za
            nxt = []
            # one call for all pieces, so that neighbours share their lateral faces
            ex = kernel.extrude([(dim - 1, t) for t, _ in current], 0, dz if dim == 2 else 0,
                             0 if dim == 2 else dz, numElements=[1] * len(heights), heights=heights,
                             recombine=True)
            tops = [i for i, (d, _) in enumerate(ex) if d == dim]
            for (t, label), i in zip(current, tops):
                top, vol = ex[i - 1][1], ex[i][1]
                kind = kinds[k]
                if kind == "lumen" and label != "beyond":
                    comp = "er"
                elif kind == "extracellular":
                    comp = "extracellular"
                else:
                    comp = "cytosol"
                volumes.setdefault(comp, []).append(vol)
                vol_info[vol] = (comp, label)
                nxt.append((top, label))
            current = nxt
        kernel.synchronize()

        # ---- surfaces from the compartments on both sides and the level of horizontal faces
        surfaces: dict[str, list[int]] = {n: [] for n in cls.surface_names(p)}
        for _, e in gmsh.model.getEntities(dim - 1):
            up, _ = gmsh.model.getAdjacencies(dim - 1, e)
            adj = [vol_info[v] for v in up if v in vol_info]
            if not adj:
                continue
            bb = gmsh.model.getBoundingBox(dim - 1, e)
            lo, hi = (bb[1], bb[4]) if dim == 2 else (bb[2], bb[5])
            horizontal = abs(hi - lo) < 1e-6
            if dim == 2 and not horizontal and bb[3] < 1e-6:
                continue                                   # the axis r = 0
            comps = sorted({c for c, _ in adj})
            labels = {lab for _, lab in adj}
            pm = horizontal and abs(lo - p.gap) < 1e-6
            if pm:
                if labels & {"channel"}:
                    surfaces["pm_channel"].append(e)
                surfaces["pm_punctum_patch" if labels & {"channel", "punctum"} else "pm"].append(e)
            elif comps == ["cytosol", "er"]:
                top = horizontal and abs(lo) < 1e-6
                patch = top and labels & {"channel", "punctum"}
                surfaces["er_punctum_patch" if patch else "er_membrane"].append(e)
            elif len(adj) == 1 and comps == ["cytosol"]:
                surfaces["outer"].append(e)
            elif len(adj) == 1 and comps == ["extracellular"]:
                surfaces["extracellular_outer"].append(e)
            elif len(adj) == 1 and comps == ["er"]:
                surfaces["er_network"].append(e)
        add_physical_groups(gmsh, dim, volumes, surfaces, cls.compartment_names(p))
        mesh_options(gmsh, dim, p.threads)
        gmsh.model.mesh.generate(dim)
        return {**info, "z_layers": layer_counts}
