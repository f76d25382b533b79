"""`microdomain verify`: report.md with the table, one PNG per study, exit code 1 on a failure."""

from __future__ import annotations

from microdomain import cli
from microdomain.verification import studies
from microdomain.verification.studies import Row, Study, StudyResult


def test_verify_writes_report_and_plots(tmp_path, capsys):
    out = tmp_path / "v"
    rc = cli.main(["verify", "--quick", "--only", "mms_1d,time_well_mixed", "--out", str(out)])
    assert rc == 0
    report = (out / "report.md").read_text()
    assert "Regenerate with: `microdomain verify --quick --only mms_1d,time_well_mixed" in report
    assert "| study | quantity | norm |" in report
    assert report.count("| mms_1d |") == 4 and report.count("| time_well_mixed |") == 4  # bdf1, trbdf2
    assert "FAIL" not in report
    for name in ("mms_1d", "time_well_mixed"):
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"![{name}]({name}.png)" in report
    printed = capsys.readouterr().out
    assert "observed order" in printed and "2/2 studies passed" in printed


def test_verify_report_elsewhere_links_plots_relative_to_it(tmp_path):
    rc = cli.main(["verify", "--only", "mms_1d", "--out", str(tmp_path / "img"),
                   "--report", str(tmp_path / "docs" / "verification.md")])
    assert rc == 0
    text = (tmp_path / "docs" / "verification.md").read_text()
    assert "](../img/mms_1d.png)" in text


def test_verify_exits_1_when_a_study_fails(tmp_path, monkeypatch, capsys):
    def failing(quick=True):
        return StudyResult("broken", "A study that fails", "synthetic",
                           [Row("x", "max", "h (um)", [0.1, 0.05], [1e-2, 5e-3], "order", 2.0, 0.1)])

    monkeypatch.setitem(studies.STUDIES, "broken", Study("broken", "A study that fails", failing))
    rc = cli.main(["verify", "--only", "broken", "--out", str(tmp_path)])
    assert rc == 1
    assert "**FAIL**" in (tmp_path / "report.md").read_text()
    assert "FAILED: broken" in capsys.readouterr().out


def test_verify_refuses_unknown_studies(tmp_path, capsys):
    assert cli.main(["verify", "--only", "nope", "--out", str(tmp_path)]) == cli.EXIT_CASE_ERROR
    assert "known:" in capsys.readouterr().err


def test_a_missed_order_target_is_reported_not_failed(tmp_path, monkeypatch, capsys):
    """Target rows (issue 15's orders on the 3D contacts) say met or missed; a missed target is
    visible in the table, the summary line and the printout, and does not fail the run."""
    def targets(quick=True):
        return StudyResult("targets", "Order targets", "synthetic",
                           [Row("slow", "L2(V)", "h", [0.1, 0.05], [1e-2, 5e-3], "target", 1.8),
                            Row("fast", "max", "h", [0.1, 0.05], [1e-2, 2.5e-3], "target", 1.5),
                            Row("bound", "max", "h", [0.1, 0.05], [1e-2, 5e-3], "bound", tol=0.01)])

    monkeypatch.setitem(studies.STUDIES, "targets", Study("targets", "Order targets", targets))
    assert cli.main(["verify", "--only", "targets", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "| targets | slow | L2(V) | h | 0.01, 0.005 | 1.00 | ≥ 1.8 (target) | **missed** |" in text
    assert "| targets | fast | max | h | 0.01, 0.0025 | 2.00 | ≥ 1.5 (target) | met |" in text
    assert "all passed; **1 order targets missed**" in text
    assert "order targets missed in: targets" in capsys.readouterr().out
