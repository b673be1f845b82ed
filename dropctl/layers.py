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
Importing it has no side effect other than the registration.
"""

from __future__ import annotations

from dropctl.runtime.imports import quiet_import_keras

quiet_import_keras("loading dropctl's always-on layers")

import keras  # noqa: E402, TID253 - see the module docstring (Keras only, never a backend)

from dropctl.reader.layer_names import ALWAYS_ON_CLASSES, PACKAGE, registered_name  # noqa: E402

__all__ = [*ALWAYS_ON_CLASSES, "ALWAYS_ON_CLASSES", "always_on_layer_classes"]

_register = keras.saving.register_keras_serializable(package=PACKAGE)


@_register
class AlwaysDropout(keras.layers.Dropout):
    """``keras.layers.Dropout`` that drops on every call (``training`` is ignored)."""

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


@_register
class AlwaysSpatialDropout1D(keras.layers.SpatialDropout1D):
    """``keras.layers.SpatialDropout1D`` that drops on every call."""

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


@_register
class AlwaysSpatialDropout2D(keras.layers.SpatialDropout2D):
    """``keras.layers.SpatialDropout2D`` that drops on every call."""

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


@_register
class AlwaysSpatialDropout3D(keras.layers.SpatialDropout3D):
    """``keras.layers.SpatialDropout3D`` that drops on every call."""

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


@_register
class AlwaysGaussianDropout(keras.layers.GaussianDropout):
    """``keras.layers.GaussianDropout`` that multiplies by noise on every call."""

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


@_register
class AlwaysGaussianNoise(keras.layers.GaussianNoise):
    """``keras.layers.GaussianNoise`` that adds noise on every call."""

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


@_register
class AlwaysAlphaDropout(keras.layers.AlphaDropout):
    """``keras.layers.AlphaDropout`` that drops on every call."""

    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


# RNN layers: ``training`` reaches only the cell's dropout / recurrent_dropout masks, so forcing
# it on changes nothing else. The cell (and its variables) is the stock one.


@_register
class AlwaysSimpleRNN(keras.layers.SimpleRNN):
    """``keras.layers.SimpleRNN`` whose ``dropout``/``recurrent_dropout`` act on every call."""

    def call(self, sequences, initial_state=None, mask=None, training=None):
        return super().call(sequences, initial_state=initial_state, mask=mask, training=True)


@_register
class AlwaysLSTM(keras.layers.LSTM):
    """``keras.layers.LSTM`` whose ``dropout``/``recurrent_dropout`` act on every call."""

    def call(self, sequences, initial_state=None, mask=None, training=None):
        return super().call(sequences, initial_state=initial_state, mask=mask, training=True)


@_register
class AlwaysGRU(keras.layers.GRU):
    """``keras.layers.GRU`` whose ``dropout``/``recurrent_dropout`` act on every call."""

    def call(self, sequences, initial_state=None, mask=None, training=None):
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
        training=None,
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
        training=None,
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
        training=None,
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


def always_on_layer_classes() -> dict[str, type[keras.layers.Layer]]:
    """Registered name (``dropctl>AlwaysDropout``) -> class, for every always-on layer (for
    ``custom_objects``).

    Only the registered names: Keras matches ``custom_objects`` against a stored
    ``registered_name`` before ``class_name`` and ``module``, so a bare ``"AlwaysDropout"`` key
    would let a file stored as ``class_name "Identity"`` + ``registered_name "AlwaysDropout"``
    build an always-on dropout that stock Keras never builds (it refuses that file since 3.15
    and builds Identity before).
    """
    return {registered_name(name): globals()[name] for name in ALWAYS_ON_CLASSES}


def _check_names() -> None:
    # The keras-free name table and the classes must never drift apart.
    for name, stock in ALWAYS_ON_CLASSES.items():
        cls = globals().get(name)
        if cls is None or cls.__mro__[1] is not getattr(keras.layers, stock):
            raise RuntimeError(f"dropctl.layers: {name} does not subclass keras.layers.{stock}")


_check_names()
