"""dropctl's registered always-on layers: stock Keras layers whose randomness never switches off.

Each class here subclasses a stock Keras layer and differs in one thing only: its stochastic part
(dropout mask, Gaussian noise, RNN input/recurrent dropout, attention-probability dropout) acts on
every call, whatever ``training`` says: in ``fit()``, ``predict()``, ``model(x)`` and
``model(x, training=False)``. Pinning ``training=True`` on a node is not enough for that under
Keras 3, whose ``functional.py::operation_fn`` overwrites a node's stored ``training`` with the
outer one whenever that is not None (``predict()`` passes False). A layer that ignores the
argument is immune. Everything else is inherited untouched: constructor, config, variables
(same names, shapes and order, so ``set_weights`` transfers them bit for bit) and the rest of the
model, BatchNormalization included, stays in inference mode.

The classes are registered with ``keras.saving.register_keras_serializable(package="dropctl")``;
their names (see :data:`dropctl.reader.layer_names.ALWAYS_ON_CLASSES`) are stored in files and never
change. Load a model that uses them after ``import dropctl.layers``::

    import dropctl.layers  # noqa: F401  registers AlwaysDropout & co.
    model = keras.models.load_model("model_perma.keras")

This module imports Keras at module level, which is allowed here only: nothing on the
``inspect``/``check``/``--help`` path imports it (they use :mod:`dropctl.reader.layer_names`).
Importing it has no side effect other than the registration. It stands below the runtime, which
builds every model with these classes, so it imports nothing of dropctl but the names in
:mod:`dropctl.reader.layer_names`: dropctl's commands import Keras quietly first
(:func:`dropctl.runtime.keras_module`), and a program of yours imports it as it imports Keras.
"""

from __future__ import annotations

import keras  # noqa: TID253 - see the module docstring (Keras only, never a backend)

from dropctl.reader.layer_names import (
    ALWAYS_ON_CLASSES,
    CALIBRATION_CLASSES,
    PACKAGE,
    registered_name,
)

__all__ = ["ALWAYS_ON_CLASSES", "AlwaysAlphaDropout", "AlwaysAttention", "AlwaysDropout",
           "AlwaysGRU", "AlwaysGaussianDropout", "AlwaysGaussianNoise", "AlwaysGroupQueryAttention",
           "AlwaysLSTM", "AlwaysMultiHeadAttention", "AlwaysSimpleRNN", "AlwaysSpatialDropout1D",
           "AlwaysSpatialDropout2D", "AlwaysSpatialDropout3D", "CALIBRATION_LAYERS",
           "CalibratedSoftmax", "ConformalInterval", "MonteCarloMoments", "MonteCarloRepeat",
           "always_on_layer_classes"]
# A literal list (not built from ALWAYS_ON_CLASSES) so static tools (griffe, the docs) read it;
# _check_names() below proves it names every class of the two tables.

_register = keras.saving.register_keras_serializable(package=PACKAGE)
# Every ``call`` below keeps a ``training`` parameter it ignores: Keras 3.15.1's Layer.__init__
# reads the call signature by name (``"training" in self.call_signature_parameters``) and only then
# passes ``training=`` to it, so the name is the interface and stays.


@_register
class AlwaysDropout(keras.layers.Dropout):
    """``keras.layers.Dropout`` that drops on every call (``training`` is ignored)."""

    def call(self, inputs, training=None):  # noqa: ARG002 - Keras matches it by name
        return super().call(inputs, training=True)


@_register
class AlwaysSpatialDropout1D(keras.layers.SpatialDropout1D):
    """``keras.layers.SpatialDropout1D`` that drops on every call."""

    def call(self, inputs, training=None):  # noqa: ARG002 - Keras matches it by name
        return super().call(inputs, training=True)


@_register
class AlwaysSpatialDropout2D(keras.layers.SpatialDropout2D):
    """``keras.layers.SpatialDropout2D`` that drops on every call."""

    def call(self, inputs, training=None):  # noqa: ARG002 - Keras matches it by name
        return super().call(inputs, training=True)


@_register
class AlwaysSpatialDropout3D(keras.layers.SpatialDropout3D):
    """``keras.layers.SpatialDropout3D`` that drops on every call."""

    def call(self, inputs, training=None):  # noqa: ARG002 - Keras matches it by name
        return super().call(inputs, training=True)


@_register
class AlwaysGaussianDropout(keras.layers.GaussianDropout):
    """``keras.layers.GaussianDropout`` that multiplies by noise on every call."""

    def call(self, inputs, training=None):  # noqa: ARG002 - Keras matches it by name
        return super().call(inputs, training=True)


@_register
class AlwaysGaussianNoise(keras.layers.GaussianNoise):
    """``keras.layers.GaussianNoise`` that adds noise on every call."""

    def call(self, inputs, training=None):  # noqa: ARG002 - Keras matches it by name
        return super().call(inputs, training=True)


