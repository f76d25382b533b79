"""MP4 next to the GIF, only where imageio-ffmpeg is installed (skipped otherwise)."""

import pytest

from microdomain.render import render

pytestmark = pytest.mark.usefixtures("offscreen_opengl")


def test_animation_also_writes_mp4_when_imageio_ffmpeg_is_installed(box3d_run, tmp_path):
    pytest.importorskip("imageio")
    pytest.importorskip("imageio_ffmpeg")
    r = render(box3d_run, animate=True, size=(320, 240), out=tmp_path)
    assert sorted(p.suffix for p in r.paths) == [".gif", ".mp4"]
    assert all(p.stat().st_size > 0 for p in r.paths)
