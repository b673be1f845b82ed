"""dropctl.mc_predict as the mc-predict use case (dropctl.mc.run): one call, one typed report.

The report's parts are checked against oracles outside dropctl (scikit-learn's AUROC, scipy's
entropy, numpy's argmax accuracy, the LAC set rule written out), and the run is checked to read
the artifact once and build the model once.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

T = 10


@pytest.fixture(scope="module")
def digits(samples_dir: Path) -> dict[str, object]:
    s = samples_dir
    return {"model": s / "digits.keras", "x": np.load(s / "digits_inputs.npy"),
            "y": np.load(s / "digits_labels.npy"), "ood": np.load(s / "digits_ood.npy")[:60]}


def test_one_call_gives_result_evaluation_ood_and_calibration(digits, tmp_path: Path) -> None:
    from sklearn.metrics import roc_auc_score

    import dropctl
    from dropctl.mc.results import MCResult
    from dropctl.mc.run import MCReport
    from dropctl.render.calibration import calibration_doc

    x, y = digits["x"], digits["y"]
    cal = dropctl.calibrate(digits["model"], x[:500], y[:500], samples=T, seed=0)
    calib = tmp_path / "calib.json"
    calib.write_text(json.dumps(calibration_doc(cal.fit)))
    report = dropctl.mc_predict(digits["model"], x[500:700], samples=T, seed=0, labels=y[500:700],
                                ood=digits["ood"], calibration=calib, rank_by="entropy", top=4)
    assert isinstance(report, MCReport) and isinstance(report, MCResult)
    (out,) = report.outputs
    assert report.ood is not None and report.ood.n_inputs == 60
    # OOD AUROC of the entropy score: scikit-learn on scipy's entropy of the two MC means.
    u_in = sps.entropy(out.mean, axis=1)
    u_ood = sps.entropy(report.ood.outputs[0].mean, axis=1)
    truth = roc_auc_score(np.r_[np.zeros(u_in.size), np.ones(u_ood.size)], np.r_[u_in, u_ood])
    assert report.evaluation is not None
    (entropy_ood,) = [s for s in report.evaluation.ood["output"] if s.score == "entropy"]
    assert entropy_ood.auroc == pytest.approx(truth, abs=1e-9)
    assert report.evaluation.ranking is not None and report.evaluation.ranking.index.size == 4
    # Reliability table: accuracy of the MC mean's argmax.
    assert report.reliability is not None
    _, mc = report.reliability["output"]
    assert mc.accuracy == pytest.approx(np.mean(out.mean.argmax(1) == y[500:700]))
    # The calibration applied: LAC sets are {c : 1 - p_c <= qhat} on the MC mean.
    assert report.calibration is not None and report.calibration.model_sha256 == cal.fit.model_sha256
    (applied,) = report.calibrated
    qhat = report.calibration.outputs[0].qhat
    np.testing.assert_array_equal(applied.set, 1.0 - out.mean.astype(np.float64) <= qhat)
    (check,) = report.calibration_checks
    assert check.set_coverage == pytest.approx(np.mean(applied.set[np.arange(200), y[500:700]]))


def test_nothing_asked_nothing_added_and_bad_combinations_refused(digits) -> None:
    import dropctl
    from dropctl.errors import UsageError

    report = dropctl.mc_predict(digits["model"], digits["x"][:20], samples=2)
    assert report.ood is None and report.evaluation is None and report.reliability is None
    assert report.calibration is None and report.calibrated == () and dict(report.labels) == {}
    with pytest.raises(UsageError, match="give either --ood or --synthetic-ood, not both"):
        dropctl.mc_predict(digits["model"], digits["x"][:2], ood=digits["ood"], synthetic_ood=3)
    with pytest.raises(UsageError, match="--top needs --rank-by SCORE"):
        dropctl.mc_predict(digits["model"], digits["x"][:2], top=3)


def test_the_artifact_is_read_once_and_the_model_built_once(digits, monkeypatch) -> None:
    """A spy on dropctl's own reader and loader (no Keras or TensorFlow call is replaced)."""
    import dropctl
    import dropctl.reader.formats as formats
    import dropctl.reader.inspection as inspection
    import dropctl.runtime.loader as loader

    calls: dict[str, int] = {"read_model": 0, "load_artifact": 0, "inspect_path": 0}

    def spy(module: object, name: str) -> None:
        real = getattr(module, name)

        def counted(*args: object, **kwargs: object) -> object:
            calls[name] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)

    spy(formats, "read_model")
    spy(loader, "load_artifact")
    spy(inspection, "inspect_path")
    report = dropctl.mc_predict(digits["model"], digits["x"][:8], samples=2,
                                ood=digits["ood"][:4], labels=digits["y"][:8])
    assert report.ood is not None and report.missing_sites == ()
    assert calls == {"read_model": 1, "load_artifact": 1, "inspect_path": 0}


def test_the_cli_enters_the_core_through_the_public_api() -> None:
    """cli/mc_cmd.py, cli/mc_shards.py and cli/calibrate_cmd.py import no core module but the
    facade (and one option default): mc-predict (--output-dir too), diff and calibrate cannot
    orchestrate the core themselves."""
    import ast

    import dropctl

    root = Path(dropctl.__file__).parent / "cli"
    allowed = {("dropctl.mc.evaluation", "DEFAULT_STD_FLOOR")}
    core = ("dropctl.mc", "dropctl.runtime", "dropctl.reader", "dropctl.ray")
    calls = {"mc_cmd.py": ("dropctl.mc_predict(", "dropctl.diff("),
             "calibrate_cmd.py": ("dropctl.calibrate(",),
             "mc_shards.py": ("dropctl.score_shards(",)}
    for name, facade in calls.items():
        text = (root / name).read_text()
        tree = ast.parse(text)
        found = {(node.module, alias.name) for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module
                 and node.module.startswith(core) for alias in node.names}
        found |= {(alias.name, alias.name) for node in ast.walk(tree)
                  if isinstance(node, ast.Import) for alias in node.names
                  if alias.name.startswith(core)}
        assert found <= allowed, (name, sorted(found - allowed))
        assert all(call in text for call in facade), name
