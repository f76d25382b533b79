"""Probe traces and the metrics summary of a run directory."""

import numpy as np
from PIL import Image

from microdomain.cli import main
from microdomain.plot import plot, use_log_time


def test_plot_writes_probe_traces_and_metrics_summary(egta_run, tmp_path):
    r = plot(egta_run, out=tmp_path, size=(640, 480))
    assert [p.name for p in r.paths] == ["probes.png", "metrics.png"]
    assert r.log_time is True                 # output from 1 us to 20 ms: log time axis
    for p in r.paths:
        with Image.open(p) as im:
            assert im.size == (640, 480)
            assert np.asarray(im.convert("RGB")).std() > 10


def test_log_time_axis_only_when_times_span_decades():
    assert use_log_time(np.array([0, 1e-3, 1e-2, 1.0, 20.0]))
    assert not use_log_time(np.array([0, 0.5, 1.0, 1.5, 2.0]))


def test_plot_cli_errors_cleanly(tmp_path, capsys):
    assert main(["plot", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
