"""mc-predict --labels/--ood/--rank-by on the trained samples: every number against an oracle.

The oracles are independent of dropctl.mc.evaluation: scikit-learn's roc_auc_score and
average_precision_score, scipy's normal quantile, and brute-force loops over the per-input
scores that mc-predict writes to its .npz.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from dropctl.cli import app

sklearn_metrics = pytest.importorskip("sklearn.metrics")
scipy_stats = pytest.importorskip("scipy.stats")

SCORES = ["max_prob", "entropy", "mutual_information", "variation_ratio",
          "max_prob_deterministic", "entropy_deterministic"]


def run(cli_runner, *args: str):
    return cli_runner.invoke(app, [str(a) for a in args])


def one_error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def uncertainty(score: str, v: np.ndarray) -> np.ndarray:
    return 1 - v if score.startswith("max_prob") else v


def brute_risks(u: np.ndarray, wrong: np.ndarray) -> list[float]:
    """risk(k) for k = 1..N, ties resolved by averaging over every order of the tie
    (the tie's mean error spread over its positions), one Python loop."""
    order = np.argsort(u, kind="stable")
    risks: list[float] = []
    errors, k = 0.0, 0
    values = u[order]
    i = 0
    while i < len(order):
        j = i
        while j < len(order) and values[j] == values[i]:
            j += 1
        rate = float(np.mean(wrong[order[i:j]]))
        for _ in range(i, j):
            k += 1
            errors += rate
            risks.append(errors / k)
        i = j
    return risks


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory, samples_dir: Path):
    from typer.testing import CliRunner

    pytest.importorskip("matplotlib")
    d = tmp_path_factory.mktemp("digits")
    s = samples_dir
    r = run(CliRunner(), "mc-predict", s / "digits.keras", "-i", s / "digits_inputs.npy",
            "--labels", s / "digits_labels.npy", "--ood", s / "digits_ood.npy", "--samples", "20",
            "--json", "-o", d / "mc.npz", "--plot", d / "p.png")
    assert r.exit_code == 0, r.stderr
    assert r.stderr == ""  # --json: no hints
    with np.load(d / "mc.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(r.stdout), arrays, d


def test_digits_json_contract(digits_run) -> None:
    doc, _, _ = digits_run
    assert set(doc["selective"]) == {"output"} and list(doc["selective"]["output"]) == SCORES
    for entry in doc["selective"]["output"].values():
        assert set(entry) == {"aurc", "accuracy_at_coverage"}
        assert list(entry["accuracy_at_coverage"]) == ["0.8", "0.9", "0.95"]
    assert list(doc["ood"]["output"]) == SCORES
    for entry in doc["ood"]["output"].values():
        assert set(entry) == {"auroc", "aupr", "fpr95"}
    assert doc["regression"] is None and doc["ranking"] is None
    assert doc["ood_inputs"] == 354 and doc["calibration"]["output"]["mc_mean"]["ece"] >= 0


def test_digits_selective_matches_brute_force(digits_run, samples_dir: Path) -> None:
    doc, z, _ = digits_run
    y = np.load(samples_dir / "digits_labels.npy")
    for score in SCORES:
        pred = z["deterministic"] if score.endswith("_deterministic") else z["mean"]
        wrong = (pred.argmax(1) != y).astype(float)
        u = uncertainty(score, z[f"scores/{score}"])
        got = doc["selective"]["output"][score]
        risks = brute_risks(u, wrong)
        assert got["aurc"] == pytest.approx(np.mean(risks), abs=1e-12)
        for c, kept in (("0.8", 866), ("0.9", 974), ("0.95", 1028)):  # ceil(c * 1082)
            assert got["accuracy_at_coverage"][c] == pytest.approx(1 - risks[kept - 1], abs=1e-12)


def test_digits_ood_matches_sklearn(digits_run) -> None:
    doc, z, _ = digits_run
    for score in SCORES:
        u_in = uncertainty(score, z[f"scores/{score}"])
        u_ood = uncertainty(score, z[f"ood/scores/{score}"])
        y = np.r_[np.zeros(u_in.size), np.ones(u_ood.size)]
        u = np.r_[u_in, u_ood]
        got = doc["ood"]["output"][score]
        assert got["auroc"] == pytest.approx(sklearn_metrics.roc_auc_score(y, u), abs=1e-12)
        assert got["aupr"] == pytest.approx(sklearn_metrics.average_precision_score(y, u), abs=1e-12)
        threshold = np.sort(u_in)[int(np.ceil(0.95 * u_in.size)) - 1]
        assert got["fpr95"] == pytest.approx(np.mean(u_ood <= threshold))
        # A trained digits model flags unseen classes far better than chance.
        assert got["auroc"] > 0.8


def test_digits_npz_scores_and_plots(digits_run) -> None:
    doc, z, d = digits_run
    assert z["scores/max_prob"].shape == (1082,) and z["ood/scores/entropy"].shape == (354,)
    np.testing.assert_allclose(z["scores/max_prob"], z["mean"].max(1))
    np.testing.assert_allclose(z["scores/entropy"], z["entropy"])
    for name in ("p.png", "p-risk-coverage.png", "p-ood-roc.png"):
        assert (d / name).read_bytes()[:4] == b"\x89PNG", name
    assert not (d / "p-intervals.png").exists()  # no regression output


def test_diabetes_regression_matches_oracle(cli_runner, samples_dir: Path, tmp_path: Path) -> None:
    s = samples_dir
    r = run(cli_runner, "mc-predict", s / "diabetes.keras", "-i", s / "diabetes_inputs.npy",
            "--labels", s / "diabetes_labels.npy", "--samples", "20", "--json",
            "--interval-std-floor", "0.5", "-o", tmp_path / "mc.npz", "--plot", tmp_path / "d.png")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["selective"] is None and doc["ood"] is None and doc["calibration"] is None
    reg = doc["regression"]["output"]
    assert set(reg) == {"rmse", "nll", "std_floor", "picp", "mpiw", "interval_calibration_error"}
    with np.load(tmp_path / "mc.npz") as z:
        mu, sd = z["mean"][:, 0], z["std"][:, 0]
    y = np.load(s / "diabetes_labels.npy").astype(np.float64)
    sd = np.maximum(sd, 0.5)
    assert reg["std_floor"] == 0.5
    assert reg["rmse"] == pytest.approx(np.sqrt(np.mean((mu - y) ** 2)))
    assert reg["nll"] == pytest.approx(-np.mean(scipy_stats.norm.logpdf(y, mu, sd)))
    for level in ("0.5", "0.9", "0.95"):
        z_a = scipy_stats.norm.ppf(0.5 + float(level) / 2)
        assert reg["picp"][level] == pytest.approx(np.mean(np.abs(y - mu) <= z_a * sd))
        assert reg["mpiw"][level] == pytest.approx(np.mean(2 * z_a * sd))
    levels = np.arange(1, 20) * 0.05
    observed = [np.mean(np.abs(y - mu) <= scipy_stats.norm.ppf(0.5 + a / 2) * sd) for a in levels]
    assert reg["interval_calibration_error"] == pytest.approx(np.mean(np.abs(observed - levels)))
    assert (tmp_path / "d-intervals.png").read_bytes()[:4] == b"\x89PNG"


def test_rank_by_writes_the_top_k(cli_runner, samples_dir: Path, tmp_path: Path) -> None:
    s = samples_dir
    args = ["mc-predict", s / "digits.keras", "-i", s / "digits_inputs.npy", "--samples", "10",
            "--rank-by", "mutual_information", "--top", "4"]
    r = run(cli_runner, *args, "--json", "-o", tmp_path / "all.npz")
    assert r.exit_code == 0, r.stderr
    ranking = json.loads(r.stdout)["ranking"]
    with np.load(tmp_path / "all.npz") as z:
        mi = z["scores/mutual_information"]
        assert z["ranking/index"].tolist() == [row["index"] for row in ranking["top"]]
    assert ranking["output"] == "output" and ranking["score"] == "mutual_information"
    want = sorted(range(mi.size), key=lambda i: (-mi[i], i))[:4]
    assert [row["index"] for row in ranking["top"]] == want
    assert [row["score"] for row in ranking["top"]] == pytest.approx(mi[want].tolist())
    # CSV: the K inputs only, in rank order, with a rank column; human table on stdout.
    r = run(cli_runner, *args, "-o", tmp_path / "pick.csv")
    assert r.exit_code == 0 and "label next: top 4" in r.stdout
    assert f"wrote {tmp_path / 'pick.csv'}" in r.stderr.replace("\n", "")
    rows = list(csv.DictReader((tmp_path / "pick.csv").open()))
    assert [int(row["index"]) for row in rows] == want and [row["rank"] for row in rows] == [
        "1", "2", "3", "4"]
    # .json --output: the summary with the evaluation keys, and the arrays.
    r = run(cli_runner, *args, "-o", tmp_path / "all.json", "--quiet")
    assert r.exit_code == 0 and r.stderr == ""
    doc = json.loads((tmp_path / "all.json").read_text())
    assert doc["ranking"] == ranking and doc["selective"] is None
    assert doc["arrays"]["scores/mutual_information"] == pytest.approx(mi.tolist())
    assert doc["arrays"]["ranking/index"] == want
    # max_prob ranks the LEAST confident first.
    r = run(cli_runner, *args[:-4], "--rank-by", "max_prob", "--top", "3", "--json")
    top = [row["score"] for row in json.loads(r.stdout)["ranking"]["top"]]
    assert top == sorted(top) and len(top) == 3


def test_synthetic_ood_smoke_and_human_tables(cli_runner, samples_dir: Path) -> None:
    r = run(cli_runner, "mc-predict", samples_dir / "mlp.keras", "--synthetic", "6",
            "--synthetic-ood", "5", "--samples", "5")
    assert r.exit_code == 0, r.stderr
    assert "OOD detection: 5 OOD inputs" in r.stdout and "AUROC" in r.stdout
    r = run(cli_runner, "mc-predict", samples_dir / "mlp.keras", "--synthetic", "6",
            "--synthetic-ood", "5", "--samples", "5", "--json")
    doc = json.loads(r.stdout)
    assert doc["ood_inputs"] == 5 and list(doc["ood"]["output"]) == SCORES
    assert doc["selective"] is None
    r = run(cli_runner, "mc-predict", samples_dir / "mlp.keras", "--synthetic", "2", "--json")
    doc = json.loads(r.stdout)
    assert doc["ood"] is None and doc["ranking"] is None and doc["ood_inputs"] == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--top", "3"], "--top needs --rank-by SCORE"),
        (["--rank-by", "bald"], "--rank-by: unknown score 'bald' for this model (use one of entropy"),
        (["--rank-by", "nope:entropy"], "--rank-by: no output 'nope' (outputs: output)"),
        (["--rank-by", "entropy", "--top", "0"], "--top must be at least 1"),
        (["--ood", "{d}/x.npy", "--synthetic-ood", "3"], "give either --ood or --synthetic-ood"),
        (["--ood", "{d}/bad.npy"], "has shape (2, 5); the model expects (N, 20)"),
        (["--synthetic-ood", "0"], "--synthetic-ood needs N >= 1"),
        (["--interval-std-floor", "0"], "--interval-std-floor must be a positive number, got 0"),
    ],
    ids=["top", "score", "output", "top0", "both-ood", "ood-shape", "ood-n", "floor"],
)
def test_evaluation_usage_errors_exit_2(cli_runner, samples_dir, tmp_path, extra, message) -> None:
    np.save(tmp_path / "x.npy", np.ones((3, 20), "float32"))
    np.save(tmp_path / "bad.npy", np.ones((2, 5), "float32"))
    args = [a.replace("{d}", str(tmp_path)) for a in extra]
    r = run(cli_runner, "mc-predict", samples_dir / "mlp.keras", "-i", tmp_path / "x.npy",
            "--samples", "2", *args)
    assert r.exit_code == 2
    assert message in one_error_line(r)
    assert r.stdout == ""


