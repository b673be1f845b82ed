"""dropctl.mc.calibration / dropctl.mc.conformal against independent oracles (no TensorFlow).

Oracles: scipy.optimize for the temperature, vector scaling and variance scale; MAPIE 1.x
(SplitConformalClassifier / SplitConformalRegressor on fixed probabilities / means) for LAC sets
and absolute-residual intervals; plain Python loops for APS/RAPS scores, the conformal quantile,
ACE and MCE. Property tests: over many random calibration/test splits of exchangeable data the
mean coverage is within Monte Carlo error of 1 - alpha <= E[coverage] <= 1 - alpha + 1/(n+1).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from dropctl.errors import InputDataError, UsageError
from dropctl.mc import calibration as cal
from dropctl.mc import conformal as cf
from dropctl.mc.conformal import ClassScore, IntervalScore

scipy_optimize = pytest.importorskip("scipy.optimize")
scipy_special = pytest.importorskip("scipy.special")


def classification_data(seed: int, n: int = 600, c: int = 6, sharp: float = 3.0
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Overconfident probabilities: labels drawn from softmax(logits / 2), probs = softmax(logits)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c)) * sharp
    truth = scipy_special.softmax(logits / 2, axis=1)
    y = np.array([rng.choice(c, p=row) for row in truth])
    return scipy_special.softmax(logits, axis=1), y


# ---- scaling fits vs scipy.optimize ----------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_temperature_matches_scipy(seed: int) -> None:
    p, y = classification_data(seed)
    z = cal.log_probabilities(p)
    rows = np.arange(y.size)

    def nll(t: float) -> float:
        return float(np.mean(scipy_special.logsumexp(z / t, axis=1) - z[rows, y] / t))

    oracle = scipy_optimize.minimize_scalar(nll, bounds=(0.01, 100), method="bounded",
                                            options={"xatol": 1e-10}).x
    t = cal.fit_temperature(z, y)
    assert t == pytest.approx(oracle, rel=1e-6)
    assert 1.2 < t < 3.0  # labels from softmax(logits / 2): the truth is T = 2
    assert nll(t) <= nll(oracle) + 1e-12


def test_temperature_with_a_pilot_fit_matches_scipy() -> None:
    # 140,000 rows > 2 * PILOT_ROWS: Newton starts from the every-k-th-row fit.
    p, y = classification_data(9, n=140_000, c=4)
    assert y.size > 2 * cal.PILOT_ROWS
    z = cal.log_probabilities(p)
    rows = np.arange(y.size)

    def nll(t: float) -> float:
        return float(np.mean(scipy_special.logsumexp(z / t, axis=1) - z[rows, y] / t))

    oracle = scipy_optimize.minimize_scalar(nll, bounds=(0.5, 5), method="bounded",
                                            options={"xatol": 1e-9}).x
    assert cal.fit_temperature(z, y) == pytest.approx(oracle, rel=1e-6)


def test_temperature_edges_hit_the_bracket() -> None:
    p = np.array([[0.9, 0.1], [0.2, 0.8]])
    # Separable (every argmax right): the NLL falls as T -> 0 until it is flat in float64.
    z = cal.log_probabilities(p)
    t = cal.fit_temperature(z, np.array([0, 1]))
    assert t < 0.01
    nll = float(np.mean(scipy_special.logsumexp(z / t, axis=1) - z[[0, 1], [0, 1]] / t))
    assert nll < 1e-12
    # Every argmax wrong: the optimum T -> inf is clipped at 1e4.
    assert cal.fit_temperature(cal.log_probabilities(p), np.array([1, 0])) == pytest.approx(1e4)


def test_temperature_is_deterministic_and_keeps_the_argmax() -> None:
    p, y = classification_data(7)
    z = cal.log_probabilities(p)
    t1, t2 = cal.fit_temperature(z, y), cal.fit_temperature(z.copy(), y.copy())
    assert t1 == t2
    assert np.array_equal(cal.scale_logits(z, t1).argmax(1), p.argmax(1))


@pytest.mark.parametrize("seed", range(3))
def test_vector_scaling_matches_scipy(seed: int) -> None:
    p, y = classification_data(seed, n=400, c=4)
    z = cal.log_probabilities(p)
    c = z.shape[1]
    rows = np.arange(y.size)

    def objective(params: np.ndarray) -> float:
        logits = z * params[:c] + params[c:]
        return float(np.mean(scipy_special.logsumexp(logits, axis=1) - logits[rows, y])
                     + cal.VECTOR_RIDGE * params[c:] @ params[c:])

    oracle = scipy_optimize.minimize(objective, np.r_[np.ones(c), np.zeros(c)], method="BFGS",
                                     options={"gtol": 1e-10})
    w, b = cal.fit_vector_scaling(z, y)
    assert objective(np.r_[w, b]) <= oracle.fun + 1e-9
    np.testing.assert_allclose(np.r_[w, b], oracle.x, atol=1e-4)


@pytest.mark.parametrize("seed", range(3))
def test_variance_scale_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mu, sd = rng.normal(size=500), rng.uniform(0.2, 2.0, size=500)
    y = mu + 3.0 * sd * rng.standard_normal(500)  # the MC std is 3x too small

    def nll(s: float) -> float:
        v = (s * sd) ** 2
        return float(np.mean(0.5 * np.log(2 * np.pi * v) + (y - mu) ** 2 / (2 * v)))

    oracle = scipy_optimize.minimize_scalar(nll, bounds=(0.01, 100), method="bounded",
                                            options={"xatol": 1e-10}).x
    s = cal.fit_variance_scale(mu, sd, y)
    assert s == pytest.approx(oracle, rel=1e-6)
    assert 2.6 < s < 3.4


# ---- conformal scores and quantiles vs direct definitions and MAPIE ----------------------------


@pytest.mark.parametrize(("n", "alpha", "k"), [(99, 0.1, 90), (9, 0.1, 9), (8, 0.1, 9),
                                               (100, 0.05, 96), (19, 0.05, 19), (1, 0.5, 1)])
def test_quantile_rank_is_exact(n: int, alpha: float, k: int) -> None:
    assert cf.quantile_rank(n, alpha) == k
    assert k == math.ceil(round((n + 1) * (1 - alpha), 9))


def test_quantile_is_the_kth_smallest_or_inf() -> None:
    rng = np.random.default_rng(0)
    s = rng.random(50)
    for alpha in (0.05, 0.1, 0.2, 0.5):
        k = math.ceil((51) * (1 - alpha) - 1e-9)
        assert cf.conformal_quantile(s, alpha) == sorted(s.tolist())[k - 1]
    assert math.isinf(cf.conformal_quantile(s[:8], 0.1))  # k = 9 > 8
    assert cf.prediction_sets(np.full((2, 3), 1 / 3), math.inf, ClassScore.APS).all()


def test_quantile_refuses_bad_input() -> None:
    with pytest.raises(UsageError, match="coverage must be strictly between 0 and 1"):
        cf.conformal_quantile(np.ones(5), 1.0)
    with pytest.raises(InputDataError, match="at least one calibration point"):
        cf.conformal_quantile(np.ones(0), 0.1)
    with pytest.raises(InputDataError, match="NaN/inf"):
        cf.conformal_quantile(np.array([0.1, np.nan]), 0.1)


def loop_scores(p: np.ndarray, score: str, lam: float, k_reg: int) -> np.ndarray:
    """APS/RAPS class scores written out per row and class (the oracle)."""
    out = np.zeros_like(p)
    for i, row in enumerate(p.tolist()):
        order = sorted(range(len(row)), key=lambda c: (-row[c], c))
        mass = 0.0
        for rank, c in enumerate(order, start=1):
            mass += row[c]
            out[i, c] = mass + (lam * max(0, rank - k_reg) if score == "raps" else 0.0)
    return out


@pytest.mark.parametrize("score", ["aps", "raps"])
def test_aps_raps_scores_match_loops(score: str) -> None:
    p, y = classification_data(3, n=200, c=5)
    p[:10] = 0.2  # ties: ranked by class index
    p[10:20] = np.array([0.4, 0.4, 0.1, 0.05, 0.05])
    oracle = loop_scores(p, score, 0.05, 2)
    got = cf.class_scores(p, ClassScore(score), 0.05, 2)
    np.testing.assert_allclose(got, oracle, atol=1e-12)
    np.testing.assert_allclose(cf.label_scores(p, y, ClassScore(score), 0.05, 2),
                               oracle[np.arange(y.size), y], atol=1e-12)
    q = cf.conformal_quantile(oracle[np.arange(y.size), y], 0.1)
    assert np.array_equal(cf.prediction_sets(p, q, ClassScore(score), 0.05, 2), oracle <= q)


@pytest.mark.parametrize("score", ["aps", "raps"])
@pytest.mark.parametrize("classes", [1, 2, 7, 23])
def test_sets_equal_the_loops_with_ties_everywhere(score: str, classes: int) -> None:
    """The unstable argsort + stable re-sort of tied rows gives the stable order's sets."""
    rng = np.random.default_rng(classes)
    p = rng.dirichlet(np.full(classes, 0.6), size=300)
    p[::3] = np.round(p[::3] * 4) / 4  # quarter steps: most of these rows hold ties
    p[::3] /= np.maximum(p[::3].sum(axis=1, keepdims=True), 1e-12)
    p[5] = 1.0 / classes  # every class tied
    oracle = loop_scores(p, score, 0.05, 2)
    for q in (0.0, 0.25, 0.5, 0.9, 1.0, 1.3):
        assert np.array_equal(cf.prediction_sets(p, q, ClassScore(score), 0.05, 2), oracle <= q)


