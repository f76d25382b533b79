"""Sweeps on Dask distributed (item 6 of the sweeps issue): points run concurrently on a
LocalCluster and give exactly the serial numbers; a killed worker's point is run again and
resumes its checkpoint; a failed point is recorded and the others go on; run directories
travel through the futures when workers do not share the disk; the summary opens as a
DataFrame, an xarray Dataset and, for seeds, an ensemble table."""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

import microdomain as md
from microdomain.sweeps import engine, plan

from tests.sweeps.small import write_sweep

GRID = {"grid": {"fluxes.ch.params.unitary_current": ["0.1 pA", "0.2 pA"],
                 "buffers.B.total": ["50 uM", "100 uM"]}}
SLOW = dict(cells=200, end="20 ms", dt_max="0.05 ms")      # ~0.7 s a point, ~400 steps


@pytest.fixture(scope="module")
def client():
    """A LocalCluster of 2 workers set up as `microdomain sweep --jobs 2` sets it up."""
    with engine._client(2, None, None) as c:
        yield c


def serial(p, metrics) -> list[dict]:
    """The points run one after another in this process, no Dask, no run directory."""
    out = []
    for pt in p.points:
        res = md.Simulation(pt.case).run()
        out.append({col: res.metrics.value(path) for col, path in metrics.items()})
    return out


def _t(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_four_points_on_two_workers_run_concurrently_and_give_the_serial_numbers(tmp_path):
    path = write_sweep(tmp_path, GRID, **SLOW)
    outcome = md.sweep(path, tmp_path / "out", jobs=2)
    df = outcome.table
    assert outcome.ok and df["status"].tolist() == ["completed"] * 4
    p = plan(path)
    metrics = p.spec.metrics
    assert df[list(metrics)].to_dict("records") == serial(p, metrics)        # bit for bit
    assert df["fluxes.ch.params.unitary_current_pA"].tolist() == [0.1, 0.1, 0.2, 0.2]
    assert df["buffers.B.total_uM"].tolist() == [50.0, 100.0, 50.0, 100.0]
    # concurrent: the manifests' wall intervals overlap, on two workers
    spans = []
    for label in df["point"]:
        m = md.RunDirectory(tmp_path / "out" / label).manifest()
        spans.append((_t(m.started), _t(m.finished)))
    overlaps = [(a, b) for i, a in enumerate(spans) for b in spans[i + 1:]
                if a[0] < b[1] and b[0] < a[1]]
    assert overlaps, spans
    assert df["worker"].nunique() == 2
    assert (df["cpu_s"] > 0).all() and (df["wall_s"] >= df["cpu_s"] * 0.5).all()


def test_workers_pin_blas_to_one_thread_and_leave_ctrl_c_to_the_client(client):
    env = client.run(lambda: [os.environ.get(v) for v in engine.BLAS_ENV])
    assert all(v == ["1", "1", "1"] for v in env.values()), env
    ignored = client.run(lambda: signal.getsignal(signal.SIGINT) is signal.SIG_IGN)
    assert all(ignored.values()), ignored


def test_a_killed_workers_point_is_run_again_from_its_checkpoint(tmp_path, client):
    path = write_sweep(tmp_path, {"parameter": "buffers.B.total", "values": ["50 uM", "100 uM"]},
                       cells=200, end="60 ms", dt_max="0.05 ms", every="5 ms")
    out = tmp_path / "out"
    done = {}
    thread = threading.Thread(target=lambda: done.update(o=md.sweep(path, out, client=client)))
    thread.start()
    victim = out / "total_50uM"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            state, _ = md.RunDirectory(victim).checkpoint()
            if state.t > 0:
                break
        except Exception:  # noqa: BLE001 - not there yet
            pass
        time.sleep(0.05)
    else:
        pytest.fail("the point never wrote a checkpoint")
    holder = [w for w, keys in client.processing().items() if any("total_50uM" in k for k in keys)]
    assert len(holder) == 1
    pid = client.run(os.getpid, workers=holder)[holder[0]]
    os.kill(pid, signal.SIGKILL)
    thread.join(300)
    df = done["o"].table.set_index("point")
    assert df.loc["total_50uM", "status"] == "completed"
    assert df.loc["total_50uM", "resumed_from_ms"] > 0                     # from its checkpoint
    log = (victim / "log.txt").read_text()
    assert "resuming from the checkpoint" in log
    # the same numbers as an uninterrupted run, to the case's time tolerance (rtol 1e-4): the
    # resumed run restarts its step predictor and takes other steps (measured: 5e-8 relative)
    p = plan(path)
    ref = serial(p, p.spec.metrics)[0]
    assert df.loc["total_50uM", list(ref)].to_dict() == pytest.approx(ref, rel=1e-4)


def test_a_failed_point_is_recorded_and_the_others_go_on(tmp_path, client):
    path = write_sweep(tmp_path, {"parameter": "fluxes.ch.params.unitary_current",
                                  "values": ["0.1 pA", "-1e6 pA", "0.2 pA"]})
    outcome = md.sweep(path, tmp_path / "out", client=client)
    df = outcome.table.set_index("point")
    assert df["status"].tolist() == ["completed", "failed", "completed"] and not outcome.ok
    bad = df.loc["unitary_current_-1e6pA"]
    assert "negative concentration" in bad["message"] and bad["log"] == "unitary_current_-1e6pA/log.txt"
    assert "negative concentration" in (tmp_path / "out" / bad["log"]).read_text()
    assert math.isnan(bad["entered_amol"]) or bad["entered_amol"] < 0


def test_fail_fast_stops_at_the_first_failed_point(tmp_path):
    path = write_sweep(tmp_path, {"parameter": "fluxes.ch.params.unitary_current",
                                  "values": ["-1e6 pA", "0.1 pA", "0.2 pA"]})
    outcome = md.sweep(path, tmp_path / "out", jobs=0, fail_fast=True)
    assert outcome.interrupted == "fail-fast"
    assert outcome.table["status"].tolist() == ["failed", "pending", "pending"]


def test_run_directories_travel_through_the_futures_with_transfer(tmp_path, client):
    path = write_sweep(tmp_path, {"parameter": "buffers.B.total", "values": ["50 uM", "100 uM"]})
    shared = md.sweep(path, tmp_path / "shared", client=client).table
    moved = md.sweep(path, tmp_path / "moved", client=client, transfer=True).table
    metrics = ["cyt_peak_uM", "entered_amol"]
    assert moved[metrics].to_dict("records") == shared[metrics].to_dict("records")
    files = sorted(p.name for p in (tmp_path / "moved" / "total_50uM").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "shared" / "total_50uM").iterdir())
    assert md.open_run(tmp_path / "moved" / "total_50uM").status == md.Status.COMPLETED