def test_regression_label_and_nan_errors_exit_2(cli_runner, samples_dir, tmp_path) -> None:
    s = samples_dir
    np.save(tmp_path / "t.npy", np.zeros(5))
    r = run(cli_runner, "mc-predict", s / "diabetes.keras", "-i", s / "diabetes_inputs.npy",
            "--labels", tmp_path / "t.npy", "--samples", "2")
    assert r.exit_code == 2 and "5 labels for 133 inputs" in one_error_line(r)
    assert r.stdout == ""
    # Inputs this large overflow the first Dense layer: the model itself outputs inf/NaN.
    np.save(tmp_path / "huge.npy", np.full((3, 10), 3e38, "float32"))
    np.save(tmp_path / "t3.npy", np.zeros(3))
    r = run(cli_runner, "mc-predict", s / "diabetes.keras", "-i", tmp_path / "huge.npy",
            "--labels", tmp_path / "t3.npy", "--samples", "2")
    assert r.exit_code == 2 and r.stdout == ""
    assert "output 'output' on the inputs has 3 NaN/inf value(s)" in one_error_line(r)
    np.save(tmp_path / "huge20.npy", np.full((3, 20), 3e38, "float32"))
    r = run(cli_runner, "mc-predict", s / "mlp.keras", "--synthetic", "4", "--ood",
            tmp_path / "huge20.npy", "--samples", "2", "--json")
    assert r.exit_code == 2 and r.stdout == ""
    assert "on the OOD inputs has" in one_error_line(r)


