"""The exported graph and its writers (runtime: TensorFlow, tf2onnx and the LiteRT converter).

The graph is built by :class:`dropctl.mc.engine.Engine`'s own switching, traced once into a
``tf.function``: the model runs with ``training=False`` (BatchNormalization in inference), only
the selected stochastic sites act, and in ``--mc`` mode the inputs are replicated T times at the
first layer that is or holds a switched site, so the deterministic prefix runs once per input.

What differs from ``mc-predict`` is where the randomness comes from. The engine's masks come
from TF's stateless Philox op (``StatelessRandomUniformFullIntV2``) and Keras' own noise from
``tf.random.stateless_*`` ops keyed by a seed *variable*: LiteRT runs neither without the Flex
delegate, and tf2onnx turns Keras' seeded dropout into a graph onnxruntime rejects (measured,
issue 23). Here every random draw is a plain TF ``RandomUniform``/``RandomStandardNormal`` with
seed attributes 0 and 0 (unseeded, whatever global seed the process has), which become ONNX
``RandomUniformLike``/``RandomNormalLike`` and LiteRT ``RANDOM_UNIFORM``/``RANDOM_STANDARD_NORMAL``
and sample afresh on every call in all three runtimes (measured: tests/export). Keras-drawn sites
(GaussianDropout/Noise, AlphaDropout, RNN and attention dropout) reach the same ops through
:func:`dropctl.runtime.compat.backend_random_replaced`. A SavedModel also gets a ``seeded``
signature whose draws are ``tf.random.stateless_*`` from a ``seed`` input: same seed, same output.

The writers that turn the traced graph into each format are :mod:`dropctl.deploy.writers`; the
temporary-then-rename publishing of OUT is :mod:`dropctl.deploy.files`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from dropctl.deploy.plan import ExportFormat, ExportMode, output_keys
from dropctl.mc.engine import Engine
from dropctl.mc.inputs import InputSpec, model_input_specs
from dropctl.runtime import backend as backends
from dropctl.runtime import compat
from dropctl.runtime.imports import tf_module

WHAT = "dropctl export"
"""ONNX opset written (onnxruntime >= 1.12 runs it; RandomUniformLike is opset 1)."""


class _GraphRandom(backends.Backend):
    """The engine's mask maker for exports: one random op per site, of a kind every target runs.

    ``seed`` is None while tracing the unseeded graph, else the symbolic ``[2]`` int64 seed of
    the ``seeded`` signature; each draw then folds in its own counter (one per op, in trace order).
    """

    name = "tensorflow"

    def __init__(self, keras: Any, tf: Any) -> None:
        super().__init__(keras)
        self.tf = tf
        self.seed: Any = None
        self.draws = 0
        self.op_seeds = False
        """Make every unseeded draw distinct by its input (OpenVINO: see :func:`write_openvino`)."""

    def fold_in(self, seed: Any, index: int) -> Any:  # noqa: ARG002 - the keras.random / backend signature this shim stands in for
        return index  # per-op streams come from the draw counter (see uniform())

    def seed_unseeded(self, state: np.ndarray | None) -> None:
        pass  # nothing global to seed: unseeded draws are the point

    def uniform(self, shape: Any, dtype: Any) -> Any:
        tf = self.tf
        if self.seed is None:
            if self.op_seeds:
                return self._distinct(self._uniform, shape, dtype)
            return self._uniform(shape, dtype=dtype)
        self.draws += 1
        return tf.random.stateless_uniform(
            shape, tf.random.experimental.stateless_fold_in(self.seed, self.draws), dtype=dtype)

    def normal(self, shape: Any, dtype: Any) -> Any:
        tf = self.tf
        if self.seed is None:
            if self.op_seeds:
                # OpenVINO 2026.4's TF frontend has no RandomStandardNormal (measured: "No
                # conversion rule found"): Box-Muller from two uniform draws, exact in law.
                u1 = 1.0 - self._distinct(self._uniform, shape, tf.float32)  # (0, 1]
                u2 = self._distinct(self._uniform, shape, tf.float32)
                z = tf.sqrt(-2.0 * tf.math.log(u1)) * tf.cos(2.0 * np.pi * u2)
                return tf.cast(z, dtype)
            return tf.raw_ops.RandomStandardNormal(shape=self._dims(shape), dtype=dtype, seed=0,
                                                   seed2=0)
        self.draws += 1
        return tf.random.stateless_normal(
            shape, tf.random.experimental.stateless_fold_in(self.seed, self.draws), dtype=dtype)

    def _uniform(self, shape: Any, dtype: Any) -> Any:
        """``RandomUniform`` on [0, 1) with its seed attributes 0 and 0, which every runtime reads
        as "seed me afresh". Not ``tf.random.uniform``: once the process has a global seed
        (``tf.random.set_seed``, ``keras.utils.set_random_seed``) that gives each op nonzero
        seeds, and the LiteRT interpreter and OpenVINO then start every session on the same
        stream (measured: two ``compile_model`` calls of one IR returned identical outputs after
        ``keras.utils.set_random_seed(0)``; tests/export/test_export_openvino.py)."""
        return self.tf.raw_ops.RandomUniform(shape=self._dims(shape), dtype=dtype, seed=0, seed2=0)

    def _dims(self, shape: Any) -> Any:
        tf = self.tf
        if isinstance(shape, list | tuple):
            return tf.stack([tf.cast(d, tf.int32) for d in shape]) if shape else tf.zeros(
                [0], tf.int32)
        return tf.cast(shape, tf.int32)

    def _distinct(self, draw: Callable[..., Any], shape: Any, dtype: Any) -> Any:
        """An unseeded draw OpenVINO cannot merge with another: ``n + k`` flat values (``k``
        this op's counter) cut to ``n`` and reshaped, so no two random ops share an input."""
        tf = self.tf
        self.draws += 1
        dims = self._dims(shape)
        n = tf.reduce_prod(dims)
        flat = draw(tf.reshape(n + tf.constant(self.draws, tf.int32), [1]), dtype=dtype)
        return tf.reshape(flat[:n], dims)

    def _shape(self, x: Any, noise_shape: Any) -> Any:
        tf = self.tf
        if noise_shape is None:
            return tf.shape(x)
        dyn = tf.shape(x)
        return tf.stack([dyn[i] if d is None else (
            tf.constant(d, tf.int32) if isinstance(d, int) else tf.cast(d, tf.int32))
            for i, d in enumerate(noise_shape)])

    def drop(self, x: Any, rate: float, noise_shape: Any = None) -> Any:
        """Inverted dropout of ``x`` at ``rate`` with one uniform draw (broadcast mask)."""
        tf = self.tf
        if rate <= 0.0:
            return x
        keep = self.uniform(self._shape(x, noise_shape), tf.float32) >= tf.constant(
            float(rate), tf.float32)
        # A select, not ``x * cast(keep) * scale``: tf2onnx's dropout rewriter matches that
        # multiply pattern and replaces it by an ONNX Dropout node without training_mode, the
        # identity at inference (onnx/tensorflow-onnx #1845; measured on family.keras' LSTM).
        scaled = x * tf.constant(1.0 / (1.0 - float(rate)), x.dtype)
        return tf.where(keep, scaled, tf.zeros_like(scaled))

    def dropout(self, x: Any, noise_shape: Any, seed: Any, bits: int, threshold: int,  # noqa: ARG002 - the keras.random / backend signature this shim stands in for
                row0: Any = 0) -> Any:  # noqa: ARG002 - the keras.random / backend signature this shim stands in for
        return self.drop(x, threshold / 2**bits, noise_shape)

    # Keras' backend.random.* signatures (compat.backend_random_replaced) -------------------

    def keras_uniform(self, shape: Any, minval: float = 0.0, maxval: float = 1.0,
                      dtype: Any = None, seed: Any = None) -> Any:  # noqa: ARG002 - the keras.random / backend signature this shim stands in for
        dtype = self.tf.as_dtype(dtype or "float32")
        return minval + (maxval - minval) * self.uniform(shape, dtype)

    def keras_normal(self, shape: Any, mean: float = 0.0, stddev: float = 1.0,
                     dtype: Any = None, seed: Any = None) -> Any:  # noqa: ARG002 - the keras.random / backend signature this shim stands in for
        dtype = self.tf.as_dtype(dtype or "float32")
        return mean + stddev * self.normal(shape, dtype)

    def keras_dropout(self, inputs: Any, rate: float, noise_shape: Any = None,
                      seed: Any = None) -> Any:  # noqa: ARG002 - the keras.random / backend signature this shim stands in for
        return self.drop(inputs, float(rate), noise_shape)


class ExportEngine(Engine):
    """:class:`Engine` whose switched sites draw from :class:`_GraphRandom` (see module doc)."""

    def __init__(self, model: Any, *, sites: str | None = None) -> None:
        super().__init__(model, sites=sites, rows=1)  # rows: unused, skips the budget walk
        self.random = _GraphRandom(self._keras, tf_module(WHAT))
        self._backend = self.random

    @property
    def keras(self) -> Any:
        """The keras module the engine runs on."""
        return self._keras

    def set_all(self, mode: str) -> None:
        """Selected sites ``mode`` ("on"/"off"), every other site off (never "native")."""
        self._ctx.modes = {id(p): (mode if id(p) in self._selected_ids else "off")
                           for _, p, _ in self._parts}

    def replicated(self, xs: list[Any], reps: int) -> list[Any]:
        """Every output for ``N*reps`` rows, sample-major, the prefix run once per input."""
        return self._replicated_call(xs, reps)

    def single(self, xs: list[Any]) -> list[Any]:
        """One forward pass (``training=False``) with the current modes."""
        out = self.model(compat.as_model_inputs(self.model, list(xs)), training=False)
        return list(self._keras.tree.flatten(out))


@dataclass(frozen=True)
class Graph:
    """The traced functions of one export, ready to be written."""

    serve: Any
    """``tf.function`` with the input signature: inputs -> {key: tensor}."""
    seeded: Any | None
    """The same with a trailing ``seed`` [2] int64 input (SavedModel only), else None."""
    inputs: tuple[InputSpec, ...]
    """OUT's inputs (names as OUT spells them, None for dynamic dims)."""
    keys: tuple[str, ...]
    """OUT's output names in order."""
    random_ops: int = 0
    """Random ops in the traced ``serve`` graph (functions included): the written file must
    hold as many, or its exporter merged, folded or dropped some."""


def clean_name(name: str) -> str:
    """An input/output name every format accepts: ``[A-Za-z0-9_]`` (others become ``_``)."""
    text = "".join(c if c.isalnum() or c == "_" else "_" for c in name) or "input"
    return text if not text[0].isdigit() else f"x_{text}"


def _stats(tf: Any, y: Any, reps: int, classifier: bool) -> list[Any]:
    """MC statistics of ``y`` [N*reps, ...] (sample-major) as ``mc-predict`` defines them."""
    y = tf.cast(y, tf.float32)
    shape = tf.shape(y)
    y = tf.reshape(y, tf.concat([tf.constant([-1, reps], tf.int32), shape[1:]], 0))
    mean = tf.reduce_mean(y, axis=1)
    std = tf.sqrt(tf.maximum(tf.reduce_mean(tf.square(y - mean[:, None]), axis=1), 0.0))
    if not classifier:
        return [mean, std]
    eps = tf.constant(1e-12, tf.float32)

    def entropy(p: Any) -> Any:
        return -tf.reduce_sum(p * tf.math.log(tf.clip_by_value(p, eps, 1.0)), axis=-1)

    h_mean = entropy(mean)
    mi = tf.maximum(h_mean - tf.reduce_mean(entropy(y), axis=1), 0.0)
    classes = tf.shape(y)[-1]
    votes = tf.reduce_sum(tf.one_hot(tf.argmax(y, axis=-1), classes, dtype=tf.float32), axis=1)
    vr = 1.0 - tf.reduce_max(votes, axis=-1) / float(reps)
    return [mean, std, h_mean, mi, vr]


def build_graph(engine: ExportEngine, mode: ExportMode, samples: int, names: list[str],
                classifier: list[bool], fmt: ExportFormat,
                calibration: list[Any] | None = None) -> Graph:
    """Trace OUT's functions inside ``engine`` (its patched calls are captured at trace time).

    ``calibration``: per output, its fit (:func:`dropctl.deploy.calibration.matched_fits`);
    the MC statistics are then followed by the calibration head's tensors.
    """
    from dropctl.deploy import calibration as calib

    tf = engine.random.tf
    specs = model_input_specs(engine.model)
    in_names = _unique([clean_name(s.name) for s in specs])
    sig = [tf.TensorSpec([None, *s.shape[1:]], s.dtype, name=n)
           for s, n in zip(specs, in_names, strict=True)]
    kinds = None if calibration is None else [calib.kind(f) for f in calibration]
    keys = [k for per in output_keys(names, classifier, mode, kinds) for k in per]
    out_names = _unique([k if mode is ExportMode.MC else clean_name(k) for k in keys])

    def stats(k: int, y: Any) -> list[Any]:
        values = _stats(tf, y, samples, classifier[k])
        if calibration is None:
            return values
        return values + calib.head(tf, calibration[k], values[0], values[1])

    def body(xs: list[Any]) -> dict[str, Any]:
        if mode is ExportMode.MC:
            engine.set_all("on")
            outs = engine.replicated(xs, samples)
            values = [v for k, o in enumerate(outs) for v in stats(k, o)]
        else:
            engine.set_all("on" if mode is ExportMode.PERMA else "off")
            values = engine.single(xs)
        return {n: tf.identity(v, name=clean_name(n))
                for n, v in zip(out_names, values, strict=True)}

    if fmt in (ExportFormat.LITERT, ExportFormat.OPENVINO, ExportFormat.ONNX):  # _rnns_unrolled
        try:
            with _rnns_unrolled(engine.model, engine.keras):
                return _trace(engine, fmt, mode, body, sig, specs, in_names, out_names)
        except ValueError as exc:
            if "unroll" not in str(exc).lower():
                raise
    return _trace(engine, fmt, mode, body, sig, specs, in_names, out_names)


def _trace(engine: ExportEngine, fmt: ExportFormat, mode: ExportMode,
           body: Callable[[list[Any]], dict[str, Any]], sig: list[Any],
           specs: list[InputSpec], in_names: list[str], out_names: list[str]) -> Graph:
    tf = engine.random.tf

    def serve(*xs: Any) -> dict[str, Any]:
        engine.random.seed = None
        engine.random.op_seeds = fmt is ExportFormat.OPENVINO
        engine.random.draws = 0
        try:
            return body(list(xs))
        finally:
            engine.random.op_seeds = False

    def seeded(*args: Any) -> dict[str, Any]:
        engine.random.seed = args[-1]
        engine.random.draws = 0
        try:
            return body(list(args[:-1]))
        finally:
            engine.random.seed = None

    with compat.backend_random_replaced(uniform=engine.random.keras_uniform,
                                        normal=engine.random.keras_normal,
                                        dropout=engine.random.keras_dropout):
        serve_fn = tf.function(serve, input_signature=sig, autograph=False)
        serve_fn.get_concrete_function()
        seeded_fn = None
        if fmt is ExportFormat.SAVEDMODEL and mode is not ExportMode.STANDARD:
            seeded_fn = tf.function(seeded, input_signature=[
                *sig, tf.TensorSpec([2], tf.int64, name="seed")], autograph=False)
            seeded_fn.get_concrete_function()
    inputs = tuple(InputSpec(n, (None, *s.shape[1:]), s.dtype)
                   for s, n in zip(specs, in_names, strict=True))
    return Graph(serve_fn, seeded_fn, inputs, tuple(out_names), _count_random(serve_fn))


TRACED_RANDOM = frozenset({"RandomUniform", "RandomStandardNormal"})
"""The op types :class:`_GraphRandom` draws with (unseeded)."""


def _count_random(fn: Any) -> int:
    graph_def = fn.get_concrete_function().graph.as_graph_def()
    nodes = list(graph_def.node) + [n for f in graph_def.library.function for n in f.node_def]
    return sum(n.op in TRACED_RANDOM for n in nodes)


@contextmanager
def _rnns_unrolled(model: Any, keras: Any) -> Iterator[None]:
    """Every RNN layer set to ``unroll=True`` while tracing (the caller retries without on
    Keras' "time dimension is undefined" error: only a known number of timesteps unrolls).

    A rolled Keras RNN on TensorFlow is a ``while_loop`` over a TensorList, and the LiteRT
    converter has no builtin kernel for ``TensorListReserve`` (measured on family.keras with
    TF 2.21: "needs Flex"); unrolled, the same LSTM/GRU converts to builtins and verifies.
    ONNX and OpenVINO take the unrolled graph too (measured: family.keras then verifies in
    onnxruntime; OpenVINO fails on its Bidirectional either way); a SavedModel keeps the loop.
    ``keras`` None: nothing changes. Restored on exit.
    """
    changed: list[Any] = []
    try:
        if keras is not None:
            for layer in compat.all_layers(model):
                if isinstance(layer, keras.layers.RNN) and not layer.unroll:
                    layer.unroll = True
                    changed.append(layer)
        yield
    finally:
        for layer in changed:
            layer.unroll = False


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 else f"{n}_{k}")
    return out
