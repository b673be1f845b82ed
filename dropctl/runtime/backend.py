"""The Monte Carlo engine's per-backend shim: compiling a forward pass, seeds and packed masks.

Keras 3 runs a model on TensorFlow, JAX or PyTorch (``KERAS_BACKEND``). The engine
(:mod:`dropctl.mc.engine`) is written against ``keras.ops`` and this module; the few things
``keras.ops``/``keras.random`` do not offer live here, one small class per backend:

* **compiling** a forward pass: ``tf.function`` with a batch-free input signature (one trace for
  every batch size); ``jax.jit`` of a pure function whose model variables are passed in through
  ``keras.StatelessScope`` (the weights are arguments, not constants baked into the program, and
  the Keras seed-generator states are read fresh on each call: unthreaded jit state would repeat
  the same masks, keras #18426); PyTorch runs eagerly under ``torch.no_grad()`` (what Keras'
  own ``predict()`` does on torch).
* **seeds**: a 2-word host seed becomes the backend's own stateless seed (TF ``[2] int64``
  Philox seed, a raw JAX threefry key, a seeded ``torch.Generator`` per site); ``fold_in``
  derives one independent stream per stochastic site.
* **packed masks**: one 32-bit random word gives 4 masks at 8-bit or 2 at 16-bit granularity
  (see :mod:`dropctl.mc.engine`), addressed by *global row*: row ``r`` of a call whose first row
  has address ``row0`` draws words that depend only on (seed, site, ``row0 + r``), never on the
  rows it shares the call with. TensorFlow: Philox counters ``(row0 + r) * stride ...`` under a
  key from the seed (one op for the whole call); JAX: one threefry key per row
  (``fold_in(key, row0 + r)``, vectorised); PyTorch (eager): NumPy's counter-based Philox4x64
  on the host with the same counter layout as TF. So a row's mask is the same whatever shard,
  chunk or Ray worker computes it (:mod:`dropctl.mc.scoring`).

Same seed, same machine, same backend: the same bytes.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dropctl.errors import UnsupportedModelError
from dropctl.runtime.imports import missing, quiet_import_keras

__all__ = ["SUPPORTED", "Backend", "current", "to_numpy"]

SUPPORTED = ("tensorflow", "jax", "torch")
"""Keras backends the Monte Carlo engine runs on."""


def to_numpy(x: Any) -> np.ndarray:
    """A backend tensor (or array) as a NumPy array; torch tensors that require grad included."""
    if isinstance(x, np.ndarray):
        return x
    keras = quiet_import_keras()
    return np.asarray(keras.ops.convert_to_numpy(x))


def _import(name: str, what: str) -> Any:
    if sys.modules.get(name) is not None:
        return sys.modules[name]
    try:
        return __import__(name)
    except ModuleNotFoundError as exc:
        raise missing(exc.name or name, what) from None


def _full_shape(ops: Any, x: Any, noise_shape: Sequence[Any] | None) -> list[Any]:
    """The mask shape: ``noise_shape`` with its None entries taken from ``x``."""
    dims = list(ops.shape(x))
    if noise_shape is None:
        return dims
    return [dims[i] if d is None else d for i, d in enumerate(noise_shape)]


class Backend:
    """What the engine needs from one Keras backend (see the module docstring)."""

    name = ""

    def __init__(self, keras: Any) -> None:
        self.keras = keras

    def compile(self, fn: Callable[..., Any], model: Any, signature: list[Any],
                static_first: bool) -> Callable[..., list[np.ndarray]]:
        """``fn`` compiled; the result takes NumPy arrays and returns a list of NumPy arrays.

        ``signature`` is ``[(shape, dtype), ...]`` of the arguments after the leading ones:
        with ``static_first`` the compiled function is called ``f(reps, seed, row0, *xs)``
        (``reps`` a Python int, ``seed`` a ``[2]`` array of uint32 values, ``row0`` the global
        address of the first replicated row, a non-negative int), else ``f(*xs)``.
        """
        raise NotImplementedError

    def seed(self, state: np.ndarray) -> Any:
        """The backend's seed object for a ``[2]`` uint32 host seed (what compiled chunks get)."""
        return np.asarray(state, np.uint32)

    def fold_in(self, seed: Any, index: int) -> Any:
        """An independent seed for stream ``index`` derived from ``seed``."""
        raise NotImplementedError

    def seed_unseeded(self, state: np.ndarray | None) -> None:
        """Seed, for the next compiled calls, the randomness Keras draws *without* a seed
        generator state (None: stop). Only torch has such a path (see :class:`_Torch`)."""

    def keep_mask(self, x: Any, noise_shape: Sequence[Any] | None, seed: Any, bits: int,
                  threshold: int, row0: Any = 0) -> Any:
        """Boolean keep mask (broadcastable to ``x``): a unit is kept when its ``bits``-bit
        random lane is >= ``threshold``; mask row ``r`` depends only on (seed, ``row0 + r``)."""
        raise NotImplementedError

    def dropout(self, x: Any, noise_shape: Sequence[Any] | None, seed: Any, bits: int,
                threshold: int, row0: Any = 0) -> Any:
        """Inverted dropout with packed masks: kept units scaled by ``1/(1 - threshold/2**bits)``."""
        ops = self.keras.ops
        keep = self.keep_mask(x, noise_shape, seed, bits, threshold, row0)
        scale = 1.0 / (1.0 - threshold / 2**bits)
        return ops.where(keep, x * ops.cast(scale, x.dtype), ops.zeros((), x.dtype))