def test_python_api_evaluate(samples_dir: Path) -> None:
    import dropctl
    from dropctl.errors import InputDataError, UsageError

    s = samples_dir
    x = np.load(s / "digits_inputs.npy")[:200]
    y = np.load(s / "digits_labels.npy")[:200]
    result = dropctl.mc_predict(s / "digits.keras", x, samples=10)
    ood = dropctl.mc_predict(s / "digits.keras", np.load(s / "digits_ood.npy")[:50], samples=10)
    ev = dropctl.evaluate(result, y, ood=ood, rank_by="entropy", top=5)
    (sel,) = [t for t in ev.selective["output"] if t.score == "max_prob"]
    wrong = (result.outputs[0].mean.argmax(1) != y).astype(float)
    u = 1 - result.outputs[0].mean.max(1)
    assert sel.aurc == pytest.approx(np.mean(brute_risks(u, wrong)))
    assert ev.ood_inputs == 50 and len(ev.ood["output"]) == 6
    assert ev.ranking is not None and ev.ranking.index.size == 5
    with pytest.raises(InputDataError, match="labels of output 'output' must be class ids in"):
        dropctl.evaluate(result, y + 8)
    with pytest.raises(InputDataError, match="199 labels for 200 inputs"):
        dropctl.evaluate(result, y[:199])
    with pytest.raises(UsageError, match="labels for unknown output"):
        dropctl.evaluate(result, {"nope": y})
