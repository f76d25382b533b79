"""Regenerate the default-parameter meshes in this folder: python meshes/make_meshes.py

Each file is what `<builder>` with `variant = "<variant>"` and every other parameter at its default
writes into the mesh cache (MSH 2.2, ASCII, physical groups named after the compartments and
surfaces); see meshes/README.md and docs/geometry.md.
"""

import shutil
import sys
from pathlib import Path

from microdomain.geometry import builders
from microdomain.mesh import build_domain

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    for name in ("pm_punctum", "mam_contact", "er_lysosome"):
        for variant in ("axisymmetric", "3d"):
            cls = builders.get(name)
            geometry = cls.build(cls.Params(variant=variant))
            domain = build_domain(geometry)             # checks tags, claims and cell quality
            target = HERE / f"{name}_{variant}.msh"
            shutil.copyfile(geometry.path, target)
            print(f"{target.name}: {domain.n_cells} cells {domain.stats['cell_types']}", file=sys.stderr)
