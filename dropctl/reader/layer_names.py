"""Names of dropctl's always-on layer classes, without importing Keras.

:mod:`dropctl.layers` defines the classes (and imports Keras); this module only holds their
names so that the static reader (:mod:`dropctl.reader.sites`) and :mod:`dropctl.conversion.plan` can recognise
and rewrite them in a saved config without TensorFlow. The names are part of dropctl's file
format: a ``.keras`` file stores ``module`` ``"dropctl.layers"``, ``class_name``
``"AlwaysDropout"`` and ``registered_name`` ``"dropctl>AlwaysDropout"``; a legacy ``.h5``
file stores ``class_name`` ``"dropctl>AlwaysDropout"``. Never rename one.
"""

from __future__ import annotations

PACKAGE = "dropctl"
"""The ``package`` passed to ``keras.saving.register_keras_serializable``."""

MODULE = "dropctl.layers"
"""The ``module`` Keras records for these classes in a ``.keras`` config."""

ALWAYS_ON_CLASSES: dict[str, str] = {
    "AlwaysDropout": "Dropout",
    "AlwaysSpatialDropout1D": "SpatialDropout1D",
    "AlwaysSpatialDropout2D": "SpatialDropout2D",
    "AlwaysSpatialDropout3D": "SpatialDropout3D",
    "AlwaysGaussianDropout": "GaussianDropout",
    "AlwaysGaussianNoise": "GaussianNoise",
    "AlwaysAlphaDropout": "AlphaDropout",
    "AlwaysSimpleRNN": "SimpleRNN",
    "AlwaysLSTM": "LSTM",
    "AlwaysGRU": "GRU",
    "AlwaysMultiHeadAttention": "MultiHeadAttention",
    "AlwaysGroupQueryAttention": "GroupQueryAttention",
    "AlwaysAttention": "Attention",
}
"""dropctl's always-on class name -> the stock Keras class it behaves like (same config,
same weights), except that its stochastic part ignores ``training`` and always acts."""

CALIBRATION_CLASSES: tuple[str, ...] = ("MonteCarloRepeat", "MonteCarloMoments", "CalibratedSoftmax",
                                         "ConformalInterval")
"""dropctl's deterministic layers of a calibrated artifact (``convert --perma --calibration``):
repeat the input T times, reduce to mean/std, apply the fitted calibration. Never stochastic."""

DROPCTL_CLASSES: frozenset[str] = frozenset({*ALWAYS_ON_CLASSES, *CALIBRATION_CLASSES})
"""Every class dropctl registers (as ``dropctl>Name``)."""

STOCK_TO_ALWAYS: dict[str, str] = {stock: ours for ours, stock in ALWAYS_ON_CLASSES.items()}
"""Stock Keras class name -> dropctl's always-on class name."""


def registered_name(class_name: str) -> str:
    """``"AlwaysDropout"`` -> ``"dropctl>AlwaysDropout"`` (what Keras stores for the class)."""
    return f"{PACKAGE}>{class_name}"


def always_on_class(class_name: str | None, registered: str | None = None) -> str | None:
    """The dropctl always-on class named by a saved layer's ``class_name``/``registered_name``.

    Accepts every spelling Keras writes: ``"AlwaysDropout"`` with registered name
    ``"dropctl>AlwaysDropout"`` (.keras) or ``"dropctl>AlwaysDropout"`` as the class name
    itself (legacy .h5). Returns None for anything else, including a bare ``"AlwaysDropout"``
    whose registered name points to another package.
    """
    for candidate in (registered, class_name):
        if isinstance(candidate, str) and candidate.startswith(PACKAGE + ">"):
            name = candidate[len(PACKAGE) + 1 :]
            return name if name in ALWAYS_ON_CLASSES else None
    if registered is None and class_name in ALWAYS_ON_CLASSES:
        return class_name
    return None
