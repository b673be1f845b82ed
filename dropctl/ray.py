"""Monte Carlo dropout on Ray Data (``pip install 'dropctl[ray]'``); Ray is imported only here.

Two ways in:

* :class:`MCDropout`, a class UDF for your own pipeline::

      ds.map_batches(MCDropout, fn_constructor_kwargs={"model": "/models/cnn.keras",
                     "samples": 20}, compute=ActorPoolStrategy(size=4), num_cpus=1,
                     batch_size=4096)

  The model is loaded once per actor. Each batch needs an integer ``row`` column (any stable,
  unique index: the result of a row depends only on the model, seed, T, that index and the
  row's data, so retries, re-partitioning and worker count never change a byte). It returns
  ``row`` plus ``mean``/``std``/``stderr``/``deterministic`` and, for classifiers,
  ``entropy``/``mutual_information`` (BALD)/``variation_ratio`` columns.
* :func:`ray_runner`, behind ``mc-predict --output-dir OUT --ray``: the shard work units of
  :mod:`dropctl.mc.shards` scored by an actor pool; this process writes the files, so they are
  the same bytes as without ``--ray``. A dead actor is restarted and its unit retried by Ray.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from dropctl.errors import DropctlError, InputDataError, UsageError, one_line

__all__ = ["RAY_CLIENT_REFUSED", "MCDropout", "ray_runner"]

def _ray() -> Any:
    from dropctl.runtime.imports import missing

    try:
        import ray
    except ImportError:
        raise missing("ray", "--ray") from None
    return ray


def _quiet_tf(threads: int | None) -> None:
    """Quiet TensorFlow start-up; ``threads`` intra-op threads (the actor's CPUs)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from dropctl.runtime.imports import tf_module

    tf = tf_module()
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow already ran something in this process
            pass


def _actor_cpus() -> int | None:
    try:
        import ray

        if not ray.is_initialized():  # get_runtime_context() would start a local Ray (auto-init)
            return None
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    except Exception:  # noqa: BLE001 - not inside a Ray worker; Ray's errors here are not a closed set
        return None
    return max(1, int(cpus)) if cpus else None


class MCDropout:
    """Class UDF for ``ray.data.Dataset.map_batches``: MC dropout columns for each row.

    ``model``: path of a .keras/.h5 file readable by every worker. ``samples`` (T), ``seed``,
    ``sites`` and ``batch_size`` as for ``mc-predict``. ``input_columns``: the column of each
    model input (default: columns named after the inputs, or the only non-index column).
    ``index_column``: the row index column (kept in the output). ``threads``: TensorFlow
    threads (default: the CPUs Ray gave the actor). ``calibration``: a ``dropctl calibrate``
    file fitted on ``model``: adds its ``calibrated`` and ``set`` or ``lower``/``upper`` columns.
    """

    def __init__(self, model: str, *, samples: int = 50, seed: int = 0, sites: str | None = None,
                 batch_size: int | None = None, input_columns: list[str] | None = None,
                 index_column: str = "row", threads: int | None = None,
                 calibration: str | None = None) -> None:
        from dropctl.mc.scoring import Scorer

        _quiet_tf(threads or _actor_cpus())
        self.scorer = Scorer(model, samples=samples, seed=seed, sites=sites,
                             batch_size=batch_size)
        self.input_columns = input_columns
        self.index_column = index_column
        self.calibration = None
        if calibration is not None:
            from dropctl.mc.calibration import check_model, read_calibration

            self.calibration = read_calibration(calibration)
            check_model(self.calibration, model, calibration)

    def _inputs(self, batch: dict[str, Any]) -> list[np.ndarray]:
        specs = self.scorer.specs
        names = [c for c in batch if c != self.index_column]
        if self.input_columns is not None:
            cols = list(self.input_columns)
        elif all(s.name in batch for s in specs):
            cols = [s.name for s in specs]
        elif len(specs) == 1 and len(names) == 1:
            cols = names
        else:
            raise InputDataError(f"batch columns {names}; pass input_columns= for the model "
                                 f"inputs {[s.name for s in specs]}")
        out = []
        for col, spec in zip(cols, specs, strict=True):
            if col not in batch:
                raise InputDataError(f"batch has no column '{col}' (columns: {names})")
            a = batch[col]
            if a.dtype == object:  # list column: one array per row
                a = np.stack([np.asarray(v) for v in a])
            inner = [d for d in spec.shape[1:] if d is not None]
            if len(inner) == len(spec.shape) - 1 and a.ndim != len(spec.shape) and (
                    a[0].size == int(np.prod(inner, dtype=np.int64))):
                a = a.reshape((a.shape[0], *inner))
            out.append(a)
        return out

    def __call__(self, batch: dict[str, Any]) -> dict[str, np.ndarray]:
        """Score a numpy batch; rows with consecutive indices share compiled calls."""
        from dropctl.mc.scoring import result_arrays

        if self.index_column not in batch:
            raise InputDataError(f"batch has no '{self.index_column}' column: add a stable "
                                 "integer row index (results are addressed by it)")
        index = np.asarray(batch[self.index_column]).astype(np.int64)
        arrays = self._inputs(batch)
        breaks = np.flatnonzero(np.diff(index) != 1) + 1
        pieces = []
        for lo, hi in zip(np.r_[0, breaks], np.r_[breaks, len(index)], strict=True):
            rows = [a[lo:hi] for a in arrays]
            pieces.append(result_arrays(self.scorer.score(rows, int(index[lo]))))
        out = {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]} if pieces else {}
        if self.calibration is not None and out:
            from dropctl.mc.calibration import calibrated_columns

            out.update(calibrated_columns(self.calibration, out))
        return {self.index_column: index, **out}


