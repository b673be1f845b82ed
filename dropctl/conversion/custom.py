"""Custom subclasses of Keras' dropout layers: which of them ``convert`` may treat as that layer.

The Hands-On-ML recipe ``class MCDropout(Dropout): def call(self, x): return super().call(x,
training=True)`` (and its kin: a renamed ``Dropout``, an always-on ``GaussianNoise``) is a stock
dropout layer whose ``training`` is forced. Statically it is a custom class whose code is unknown
(DC401); with ``--custom-objects`` its class is imported, so this module can tell, and only then
``convert --standard`` / ``--strip`` / ``--perma`` rewrite it as the stock layer it extends
(:func:`dropctl.conversion.plan.plan_conversion` takes the verdicts,
:class:`~dropctl.conversion.report.CustomVerdict`, as plain data).

A class counts as "the layer it extends" only when all of this holds, measured, never assumed:

1. one of Keras' element-wise stochastic layers (:data:`FAMILY`) is in its MRO;
2. that stock layer accepts the custom layer's own config unchanged (no extra parameters:
   Keras' ``Layer.__init__`` rejects unknown keywords) and gives back the same config;
3. called on a probe batch with the same seed, the custom layer's output equals the stock
   layer's with ``training=True`` bit for bit, and for ``training=False`` and ``None`` equals the
   stock layer's with either ``training=True`` (always on, like ``MCDropout``) or with
   ``training=False`` (a training-only subclass). Same seed, same mask: both draw from a
   ``SeedGenerator`` created with that seed, so an override that changes the rate, draws twice
   or does anything else shows up as a different output.

Anything else is left alone with one line saying why. Imports Keras (inside the functions) and
runs the user's class, which ``--custom-objects`` already imported: nothing from the file runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dropctl.conversion.report import CustomVerdict
from dropctl.reader.report import SiteKind
from dropctl.reader.sites import classify
from dropctl.reader.walker import Layer, walk

FAMILY = ("SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "Dropout",
          "GaussianDropout", "GaussianNoise", "AlphaDropout")
"""Keras' weightless, shape-preserving stochastic layers, most specific first (SpatialDropout*
extend Dropout): a custom subclass of one of them can be replaced by it or removed."""

_RANK = {"SpatialDropout1D": 3, "SpatialDropout2D": 4, "SpatialDropout3D": 5}
_PROBE_SEED = 1729


def custom_site_layers(model_config: dict[str, Any]) -> list[Layer]:
    """The layers the static reader calls custom stochastic sites (DC401)."""
    out = []
    for layer in walk(model_config)[1:]:
        spec = classify(layer)
        if spec is not None and spec.kind is SiteKind.CUSTOM:
            out.append(layer)
    return out


def judge_custom_sites(model_config: dict[str, Any], custom_objects: Sequence[str]
                       ) -> dict[str, CustomVerdict]:
    """Path -> verdict for every custom site of the config (empty without ``custom_objects``)."""
    layers = custom_site_layers(model_config)
    if not layers or not custom_objects:
        return {}
    from dropctl.runtime import keras_module
    from dropctl.runtime.custom import import_custom_objects

    keras = keras_module("dropctl convert --custom-objects")
    objects = import_custom_objects(custom_objects)
    return {layer.path: judge(layer, _find_class(keras, layer, objects), keras)
            for layer in layers}


def _find_class(keras: Any, layer: Layer, objects: Mapping[str, Any]) -> Any:
    """The class Keras would build for the entry: registered name first, then the class name
    (``serialization_lib._retrieve_class_or_fn``'s order; a legacy .h5 stores ``pkg>Name`` as
    the class name itself). Measured on Keras 3.15.1: an unregistered class is saved with
    ``registered_name`` equal to its bare name and ``module`` the defining module (``__main__``
    for a script), so ``--custom-objects``' by-name entries find it."""
    for name in (layer.registered_name, layer.stored_class_name, layer.class_name):
        if not name:
            continue
        found = objects.get(name) or keras.saving.get_registered_object(name, objects)
        if inspect.isclass(found):
            return found
    return None