@_register
class AlwaysAlphaDropout(keras.layers.AlphaDropout):
    """``keras.layers.AlphaDropout`` that drops on every call."""

    def call(self, inputs, training=None):  # noqa: ARG002 - Keras matches it by name
        return super().call(inputs, training=True)


# RNN layers: ``training`` reaches only the cell's dropout / recurrent_dropout masks, so forcing
# it on changes nothing else. The cell (and its variables) is the stock one.


@_register
class AlwaysSimpleRNN(keras.layers.SimpleRNN):
    """``keras.layers.SimpleRNN`` whose ``dropout``/``recurrent_dropout`` act on every call."""

    def call(self, sequences, initial_state=None, mask=None, training=None):  # noqa: ARG002 - Keras matches it by name
        return super().call(sequences, initial_state=initial_state, mask=mask, training=True)


@_register
class AlwaysLSTM(keras.layers.LSTM):
    """``keras.layers.LSTM`` whose ``dropout``/``recurrent_dropout`` act on every call."""

    def call(self, sequences, initial_state=None, mask=None, training=None):  # noqa: ARG002 - Keras matches it by name
        return super().call(sequences, initial_state=initial_state, mask=mask, training=True)


@_register
class AlwaysGRU(keras.layers.GRU):
    """``keras.layers.GRU`` whose ``dropout``/``recurrent_dropout`` act on every call."""

    def call(self, sequences, initial_state=None, mask=None, training=None):  # noqa: ARG002 - Keras matches it by name
        return super().call(sequences, initial_state=initial_state, mask=mask, training=True)


# Attention layers: ``training`` reaches only the dropout on the attention probabilities.
# The signatures are spelled out (not *args) because Keras reads them to route masks.


@_register
class AlwaysMultiHeadAttention(keras.layers.MultiHeadAttention):
    """``keras.layers.MultiHeadAttention`` whose attention ``dropout`` acts on every call."""

    def call(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,  # noqa: ARG002 - Keras matches it by name
        use_causal_mask=False,
    ):
        return super().call(
            query,
            value,
            key=key,
            query_mask=query_mask,
            value_mask=value_mask,
            key_mask=key_mask,
            attention_mask=attention_mask,
            return_attention_scores=return_attention_scores,
            training=True,
            use_causal_mask=use_causal_mask,
        )


@_register
class AlwaysGroupQueryAttention(keras.layers.GroupQueryAttention):
    """``keras.layers.GroupQueryAttention`` whose attention ``dropout`` acts on every call."""

    def call(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,  # noqa: ARG002 - Keras matches it by name
        use_causal_mask=False,
    ):
        return super().call(
            query,
            value,
            key=key,
            query_mask=query_mask,
            value_mask=value_mask,
            key_mask=key_mask,
            attention_mask=attention_mask,
            return_attention_scores=return_attention_scores,
            training=True,
            use_causal_mask=use_causal_mask,
        )


@_register
class AlwaysAttention(keras.layers.Attention):
    """``keras.layers.Attention`` whose score ``dropout`` acts on every call."""

    def call(
        self,
        inputs,
        mask=None,
        training=None,  # noqa: ARG002 - Keras matches it by name
        return_attention_scores=False,
        use_causal_mask=False,
    ):
        return super().call(
            inputs,
            mask=mask,
            training=True,
            return_attention_scores=return_attention_scores,
            use_causal_mask=use_causal_mask,
        )


# ---- calibration baked into an artifact (``convert --perma --calibration``) -----------------
# Deterministic layers around a perma model: repeat each input T times, reduce the T rows to
# mean/std, apply the fitted calibration. Their names are stored in files: never rename one.
# Same formulas as dropctl.mc.calibration / dropctl.mc.conformal (convert verifies the two agree).


