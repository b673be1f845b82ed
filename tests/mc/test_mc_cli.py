"""mc-predict and diff through the CLI: exit codes, stdout/stderr, files never partial."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dropctl.cli import app


def run(cli_runner, *args: str):
    return cli_runner.invoke(app, list(args))


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_mc_predict_json_and_npz(cli_runner, samples_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "mc.npz"
    r = run(cli_runner, "mc-predict", str(samples_dir / "cnn.keras"), "--synthetic", "4",
            "--samples", "10", "--json", "-o", str(out))
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["passes"] == 10 and doc["stochastic"] is True
    assert [s["path"] for s in doc["sites"]] == ["cnn/dropout", "cnn/dropout_1", "cnn/dropout_2"]
    with np.load(out) as z:
        assert {"deterministic", "mean", "std", "stderr", "entropy", "mutual_information",
                "variation_ratio"} <= set(z.files)
        assert z["mean"].shape == (4, 10)


def test_mc_predict_labels_csv_and_plot(cli_runner, samples_dir: Path, tmp_path: Path) -> None:
    x = np.random.default_rng(0).standard_normal((6, 20)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.array([0, 1, 2, 0, 1, 2]))
    pytest.importorskip("matplotlib")
    r = run(cli_runner, "mc-predict", str(samples_dir / "mlp.keras"), "-i", str(tmp_path / "x.npy"),
            "--labels", str(tmp_path / "y.npy"), "--samples", "8", "-o", str(tmp_path / "o.csv"),
            "--plot", str(tmp_path / "p.png"), "--per-sample")
    assert r.exit_code == 0, r.stderr
    assert "calibration (15-bin ECE)" in r.stdout and "per sample" in r.stdout
    assert (tmp_path / "o.csv").read_text().startswith("index,deterministic[0]")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_mc_predict_no_sites_says_so(cli_runner, samples_dir: Path) -> None:
    r = run(cli_runner, "mc-predict", str(samples_dir / "no_dropout.keras"), "--synthetic", "2",
            "--samples", "3")
    assert r.exit_code == 0
    assert "no stochastic site is switched on: every pass is identical (std is 0)" in r.stdout


@pytest.mark.parametrize(
    ("make", "extra", "message"),
    [
        (lambda d: np.save(d / "x.npy", np.ones((3, 7), "float32")), [],
         "has shape (3, 7); the model expects (N, 20)"),
        (lambda d: np.save(d / "x.npy", np.full((3, 20), np.nan, "float32")), [],
         "contains 60 NaN/inf value(s)"),
        (lambda d: (np.save(d / "x.npy", np.ones((3, 20), "float32")),
                    np.save(d / "y.npy", np.array([0, 1]))), ["--labels", "{d}/y.npy"],
         "2 labels for 3 inputs"),
        (lambda d: np.save(d / "x.npy", np.ones((3, 20), "float32")),
         ["-o", "{d}/missing_dir/o.npz"], "directory"),
        (lambda d: np.save(d / "x.npy", np.ones((3, 20), "float32")), ["-o", "{d}/o.txt"],
         "unsupported --output format '.txt'"),
    ],
    ids=["shape", "nan", "labels", "unwritable", "format"],
)
def test_mc_predict_bad_input_exit_2(cli_runner, samples_dir, tmp_path, make, extra, message):
    make(tmp_path)
    args = [a.replace("{d}", str(tmp_path)) for a in extra]
    r = run(cli_runner, "mc-predict", str(samples_dir / "mlp.keras"), "-i",
            str(tmp_path / "x.npy"), "--samples", "2", *args)
    assert r.exit_code == 2
    assert message in one_error_line(r)
    assert r.stdout == ""
    leftovers = [p for p in tmp_path.rglob("*") if p.suffix in (".tmp", ".npz", ".txt")]
    assert leftovers == []


def test_unwritable_output_leaves_no_file(cli_runner, samples_dir, tmp_path) -> None:
    # The parent is a regular file: unwritable even for root (CI runs as root, where a
    # read-only directory would not stop the write).
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    r = run(cli_runner, "mc-predict", str(samples_dir / "mlp.keras"), "--synthetic", "2",
            "--samples", "2", "-o", str(blocker / "o.npz"))
    assert r.exit_code == 2 and "cannot write" in one_error_line(r)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]
    assert blocker.read_text() == "not a directory"


def test_mc_predict_needs_inputs_and_bad_lambda(cli_runner, samples_dir, tmp_path) -> None:
    r = run(cli_runner, "mc-predict", str(samples_dir / "mlp.keras"))
    assert r.exit_code == 2 and "no inputs: give --input FILE or --synthetic N" in one_error_line(r)
    r = run(cli_runner, "mc-predict", str(tmp_path / "nope.keras"), "--synthetic", "1")
    assert r.exit_code == 2 and one_error_line(r)


def test_diff_gates(cli_runner, samples_dir: Path) -> None:
    perma = str(samples_dir / "lstm_permadropout_tfkeras.h5")
    r = run(cli_runner, "diff", perma, "--samples", "8", "--fail-if-stochastic", "--json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["predict"]["deterministic"] is False
    assert doc["predict_culprits"] == ["lstm_permadropout/lambda"]
    r = run(cli_runner, "diff", perma, "--samples", "8", "--fail-if-deterministic")
    assert r.exit_code == 0
    cnn = str(samples_dir / "cnn.keras")
    r = run(cli_runner, "diff", cnn, "--samples", "8", "--fail-if-deterministic")
    assert r.exit_code == 1 and "predict() is deterministic: exit 1" in r.stderr
    assert "argmax agreement" in r.stdout
    r = run(cli_runner, "diff", cnn, "--samples", "8", "--fail-if-stochastic")
    assert r.exit_code == 0
    r = run(cli_runner, "diff", cnn, "--fail-if-stochastic", "--fail-if-deterministic")
    assert r.exit_code == 2 and "contradict" in one_error_line(r)
