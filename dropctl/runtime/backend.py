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
  (see :mod:`dropctl.mc.engine`). Words are laid out row-major over the noise shape and each
  backend's generator is counter-based or sequential, so the first rows' masks do not depend on
  how many rows follow (Monte Carlo statistics of an input do not depend on its companions).

Same seed, same machine, same backend: the same bytes.
"""

from __future__ import annotations

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
        with ``static_first`` the compiled function is called ``f(reps, seed, *xs)`` (``reps``
        a Python int, ``seed`` a ``[2]`` uint32 array), else ``f(*xs)``.
        """
        raise NotImplementedError

    def seed(self, state: np.ndarray) -> Any:
        """The backend's seed object for a ``[2]`` uint32 host seed (what compiled chunks get)."""
        return np.asarray(state, np.uint32)

    def fold_in(self, seed: Any, index: int) -> Any:
        """An independent seed for stream ``index`` derived from ``seed``."""
        raise NotImplementedError

    def keep_mask(self, x: Any, noise_shape: Sequence[Any] | None, seed: Any, bits: int,
                  threshold: int) -> Any:
        """Boolean keep mask (broadcastable to ``x``): a unit is kept when its ``bits``-bit
        random lane is >= ``threshold``."""
        raise NotImplementedError

    def dropout(self, x: Any, noise_shape: Sequence[Any] | None, seed: Any, bits: int,
                threshold: int) -> Any:
        """Inverted dropout with packed masks: kept units scaled by ``1/(1 - threshold/2**bits)``."""
        ops = self.keras.ops
        keep = self.keep_mask(x, noise_shape, seed, bits, threshold)
        scale = 1.0 / (1.0 - threshold / 2**bits)
        return ops.where(keep, x * ops.cast(scale, x.dtype), ops.zeros((), x.dtype))


