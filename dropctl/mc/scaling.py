"""Scaling fits of Monte Carlo outputs on calibration labels (numpy only, deterministic solvers).

* **Temperature scaling** (Guo et al. 2017) of the MC-mean log-probabilities
  ``z = log(max(mean_p, 1e-12))``: calibrated ``softmax(z / T)``. ``T`` minimises the mean NLL
  of the calibration labels. With ``beta = 1/T`` the NLL ``mean(logsumexp(beta z) - beta z_y)`` is
  convex in ``beta`` (a log-sum-exp of a linear function), so its one stationary point is the
  optimum: found by Newton's method on the derivative from ``beta = 1`` (in ``log beta`` when a
  step would leave the bracket ``beta in [1e-4, 1e4]``, bisecting it if that does too) until
  the step is below 1e-4 relative (the error is then ~1e-8); above 131,072 rows a pilot fit
  on every k-th row gives the start (deterministic; no scipy; checked against
  ``scipy.optimize`` in the tests). On separable
  data the NLL keeps falling as ``T -> 0`` until it is flat in float64: ``T`` is then any value
  that flat (below 0.01). ``T`` changes no argmax.
* **Vector scaling** (``--method vector``): ``softmax(w * z + b)`` per class, NLL + ``1e-6 |b|^2``
  (the ridge fixes softmax's shift invariance), by damped Newton with a backtracking line search.
* **Variance scaling** of a regressor's MC std: ``s`` minimising the Gaussian NLL of
  ``N(mu, (s std)^2)`` has the closed form ``s^2 = mean((y - mu)^2 / std^2)``.

The fitted parameters are applied and stored by :mod:`dropctl.mc.calibration`.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["BETA_RANGE", "EPS", "PILOT_ROWS", "VECTOR_RIDGE", "fit_temperature",
           "fit_variance_scale", "fit_vector_scaling", "log_probabilities", "scale_logits",
           "peaks_at_zero", "row_max", "row_sums", "softmax"]

EPS = 1e-12
"""Probabilities are clipped at this before their log is taken."""
BETA_RANGE = (1e-4, 1e4)
"""Bracket of the inverse temperature: T between 1e-4 and 1e4."""
VECTOR_RIDGE = 1e-6
"""Ridge on the vector-scaling bias (fixes softmax's shift invariance)."""


def log_probabilities(p: np.ndarray) -> np.ndarray:
    """``log(max(p, 1e-12))`` in float64, each row shifted so its maximum is 0."""
    z = np.clip(np.asarray(p, np.float64), EPS, 1.0)  # a fresh array: the rest is in place
    np.log(z, out=z)
    z -= row_max(z)[:, None]
    return z


def row_max(a: np.ndarray) -> np.ndarray:
    """Maximum of each row of ``a`` [N, C], exactly ``a.max(axis=1)``: the value at the argmax
    (numpy's argmax over short rows is ~1.5x faster than its max reduction; measured at C=10)."""
    return a[np.arange(a.shape[0]), a.argmax(axis=1)]


def row_sums(a: np.ndarray) -> np.ndarray:
    """Sum of each row of ``a`` [N, C]: einsum, ~2.5x faster than ``a.sum(axis=1)`` on short
    rows (numpy's pairwise reduction pays per row; measured at C=10)."""
    return np.einsum("nc->n", a)


def peaks_at_zero(z: np.ndarray) -> bool:
    """Every row of ``z`` [N, C] has its maximum exactly at 0 (as :func:`log_probabilities`
    leaves it): checked without a per-row reduction (a flat max, then a zero in every row)."""
    if z.size == 0:
        return True
    if not z.max() <= 0:
        return False
    rows = np.flatnonzero(z == 0) // z.shape[1]
    return bool(np.count_nonzero(np.bincount(rows, minlength=z.shape[0])) == z.shape[0])


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``logits`` [N, C] (float64, max-shifted)."""
    e = logits - row_max(logits)[:, None]
    np.exp(e, out=e)
    e /= row_sums(e)[:, None]
    return e


def scale_logits(z: np.ndarray, temperature: float = 1.0, weights: np.ndarray | None = None,
                 bias: np.ndarray | None = None, *, shifted: bool = False) -> np.ndarray:
    """Calibrated probabilities ``softmax(z / T)`` or ``softmax(w * z + b)``.

    ``shifted``: ``z`` comes from :func:`log_probabilities` (every row peaks at exactly 0, so
    ``z / T``'s rows do too and softmax needs no max shift); otherwise that is checked.
    """
    if weights is not None:
        b = np.zeros(z.shape[1]) if bias is None else np.asarray(bias, np.float64)
        return softmax(z * np.asarray(weights, np.float64) + b)
    e = z / temperature
    if not (shifted or peaks_at_zero(z)):
        return softmax(e)
    np.exp(e, out=e)
    e /= row_sums(e)[:, None]
    return e


def _nll_derivatives(beta: float, z: np.ndarray, z2: np.ndarray, zy: np.ndarray,
                     e: np.ndarray) -> tuple[float, float]:
    # Every row of z has its maximum at 0 (log_probabilities), so exp(beta z) <= 1 with a 1 in
    # each row: no max-shift needed, the row sums lie in [1, C]. ``e``: a scratch array.
    np.multiply(z, beta, out=e)
    np.exp(e, out=e)
    total = row_sums(e)
    ez = np.einsum("nc,nc->n", e, z) / total
    ez2 = np.einsum("nc,nc->n", e, z2) / total
    return float(np.mean(ez - zy)), float(np.mean(ez2 - ez * ez))


def _newton_beta(z: np.ndarray, zy: np.ndarray, beta: float) -> float:
    """The NLL-optimal ``beta`` of rows ``z`` (max 0 per row), Newton from ``beta``."""
    z2 = z * z
    scratch = np.empty_like(z)
    lo, hi = BETA_RANGE
    for _ in range(200):
        g, h = _nll_derivatives(beta, z, z2, zy, scratch)
        if g > 0:
            hi = beta
        else:
            lo = beta
        step = beta - g / h if h > 0 else math.nan
        # Newton converges quadratically here (a smooth convex problem): after a step of
        # relative size d the error is O(d^2), so a step below 1e-4 is returned as the optimum
        # (relative error ~1e-8, far below what T's use can see) instead of paying another
        # pass over the data to confirm it: after the pilot, two full-data passes in all.
        if g == 0 or (math.isfinite(step) and abs(step - beta) <= 1e-4 * beta):
            return step if lo <= step <= hi else beta
        if not lo < step < hi and h > 0:  # Newton in log(beta) never leaves beta > 0
            step = beta * math.exp(max(-30.0, min(30.0, -g / (beta * h))))
        if not lo < step < hi:  # still outside: bisect (geometric: beta spans decades)
            step = math.sqrt(lo * hi)
        if hi - lo <= 1e-12 * hi:
            break
        beta = step
    return beta  # the bracket closed on an end: T -> 0 (separable) or T -> inf


PILOT_ROWS = 65536
"""Above this many rows, Newton first runs on every k-th row (a pilot) to start close."""


def fit_temperature(z: np.ndarray, labels: np.ndarray, *, shifted: bool = False) -> float:
    """NLL-optimal temperature of log-probabilities ``z`` [N, C] for integer ``labels``.

    ``shifted``: ``z`` comes from :func:`log_probabilities` (rows peak at exactly 0); otherwise
    that is checked and each row shifted if needed.

    For large N a pilot fit on every ``N // 65536``-th row gives the start of the full-data
    Newton iterations (2 instead of ~5; the optimum is the full data's).
    """
    z = np.asarray(z, np.float64)
    if not (shifted or peaks_at_zero(z)):  # log_probabilities shifted each row's max to 0
        z = z - row_max(z)[:, None]
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    zy = z[np.arange(y.size), y]
    beta = 1.0
    if y.size > 2 * PILOT_ROWS:
        k = y.size // PILOT_ROWS
        beta = _newton_beta(np.ascontiguousarray(z[::k]), zy[::k], beta)
        beta = min(max(beta, BETA_RANGE[0] * 1.0001), BETA_RANGE[1] / 1.0001)
    return 1.0 / _newton_beta(z, zy, beta)


def _vector_objective(params: np.ndarray, z: np.ndarray, onehot: np.ndarray) -> float:
    c = z.shape[1]
    logits = z * params[:c] + params[c:]
    m = logits.max(axis=1, keepdims=True)
    lse = (m[:, 0] + np.log(np.exp(logits - m).sum(axis=1)))
    return float(np.mean(lse - np.einsum("nc,nc->n", logits, onehot))
                 + VECTOR_RIDGE * np.dot(params[c:], params[c:]))


def fit_vector_scaling(z: np.ndarray, labels: np.ndarray, max_iter: int = 100
                       ) -> tuple[np.ndarray, np.ndarray]:
    """NLL-optimal per-class ``(w, b)`` for ``softmax(w * z + b)`` (damped Newton)."""
    z = np.asarray(z, np.float64)
    n, c = z.shape
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    onehot = np.zeros((n, c))
    onehot[np.arange(n), y] = 1.0
    params = np.concatenate((np.full(c, 1.0 / fit_temperature(z, y)), np.zeros(c)))
    f = _vector_objective(params, z, onehot)
    ridge = np.concatenate((np.zeros(c), np.full(c, 2 * VECTOR_RIDGE)))
    for _ in range(max_iter):
        q = softmax(z * params[:c] + params[c:])
        r = q - onehot
        grad = np.concatenate(((r * z).mean(axis=0), r.mean(axis=0))) + ridge * params
        qz = q * z
        # Hessian of mean(lse) for features (z_c, 1): E[diag(q f f)] - E[(q f)(q f)^T].
        h_ww = np.diag((qz * z).mean(axis=0)) - qz.T @ qz / n
        h_wb = np.diag(qz.mean(axis=0)) - qz.T @ q / n
        h_bb = np.diag(q.mean(axis=0)) - q.T @ q / n
        hess = np.block([[h_ww, h_wb], [h_wb.T, h_bb]]) + np.diag(ridge) + 1e-12 * np.eye(2 * c)
        if float(np.max(np.abs(grad))) < 1e-10:
            break
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-10:
            candidate = params - t * step
            f_new = _vector_objective(candidate, z, onehot)
            if f_new <= f - 1e-4 * t * float(np.dot(grad, step)):
                break
            t *= 0.5
        else:
            break
        params, f = candidate, f_new
    return params[:c].copy(), params[c:].copy()


def fit_variance_scale(mean: np.ndarray, std: np.ndarray, y: np.ndarray) -> float:
    """``s`` minimising the Gaussian NLL of ``N(mu, (s std)^2)``: ``sqrt(mean(r^2 / std^2))``."""
    r = (np.asarray(y, np.float64) - np.asarray(mean, np.float64)) / np.asarray(std, np.float64)
    return float(np.sqrt(np.mean(r * r)))
