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
score), target < 2 s each.
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
        t = cal.fit_temperature(cal.log_probabilities(p_cal), y_cal)
        q = cf.conformal_quantile(cf.label_scores(p_cal, y_cal, score), 0.1)
        cal.scale_logits(cal.log_probabilities(p_test), t)
        cf.prediction_sets(p_test, q, score)

    def intervals_fit_apply(score: cf.IntervalScore) -> None:
        s = cal.fit_variance_scale(mu[:n], sd[:n], target[:n])
        q = cf.conformal_quantile(cf.interval_scores(mu[:n], sd[:n], target[:n], score), 0.1)
        cf.interval_bounds(mu[n:], sd[n:] * s, q, score)

    print(f"\ncalibration: fit on N = {n:,}, apply to N = {n:,} ({classes} classes), seconds")
    ok = True
    for score in cf.ClassScore:
        secs = best(lambda score=score: classes_fit_apply(score))
        ok &= secs <= TARGET_SECONDS
        print(f"  temperature + {score.value:27s} {secs:8.3f}")
    for iscore in cf.IntervalScore:
        secs = best(lambda iscore=iscore: intervals_fit_apply(iscore))
        ok &= secs <= TARGET_SECONDS
        print(f"  variance scale + {iscore.value:24s} {secs:8.3f}")
    print(f"target: fit + apply of one score <= {TARGET_SECONDS:g} s: "
          f"{'met' if ok else 'MISSED'}")
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
