"""Rendering a run directory off-screen: size, content, colour limits, errors, one regression image.

The reference image (reference_egta_cleft.png) is rewritten by running these tests with
MICRODOMAIN_UPDATE_REFERENCE=1; look at it before committing it.
"""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import microdomain as md
from microdomain.cli import main
from microdomain.render import RenderError, RunDir, parse_time, render


pytestmark = pytest.mark.usefixtures("offscreen_opengl")
HERE = Path(__file__).parent
REFERENCE = HERE / "reference_egta_cleft.png"


def load(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def assert_not_blank(img: np.ndarray):
    assert img.std() > 20, "image is nearly uniform"
    colours = np.unique(img.reshape(-1, 3), axis=0)
    assert len(colours) > 200, f"only {len(colours)} distinct colours"


def field_range(run_dir, name, frame=-1):
    """Min and max of a field in a frame, read independently of the renderer (the API)."""
    res = md.open_run(run_dir)
    v = res.field(name, t=res.times[frame])
    v = v[v > 0]
    return float(v.min()), float(v.max())


def test_axisymmetric_picture_has_size_content_and_data_limits(egta_run, tmp_path):
    r = render(egta_run, field="Ca", size=(480, 360), out=tmp_path)
    assert len(r.paths) == 1 and r.paths[0].suffix == ".png"
    img = load(r.paths[0])
    assert img.shape == (360, 480, 3)
    assert_not_blank(img)
    assert r.clim == pytest.approx(field_range(egta_run, "Ca"), rel=1e-12)
    assert r.log and r.levels and all(r.clim[0] < x < r.clim[1] for x in r.levels)


def test_3d_picture_has_size_content_and_data_limits(box3d_run, tmp_path):
    for camera in ("iso", "top"):
        r = render(box3d_run, field="Ca", camera=camera, size=(400, 300), out=tmp_path,
                   time="0.5 ms")
        assert r.frames == [1] and r.times == [pytest.approx(0.5)]
        img = load(r.paths[0])
        assert img.shape == (300, 400, 3)
        assert_not_blank(img)
        assert r.clim == pytest.approx(field_range(box3d_run, "Ca", frame=1), rel=1e-12)


def test_bound_buffer_absent_from_a_compartment_is_grey_not_an_error(box3d_run, tmp_path):
    r = render(box3d_run, field="EGTA.Ca", size=(400, 300), out=tmp_path)
    assert r.clim == pytest.approx(field_range(box3d_run, "EGTA.Ca"), rel=1e-12)
    assert any("drawn grey" in n for n in r.notes)


def test_times_are_read_with_units_and_the_nearest_frame_is_named(egta_run):
    assert parse_time("5ms") == parse_time("5 ms") == 5.0
    assert parse_time("500 us") == parse_time("500µs") == pytest.approx(0.5)
    assert parse_time("0.02 s") == pytest.approx(20.0)
    assert parse_time(7) == 7.0
    with pytest.raises(RenderError, match="unknown time unit"):
        parse_time("5 parsec")
    run = RunDir(egta_run)                     # frames at 0, 5, 10, 15, 20 ms
    choice = run.choose(time="6 ms")
    assert choice.index == 1 and choice.time == pytest.approx(5.0)
    assert "nearest to the requested 6 ms" in choice.note
    assert run.choose(time="10 ms").index == 2
    assert run.choose(frame=-1).index == len(run.frames) - 1
    with pytest.raises(RenderError, match="frames are 0..4"):
        run.choose(frame=9)


def test_unknown_field_is_a_clear_error_with_exit_code_2(egta_run, capsys):
    assert main(["render", str(egta_run), "--field", "Zn"]) == 2
    err = capsys.readouterr().err
    assert "no field 'Zn'" in err and "fields present: Ca, EGTA.Ca" in err
    assert "Traceback" not in err
    assert main(["render", str(egta_run), "--field", "ca"]) == 2
    assert "did you mean 'Ca'" in capsys.readouterr().err
    assert main(["render", str(egta_run / "fields")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_cli_writes_the_picture_and_says_which_frame(egta_run, tmp_path, capsys):
    assert main(["render", str(egta_run), "--time", "12 ms", "--size", "320x240",
                 "--camera", "side", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "frame 2 at t = 10 ms, the nearest to the requested 12 ms" in out
    png = tmp_path / "Ca_f00002_side.png"
    assert load(png).shape == (240, 320, 3)


def test_animation_is_a_gif_with_every_frame(box3d_run, tmp_path):
    r = render(box3d_run, animate=True, size=(320, 240), out=tmp_path)
    gif = [p for p in r.paths if p.suffix == ".gif"]
    assert len(gif) == 1
    with Image.open(gif[0]) as im:
        assert im.size == (320, 240)
        assert im.n_frames == len(RunDir(box3d_run).frames)
    # one colour scale for the whole series: the range over all frames
    lo = min(field_range(box3d_run, "Ca", k)[0] for k in range(im.n_frames))
    hi = max(field_range(box3d_run, "Ca", k)[1] for k in range(im.n_frames))
    assert r.clim == pytest.approx((lo, hi), rel=1e-12)


def downsample(img: np.ndarray, k: int = 4) -> np.ndarray:
    h, w = (img.shape[0] // k) * k, (img.shape[1] // k) * k
    return img[:h, :w].astype(float).reshape(h // k, k, w // k, k, 3).mean(axis=(1, 3))


def test_image_regression_against_reference(egta_run, tmp_path):
    """Fixed run, field, frame, camera and size; compared after 4x4 block averaging so that
    llvmpipe's rasterisation noise and one-pixel shifts do not matter, a changed picture does."""
    r = render(egta_run, field="Ca", camera="cleft", size=(320, 240), out=tmp_path)
    img = load(r.paths[0])
    if os.environ.get("MICRODOMAIN_UPDATE_REFERENCE"):
        Image.fromarray(img).save(REFERENCE)
        pytest.skip(f"reference rewritten: {REFERENCE}")
    ref = load(REFERENCE)
    assert img.shape == ref.shape
    mad = np.abs(downsample(img) - downsample(ref)).mean()
    assert mad < 4.0, f"mean absolute difference {mad:.2f}/255 against {REFERENCE.name}"