def test_class_score_names() -> None:
    assert cf.parse_class_score("THR") is ClassScore.LAC
    assert cf.parse_class_score("raps") is ClassScore.RAPS
    with pytest.raises(UsageError, match="unknown conformal score 'x'"):
        cf.parse_class_score("x")


def _mapie_estimators():  # type: ignore[no-untyped-def]
    """Prefit scikit-learn estimators that return their input: probabilities, means."""
    sklearn_base = pytest.importorskip("sklearn.base")

    class Probs(sklearn_base.ClassifierMixin, sklearn_base.BaseEstimator):
        def __init__(self, classes: int = 2) -> None:
            self.classes = classes

        def fit(self, x, y):  # type: ignore[no-untyped-def]  # noqa: ARG002 - sklearn's fit(X, y)
            self.classes_ = np.arange(self.classes)
            return self

        def predict_proba(self, x):  # type: ignore[no-untyped-def]
            return np.asarray(x)

        def predict(self, x):  # type: ignore[no-untyped-def]
            return np.asarray(x).argmax(axis=1)

    class Means(sklearn_base.RegressorMixin, sklearn_base.BaseEstimator):
        def fit(self, x, y):  # type: ignore[no-untyped-def]  # noqa: ARG002 - sklearn's fit(X, y)
            return self

        def predict(self, x):  # type: ignore[no-untyped-def]
            return np.asarray(x)[:, 0]

    return Probs, Means


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.2])
def test_lac_sets_match_mapie(alpha: float) -> None:
    mapie_classification = pytest.importorskip("mapie.classification")
    probs_cls, _ = _mapie_estimators()
    p, y = classification_data(11, n=500, c=6)
    est = probs_cls(6).fit(p, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mapie_classification.SplitConformalClassifier(
            est, confidence_level=1 - alpha, conformity_score="lac", prefit=True
        ).conformalize(p[:200], y[:200])
        _, sets = m.predict_set(p[200:])
    q = cf.conformal_quantile(cf.label_scores(p[:200], y[:200], ClassScore.LAC), alpha)
    assert np.array_equal(cf.prediction_sets(p[200:], q, ClassScore.LAC), sets[:, :, 0])


@pytest.mark.parametrize("alpha", [0.1, 0.2])
def test_absolute_intervals_match_mapie(alpha: float) -> None:
    mapie_regression = pytest.importorskip("mapie.regression")
    _, means_cls = _mapie_estimators()
    rng = np.random.default_rng(5)
    mu = rng.normal(size=400)
    y = mu + rng.standard_normal(400)
    x = mu[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = mapie_regression.SplitConformalRegressor(
            means_cls().fit(x, y), confidence_level=1 - alpha, prefit=True
        ).conformalize(x[:150], y[:150])
        _, intervals = r.predict_interval(x[150:])
    ones = np.ones(150)
    q = cf.conformal_quantile(cf.interval_scores(mu[:150], ones, y[:150], IntervalScore.ABSOLUTE),
                              alpha)
    lo, hi = cf.interval_bounds(mu[150:], np.ones(250), q, IntervalScore.ABSOLUTE)
    np.testing.assert_allclose(lo, intervals[:, 0, 0], atol=1e-12)
    np.testing.assert_allclose(hi, intervals[:, 1, 0], atol=1e-12)


# ---- coverage over many random splits of exchangeable data ----------------------------------


def _coverage_band(coverages: np.ndarray, alpha: float, n: int) -> None:
    """mean within 4 Monte Carlo standard errors of [1 - alpha, 1 - alpha + 1/(n+1)]."""
    se = coverages.std(ddof=1) / math.sqrt(coverages.size)
    mean = float(coverages.mean())
    assert 1 - alpha - 4 * se <= mean <= 1 - alpha + 1 / (n + 1) + 4 * se, (mean, se)


@pytest.mark.parametrize("score", list(ClassScore))
@pytest.mark.parametrize(("n", "alpha"), [(50, 0.1), (200, 0.1), (100, 0.2)])
def test_set_coverage_over_random_splits(score: ClassScore, n: int, alpha: float) -> None:
    rng = np.random.default_rng([list(ClassScore).index(score), n, int(alpha * 100)])
    c, trials, m = 5, 1500, 200
    logits = rng.normal(size=(trials, n + m, c)) * 2.0
    p = np.exp(logits - scipy_special.logsumexp(logits, axis=2, keepdims=True))
    # Labels from a different distribution than p: the sets must still cover.
    cum = np.cumsum(scipy_special.softmax(logits * 0.5, axis=2), axis=2)
    y = (rng.random((trials, n + m, 1)) > cum).sum(axis=2).clip(0, c - 1)
    covered = np.empty(trials)
    for t in range(trials):
        q = cf.conformal_quantile(cf.label_scores(p[t, :n], y[t, :n], score, 0.05, 1), alpha)
        sets = cf.prediction_sets(p[t, n:], q, score, 0.05, 1)
        covered[t] = np.mean(sets[np.arange(m), y[t, n:]])
    _coverage_band(covered, alpha, n)


@pytest.mark.parametrize("score", list(IntervalScore))
@pytest.mark.parametrize(("n", "alpha"), [(30, 0.1), (66, 0.1), (200, 0.05)])
def test_interval_coverage_over_random_splits(score: IntervalScore, n: int, alpha: float) -> None:
    rng = np.random.default_rng(n * 100 + int(alpha * 100))
    trials, m = 3000, 100
    mu = rng.normal(size=(trials, n + m))
    sd = rng.uniform(0.1, 2.0, size=(trials, n + m))
    y = mu + 2.5 * sd * rng.standard_t(4, size=(trials, n + m))  # heavy tails, wrong scale
    covered = np.empty(trials)
    for t in range(trials):
        q = cf.conformal_quantile(cf.interval_scores(mu[t, :n], sd[t, :n], y[t, :n], score),
                                  alpha)
        lo, hi = cf.interval_bounds(mu[t, n:], sd[t, n:], q, score)
        covered[t] = np.mean((y[t, n:] >= lo) & (y[t, n:] <= hi))
    _coverage_band(covered, alpha, n)


# ---- ECE variants vs loops ---------------------------------------------------------------------


def test_adaptive_ece_and_mce_match_loops() -> None:
    from dropctl.mc.metrics import (
        adaptive_calibration_error,
        expected_calibration_error,
        maximum_calibration_error,
    )

    p, y = classification_data(2, n=301, c=4)
    conf = p.max(axis=1).tolist()
    hit = (p.argmax(axis=1) == y).tolist()
    order = sorted(range(len(conf)), key=lambda i: conf[i])
    sizes = [len(conf) // 15 + (1 if b < len(conf) % 15 else 0) for b in range(15)]
    ace, start = 0.0, 0
    for size in sizes:
        part = order[start:start + size]
        start += size
        ace += size * abs(sum(hit[i] for i in part) / size - sum(conf[i] for i in part) / size)
    assert adaptive_calibration_error(p, y) == pytest.approx(ace / len(conf), abs=1e-12)
    gaps = []
    for b in range(15):
        part = [i for i, v in enumerate(conf) if (b / 15 < v <= (b + 1) / 15) or (b == 0 and v == 0)]
        if part:
            gaps.append(abs(sum(hit[i] for i in part) / len(part)
                            - sum(conf[i] for i in part) / len(part)))
    assert maximum_calibration_error(p, y) == pytest.approx(max(gaps), abs=1e-12)
    assert maximum_calibration_error(p, y) >= expected_calibration_error(p, y)


# ---- the file --------------------------------------------------------------------------------


def _fit() -> cal.CalibrationFit:
    clf = cal.ClassifierFit("probs", 3, "vector", 1.5, (1.0, 2.0, 0.5), (0.0, 0.1, -0.1),
                            ClassScore.RAPS, 0.02, 2, 0.75, {0.5: 0.3, 0.9: 0.75})
    reg = cal.RegressorFit("value", 4.0, 1e-6, math.inf, 12.5, {0.5: 0.6, 0.9: math.inf})
    return cal.CalibrationFit("m", "ab" * 32, 50, 3, "*drop*", 0.9, 8, "0.2.0", (clf, reg))


def test_file_round_trip(tmp_path: Path) -> None:
    from dropctl.render.calibration import calibration_doc

    path = tmp_path / "c.json"
    text = json.dumps(calibration_doc(_fit()))
    assert '"qhat": "inf"' in text  # JSON has no infinity: written as a string
    path.write_text(text)
    assert cal.read_calibration(path) == _fit()


@pytest.mark.parametrize(("text", "message"), [
    ("{", "not a calibration file (JSONDecodeError)"),
    ('{"format": "other"}', "not a dropctl calibration file"),
    ('{"format": "dropctl-calibration/1"}', "missing or bad field"),
])
def test_bad_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(InputDataError, match=re.escape(message)):
        cal.read_calibration(path)
    with pytest.raises(InputDataError, match="no such calibration file"):
        cal.read_calibration(tmp_path / "missing.json")


def test_bad_numbers_in_a_file_are_refused(tmp_path: Path) -> None:
    from dropctl.render.calibration import calibration_doc

    doc = calibration_doc(_fit())
    doc["outputs"][0]["temperature"] = "hot"
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputDataError, match=r"outputs\[0\].temperature is not a number"):
        cal.read_calibration(path)


def test_model_hash_and_refusal(tmp_path: Path) -> None:
    f = tmp_path / "m.keras"
    f.write_bytes(b"model bytes")
    assert cal.model_sha256(f) == hashlib.sha256(b"model bytes").hexdigest()
    d = tmp_path / "saved"
    (d / "variables").mkdir(parents=True)
    (d / "saved_model.pb").write_bytes(b"pb")
    (d / "variables" / "v.data").write_bytes(b"v")
    expected = hashlib.sha256(
        f"saved_model.pb\0{hashlib.sha256(b'pb').hexdigest()}\n"
        f"variables/v.data\0{hashlib.sha256(b'v').hexdigest()}\n".encode()).hexdigest()
    assert cal.model_sha256(d) == expected
    fit = _fit()
    with pytest.raises(InputDataError, match=r"c.json was fitted on another model \(sha256 "
                                             r"abababababab"):
        cal.check_model(fit, f, "c.json")