class _UnitScorer:
    """Actor behind ``--ray``: scores work units of the shard list it was given."""

    def __init__(self, model: str, samples: int, seed: int, sites: str | None,
                 batch_size: int, shards: list[tuple[str, int, int]]) -> None:
        from dropctl.mc.scoring import Scorer
        from dropctl.mc.shards_io import Shard

        _quiet_tf(_actor_cpus())
        self.scorer = Scorer(model, samples=samples, seed=seed, sites=sites,
                             batch_size=batch_size)
        self.shards = [Shard(Path(p), n, r0) for p, n, r0 in shards]

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from dropctl.mc.shards import score_unit
        from dropctl.mc.shards_io import Unit

        payloads = []
        for i, lo, hi in zip(batch["shard"], batch["lo"], batch["hi"], strict=True):
            unit = Unit(int(i), int(lo), int(hi))
            buf = io.BytesIO()
            np.savez(buf, allow_pickle=False, **score_unit(self.scorer, self.shards[unit.shard],
                                                           unit))
            payloads.append(buf.getvalue())
        return {"shard": batch["shard"], "lo": batch["lo"], "hi": batch["hi"],
                "payload": np.array(payloads, dtype=object)}


def _dropctl_cause(exc: BaseException) -> DropctlError | None:
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, DropctlError):
            return e
        stack += [getattr(e, "cause", None), e.__cause__, e.__context__]
    return None


RAY_CLIENT_REFUSED = (
    "--address {address}: Ray Data does not work through Ray Client (ray:// addresses; "
    "ray-project/ray #48682). Run dropctl inside the cluster instead: "
    "ray job submit --address http://HEAD:8265 -- dropctl mc-predict ... --ray --address auto, "
    "or give the in-cluster GCS address (HEAD:6379) from a pod or node of the cluster")
"""The one line a ``ray://`` address gets (``{address}`` filled in)."""


def _connect_error(address: str | None, exc: BaseException) -> UsageError:
    where = address or "a local cluster"
    if type(exc).__name__ == "AuthenticationError":  # ray.exceptions; its text is a paragraph
        return UsageError(
            f"cannot connect to Ray at {where}: the cluster uses token authentication and "
            "rejected this process's token: set RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) to the "
            "cluster's token (`ray get-auth-token` on the head node)")
    text = one_line(exc, typed=False)
    if address and "failed to connect" in text.lower() and (
            os.environ.get("RAY_AUTH_MODE", "").lower() != "token"):
        # Ray enables token auth for an explicit address only with RAY_AUTH_MODE=token; without
        # it the driver sends no token and a token cluster looks unreachable (measured, Ray 2.60).
        text += (" (a cluster with token authentication also needs RAY_AUTH_MODE=token and "
                 "RAY_AUTH_TOKEN here)")
    elif address and "failed to connect" in text.lower():
        text += " (is RAY_AUTH_TOKEN the cluster's token? `ray get-auth-token` on the head node)"
    return UsageError(f"cannot connect to Ray at {where}: {text}")


_RAY_LOG_LINE = re.compile(rb"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [DIWEF] \d+ \d+\] ")
"""A line of Ray's C++ logging (``[2026-12-01 21:52:45,111 E 20884 20884] core_worker.cc:...``)."""