class _TensorFlow(Backend):
    name = "tensorflow"

    def __init__(self, keras: Any) -> None:
        super().__init__(keras)
        from dropctl.runtime.imports import tf_module

        self.tf = tf_module("Monte Carlo prediction")

    def compile(self, fn: Callable[..., Any], model: Any, signature: list[Any],
                static_first: bool) -> Callable[..., list[np.ndarray]]:
        tf = self.tf
        sig = [tf.TensorSpec([None, *shape[1:]], dtype) for shape, dtype in signature]
        if static_first:  # reps is a tensor here: one trace serves every chunk size
            sig = [tf.TensorSpec([], tf.int32), tf.TensorSpec([2], tf.int64), *sig]
        traced = tf.function(fn, input_signature=sig, autograph=False)

        if static_first:
            def run(reps: int, seed: np.ndarray, *xs: np.ndarray) -> list[np.ndarray]:
                out = traced(np.int32(reps), np.asarray(seed, np.int64), *xs)
                return [np.asarray(o) for o in out]
        else:
            def run(*xs: np.ndarray) -> list[np.ndarray]:  # type: ignore[misc]
                return [np.asarray(o) for o in traced(*xs)]
        return run

    def seed(self, state: np.ndarray) -> Any:
        return self.tf.constant(np.asarray(state, np.int64))

    def fold_in(self, seed: Any, index: int) -> Any:
        return self.tf.random.experimental.stateless_fold_in(seed, index)

    def keep_mask(self, x: Any, noise_shape: Sequence[Any] | None, seed: Any, bits: int,
                  threshold: int) -> Any:
        tf = self.tf
        dyn = tf.shape(x)
        ns = list(noise_shape) if noise_shape is not None else [None] * len(x.shape)
        static = [x.shape[i] if d is None else d for i, d in enumerate(ns)]
        full = [dyn[i] if not isinstance(d, int) else d for i, d in enumerate(static)]
        lanes = 32 // bits
        udtype = tf.uint8 if bits == 8 else tf.uint16
        inner = static[1:]
        if all(isinstance(d, int) for d in inner) and int(np.prod(inner, dtype=np.int64)) % lanes == 0:
            per_row = int(np.prod(inner, dtype=np.int64))
            words = tf.random.stateless_uniform([full[0], per_row // lanes], seed, minval=None,
                                                maxval=None, dtype=tf.uint32)
            u = tf.reshape(tf.bitcast(words, udtype), full)
        else:
            n = tf.reduce_prod(tf.stack([tf.cast(d, tf.int32) for d in full]))
            words = tf.random.stateless_uniform([(n + lanes - 1) // lanes], seed, minval=None,
                                                maxval=None, dtype=tf.uint32)
            u = tf.reshape(tf.reshape(tf.bitcast(words, udtype), [-1])[:n], full)
        return u >= tf.constant(threshold, udtype)

    def dropout(self, x: Any, noise_shape: Sequence[Any] | None, seed: Any, bits: int,
                threshold: int) -> Any:
        tf = self.tf
        keep = self.keep_mask(x, noise_shape, seed, bits, threshold)
        scale = 1.0 / (1.0 - threshold / 2**bits)
        return tf.where(keep, x * tf.constant(scale, x.dtype), tf.zeros((), x.dtype))


class _Jax(Backend):
    name = "jax"

    def __init__(self, keras: Any) -> None:
        super().__init__(keras)
        self.jax = _import("jax", "Monte Carlo prediction on the JAX backend")
        import jax.numpy as jnp

        self.jnp = jnp

    def compile(self, fn: Callable[..., Any], model: Any, signature: list[Any],
                static_first: bool) -> Callable[..., list[np.ndarray]]:
        jax, keras = self.jax, self.keras
        variables = list(model.variables)

        def pure(values: list[Any], *args: Any) -> Any:
            with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
                return fn(*args)

        if static_first:
            jitted = jax.jit(lambda values, reps, seed, *xs: pure(values, reps, seed, *xs),
                             static_argnums=1)

            def run(reps: int, seed: np.ndarray, *xs: np.ndarray) -> list[np.ndarray]:
                values = [v.value for v in variables]
                out = jitted(values, int(reps), np.asarray(seed, np.uint32), *xs)
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
                  threshold: int) -> Any:
        jax, jnp = self.jax, self.jnp
        full = [int(d) for d in _full_shape(self.keras.ops, x, noise_shape)]
        n = int(np.prod(full, dtype=np.int64))
        lanes = 32 // bits
        words = jax.random.bits(seed, ((n + lanes - 1) // lanes,), jnp.uint32)
        udtype = jnp.uint8 if bits == 8 else jnp.uint16
        u = jax.lax.bitcast_convert_type(words, udtype).reshape(-1)[:n].reshape(full)
        return u >= jnp.asarray(threshold, udtype)


class _Torch(Backend):
    name = "torch"

    def __init__(self, keras: Any) -> None:
        super().__init__(keras)
        self.torch = _import("torch", "Monte Carlo prediction on the PyTorch backend")

    def compile(self, fn: Callable[..., Any], model: Any, signature: list[Any],
                static_first: bool) -> Callable[..., list[np.ndarray]]:
        torch = self.torch

        def run(*args: Any) -> list[np.ndarray]:
            with torch.no_grad():
                out = fn(*args)
            return [to_numpy(o) for o in out]
        return run

    def fold_in(self, seed: Any, index: int) -> Any:
        words = np.random.SeedSequence([int(w) for w in np.asarray(seed).ravel()] + [index])
        return words.generate_state(2, np.uint32)

    def keep_mask(self, x: Any, noise_shape: Sequence[Any] | None, seed: Any, bits: int,
                  threshold: int) -> Any:
        torch = self.torch
        full = [int(d) for d in _full_shape(self.keras.ops, x, noise_shape)]
        n = int(np.prod(full, dtype=np.int64))
        state = np.asarray(seed, np.uint64)
        gen = torch.Generator(device=x.device)
        gen.manual_seed(int(state[0] << np.uint64(32) | state[1]) & (2**63 - 1))
        nbytes = n * (bits // 8)
        # The full 64-bit range (from=int64 min, to=None): 8 uniform bytes per word, drawn in order.
        words = torch.empty((nbytes + 7) // 8, dtype=torch.int64, device=x.device)
        words.random_(-(2**63), None, generator=gen)
        raw = words.view(torch.uint8)[:nbytes]
        if bits == 8:
            u = raw
        else:
            pairs = raw.view(-1, 2).to(torch.int32)
            u = pairs[:, 0] | (pairs[:, 1] << 8)
        return (u >= threshold).reshape(full)


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
