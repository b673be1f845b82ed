"""``mc-predict --ray --address`` against a real Ray cluster with token authentication on: the
README's form (``RAY_AUTH_MODE=token RAY_AUTH_TOKEN=... --address HOST:PORT``) writes the bytes
of a single-process run with nothing on stderr; the actors request ``--gpus-per-worker`` (read
back from Ray's own actor table; the head advertises one fake GPU, there is none here); a wrong
token and too many GPUs are one ``Error:`` line each; ``ray://`` is refused with the supported way.

The cluster is a ``ray start --head --block`` started here on free ports in its own temp dir and
stopped here by the PIDs of its process tree (never ``ray stop``, which stops every cluster on
the host).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support import ROOT

pytest.importorskip("ray", reason="needs dropctl[ray]")
psutil = pytest.importorskip("psutil")

CNN = ROOT / "sample_models" / "cnn.keras"
RAY = Path(sys.executable).parent / "ray"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def token_cluster():
    """(address, token) of a head node with token auth, 2 CPUs and 1 (fake) GPU."""
    token = secrets.token_hex(16)
    port = _port()
    temp = tempfile.mkdtemp(prefix="dr", dir="/tmp")  # Ray's socket paths must stay short
    log = Path(temp) / "head.out"
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    with log.open("wb") as out:
        head = subprocess.Popen(
            [str(RAY), "start", "--head", "--block", "--port", str(port), "--num-cpus", "2",
             "--num-gpus", "1", "--include-dashboard", "false", "--disable-usage-stats",
             "--temp-dir", temp, "--ray-client-server-port", str(_port()),
             "--dashboard-agent-listen-port", str(_port()),
             "--dashboard-agent-grpc-port", str(_port()),
             "--runtime-env-agent-port", str(_port()), "--metrics-export-port", str(_port())],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while b"Ray runtime started" not in log.read_bytes():
            assert head.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        yield f"127.0.0.1:{port}", token
    finally:
        procs = [psutil.Process(head.pid)]
        try:
            procs += procs[0].children(recursive=True)
        except psutil.NoSuchProcess:
            pass
        for p in procs:
            try:
                p.send_signal(signal.SIGTERM)
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(procs, timeout=20)
        for p in alive:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        head.wait(timeout=30)
        shutil.rmtree(temp, ignore_errors=True)  # the cluster's session logs


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cluster_shards")
    x = np.random.default_rng(12).standard_normal((48, 28, 28, 1)).astype("float32")
    np.save(d / "a.npy", x[:20])
    np.save(d / "b.npy", x[20:])
    return d


def _dropctl(args: list[str], env: dict[str, str], timeout: int = 400) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dropctl", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def _mc(shards: Path, out: Path, address: str) -> list[str]:
    return ["mc-predict", str(CNN), "--input", str(shards), "--output-dir", str(out), "-T", "3",
            "--seed", "5", "--ray", "--address", address, "--workers", "2", "--json"]


_ACTOR_RESOURCES = """
import logging, json, ray
from ray._private import state
from ray.core.generated import gcs_pb2
ray.init(address={address!r}, logging_level=logging.ERROR, log_to_driver=False)
rows = [gcs_pb2.ActorTableData.FromString(raw)
        for raw in state.state._connect_and_get_accessor().get_actor_table(None, None)]
print(json.dumps([dict(r.required_resources) for r in rows
                  if r.class_name == "MapWorker(MapBatches(_UnitScorer))"]))