@contextlib.contextmanager
def _without_ray_log_lines() -> Iterator[None]:
    """While Ray runs in this process, drop the C++ log lines its driver prints on stderr.

    Ray's C++ core writes them straight to file descriptor 2 (Python's ``logging`` and
    ``warnings`` cannot reach them), e.g. core_worker.cc's note that an actor's constructor
    arguments sit in the object store, which Ray Data's actor pools always do. The driver's log
    file in the Ray session directory keeps them. Everything else written to stderr (dropctl's
    hints, the progress bar, a Python traceback) passes through unchanged and in order.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (embedded interpreters, some test runners)
        yield
        return
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward() -> None:
        pending = b""
        while True:
            try:
                piece = os.read(read_end, 65536)
            except OSError:
                piece = b""
            if not piece:
                break
            pending += piece
            out = []
            while pending:
                nl = pending.find(b"\n")
                if pending[:1] == b"[" and (nl < 0 or _RAY_LOG_LINE.match(pending)):
                    if nl < 0 and len(pending) < 4096:
                        break  # maybe a Ray line still arriving: wait for its end
                    if nl >= 0 and _RAY_LOG_LINE.match(pending):
                        pending = pending[nl + 1:]
                        continue
                cut = len(pending) if nl < 0 else nl + 1
                out.append(pending[:cut])
                pending = pending[cut:]
            if out:
                os.write(saved, b"".join(out))
        if pending:
            os.write(saved, pending)

    thread = threading.Thread(target=forward, name="dropctl-ray-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the thread drains and stops
        thread.join(timeout=2)
        os.close(saved)
        os.close(read_end)


def ray_runner(address: str | None = None, workers: int = 2, cpus_per_worker: int = 1,
               gpus_per_worker: float = 0.0) -> Any:
    """A ``runner`` for :func:`dropctl.mc.shards.run_shards` that scores units on Ray actors.

    ``address``: an existing cluster reached from inside it (``auto``, ``HOST:6379``; token
    auth clusters need ``RAY_AUTH_TOKEN``); ``ray://`` (Ray Client) is refused, Ray Data does
    not run through it. None means ``RAY_ADDRESS`` when set, else a new local cluster with
    ``workers * cpus_per_worker`` CPUs, stopped afterwards. ``gpus_per_worker`` (fractions
    allowed) is each actor's ``num_gpus``.
    """
    _ray()  # a missing Ray stops the command before anything runs
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    if cpus_per_worker < 1:
        raise UsageError("--cpus-per-worker must be at least 1")
    if not gpus_per_worker >= 0:
        raise UsageError(f"--gpus-per-worker must be 0 or more, got {gpus_per_worker:g}")
    # No --address: RAY_ADDRESS (set inside `ray job submit` jobs and KubeRay pods), else a
    # new local cluster. Never ray.init()'s own default, which silently joins whatever cluster
    # `ray start` last left on this host (/tmp/ray/ray_current_cluster, Ray 2.60).
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is not None and address.strip().lower().startswith("ray://"):
        raise UsageError(RAY_CLIENT_REFUSED.format(address=address))

    def run(scorer: Any, shards: list[Any], units: list[Any]) -> Iterator[tuple[Any, Any]]:
        if not units:
            return
        with _without_ray_log_lines():
            yield from scored(scorer, shards, units)

    def scored(scorer: Any, shards: list[Any], units: list[Any]) -> Iterator[tuple[Any, Any]]:
        import ray
        import ray.data

        for name in ("ray", "ray.data"):  # after ray.data's import, which sets its levels
            logging.getLogger(name).setLevel(logging.ERROR)
        started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"log_to_driver": False, "include_dashboard": False,
                                      "logging_level": logging.ERROR}
            if address:
                kwargs["address"] = address
            else:
                kwargs["address"] = "local"
                kwargs["num_cpus"] = workers * cpus_per_worker
            try:
                with warnings.catch_warnings():  # a failure below says it in one line
                    warnings.simplefilter("ignore")
                    ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as exc:
                raise _connect_error(address, exc) from None
            started = True
        try:
            if gpus_per_worker:
                have = float(ray.cluster_resources().get("GPU", 0))
                if have < gpus_per_worker:  # Ray Data would wait for them forever
                    raise UsageError(f"--gpus-per-worker {gpus_per_worker:g}: the Ray cluster has "
                                     f"{have:g} GPU(s)")
            ctx = ray.data.DataContext.get_current()
            ctx.execution_options.preserve_order = True
            ctx.enable_progress_bars = False
            ctx.print_on_execution_start = False
            cfg = scorer.config
            items = [{"shard": u.shard, "lo": u.lo, "hi": u.hi} for u in units]
            ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
                _UnitScorer, batch_size=1, batch_format="numpy",
                # No more actors than units: an idle actor would only load the model.
                compute=ray.data.ActorPoolStrategy(size=min(workers, len(units))),
                num_cpus=cpus_per_worker, num_gpus=gpus_per_worker,
                fn_constructor_kwargs={
                    "model": str(Path(scorer.model_path).resolve()), "samples": cfg.samples,
                    "seed": cfg.seed, "sites": cfg.sites, "batch_size": cfg.rows_per_pass,
                    "shards": [(str(s.path.resolve()), s.rows, s.row0) for s in shards]})
            by_key = {(u.shard, u.lo): u for u in units}
            try:
                with warnings.catch_warnings():
                    # Ray Data's advice on pool sizing and its deprecations are not the user's.
                    warnings.filterwarnings("ignore", module=r"ray(\.|$)")
                    for row in ds.iter_rows():
                        with np.load(io.BytesIO(row["payload"]), allow_pickle=False) as z:
                            arrays = {k: z[k] for k in z.files}
                        yield by_key[(int(row["shard"]), int(row["lo"]))], arrays
            except Exception as exc:  # Ray wraps a worker's exception in its own types
                cause = _dropctl_cause(exc)
                if cause is not None:
                    raise cause from None
                raise
        finally:
            if started:
                ray.shutdown()

    return run
