"""Uncertainty-evaluation metrics over N = 1,000,000 inputs: ours vs naive vs the sorting floor.

Run from the repository root: ``python -m bench.eval_speed [N]`` (imports the dropctl beside it).

Workload (seeded): N in-distribution inputs with a continuous score (10% wrong predictions),
N OOD inputs, and N regression values. For each metric family it prints

* **ours**: dropctl.mc.evaluation (best of 3);
* **naive**: the same definitions written the obvious way: a Python loop over the sorted
  inputs for AURC, AUROC (Mann-Whitney with ties) and AUPR, one numpy pass per level for
  interval coverage, a full sort for the ranking (run once);
* **floor**: the sorts no exact method avoids (one argsort for selective prediction, one sort
  per side for OOD, one sort of the residuals for intervals, one partition for the top K).

Target: one score's full metric set (selective + OOD + ranking) plus the regression metrics in
under 2 s; exit 1 when missed. Calibration (``dropctl calibrate`` + ``mc-predict --calibration``)
is timed the same way: fit on N calibration inputs and apply to N test inputs, per conformal
score (temperature scaling + one class score, 10 classes; variance scale + one interval
score), target < 2 s each; naive = scipy's scalar minimiser for T, ``np.quantile`` and a Python
loop over the rows for the sets; floor = one argsort of the N x C test scores (APS/RAPS) or one
partition of the calibration scores (LAC, intervals).
The six-score total of ``mc-predict --labels --ood`` is printed
too (it is six times the per-score work).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable

import numpy as np

from dropctl.mc import evaluation as ev

TARGET_SECONDS = 2.0
TOP = 100


def best(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def once(fn: Callable[[], object]) -> float:
    return best(fn, 1)


# ---- naive versions (same definitions, written the obvious way) -------------------------------


def naive_selective(u: np.ndarray, wrong: np.ndarray) -> float:
    order = np.argsort(u, kind="stable")
    su, se = u[order].tolist(), wrong[order].tolist()
    total, errors, i, n = 0.0, 0.0, 0, len(su)
    while i < n:
        j = i
        while j < n and su[j] == su[i]:
            j += 1
        rate = sum(se[i:j]) / (j - i)
        for k in range(i + 1, j + 1):
            errors += rate
            total += errors / k
        i = j
    return total / n


def naive_ood(u_in: np.ndarray, u_ood: np.ndarray) -> tuple[float, float, float]:
    a, b = np.sort(u_in).tolist(), np.sort(u_ood).tolist()
    # AUROC: walk both sorted lists (Mann-Whitney, ties half).
    wins, i, lo_eq = 0.0, 0, 0
    for x in b:
        while i < len(a) and a[i] < x:
            i += 1
        lo_eq = i
        while lo_eq < len(a) and a[lo_eq] == x:
            lo_eq += 1
        wins += i + 0.5 * (lo_eq - i)
    auroc = wins / (len(a) * len(b))
    # AUPR: thresholds from the top, one loop.
    pooled = sorted([(v, 0) for v in a] + [(v, 1) for v in b], reverse=True)
    tp = fp = 0
    ap, k = 0.0, 0
    while k < len(pooled):
        v = pooled[k][0]
        new_tp = 0
        while k < len(pooled) and pooled[k][0] == v:
            new_tp += pooled[k][1]
            fp += 1 - pooled[k][1]
            k += 1
        tp += new_tp
        ap += new_tp / len(b) * tp / (tp + fp)
    threshold = a[math.ceil(0.95 * len(a)) - 1]
    fpr95 = sum(1 for x in b if x <= threshold) / len(b)
    return auroc, ap, fpr95


def naive_regression(mu: np.ndarray, sd: np.ndarray, y: np.ndarray) -> list[float]:
    out = []
    for level in (*ev.PICP_LEVELS, *ev.INTERVAL_LEVELS):
        z = ev.normal_quantile(0.5 + level / 2)
        out.append(float(np.mean(np.abs(y - mu) <= z * sd)))
    out.append(float(np.mean(0.5 * np.log(2 * np.pi * sd**2) + (y - mu) ** 2 / (2 * sd**2))))
    return out


def naive_rank(u: np.ndarray) -> np.ndarray:
    return np.argsort(-u, kind="stable")[:TOP]


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rng = np.random.default_rng(0)
    u = rng.gamma(2.0, 0.2, size=n)  # an entropy-like uncertainty
    wrong = (rng.random(n) < 0.05 + 0.3 * (u > np.quantile(u, 0.8))).astype(np.float64)
    u_ood = rng.gamma(3.0, 0.25, size=n)
    mu, sd = rng.standard_normal(n), rng.uniform(0.5, 2.0, size=n)
    y = mu + sd * rng.standard_normal(n)

    ours = {
        "selective (AURC, acc@cov)": best(lambda: ev.selective("entropy", u, wrong)),
        "OOD (AUROC, AUPR, FPR95, ROC)": best(lambda: ev.ood_score("entropy", u, u_ood)),
        f"ranking (top {TOP})": best(lambda: ev.rank("out", "entropy", u, TOP)),
        "regression (RMSE, NLL, PICP, curve)": best(lambda: ev.regression(mu, sd, y)),
    }
    floor = {
        "selective (AURC, acc@cov)": best(lambda: np.argsort(u)),
        "OOD (AUROC, AUPR, FPR95, ROC)": best(lambda: (np.sort(u), np.sort(u_ood))),
        f"ranking (top {TOP})": best(lambda: np.partition(u, n - TOP)),
        "regression (RMSE, NLL, PICP, curve)": best(lambda: np.sort(np.abs(y - mu) / sd)),
    }
    naive = {
        "selective (AURC, acc@cov)": once(lambda: naive_selective(u, wrong)),
        "OOD (AUROC, AUPR, FPR95, ROC)": once(lambda: naive_ood(u, u_ood)),
        f"ranking (top {TOP})": once(lambda: naive_rank(u)),
        "regression (RMSE, NLL, PICP, curve)": once(lambda: naive_regression(mu, sd, y)),
    }
    # The fast and naive versions agree (same definitions).
    assert math.isclose(ev.aurc(u, wrong), naive_selective(u, wrong), rel_tol=1e-9)
    s = ev.ood_score("entropy", u, u_ood)
    assert np.allclose((s.auroc, s.aupr, s.fpr95), naive_ood(u, u_ood), rtol=1e-9)

    print(f"uncertainty evaluation over N = {n:,} inputs (+ {n:,} OOD inputs), seconds\n")
    print(f"{'metric':38s} {'ours':>8s} {'naive':>8s} {'floor':>8s} {'ours/floor':>11s} "
          f"{'naive/ours':>11s}")
    for key in ours:
        print(f"{key:38s} {ours[key]:8.3f} {naive[key]:8.3f} {floor[key]:8.3f} "
              f"{ours[key] / floor[key]:10.1f}x {naive[key] / ours[key]:10.1f}x")
    total, total_floor, total_naive = sum(ours.values()), sum(floor.values()), sum(naive.values())
    print(f"{'one score, all metrics':38s} {total:8.3f} {total_naive:8.3f} {total_floor:8.3f} "
          f"{total / total_floor:10.1f}x {total_naive / total:10.1f}x")
    six = 6 * (ours["selective (AURC, acc@cov)"] + ours["OOD (AUROC, AUPR, FPR95, ROC)"])
    print(f"\nsix scores (mc-predict --labels --ood on one classifier output): ~{six:.2f} s")
    ok = total <= TARGET_SECONDS
    print(f"target: one score's metrics + regression <= {TARGET_SECONDS:g} s: "
          f"{'met' if ok else 'MISSED'} ({total:.3f} s)")
    return 0 if ok and calibration(n) else 1


NAIVE_ROWS = 20_000
"""The naive per-row loops run on this many rows; their time is scaled to N (linear in N)."""


def naive_temperature(z: np.ndarray, y: np.ndarray) -> float:
    """What a user writes: scipy's bounded scalar minimiser on the full-data NLL."""
    from scipy.optimize import minimize_scalar
    from scipy.special import logsumexp

    zy = z[np.arange(y.size), y]

    def nll(log_t: float) -> float:
        t = math.exp(log_t)
        return float(np.mean(logsumexp(z / t, axis=1) - zy / t))

    return math.exp(minimize_scalar(nll, bounds=(-9.0, 9.0), method="bounded").x)