def test_a_rerun_reuses_finished_points_and_runs_only_what_changed(tmp_path):
    path = write_sweep(tmp_path, {"parameter": "buffers.B.total", "values": ["50 uM", "100 uM"]})
    first = md.sweep(path, tmp_path / "out", jobs=0)
    stamp = md.RunDirectory(tmp_path / "out" / "total_50uM").manifest().started
    again = md.sweep(path, tmp_path / "out", jobs=0)
    assert again.reused == 2 and md.RunDirectory(tmp_path / "out" / "total_50uM").manifest().started == stamp
    assert again.table.drop(columns=["worker"]).equals(first.table.drop(columns=["worker"]))


def test_the_summary_opens_as_a_dataframe_and_an_xarray_dataset(tmp_path):
    path = write_sweep(tmp_path, GRID)
    md.sweep(path, tmp_path / "out", jobs=0)
    df = md.open_sweep(tmp_path / "out")
    assert df["buffers.B.total_uM"].dtype == float and df["entered_amol"].dtype == float
    assert df.attrs["units"]["buffers.B.total_uM"] == "uM" and df.attrs["units"]["entered_amol"] == "amol"
    ds = md.open_sweep(tmp_path / "out", to="xarray")
    assert ds["entered_amol"].dims == ("fluxes.ch.params.unitary_current_pA", "buffers.B.total_uM")
    assert ds["entered_amol"].attrs["units"] == "amol"
    flow = ds["entered_amol"].sel({"buffers.B.total_uM": 50.0}).values
    assert flow[1] / flow[0] == pytest.approx(2.0, rel=1e-9)        # twice the current, twice the Ca
    import pandas as pd

    csv = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert csv["entered_amol"].to_numpy() == pytest.approx(df["entered_amol"].to_numpy(), rel=1e-9)


