"""Fixtures of the geometry tests: one mesh cache per test session (a temporary folder, so the
tests never read a stale mesh from the user's cache) and the domains built in it, shared by the
tests that need the same mesh."""

import os

import pytest

os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")


@pytest.fixture(scope="session", autouse=True)
def mesh_cache(tmp_path_factory):
    old = os.environ.get("MICRODOMAIN_CACHE")
    path = tmp_path_factory.mktemp("mesh-cache")
    os.environ["MICRODOMAIN_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("MICRODOMAIN_CACHE", None)
    else:
        os.environ["MICRODOMAIN_CACHE"] = old


@pytest.fixture(scope="session")
def built(mesh_cache):
    """built(builder, **params) → (geometry, domain), made once per session per parameter set."""
    from microdomain.geometry import builders
    from microdomain.mesh import build_domain

    memo = {}

    def get(builder: str, **params):
        key = (builder, tuple(sorted(params.items())))
        if key not in memo:
            cls = builders.get(builder)
            geo = cls.build(cls.Params.model_validate({"builder": builder, **params}))
            memo[key] = (geo, build_domain(geo))
        return memo[key]

    return get
