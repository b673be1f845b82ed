"""dropctl.ray on a real local Ray cluster (2 CPUs, one per module): same bytes as one process,
a killed worker retried, resume after an interrupted run, the map_batches UDF."""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from tests.support import ROOT

ray = pytest.importorskip("ray", reason="needs dropctl[ray]")

CNN = ROOT / "sample_models" / "cnn.keras"
T = 4
ROWS = 64  # blocks of 16 inputs
UNIT = 32  # small work units so a run has many of them


@pytest.fixture(scope="module")
def cluster():
    os.environ.setdefault("PYTHONPATH", str(ROOT))  # workers import this checkout's dropctl
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("shards")
    x = np.random.default_rng(11).standard_normal((240, 28, 28, 1)).astype("float32")
    for i, (a, b) in enumerate(((0, 70), (70, 100), (100, 190), (190, 240))):
        (np.save if i % 2 == 0 else np.savez)(d / f"s{i}", x[a:b])
    return d


@pytest.fixture(scope="module")
def reference(shards, tmp_path_factory) -> Path:
    """The single-process run every Ray run must reproduce byte for byte."""
    from dropctl.mc.shards import run_shards

    out = tmp_path_factory.mktemp("ref")
    run_shards(CNN, shards, out, samples=T, seed=3, batch_size=ROWS, unit_rows=UNIT)
    return out


def _ray_run(shards: Path, out: Path, **kw):
    from dropctl.mc.shards import run_shards
    from dropctl.ray import ray_runner

    return run_shards(CNN, shards, out, samples=T, seed=3, batch_size=ROWS, unit_rows=UNIT,
                      runner=ray_runner(workers=2), workers=2, **kw)


def _same_files(a: Path, b: Path) -> None:
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for n in names:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n


@pytest.mark.usefixtures("cluster")
def test_cli_ray_writes_the_single_process_bytes(shards, reference, tmp_path,
                                                 cli_runner) -> None:
    from dropctl.cli import app

    res = cli_runner.invoke(app, [
        "mc-predict", str(CNN), "--input", str(shards), "--output-dir", str(tmp_path / "out"),
        "-T", str(T), "--seed", "3", "--batch-size", str(ROWS), "--ray", "--workers", "2",
        "--json"])
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["workers"] == 2 and doc["rows_scored"] == 240
    assert [s["status"] for s in doc["shards"]] == ["scored"] * 4
    # the manifest names the model as given; the reference got the same path
    _same_files(reference, tmp_path / "out")


def _workers() -> list[int]:
    """PIDs of the run's actor processes, busy ones (title ``...submit``) first."""
    import psutil

    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if cmd.startswith("ray::MapWorker(MapBatches(_UnitScorer))"):
            found.append((".submit" not in cmd, p.pid))
    return [pid for _, pid in sorted(found)]


@pytest.mark.usefixtures("cluster")
def test_killed_worker_is_retried_and_nothing_is_lost(shards, reference, tmp_path) -> None:
    killed: list[int] = []

    def kill_once(done: int, total: int) -> None:
        # Rows remain, so the actor holds a unit running or queued (Ray Data keeps several in
        # flight per actor): Ray must restart it and retry what it held.
        if not killed and done < total // 2:
            pids = _workers()
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

    run = _ray_run(shards, tmp_path / "out", progress=kill_once)
    assert killed, "no worker process was found to kill"
    assert run.rows_scored == 240
    _same_files(reference, tmp_path / "out")


@pytest.mark.usefixtures("cluster")
def test_resume_after_an_interrupted_ray_run(shards, reference, tmp_path) -> None:
    def interrupt(_outcome) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _ray_run(shards, tmp_path / "out", on_shard=interrupt)
    finished = json.loads((tmp_path / "out" / "manifest.json").read_text())["shards"]
    assert [e["shard"] for e in finished] == ["s0.npy"]
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]
    run = _ray_run(shards, tmp_path / "out")
    assert [s.status for s in run.shards] == ["skipped", "scored", "scored", "scored"]
    _same_files(reference, tmp_path / "out")


@pytest.mark.usefixtures("cluster")
def test_udf_in_a_ray_data_pipeline() -> None:
    from dropctl.mc.scoring import Scorer, result_arrays
    from dropctl.ray import MCDropout

    x = np.random.default_rng(5).standard_normal((90, 784)).astype("float32")  # flat rows
    ds = ray.data.from_items([{"row": 1000 + i, "pixels": x[i]} for i in range(90)],
                             override_num_blocks=3)
    out = ds.map_batches(MCDropout, fn_constructor_kwargs={
        "model": str(CNN), "samples": T, "seed": 3, "batch_size": ROWS},
        compute=ray.data.ActorPoolStrategy(size=1), batch_size=25, batch_format="numpy",
        num_cpus=1).take_all()
    out.sort(key=lambda r: r["row"])
    assert [r["row"] for r in out] == list(range(1000, 1090))
    with Scorer(CNN, samples=T, seed=3, batch_size=ROWS) as s:
        ref = result_arrays(s.score([x.reshape(90, 28, 28, 1)], 1000))
    assert set(out[0]) == {"row", *ref}
    for k, v in ref.items():
        got = np.stack([np.asarray(r[k]) for r in out])
        assert got.tobytes() == v.tobytes(), k