def naive_sets(p: np.ndarray, qhat: float, score: str, lam: float = 0.01, k_reg: int = 1
               ) -> np.ndarray:
    """Conformal sets by a Python loop over the rows (sort, accumulate, compare)."""
    out = np.zeros(p.shape, dtype=bool)
    for i, row in enumerate(p):
        if score == "lac":
            out[i] = 1.0 - row <= qhat
            continue
        order = np.argsort(-row, kind="stable")
        mass = 0.0
        for rank, c in enumerate(order, start=1):
            mass += row[c]
            penalty = lam * max(0, rank - k_reg) if score == "raps" else 0.0
            out[i, c] = mass + penalty <= qhat
    return out


def calibration(n: int, classes: int = 10) -> bool:
    """Fit + apply of temperature scaling with each conformal score, and of the intervals."""
    from dropctl.mc import calibration as cal
    from dropctl.mc import conformal as cf

    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2 * n, classes)) * 3.0
    truth = np.exp(logits / 2) / np.exp(logits / 2).sum(axis=1, keepdims=True)
    y = (rng.random((2 * n, 1)) > np.cumsum(truth, axis=1)).sum(axis=1).clip(0, classes - 1)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    p_cal, y_cal, p_test = p[:n], y[:n], p[n:]
    mu, sd = rng.standard_normal(2 * n), rng.uniform(0.5, 2.0, size=2 * n)
    target = mu + 3 * sd * rng.standard_normal(2 * n)

    def classes_fit_apply(score: cf.ClassScore) -> None:
        # As dropctl calibrate and mc-predict --calibration call them (log_probabilities first).
        t = cal.fit_temperature(cal.log_probabilities(p_cal), y_cal, shifted=True)
        q = cf.conformal_quantile(cf.label_scores(p_cal, y_cal, score), 0.1)
        cal.scale_logits(cal.log_probabilities(p_test), t, shifted=True)
        cf.prediction_sets(p_test, q, score)

    def intervals_fit_apply(score: cf.IntervalScore) -> None:
        s = cal.fit_variance_scale(mu[:n], sd[:n], target[:n])
        q = cf.conformal_quantile(cf.interval_scores(mu[:n], sd[:n], target[:n], score), 0.1)
        cf.interval_bounds(mu[n:], sd[n:] * s, q, score)

    m = min(n, NAIVE_ROWS)
    z_cal = cal.log_probabilities(p_cal)

    def naive_classes(score: cf.ClassScore) -> float:
        """scipy for T, np.quantile(method="higher") for qhat, a per-row loop for the sets."""
        start = time.perf_counter()
        t = naive_temperature(z_cal, y_cal)
        scores = cf.label_scores(p_cal, y_cal, score)
        level = math.ceil((n + 1) * 0.9) / n
        q = float(np.quantile(scores, min(level, 1.0), method="higher"))
        z = np.log(np.clip(p_test, 1e-12, 1.0)) / t
        np.exp(z - z.max(axis=1, keepdims=True))
        fixed = time.perf_counter() - start
        loop = once(lambda: naive_sets(p_test[:m], q, score.value))
        return fixed + loop * n / m

    # The sorts no exact method avoids: one argsort of the N x C test scores (APS/RAPS rank
    # every class), one partition of the N calibration scores for the quantile (LAC, intervals).
    argsort_floor = best(lambda: np.argsort(p_test, axis=1))
    partition_floor = best(lambda: np.partition(1.0 - p_cal[:, 0], n // 2))

    print(f"\ncalibration: fit on N = {n:,}, apply to N = {n:,} ({classes} classes), seconds; "
          f"naive per-row loops timed on {m:,} rows and scaled to N")
    print(f"  {'fit + apply':36s} {'ours':>8s} {'naive':>8s} {'floor':>8s} {'ours/floor':>11s} "
          f"{'naive/ours':>11s}")
    ok = True
    for score in cf.ClassScore:
        secs = best(lambda score=score: classes_fit_apply(score), 5)
        naive = naive_classes(score)
        floor = partition_floor if score is cf.ClassScore.LAC else argsort_floor
        ok &= secs <= TARGET_SECONDS
        print(f"  {'temperature + ' + score.value:36s} {secs:8.3f} {naive:8.3f} {floor:8.3f} "
              f"{secs / floor:10.1f}x {naive / secs:10.1f}x")
    for iscore in cf.IntervalScore:
        secs = best(lambda iscore=iscore: intervals_fit_apply(iscore))
        ok &= secs <= TARGET_SECONDS
        print(f"  {'variance scale + ' + iscore.value:36s} {secs:8.3f} {'-':>8s} "
              f"{partition_floor:8.3f} {secs / partition_floor:10.1f}x {'-':>11s}")
    # Same definitions: the fast sets equal the per-row loop's (the MAPIE-checked ones in
    # tests/mc/test_calibration.py), and T equals scipy's minimiser.
    for score in cf.ClassScore:
        q = cf.conformal_quantile(cf.label_scores(p_cal, y_cal, score), 0.1)
        assert np.array_equal(cf.prediction_sets(p_test[:m], q, score),
                              naive_sets(p_test[:m], q, score.value)), score
    t_ours = cal.fit_temperature(z_cal, y_cal)
    assert math.isclose(t_ours, naive_temperature(z_cal, y_cal), rel_tol=1e-4)
    print(f"target: fit + apply of one score <= {TARGET_SECONDS:g} s: "
          f"{'met' if ok else 'MISSED'}")
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