class _OwnRetraces(logging.Filter):
    """Drops TensorFlow's "N out of the last N calls to <function Engine...> triggered
    tf.function retracing" warning about dropctl's own functions: each model gets its own
    traced forward pass on purpose (one trace serves every batch size), so a notebook that
    runs ``dropctl.mc_predict`` on five models read the warning on the fifth (measured, TF
    2.21). Any other function's retracing warning is left as it is."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not ("triggered tf.function retracing" in text and "<function Engine." in text)


_RETRACES = _OwnRetraces()


class _TensorFlow(Backend):
    name = "tensorflow"

    def __init__(self, keras: Any) -> None:
        super().__init__(keras)
        from dropctl.runtime.imports import tf_module

        self.tf = tf_module("Monte Carlo prediction")
        tf_logger = logging.getLogger("tensorflow")
        if _RETRACES not in tf_logger.filters:
            tf_logger.addFilter(_RETRACES)

    def compile(self, fn: Callable[..., Any], model: Any, signature: list[Any],  # noqa: ARG002 - Backend.compile's signature
                static_first: bool) -> Callable[..., list[np.ndarray]]:
        tf = self.tf
        from dropctl.runtime import compat

        state = {"dynamic": compat.symbolic_batch_ok()}

        def trace() -> Any:
            if state["dynamic"]:
                sig = [tf.TensorSpec([None, *shape[1:]], dtype) for shape, dtype in signature]
                if static_first:  # reps is a tensor here: one trace serves every chunk size
                    sig = [tf.TensorSpec([], tf.int32), tf.TensorSpec([2], tf.int64),
                           tf.TensorSpec([], tf.int64), *sig]
                return tf.function(fn, input_signature=sig, autograph=False)
            # old Keras, or a model that needs static shapes: one trace per distinct batch
            # size and reps (a Python int: the replicated batch stays static too), i.e. full
            # blocks + the last one
            return tf.function(fn, autograph=False)

        traced = [trace()]

        def call(*args: Any) -> Any:
            try:
                return traced[0](*args)
            except (TypeError, tf.errors.OperatorNotAllowedInGraphError):
                if not state["dynamic"]:
                    raise
                # Code that branches in Python on a tensor's shape or value (keras_hub 0.32:
                # Qwen3_5GatedDeltaNet's ``if`` on a tensor, RWKV7TimeMix's ``range`` over the
                # sequence length; measured) cannot trace on unknown dimensions; Keras' own
                # predict() traces concrete shapes first, and so does the retry.
                state["dynamic"] = False
                traced[0] = trace()
                return traced[0](int(args[0]), *args[1:]) if static_first else traced[0](*args)

        if static_first:
            def run(reps: int, seed: np.ndarray, row0: int, *xs: np.ndarray) -> list[np.ndarray]:
                out = call(np.int32(reps) if state["dynamic"] else int(reps),
                           np.asarray(seed, np.int64), np.int64(row0), *xs)
                return [np.asarray(o) for o in out]
        else:
            def run(*xs: np.ndarray) -> list[np.ndarray]:  # type: ignore[misc]
                return [np.asarray(o) for o in call(*xs)]
        return run

    def seed(self, state: np.ndarray) -> Any:
        return self.tf.constant(np.asarray(state, np.int64))

    def fold_in(self, seed: Any, index: int) -> Any:
        return self.tf.random.experimental.stateless_fold_in(seed, index)

    def _mask_words(self, rows: Any, per_row: Any, lanes: int, seed: Any, row0: Any) -> Any:
        """[rows, ceil(per_row/lanes)] uint32 words; row ``r`` uses Philox counters
        ``(row0 + r) * stride ...``, so a row's mask depends on its global address only.

        Philox is counter based: TF's stateless op fills element ``e`` from block
        ``counter + e // 4``. Each row starts on a block boundary (``stride`` = blocks per row,
        padded up), the key is folded with the stride so rows of differently shaped calls never
        share blocks, and one op still generates the whole call's masks (no per-row loop).
        """
        tf = self.tf
        if isinstance(per_row, int):
            words = -(-per_row // lanes)
            stride = -(-words // 4)
        else:
            words = (per_row + lanes - 1) // lanes
            stride = (words + 3) // 4
        key, _ = tf.raw_ops.StatelessRandomGetKeyCounter(
            seed=tf.random.experimental.stateless_fold_in(seed, stride))
        start = tf.bitcast(tf.cast(row0, tf.int64) * tf.cast(stride, tf.int64), tf.uint64)
        counter = tf.stack([start, tf.constant(0, tf.uint64)])
        out = tf.raw_ops.StatelessRandomUniformFullIntV2(
            shape=tf.stack([tf.cast(rows, tf.int32), tf.cast(stride * 4, tf.int32)]), key=key,
            counter=counter, alg=1, dtype=tf.uint32)  # alg 1: Philox (what CPU and GPU use)
        if isinstance(words, int) and words == stride * 4:
            return out
        return out[:, :words]

    def keep_mask(self, x: Any, noise_shape: Sequence[Any] | None, seed: Any, bits: int,
                  threshold: int, row0: Any = 0) -> Any:
        tf = self.tf
        dyn = tf.shape(x)
        ns = list(noise_shape) if noise_shape is not None else [None] * len(x.shape)
        static = [x.shape[i] if d is None else d for i, d in enumerate(ns)]
        full = [dyn[i] if not isinstance(d, int) else d for i, d in enumerate(static)]
        lanes = 32 // bits
        udtype = tf.uint8 if bits == 8 else tf.uint16
        inner = static[1:]
        if all(isinstance(d, int) for d in inner):
            per_row: Any = int(np.prod(inner, dtype=np.int64))
        else:
            per_row = tf.reduce_prod(tf.stack([tf.cast(d, tf.int32) for d in full[1:]]))
        words = self._mask_words(full[0], per_row, lanes, seed, row0)
        u = tf.reshape(tf.bitcast(words, udtype), [full[0], -1])
        if not (isinstance(per_row, int) and per_row % lanes == 0):
            u = u[:, :per_row]
        return tf.reshape(u, full) >= tf.constant(threshold, udtype)

class _Jax(Backend):
    name = "jax"

    def __init__(self, keras: Any) -> None:
        super().__init__(keras)
        self.jax = _import("jax", "Monte Carlo prediction on the JAX backend")
        import jax.numpy as jnp

        self.jnp = jnp

    def compile(self, fn: Callable[..., Any], model: Any, signature: list[Any],  # noqa: ARG002 - Backend.compile's signature
                static_first: bool) -> Callable[..., list[np.ndarray]]:
        jax, keras = self.jax, self.keras
        variables = list(model.variables)

        def pure(values: list[Any], *args: Any) -> Any:
            with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
                return fn(*args)

        if static_first:
            jitted = jax.jit(lambda values, reps, seed, row0, *xs:
                             pure(values, reps, seed, row0, *xs), static_argnums=1)

            def run(reps: int, seed: np.ndarray, row0: int, *xs: np.ndarray) -> list[np.ndarray]:
                values = [v.value for v in variables]
                # Row addresses wrap at 2**32 (JAX runs in 32-bit integers by default).
                out = jitted(values, int(reps), np.asarray(seed, np.uint32),
                             np.uint32(int(row0) % 2**32), *xs)
                return [np.asarray(o) for o in out]
        else:
            jitted = jax.jit(pure)

            def run(*xs: np.ndarray) -> list[np.ndarray]:  # type: ignore[misc]
                return [np.asarray(o) for o in jitted([v.value for v in variables], *xs)]
        return run

    def seed(self, state: np.ndarray) -> Any:
        return self.jnp.asarray(np.asarray(state, np.uint32))

    def fold_in(self, seed: Any, index: int) -> Any:
        return self.jax.random.fold_in(seed, index)

    def keep_mask(self, x: Any, noise_shape: Sequence[Any] | None, seed: Any, bits: int,
                  threshold: int, row0: Any = 0) -> Any:
        jax, jnp = self.jax, self.jnp
        full = [int(d) for d in _full_shape(self.keras.ops, x, noise_shape)]
        per_row = int(np.prod(full[1:], dtype=np.int64))
        lanes = 32 // bits
        count = (per_row + lanes - 1) // lanes
        rows = jnp.asarray(row0, jnp.uint32) + jnp.arange(full[0], dtype=jnp.uint32)
        keys = jax.vmap(lambda r: jax.random.fold_in(seed, r))(rows)
        words = jax.vmap(lambda k: jax.random.bits(k, (count,), jnp.uint32))(keys)
        udtype = jnp.uint8 if bits == 8 else jnp.uint16
        u = jax.lax.bitcast_convert_type(words, udtype).reshape(full[0], -1)[:, :per_row]
        return u.reshape(full) >= jnp.asarray(threshold, udtype)


class _Torch(Backend):
    """Eager torch. Keras' torch ``dropout()`` with an unseeded SeedGenerator (every Dropout,
    RNN and attention layer built without ``seed=``) takes a fast path through
    ``torch.nn.functional.dropout``, i.e. torch's *global* generator, not the generator state
    dropctl sets (keras/src/backend/torch/random.py). So each call runs under
    ``torch.random.fork_rng`` with the global generator seeded from the chunk seed
    (:meth:`seed_unseeded`): reproducible, partition independent (tests/mc/test_shards.py under
    torch in scripts/matrix.sh), and the caller's own torch RNG state is left as it was."""

    name = "torch"

    def __init__(self, keras: Any) -> None:
        super().__init__(keras)
        self.torch = _import("torch", "Monte Carlo prediction on the PyTorch backend")
        self._unseeded: int | None = None

    def seed_unseeded(self, state: np.ndarray | None) -> None:
        self._unseeded = (None if state is None else
                          int.from_bytes(np.asarray(state, np.uint32).tobytes(), "little")
                          & (2**63 - 1))

    def compile(self, fn: Callable[..., Any], model: Any, signature: list[Any],  # noqa: ARG002 - Backend.compile's signature
                static_first: bool) -> Callable[..., list[np.ndarray]]:  # noqa: ARG002 - Backend.compile's signature
        torch = self.torch

        def run(*args: Any) -> list[np.ndarray]:
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                if self._unseeded is not None:
                    torch.manual_seed(self._unseeded)
                out = fn(*args)
            return [to_numpy(o) for o in out]
        return run

    def fold_in(self, seed: Any, index: int) -> Any:
        words = np.random.SeedSequence([int(w) for w in np.asarray(seed).ravel()] + [index])
        return words.generate_state(2, np.uint32)

    def keep_mask(self, x: Any, noise_shape: Sequence[Any] | None, seed: Any, bits: int,
                  threshold: int, row0: Any = 0) -> Any:
        """Packed masks from NumPy's counter-based Philox4x64 on the host (torch runs eagerly,
        so host generation costs one copy): row ``r`` starts at counter ``(row0 + r) * stride``
        (``stride`` = counter blocks per row, padded up), so the whole call is one contiguous
        draw and a row's words depend only on its global address (TF's scheme, same idea)."""
        torch = self.torch
        full = [int(d) for d in _full_shape(self.keras.ops, x, noise_shape)]
        per_row = int(np.prod(full[1:], dtype=np.int64))
        lanes = 64 // bits  # lanes per uint64
        words = -(-per_row // lanes)
        stride = -(-words // 4)  # Philox4x64: 4 uint64 per counter value
        k0, k1 = (int(w) & 0xFFFFFFFF for w in np.asarray(seed).ravel()[:2])
        gen = np.random.Philox(key=np.array([k0 | k1 << 32, stride], np.uint64),
                               counter=np.array([(int(row0) * stride) % 2**64, 0, 0, 0],
                                                np.uint64))
        raw: np.ndarray = np.asarray(gen.random_raw(full[0] * stride * 4), np.uint64)
        u = raw.reshape(full[0], -1).view(np.uint8 if bits == 8 else np.uint16)[:, :per_row]
        keep = torch.from_numpy(np.greater_equal(u, threshold)).reshape(full)
        return keep if x.device.type == "cpu" else keep.to(x.device)


_BACKENDS: dict[str, type[Backend]] = {"tensorflow": _TensorFlow, "jax": _Jax, "torch": _Torch}
_CURRENT: dict[str, Backend] = {}


def current(what: str = "Monte Carlo prediction") -> Backend:
    """The shim for the backend Keras runs on (``KERAS_BACKEND``)."""
    keras = quiet_import_keras(what)
    name = keras.backend.backend()
    if name not in _CURRENT:
        cls = _BACKENDS.get(name)
        if cls is None:
            raise UnsupportedModelError(
                f"{what} runs on the Keras backends {', '.join(SUPPORTED)}, not '{name}' "
                "(set KERAS_BACKEND)")
        _CURRENT[name] = cls(keras)
    return _CURRENT[name]
