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