def _stock_base(keras: Any, cls: Any) -> Any:
    for klass in cls.__mro__[1:]:
        if klass.__name__ in FAMILY and getattr(keras.layers, klass.__name__, None) is klass:
            return klass
    return None


def _probe_config(config: dict[str, Any], stock: str) -> dict[str, Any]:
    cfg = dict(config, seed=_PROBE_SEED) if "seed" in config else dict(config)
    key = "stddev" if stock == "GaussianNoise" else "rate"
    if not cfg.get(key):  # rate 0 is the identity whatever the class does: probe a real rate
        cfg[key] = 0.5
    return cfg


def _probe_input(config: dict[str, Any], stock: str) -> np.ndarray:
    shape: list[int] = [4] + [6] * (_RANK.get(stock, 2) - 1)
    noise = config.get("noise_shape")
    if isinstance(noise, list | tuple) and noise and stock not in _RANK:
        shape = [4] + [d if isinstance(d, int) and d > 1 else 6 for d in noise[1:]]
    rng = np.random.default_rng(0)
    return (rng.normal(size=shape) + 3.0).astype("float32")  # no zeros: a dropped unit shows


def judge(layer: Layer, cls: Any, keras: Any) -> CustomVerdict:
    """The verdict for one custom site given the class ``--custom-objects`` provides (None:
    not provided). See the module docstring for the three conditions."""
    name = layer.stored_class_name or layer.class_name

    def alone(reason: str) -> CustomVerdict:
        return CustomVerdict(layer.path, name, None, reason=reason)

    if cls is None:
        return alone("--custom-objects does not define it")
    base = _stock_base(keras, cls)
    if base is None:
        return alone("not a subclass of a Keras dropout or noise layer, so dropctl cannot "
                     "tell what it does")
    stock = base.__name__
    try:
        own = cls.from_config(dict(layer.config)).get_config()
    except Exception as exc:  # noqa: BLE001 - the user's class refusing its own config
        return alone(f"it cannot be built from its saved config ({type(exc).__name__})")
    try:
        same = base.from_config(dict(own)).get_config()
    except Exception:  # noqa: BLE001 - Keras rejecting keys the subclass added
        extra = sorted(set(own) - set(inspect.signature(base.__init__).parameters)
                       - {"name", "trainable", "dtype"})
        return alone(f"it has parameters {stock} lacks ({', '.join(extra) or 'its config'})")
    if same != own:
        return alone(f"its config reads differently as {stock}")
    cfg = _probe_config(own, stock)
    x = _probe_input(own, stock)
    try:
        on = _run(base, cfg, x, True)
        off = _run(base, cfg, x, False)
        seen = {training: _run(cls, cfg, x, training) for training in (True, False, None)}
    except Exception as exc:  # noqa: BLE001 - the user's call failing on a probe batch
        return alone(f"calling it on a probe batch failed ({type(exc).__name__})")
    if not np.array_equal(seen[True], on):
        return alone(f"its call in training differs from {stock}'s")
    inference = [_same_as(seen[t], on, off) for t in (False, None)]
    if inference == ["on", "on"]:
        return CustomVerdict(layer.path, name, stock, always_on=True)
    if inference == ["off", "off"]:
        return CustomVerdict(layer.path, name, stock, always_on=False)
    return alone(f"its call at inference is neither {stock}'s nor always-on {stock}")


def _run(klass: Any, cfg: dict[str, Any], x: np.ndarray, training: bool | None) -> np.ndarray:
    """One call of a freshly built layer (a fresh SeedGenerator: the first mask of the seed).

    ``Layer.__call__`` passes ``training`` only to a ``call`` that declares it (Keras 3.15.1,
    measured): the recipe's ``call(self, inputs)`` never sees it, so its forced ``True`` wins."""
    layer = klass.from_config(dict(cfg))
    return np.asarray(layer(x, training=training))


def _same_as(out: np.ndarray, on: np.ndarray, off: np.ndarray) -> str:
    if np.array_equal(out, on):
        return "on"
    return "off" if np.array_equal(out, off) else "other"