"""


@pytest.fixture(scope="module")
def reference(shards, tmp_path_factory) -> Path:
    """The single-process run every Ray run must reproduce byte for byte."""
    from dropctl.mc.shards import run_shards

    out = tmp_path_factory.mktemp("cluster_ref")
    run_shards(CNN, shards, out, samples=3, seed=5)
    return out


def _same_bytes(reference: Path, out: Path) -> None:
    names = sorted(p.name for p in reference.iterdir())
    assert names == sorted(p.name for p in out.iterdir())
    for name in names:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


def test_token_cluster_same_bytes_quiet_stderr_and_gpu_request(token_cluster, shards, reference,
                                                                tmp_path) -> None:
    address, token = token_cluster
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    res = _dropctl([*_mc(shards, tmp_path / "out", address), "--gpus-per-worker", "0.5"], auth)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""  # no Ray warning, no C++ log line
    doc = json.loads(res.stdout)
    assert doc["workers"] == 2 and doc["rows_scored"] == 48
    _same_bytes(reference, tmp_path / "out")
    # What Ray was asked for, from the GCS actor table (Ray's record, not dropctl's).
    probe = subprocess.run([sys.executable, "-c", _ACTOR_RESOURCES.format(address=address)],
                           capture_output=True, text=True, timeout=120,
                           env={**os.environ, **auth})
    assert probe.returncode == 0, probe.stderr
    assert json.loads(probe.stdout) == [{"CPU": 1.0, "GPU": 0.5}] * 2


def test_a_local_cluster_run_is_quiet_too(shards, reference, tmp_path) -> None:
    """No --address: dropctl starts (and stops) its own cluster; stderr stays empty."""
    args = _mc(shards, tmp_path / "out", "auto")
    args = args[:args.index("--address")] + args[args.index("--address") + 2:]
    res = _dropctl(args, {})
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    _same_bytes(reference, tmp_path / "out")


def test_wrong_token_is_one_error_line(token_cluster, shards, tmp_path) -> None:
    address, _ = token_cluster
    res = _dropctl(_mc(shards, tmp_path / "out", address),
                   {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "not-the-token"})
    assert res.returncode == 2 and res.stdout == ""
    (line,) = res.stderr.splitlines()
    assert line.startswith(f"Error: cannot connect to Ray at {address}: ")
    assert "RAY_AUTH_TOKEN" in line and "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*.npz"))


def test_more_gpus_than_the_cluster_has_is_one_error_line(token_cluster, shards,
                                                          tmp_path) -> None:
    address, token = token_cluster
    res = _dropctl([*_mc(shards, tmp_path / "out", address), "--gpus-per-worker", "2"],
                   {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token})
    assert res.returncode == 2, res.stderr
    assert res.stderr == "Error: --gpus-per-worker 2: the Ray cluster has 1 GPU(s)\n"


def test_ray_client_addresses_are_refused_with_the_supported_way(cli_runner, shards,
                                                                 tmp_path) -> None:
    from dropctl.cli import app
    from dropctl.ray import RAY_CLIENT_REFUSED

    for address in ("ray://head-svc:10001", "RAY://10.0.0.1:10001"):
        res = cli_runner.invoke(app, _mc(shards, tmp_path / "out", address))
        assert res.exit_code == 2 and res.stdout == ""
        assert res.stderr == f"Error: {RAY_CLIENT_REFUSED.format(address=address)}\n"
        assert "ray job submit" in res.stderr and "--address auto" in res.stderr
    # RAY_ADDRESS stands in for a missing --address, and is held to the same rule
    args = _mc(shards, tmp_path / "out", "x")
    args = args[:args.index("--address")] + args[args.index("--address") + 2:]
    res = cli_runner.invoke(app, args, env={"RAY_ADDRESS": "ray://head-svc:10001"})
    assert res.exit_code == 2
    assert res.stderr == f"Error: {RAY_CLIENT_REFUSED.format(address='ray://head-svc:10001')}\n"
    assert not (tmp_path / "out").exists()


def test_gpus_per_worker_needs_ray(cli_runner, shards, tmp_path) -> None:
    from dropctl.cli import app

    res = cli_runner.invoke(app, ["mc-predict", str(CNN), "--input", str(shards), "--output-dir",
                                  str(tmp_path / "o"), "--gpus-per-worker", "1"])
    assert res.exit_code == 2
    assert res.stderr == "Error: --address, --workers and --gpus-per-worker need --ray\n"
