"""dropctl.mc.evaluation against independent oracles: scikit-learn, brute force, hand-computed cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from dropctl.errors import InputDataError, UsageError
from dropctl.mc import evaluation as ev

sklearn_metrics = pytest.importorskip("sklearn.metrics")


# ---- brute-force oracles (written from the definitions, O(N^2) or worse) ----------------------


def brute_auroc(u_in, u_ood) -> float:
    wins = sum(1.0 if b > a else 0.5 if b == a else 0.0 for a in u_in for b in u_ood)
    return wins / (len(u_in) * len(u_ood))


def brute_aurc(u, errors) -> float:
    """Mean over every order of tied inputs of (1/N) sum_k risk(k): the stated tie rule."""
    groups: dict[float, list[float]] = {}
    for value, e in zip(u, errors, strict=True):
        groups.setdefault(value, []).append(e)
    keys = sorted(groups)
    orders = [list(itertools.permutations(groups[k])) for k in keys]
    total, count = 0.0, 0
    for choice in itertools.product(*orders):
        seq = [e for part in choice for e in part]
        risks = [sum(seq[:k]) / k for k in range(1, len(seq) + 1)]
        total += sum(risks) / len(seq)
        count += 1
    return total / count


# ---- selective prediction ----------------------------------------------------------------------


def test_aurc_hand_computed() -> None:
    # Most confident first: errors 0, 1, 0, 1 -> risks 0, 1/2, 1/3, 2/4.
    u = np.array([0.1, 0.2, 0.3, 0.4])
    e = np.array([0, 1, 0, 1])
    assert ev.aurc(u, e) == pytest.approx((0 + 1 / 2 + 1 / 3 + 2 / 4) / 4)
    cov, risk = ev.risk_coverage(u, e)
    np.testing.assert_allclose(cov, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(risk, [0, 1 / 2, 1 / 3, 1 / 2])


def test_aurc_ties_are_the_expectation_over_orders() -> None:
    # Two inputs tied at the top, one wrong: risk(1) = 1/2 on average, risk(2) = 1/2.
    u = np.array([0.0, 0.0, 1.0])
    e = np.array([1, 0, 0])
    assert ev.aurc(u, e) == pytest.approx((1 / 2 + 1 / 2 + 1 / 3) / 3)
    # The result does not depend on the input order.
    assert ev.aurc(u[::-1], e[::-1]) == pytest.approx(ev.aurc(u, e))


@pytest.mark.parametrize("seed", range(8))
def test_aurc_matches_brute_force_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    u = rng.integers(0, 3, size=7).astype(float)  # heavy ties
    e = rng.integers(0, 2, size=7)
    assert ev.aurc(u, e) == pytest.approx(brute_aurc(u, e))


def test_all_equal_scores_give_the_error_rate() -> None:
    e = np.array([1, 0, 0, 0, 1])
    assert ev.aurc(np.full(5, 0.3), e) == pytest.approx(0.4)
    s = ev.selective("entropy", np.full(5, 0.3), e)
    assert all(v == pytest.approx(0.6) for v in s.accuracy_at_coverage.values())


def test_accuracy_at_coverage_keeps_ceil_c_n() -> None:
    # 20 inputs, confidence = 1 - i/20, the 19th and 20th most confident are wrong.
    conf = 1 - np.arange(20) / 20
    e = np.zeros(20)
    e[18:] = 1
    s = ev.selective("max_prob", conf, e)
    # 0.8 -> 16 kept, 0.9 -> 18 kept (all right), 0.95 -> 19 kept (one wrong), not 20.
    assert s.accuracy_at_coverage == {0.8: 1.0, 0.9: 1.0, 0.95: pytest.approx(18 / 19)}
    assert s.aurc == pytest.approx(np.mean([0] * 18 + [1 / 19, 2 / 20]))


def test_confidence_scores_are_flipped() -> None:
    # max_prob 0.9 is the most confident: with it wrong, risk(1) = 1.
    s = ev.selective("max_prob", np.array([0.9, 0.5]), np.array([1, 0]))
    np.testing.assert_allclose(s.risk, [1.0, 0.5])
    s = ev.selective("entropy", np.array([0.9, 0.5]), np.array([1, 0]))
    np.testing.assert_allclose(s.risk, [0.0, 0.5])


def test_selective_single_input_and_one_class() -> None:
    s = ev.selective("entropy", np.array([0.7]), np.array([0]))
    assert s.aurc == 0.0 and s.accuracy_at_coverage == {0.8: 1.0, 0.9: 1.0, 0.95: 1.0}
    # Every prediction wrong (one class): risk is 1 everywhere.
    assert ev.aurc(np.array([0.1, 0.5, 0.2]), np.ones(3)) == 1.0


def test_selective_rejects_nan_and_empty() -> None:
    with pytest.raises(InputDataError, match="1 NaN/inf"):
        ev.aurc(np.array([0.1, np.nan]), np.array([0, 1]))
    with pytest.raises(InputDataError, match="at least one input"):
        ev.aurc(np.array([]), np.array([]))


# ---- OOD detection -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(10))
def test_ood_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_in, n_ood = rng.integers(1, 60, size=2)
    levels = 4 if seed % 2 else 10_000  # even seeds: almost no ties; odd: mostly ties
    u_in = rng.integers(0, levels, size=n_in) / levels
    u_ood = rng.integers(0, levels, size=n_ood) / levels + 0.1 * (seed % 3)
    y = np.r_[np.zeros(n_in), np.ones(n_ood)]
    u = np.r_[u_in, u_ood]
    assert ev.ood_auroc(u_in, u_ood) == pytest.approx(sklearn_metrics.roc_auc_score(y, u))
    assert ev.ood_auroc(u_in, u_ood) == pytest.approx(brute_auroc(u_in, u_ood))
    assert ev.ood_average_precision(u_in, u_ood) == pytest.approx(
        sklearn_metrics.average_precision_score(y, u))
    fpr, tpr = ev.ood_roc_curve(u_in, u_ood)
    sk_fpr, sk_tpr, _ = sklearn_metrics.roc_curve(y, u, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    # FPR95 from sklearn's ROC with in-distribution positive and score -u: the first point
    # where at least 95% of in-distribution inputs are accepted.
    r_fpr, r_tpr, _ = sklearn_metrics.roc_curve(1 - y, -u, drop_intermediate=False)
    expected = r_fpr[np.argmax(r_tpr >= 0.95 - 1e-12)]
    assert ev.fpr_at_95(u_in, u_ood) == pytest.approx(expected)


def test_fpr95_hand_computed() -> None:
    u_in = np.arange(1, 21, dtype=float)  # threshold: the 19th smallest = 19
    u_ood = np.array([18.0, 19.0, 19.5, 25.0])
    # 18 and 19 are accepted (19 is tied with the threshold: counts against the detector).
    assert ev.fpr_at_95(u_in, u_ood) == 0.5


def test_ood_ties_and_degenerate_cases() -> None:
    same = np.full(4, 0.2)
    assert ev.ood_auroc(same, same[:3]) == 0.5
    assert ev.ood_average_precision(same, same[:3]) == pytest.approx(3 / 7)
    assert ev.fpr_at_95(same, same[:3]) == 1.0
    # Perfect separation, one input each.
    assert ev.ood_auroc(np.array([0.0]), np.array([1.0])) == 1.0
    assert ev.ood_average_precision(np.array([0.0]), np.array([1.0])) == 1.0
    assert ev.fpr_at_95(np.array([0.0]), np.array([1.0])) == 0.0
    # Inverted detector.
    assert ev.ood_auroc(np.array([1.0, 2.0]), np.array([0.0])) == 0.0
    with pytest.raises(InputDataError, match="at least one in-distribution and one OOD"):
        ev.ood_auroc(np.array([]), np.array([1.0]))
    with pytest.raises(InputDataError, match="OOD score contains 1 NaN"):
        ev.ood_auroc(np.array([0.1]), np.array([np.nan]))


def test_ood_score_flips_confidence() -> None:
    s = ev.ood_score("max_prob", np.array([0.9, 0.8]), np.array([0.4, 0.3]))
    assert s.auroc == 1.0 and s.aupr == 1.0 and s.fpr95 == 0.0
    s = ev.ood_score("entropy", np.array([0.9, 0.8]), np.array([0.4, 0.3]))
    assert s.auroc == 0.0 and s.fpr95 == 1.0


# ---- regression --------------------------------------------------------------------------------


def test_normal_quantile() -> None:
    assert ev.normal_quantile(0.975) == pytest.approx(1.959963984540054, abs=1e-12)
    assert ev.normal_quantile(0.5) == pytest.approx(0.0, abs=1e-14)
    assert ev.normal_quantile(0.75) == pytest.approx(0.6744897501960817, abs=1e-12)
    for p in (0.01, 0.3, 0.9, 0.999):
        z = ev.normal_quantile(p)
        assert 0.5 * (1 + math.erf(z / math.sqrt(2))) == pytest.approx(p, abs=1e-13)


def test_picp_mpiw_hand_computed() -> None:
    mean = np.zeros(4)
    std = np.ones(4)
    y = np.array([0.5, -1.0, 1.7, 2.5])
    z90, z50 = 1.6448536269514722, 0.6744897501960817
    picp, mpiw = ev.interval_coverage(mean, std, y, (0.5, 0.9))
    # |y| <= 0.674: only 0.5; |y| <= 1.645: 0.5 and 1.0.
    np.testing.assert_allclose(picp, [1 / 4, 2 / 4])
    np.testing.assert_allclose(mpiw, [2 * z50, 2 * z90])
    # Bounds are inside (the label sits exactly on mu + z_0.9 * std).
    on_bound = np.array([ev.normal_quantile(0.95)])
    picp, _ = ev.interval_coverage(np.zeros(1), np.ones(1), on_bound, (0.9,))
    assert picp[0] == 1.0


def test_regression_numbers_and_floor() -> None:
    mean = np.array([1.0, 2.0, 3.0])
    std = np.array([0.5, 0.0, 2.0])  # the zero is floored
    y = np.array([1.5, 2.0, 0.0])
    r = ev.regression(mean, std, y, std_floor=0.1)
    s = np.array([0.5, 0.1, 2.0])
    assert r.rmse == pytest.approx(np.sqrt(np.mean([0.25, 0, 9])))
    assert r.nll == pytest.approx(np.mean(0.5 * np.log(2 * np.pi * s**2) + (y - mean) ** 2 / (2 * s**2)))
    assert r.std_floor == 0.1
    assert set(r.picp) == {0.5, 0.9, 0.95} and set(r.mpiw) == {0.5, 0.9, 0.95}
    assert r.mpiw[0.95] == pytest.approx(2 * 1.959963984540054 * s.mean())
    np.testing.assert_allclose(r.levels, np.arange(1, 20) * 0.05)
    # Standardised residuals |y-mu|/s: 1, 0, 1.5. Coverage per level from z_a.
    z = np.array([ev.normal_quantile(0.5 + a / 2) for a in r.levels])
    want = np.array([np.mean(np.array([1.0, 0.0, 1.5]) <= zz) for zz in z])
    np.testing.assert_allclose(r.observed, want)
    assert r.interval_calibration_error == pytest.approx(np.mean(np.abs(want - r.levels)))


def test_regression_is_calibrated_on_gaussian_data() -> None:
    rng = np.random.default_rng(0)
    std = rng.uniform(0.5, 2.0, size=200_000)
    y = rng.standard_normal(200_000) * std
    r = ev.regression(np.zeros_like(y), std, y)
    assert r.picp[0.9] == pytest.approx(0.9, abs=0.005)
    assert r.interval_calibration_error < 0.005
    # Overconfident intervals (std halved) cover far less than nominal.
    assert ev.regression(np.zeros_like(y), std / 2, y).picp[0.9] < 0.65


def test_regression_errors() -> None:
    with pytest.raises(InputDataError, match="regression labels contains 1 NaN"):
        ev.regression(np.zeros(2), np.ones(2), np.array([0.0, np.nan]))
    with pytest.raises(InputDataError, match="3 label value"):
        ev.regression(np.zeros(2), np.ones(2), np.zeros(3))
    with pytest.raises(UsageError, match="interval-std-floor must be a positive"):
        ev.regression(np.zeros(2), np.ones(2), np.zeros(2), std_floor=0.0)
    r = ev.regression(np.zeros(1), np.zeros(1), np.zeros(1))  # N=1, std 0 -> floor
    assert r.picp == {0.5: 1.0, 0.9: 1.0, 0.95: 1.0} and r.rmse == 0.0


# ---- ranking -----------------------------------------------------------------------------------


def test_rank_highest_uncertainty_first() -> None:
    r = ev.rank("out", "mutual_information", np.array([0.1, 0.5, 0.3, 0.5]), top=3)
    assert r.index.tolist() == [1, 3, 2]  # tie 0.5: lower index first
    np.testing.assert_allclose(r.values, [0.5, 0.5, 0.3])
    r = ev.rank("out", "max_prob", np.array([0.9, 0.4, 0.6]), top=5)
    assert r.index.tolist() == [1, 2, 0]  # lowest confidence first; K > N keeps N
    with pytest.raises(UsageError, match="--top must be at least 1"):
        ev.rank("out", "entropy", np.zeros(2), top=0)


@pytest.mark.parametrize("seed", range(6))
def test_rank_matches_a_full_sort(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 5, size=50) / 4  # many ties
    for top in (1, 7, 49, 50, 80):
        want = sorted(range(50), key=lambda i: (-values[i], i))[:top]
        assert ev.rank("o", "entropy", values, top).index.tolist() == want
        want = sorted(range(50), key=lambda i: (values[i], i))[:top]
        assert ev.rank("o", "max_prob", values, top).index.tolist() == want


# ---- properties (hypothesis) ---------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_scores = st.lists(st.integers(0, 6).map(lambda i: i / 6), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(u_in=_scores, u_ood=_scores)
def test_ood_matches_sklearn_property(u_in: list[float], u_ood: list[float]) -> None:
    a, b = np.array(u_in), np.array(u_ood)
    y = np.r_[np.zeros(a.size), np.ones(b.size)]
    u = np.r_[a, b]
    assert ev.ood_auroc(a, b) == pytest.approx(sklearn_metrics.roc_auc_score(y, u))
    assert ev.ood_average_precision(a, b) == pytest.approx(
        sklearn_metrics.average_precision_score(y, u))


@settings(max_examples=150, deadline=None)
@given(data=st.lists(st.tuples(st.integers(0, 4), st.booleans()), min_size=1, max_size=30),
       seed=st.integers(0, 2**16))
def test_aurc_ignores_input_order(data: list[tuple[int, bool]], seed: int) -> None:
    u = np.array([d[0] for d in data], float)
    e = np.array([d[1] for d in data], float)
    perm = np.random.default_rng(seed).permutation(u.size)
    assert ev.aurc(u[perm], e[perm]) == pytest.approx(ev.aurc(u, e))
    assert 0.0 <= ev.aurc(u, e) <= 1.0