def test_an_ensemble_has_mean_sd_and_a_confidence_interval_per_metric(tmp_path):
    # a deterministic stand-in for a seed: channels = seed, so the flux is seed × one channel's
    path = write_sweep(tmp_path, {"parameter": "buffers.B.total", "values": ["50 uM", "100 uM"],
                                  "seeds": 3, "seed_parameter": "fluxes.ch.params.channels"})
    md.sweep(path, tmp_path / "out", jobs=0)
    df = md.open_sweep(tmp_path / "out")
    one = df[(df["seed"] == 1)]["entered_amol"].iloc[0]
    ens = md.open_sweep(tmp_path / "out", to="ensemble")
    assert ens["buffers.B.total_uM"].tolist() == [50.0, 100.0] and ens["n"].tolist() == [3, 3]
    assert ens["entered_amol_mean"].to_numpy() == pytest.approx([one, one], rel=1e-9)    # (0+1+2)/3
    assert ens["entered_amol_std"].to_numpy() == pytest.approx([one, one], rel=1e-9)
    half = 4.302652729749464 * one / math.sqrt(3)                      # t(0.975, 2) s / sqrt(n)
    assert ens["entered_amol_ci95_high"].to_numpy() == pytest.approx([one + half] * 2, rel=1e-9)
    ds = md.open_sweep(tmp_path / "out", to="xarray")
    assert ds["entered_amol"].dims == ("buffers.B.total_uM", "seed")


def test_a_sampled_sweep_is_indexed_by_point_with_its_parameters_as_coordinates(tmp_path):
    path = write_sweep(tmp_path, {"sample": {"points": 3, "seed": 1,
                                             "ranges": {"buffers.B.total": ["20 uM", "200 uM"]}}})
    md.sweep(path, tmp_path / "out", jobs=0)
    ds = md.open_sweep(tmp_path / "out", to="xarray")
    assert ds["cyt_peak_uM"].dims == ("point",) and "buffers.B.total_uM" in ds.coords
    from microdomain import cli

    assert cli.main(["plot", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "render" / "sweep_buffers.B.total_uM.png").stat().st_size > 10_000


def test_points_whose_model_cannot_be_built_are_invalid_and_named(tmp_path):
    # a flux across a surface that does not separate its compartments is found when the model
    # is built, on the worker; the other point runs
    path = write_sweep(tmp_path, {"parameter": "fluxes.ch.from", "values": ["outside", "er"]})
    outcome = md.sweep(path, tmp_path / "out", jobs=0)
    assert outcome.table["status"].tolist() == ["completed", "invalid"]
    assert outcome.problems[0][1] == "fluxes[0]" and "lies between cytosol | outside" in outcome.problems[0][2]


def test_progress_lines_count_points_and_estimate_the_time_left(tmp_path):
    import io

    path = write_sweep(tmp_path, {"parameter": "buffers.B.total", "values": ["50 uM", "60 uM", "70 uM"]})
    stream = io.StringIO()
    md.sweep(path, tmp_path / "out", jobs=0, progress=stream)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[1/3] total_50uM: completed in ") and "left" in lines[0]
    assert lines[2].startswith("[3/3] total_70uM: completed") and "left" not in lines[2]
    assert np.isfinite(md.open_sweep(tmp_path / "out")["wall_s"]).all()


def test_a_local_cluster_starts_when_another_process_holds_port_8787():
    """The scheduler's HTTP server must not claim the dashboard's default port: on a shared
    machine another Dask (or anything) may hold it, and the warning is an error in this suite."""
    import socket

    from microdomain.sweeps.engine import _client

    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8787))
        holder.listen()
    except OSError:
        pass                    # already held by another process: the condition under test
    try:
        with _client(1, None, None) as client:
            assert client.submit(int, "7").result() == 7
    finally:
        holder.close()
