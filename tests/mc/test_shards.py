"""Partition-independent scoring and ``mc-predict --output-dir`` (shards, manifest, resume).

Real Keras models and real files; no Ray here (tests/mc/test_ray.py runs the cluster).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from dropctl.errors import InputDataError
from tests.support import ROOT

CNN = ROOT / "sample_models" / "cnn.keras"
FAMILY = ROOT / "sample_models" / "family.keras"
T = 4
ROWS = 64  # rows per compiled pass: T=4 -> blocks of 16 inputs, so shards span several blocks


@pytest.fixture(scope="module")
def cnn():
    import dropctl

    return dropctl.load_model(CNN)


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    return np.random.default_rng(7).standard_normal((100, 28, 28, 1)).astype("float32")


def _arrays(outputs) -> dict[str, np.ndarray]:
    from dropctl.mc.scoring import result_arrays

    return result_arrays(outputs)


def _assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].tobytes() == b[k].tobytes(), k


@pytest.mark.parametrize("cuts", [[1], [15, 16, 17], [3, 50, 51, 99]])
def test_row_result_independent_of_chunking(cnn, data, cuts) -> None:
    from dropctl.mc.scoring import Scorer

    with Scorer(cnn, samples=T, seed=5, batch_size=ROWS) as s:
        assert s.config.block == 16
        whole = _arrays(s.score([data], 0))
        edges = [0, *cuts, len(data)]
        pieces = [_arrays(s.score([data[a:b]], a)) for a, b in zip(edges, edges[1:], strict=False)]
        # a different global offset is a different row: its masks differ
        shifted = _arrays(s.score([data[:16]], 1000))
    _assert_same(whole, {k: np.concatenate([p[k] for p in pieces]) for k in whole})
    assert not np.array_equal(shifted["mean"], whole["mean"][:16])
    assert whole["std"].min() >= 0 and whole["std"].max() > 0


def test_batch_dependent_kernels_do_not_leak_into_results() -> None:
    """A wide Dense layer whose CPU kernel blocking follows the batch size (TF 2.21): the plain
    engine's last bits depend on the batch, the scorer's never do."""
    import keras

    from dropctl.mc.scoring import Scorer

    keras.utils.set_random_seed(3)
    x_in = keras.Input((1024,))
    h = keras.layers.Dense(1024, activation="relu")(x_in)
    h = keras.layers.Dropout(0.3)(h)
    model = keras.Model(x_in, keras.layers.Dense(4, activation="softmax")(h))
    x = np.random.default_rng(0).standard_normal((70, 1024)).astype("float32")
    with Scorer(model, samples=3, seed=1, batch_size=60) as s:
        whole = _arrays(s.score([x], 0))
        parts = [_arrays(s.score([x[a:b]], a)) for a, b in ((0, 1), (1, 41), (41, 70))]
    _assert_same(whole, {k: np.concatenate([p[k] for p in parts]) for k in whole})


def test_keras_drawn_noise_and_rnn_dropout_independent_of_chunking() -> None:
    """family.keras: GaussianDropout/Noise, AlphaDropout, LSTM/GRU and attention dropout."""
    from dropctl.mc.inputs import synthetic_inputs
    from dropctl.mc.scoring import Scorer

    with Scorer(FAMILY, samples=3, seed=2, batch_size=24) as s:
        xs = synthetic_inputs(s.specs, 20, 1)
        whole = _arrays(s.score(xs, 0))
        parts = [_arrays(s.score([a[lo:hi] for a in xs], lo)) for lo, hi in ((0, 7), (7, 20))]
    _assert_same(whole, {k: np.concatenate([p[k] for p in parts]) for k in whole})
    assert any(whole[k].max() > 0 for k in whole if k.endswith("/std") or k == "std")


def test_scorer_matches_mc_predict_arrays(cnn, data) -> None:
    """Same statistics as mc_predict on the CNN (whose kernels are batch independent above 1)."""
    import dropctl
    from dropctl.mc.scoring import Scorer

    with Scorer(cnn, samples=T, seed=5, batch_size=ROWS) as s:
        ours = _arrays(s.score([data[:40]], 0))
    plain = dropctl.mc_predict(cnn, data[:40], samples=T, seed=5, batch_size=ROWS).outputs[0]
    for k in ("deterministic", "mean", "std", "stderr", "entropy", "mutual_information",
              "variation_ratio"):
        np.testing.assert_array_equal(ours[k], getattr(plain, k), err_msg=k)


# ---- run_shards ---------------------------------------------------------------------------------


def _write_shards(d: Path, data: np.ndarray, cuts: list[int], kinds: list[str]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    edges = [0, *cuts, len(data)]
    for i, (a, b) in enumerate(zip(edges, edges[1:], strict=False)):
        kind = kinds[i % len(kinds)]
        if kind == "npy":
            np.save(d / f"part-{i:02d}.npy", data[a:b])
        elif kind == "npz":
            np.savez_compressed(d / f"part-{i:02d}.npz", data[a:b])
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            flat = data[a:b].reshape(b - a, -1)
            col = pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), flat.shape[1])
            pq.write_table(pa.table({"pixels": col}), d / f"part-{i:02d}.parquet",
                           row_group_size=7)


def _load(path: Path) -> dict[str, np.ndarray]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        meta = {k.decode(): json.loads(v) for k, v in (table.schema.metadata or {}).items()}
        out = {}
        for name in table.column_names:
            col = table.column(name).combine_chunks()
            shape = meta.get(f"dropctl.shape.{name}")
            if shape is None:
                out[name] = col.to_numpy()
            else:
                out[name] = col.flatten().to_numpy().reshape((len(col), *shape))
        return out
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _run(inp, out, **kw):
    from dropctl.mc.shards import run_shards

    kw.setdefault("samples", T)
    kw.setdefault("seed", 5)
    kw.setdefault("batch_size", ROWS)
    return run_shards(CNN, inp, out, **kw)


def test_shards_equal_one_file_any_format_any_unit_size(tmp_path, data) -> None:
    _write_shards(tmp_path / "one", data, [], ["npy"])
    _write_shards(tmp_path / "many", data, [13, 40, 41, 77], ["npz", "parquet", "npy"])
    _run(tmp_path / "one", tmp_path / "o1")
    many = _run(str(tmp_path / "many" / "part-*"), tmp_path / "o2", unit_rows=16)
    assert [s.status for s in many.shards] == ["scored"] * 5
    assert [(s.rows, s.row0) for s in many.shards] == [(13, 0), (27, 13), (1, 40), (36, 41),
                                                         (23, 77)]
    assert [s.output for s in many.shards] == ["part-00.npz", "part-01.parquet", "part-02.npz",
                                               "part-03.npz", "part-04.parquet"]
    ref = _load(tmp_path / "o1" / "part-00.npz")
    got = [_load(tmp_path / "o2" / s.output) for s in many.shards]
    for k in ref:
        assert np.concatenate([g[k] for g in got]).tobytes() == ref[k].tobytes(), k
    # the same arrays as `mc-predict --output x.npz`
    import dropctl
    from dropctl.render.mc import write_mc_file

    plain = dropctl.mc_predict(CNN, data, samples=T, seed=5, batch_size=ROWS)
    write_mc_file(plain, tmp_path / "plain.npz")
    assert set(_load(tmp_path / "plain.npz")) == set(ref)
    manifest = json.loads((tmp_path / "o2" / "manifest.json").read_text())
    assert manifest["samples"] == T and manifest["seed"] == 5 and len(manifest["shards"]) == 5
    from dropctl.mc.shards import sha256_file

    for e in manifest["shards"]:
        assert e["output_sha256"] == sha256_file(tmp_path / "o2" / e["output"])
        assert e["input_sha256"] == sha256_file(tmp_path / "many" / e["shard"])


def test_resume_skips_verified_and_redoes_changed(tmp_path, data) -> None:
    _write_shards(tmp_path / "in", data, [30, 60], ["npy"])
    first = _run(tmp_path / "in", tmp_path / "out")
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    again = _run(tmp_path / "in", tmp_path / "out")
    assert [s.status for s in again.shards] == ["skipped"] * 3
    (tmp_path / "out" / "part-01.npz").write_bytes(b"truncated")  # damaged result
    (tmp_path / "out" / "part-02.npz").unlink()  # lost result
    third = _run(tmp_path / "in", tmp_path / "out")
    assert [s.status for s in third.shards] == ["skipped", "scored", "scored"]
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before
    np.save(tmp_path / "in" / "part-00.npy", data[:30] + 1)  # changed input
    fourth = _run(tmp_path / "in", tmp_path / "out")
    assert [s.status for s in fourth.shards] == ["scored", "skipped", "skipped"]
    assert first.rows == 100
    with pytest.raises(InputDataError, match=r"results of another run \(seed 5 -> 6\)"):
        _run(tmp_path / "in", tmp_path / "out", seed=6)


def test_interrupted_run_keeps_finished_shards_and_no_partial_file(tmp_path, data) -> None:
    _write_shards(tmp_path / "in", data, [30, 60], ["npy", "npz"])
    _run(tmp_path / "in", tmp_path / "ref")

    def stop_after_first(_outcome) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "in", tmp_path / "out", on_shard=stop_after_first)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["manifest.json", "part-00.npz"]
    resumed = _run(tmp_path / "in", tmp_path / "out")
    assert [s.status for s in resumed.shards] == ["skipped", "scored", "scored"]
    for p in (tmp_path / "ref").iterdir():
        assert (tmp_path / "out" / p.name).read_bytes() == p.read_bytes(), p.name


def test_killed_process_loses_no_finished_shard(tmp_path, data) -> None:
    """SIGKILL the CLI after its first shard; the re-run skips it and ends with the same bytes."""
    big = np.concatenate([data] * 6)
    _write_shards(tmp_path / "in", big, [100, 200, 300, 400, 500], ["npy"])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "dropctl", "mc-predict", str(CNN), "--input",
           str(tmp_path / "in"), "--output-dir", str(tmp_path / "out"), "-T", "50",
           "--batch-size", str(ROWS)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line.startswith("scored "), line
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = json.loads((tmp_path / "out" / "manifest.json").read_text())["shards"]
    assert 1 <= len(done) < 6
    left = [p.name for p in (tmp_path / "out").iterdir()]
    assert all(n == "manifest.json" or n.endswith(".npz") or n.endswith(".tmp") for n in left)
    rerun = subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, check=True)
    statuses = [s["status"] for s in json.loads(rerun.stdout)["shards"]]
    assert statuses[:len(done)] == ["skipped"] * len(done) and "scored" in statuses
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]
    ref = _run(tmp_path / "in", tmp_path / "ref", samples=50, seed=0)
    for s in ref.shards:
        assert (tmp_path / "out" / s.output).read_bytes() == (
            tmp_path / "ref" / s.output).read_bytes()


def test_sigterm_unwinds_cleanly(tmp_path, data) -> None:
    big = np.concatenate([data] * 4)
    _write_shards(tmp_path / "in", big, [100, 200, 300], ["npy"])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dropctl", "mc-predict", str(CNN), "--input", str(tmp_path / "in"),
         "--output-dir", str(tmp_path / "out"), "-T", "50", "--batch-size", str(ROWS)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    assert proc.stderr is not None
    assert proc.stderr.readline().startswith("scored ")
    proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.returncode == 128 + signal.SIGTERM
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "manifest.json" in names and not [n for n in names if n.endswith(".tmp")]


# ---- the CLI ------------------------------------------------------------------------------------


def test_cli_output_dir_report_and_json(cli_runner, tmp_path, data) -> None:
    from dropctl.cli import app

    _write_shards(tmp_path / "in", data, [50], ["npy"])
    args = ["mc-predict", str(CNN), "--input", str(tmp_path / "in" / "*.npy"), "--output-dir",
            str(tmp_path / "out"), "-T", str(T), "--batch-size", str(ROWS)]
    res = cli_runner.invoke(app, args)
    assert res.exit_code == 0, res.stderr
    assert "100 of 100 rows scored on 1 process" in res.stdout
    assert "scored " in res.stderr and "part-01.npy (50 rows" in res.stderr
    res = cli_runner.invoke(app, [*args, "--json"])
    doc = json.loads(res.stdout)
    assert res.exit_code == 0 and doc["rows"] == 100 and doc["rows_scored"] == 0
    assert [s["status"] for s in doc["shards"]] == ["skipped", "skipped"]


@pytest.mark.parametrize(("extra", "message"), [
    (["--until-stable", "0.1"], "Error: --until-stable (it stops on the whole input) cannot be "
                                "combined with --output-dir"),
    (["--output", "x.npz"], "Error: --output cannot be combined with --output-dir"),
    (["--workers", "2"], "Error: --address, --workers and --gpus-per-worker need --ray"),
])
def test_cli_output_dir_conflicts(cli_runner, tmp_path, data, extra, message) -> None:
    from dropctl.cli import app

    np.save(tmp_path / "a.npy", data[:3])
    res = cli_runner.invoke(app, ["mc-predict", str(CNN), "--input", str(tmp_path / "a.npy"),
                                  "--output-dir", str(tmp_path / "out"), *extra])
    assert res.exit_code == 2 and res.stderr.strip() == message


def test_cli_errors(cli_runner, tmp_path) -> None:
    from dropctl.cli import app

    res = cli_runner.invoke(app, ["mc-predict", str(CNN), "--input", str(tmp_path / "*.npy"),
                                  "--output-dir", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert res.stderr.strip() == f"Error: --input {tmp_path}/*.npy matched no shard files " \
                                 "(.npy, .npz, .parquet)"
    res = cli_runner.invoke(app, ["mc-predict", str(CNN), "--synthetic", "3", "--ray"])
    assert res.exit_code == 2
    assert res.stderr.strip() == ("Error: --ray, --address, --workers and --gpus-per-worker need "
                                  "--output-dir")
    np.save(tmp_path / "bad.npy", np.zeros((4, 5), np.float32))
    res = cli_runner.invoke(app, ["mc-predict", str(CNN), "--input", str(tmp_path / "bad.npy"),
                                  "--output-dir", str(tmp_path / "out2")])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert res.stderr.startswith(f"Error: {tmp_path}/bad.npy rows 0..3: input")
    assert "expects (N, 28, 28, 1)" in res.stderr


def test_cli_ray_missing_names_the_extra(cli_runner, tmp_path, data, monkeypatch) -> None:
    from dropctl.cli import app

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    np.save(tmp_path / "a.npy", data[:3])
    res = cli_runner.invoke(app, ["mc-predict", str(CNN), "--input", str(tmp_path / "a.npy"),
                                  "--output-dir", str(tmp_path / "out"), "--ray"])
    assert res.exit_code == 2
    assert res.stderr.strip() == ("Error: --ray needs ray, which is not installed: "
                                  "pip install 'dropctl[ray]'")


@pytest.mark.parametrize("text", [
    "[" * 100_000 + "]" * 100_000,               # json's recursion limit
    '{"shards": ' + "[" * 5_000 + "]" * 5_000 + "}",
    "[1, 2]",                                     # list-typed
    '{"shards": [1, 2]}',
    '{"shards": "x"}',
])
def test_hostile_manifest_is_one_input_error(tmp_path: Path, text: str) -> None:
    """A deep, list-typed or mistyped manifest.json in --output-dir is refused with one message
    (json.loads itself raises RecursionError on the first: the oracle)."""
    from dropctl.mc.shards import Manifest

    if text.startswith("[[[["):
        with pytest.raises(RecursionError):
            json.loads(text)
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(InputDataError, match="is not a dropctl manifest"):
        Manifest(tmp_path, {"model": "m", "samples": 5})
