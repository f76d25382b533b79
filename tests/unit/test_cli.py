import io

from microdomain.cli import main
from microdomain.observers import Progress


def test_info_lists_builders_fluxes_and_buffer_presets(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for name in ("box", "axisymmetric", "channel_cluster", "permeability", "hill_pump",
                 "constant_flux", "EGTA", "BAPTA", "calbindin_D28k"):
        assert name in out
    assert "values to be checked" in out          # unverified presets say so


def test_progress_prints_a_line_per_tenth_when_not_a_terminal():
    stream = io.StringIO()
    bar = Progress(stream)
    for t in range(1, 101):
        bar(t / 10, 10.0, 0.1)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11 and "100.0%" in lines[-1]