@_register
class MonteCarloRepeat(keras.layers.Layer):
    """Repeat every input row ``samples`` times (rows ``i*T .. i*T+T-1`` are input ``i``)."""

    def __init__(self, samples: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.samples = int(samples)

    def call(self, inputs):
        return keras.ops.repeat(inputs, self.samples, axis=0)

    def compute_output_shape(self, input_shape):
        n = input_shape[0]
        return (None if n is None else n * self.samples, *input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "samples": self.samples}


@_register
class MonteCarloMoments(keras.layers.Layer):
    """``[N*T, ...]`` pass outputs -> (mean, std) over each input's T rows (std with ddof=0)."""

    def __init__(self, samples: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.samples = int(samples)

    def call(self, inputs):
        y = keras.ops.reshape(inputs, (-1, self.samples, *inputs.shape[1:]))
        return keras.ops.mean(y, axis=1), keras.ops.std(y, axis=1)

    def compute_output_shape(self, input_shape):
        return (None, *input_shape[1:]), (None, *input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "samples": self.samples}


@_register
class CalibratedSoftmax(keras.layers.Layer):
    """MC-mean probabilities -> (``softmax(log p / T)`` or ``softmax(w log p + b)``, conformal
    set ``score(c) <= qhat`` with score ``lac``, ``aps`` or ``raps`` of the MC mean)."""

    def __init__(self, temperature: float = 1.0, class_weights=None, class_bias=None,
                 score: str = "lac", qhat: float = 1.0, raps_lambda: float = 0.0,
                 raps_k: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.temperature = float(temperature)
        self.class_weights = None if class_weights is None else [float(v) for v in class_weights]
        self.class_bias = None if class_bias is None else [float(v) for v in class_bias]
        self.score = str(score)
        self.qhat = float(qhat)
        self.raps_lambda = float(raps_lambda)
        self.raps_k = int(raps_k)

    def call(self, inputs):
        ops = keras.ops
        p = ops.cast(inputs, "float32")
        z = ops.log(ops.clip(p, 1e-12, 1.0))
        z = z - ops.max(z, axis=-1, keepdims=True)
        if self.class_weights is not None:
            logits = z * ops.array(self.class_weights) + ops.array(self.class_bias or 0.0)
        else:
            logits = z / self.temperature
        probs = ops.softmax(logits, axis=-1)
        if self.score == "lac":
            scores = 1.0 - p
        else:
            # Ties by class index, like dropctl.mc.conformal's stable numpy argsort: measured on
            # Keras 3.15.1 / TensorFlow 2.21 (argsort(-[.3, .3, .4, 0, 0]) = [2, 0, 1, 3, 4]);
            # convert's verification checks every set against numpy anyway.
            order = ops.argsort(-p, axis=-1)
            cum = ops.cumsum(ops.take_along_axis(p, order, axis=-1), axis=-1)
            if self.score == "raps":
                rank = ops.arange(1, p.shape[-1] + 1, dtype="float32")
                cum = cum + self.raps_lambda * ops.maximum(0.0, rank - self.raps_k)
            scores = ops.take_along_axis(cum, ops.argsort(order, axis=-1), axis=-1)
        return probs, ops.less_equal(scores, self.qhat)

    def compute_output_shape(self, input_shape):
        return input_shape, input_shape

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature,
                "class_weights": self.class_weights, "class_bias": self.class_bias,
                "score": self.score, "qhat": self.qhat, "raps_lambda": self.raps_lambda,
                "raps_k": self.raps_k}


@_register
class ConformalInterval(keras.layers.Layer):
    """[MC mean, MC std] -> (scaled std, lower, upper): ``s = max(std, floor)``, the interval
    ``mean -+ qhat s`` and the std times the fitted variance scale."""

    def __init__(self, qhat: float = 1.0, variance_scale: float = 1.0, std_floor: float = 1e-6,
                 **kwargs):
        super().__init__(**kwargs)
        self.qhat = float(qhat)
        self.variance_scale = float(variance_scale)
        self.std_floor = float(std_floor)

    def call(self, inputs):
        mean, std = inputs
        s = keras.ops.maximum(std, self.std_floor)
        return s * self.variance_scale, mean - self.qhat * s, mean + self.qhat * s

    def compute_output_shape(self, input_shape):
        return input_shape[0], input_shape[0], input_shape[0]

    def get_config(self):
        return {**super().get_config(), "qhat": self.qhat, "variance_scale": self.variance_scale,
                "std_floor": self.std_floor}


CALIBRATION_LAYERS = CALIBRATION_CLASSES
"""The deterministic layers of a calibrated artifact (``convert --perma --calibration``)."""


def always_on_layer_classes() -> dict[str, type[keras.layers.Layer]]:
    """Registered name (``dropctl>AlwaysDropout``) -> class, for every always-on and
    calibration layer (for ``custom_objects``).

    Only the registered names: Keras matches ``custom_objects`` against a stored
    ``registered_name`` before ``class_name`` and ``module``, so a bare ``"AlwaysDropout"`` key
    would let a file stored as ``class_name "Identity"`` + ``registered_name "AlwaysDropout"``
    build an always-on dropout that stock Keras never builds (it refuses that file since 3.15
    and builds Identity before).
    """
    return {registered_name(name): globals()[name] for name in (*ALWAYS_ON_CLASSES, *CALIBRATION_LAYERS)}


def _check_names() -> None:
    # The keras-free name table and the classes must never drift apart.
    if set(__all__) != {*ALWAYS_ON_CLASSES, *CALIBRATION_CLASSES, "ALWAYS_ON_CLASSES",
                        "CALIBRATION_LAYERS", "always_on_layer_classes"}:
        raise RuntimeError("dropctl.layers: __all__ does not name every dropctl layer")
    for name, stock in ALWAYS_ON_CLASSES.items():
        cls = globals().get(name)
        if cls is None or cls.__mro__[1] is not getattr(keras.layers, stock):
            raise RuntimeError(f"dropctl.layers: {name} does not subclass keras.layers.{stock}")


_check_names()
