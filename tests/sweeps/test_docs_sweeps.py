"""docs/sweeps.md states what the code does: every option of `microdomain sweep`, every file and
summary column, every status and every number it gives come from the code (or are marked as
measurements with their command); the SLURM example makes a valid job script."""

from __future__ import annotations

import re

import pytest

import microdomain as md
from microdomain.sweeps import engine, spec, summary, worker

from tests.helpers import ROOT

TEXT = (ROOT / "docs" / "sweeps.md").read_text()


def _sweep_options() -> list[str]:
    import contextlib
    import io

    from microdomain import cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        cli.main(["sweep", "--help"])
    return sorted(set(re.findall(r"(--[a-z][a-z-]+)", out.getvalue())) - {"--help"})


def test_every_option_of_the_sweep_command_is_documented():
    options = _sweep_options()
    assert {"--jobs", "--scheduler", "--transfer", "--fail-fast", "--out", "--quiet"} <= set(options)
    for option in options:
        assert f"`{option}" in TEXT, option


def test_every_file_column_and_status_is_documented():
    for name in summary.FILES:
        assert name in TEXT, name
    for column in ["point", "seed", *summary.STATUS_COLUMNS, *summary.RUN_COLUMNS]:
        assert f"`{column}`" in TEXT, column
    for status in [*md.Status, worker.NOT_STARTED, worker.INVALID]:
        assert f"`{status}`" in TEXT, status
    for suffix in ("_mean", "_std", "_ci95_low", "_ci95_high"):
        assert f"`{suffix}`" in TEXT


def test_the_numbers_in_the_docs_are_the_code_s():
    assert f"larger than {spec.MAX_POINTS} points" in TEXT and f"more than {spec.MAX_SEEDS} seeds" in TEXT
    assert f"at most every {worker.POLL_S:g} s" in TEXT
    assert summary.CONFIDENCE == 0.95 and "95 % confidence interval" in TEXT
    assert "(10 significant digits)" in TEXT
    df = summary.table.__globals__["pd"].DataFrame({"x": [1 / 3]})
    assert df.to_csv(index=False, float_format="%.10g").splitlines()[1] == "0.3333333333"
    import dask

    import distributed  # noqa: F401 - loads its config

    assert dask.config.get("distributed.scheduler.allowed-failures") == 3 and "3 by default" in TEXT
    environ = dask.config.get("distributed.nanny.pre-spawn-environ")
    assert all(str(environ[v]) == "1" for v in engine.BLAS_ENV)
    assert spec.DEFAULT_SEED_PARAMETER == "stochastic.seed" and '"stochastic.seed"' in TEXT
    # every other figure is a measurement, given with its command and the machine's load
    measured = re.findall(r"^Measured .*?(?:\n\n|\Z)", TEXT, re.M | re.S)
    assert len(measured) >= 3
    for paragraph in measured:
        assert "load" in paragraph and "`" in paragraph, paragraph      # the load, the command


def test_the_slurm_example_makes_a_job_script_of_single_threaded_preloaded_workers():
    pytest.importorskip("dask_jobqueue")
    block = re.search(r"```python\n(import microdomain as md\nfrom dask_jobqueue.*?)```", TEXT, re.S).group(1)
    setup = block.split("cluster.scale")[0]
    namespace: dict = {}
    import dask

    # the cluster's scheduler would take the dashboard's default port 8787, and warn (an error
    # here) when another process on a shared machine holds it: any free port will do
    with dask.config.set({"jobqueue.slurm.scheduler-options": {"dashboard_address": ":0"}}):
        exec(compile(setup, "docs/sweeps.md", "exec"), namespace)
    cluster = namespace["cluster"]
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "--preload microdomain.sweeps.worker" in script
    assert "--nthreads 1" in script and "--nworkers 8" in script
    assert "#SBATCH --account=myproject" in script
