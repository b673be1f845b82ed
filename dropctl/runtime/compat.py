"""Every private Keras API dropctl touches, in one module, so a new Keras release is a one-file change.

Public Keras (``keras.layers``, ``keras.saving``, ``keras.tree``...) is used directly by the
runtime modules; what Keras does not export (``keras.src...`` and underscore attributes) is
reached only through the functions here. Each one says what it relies on and since when.
Import this module only after :func:`dropctl.runtime.imports.keras_module` (it imports Keras).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from dropctl.runtime.imports import quiet_import_keras


def _keras() -> Any:
    return quiet_import_keras()


# ---- building from a config in safe mode -----------------------------------------------------
@contextlib.contextmanager
def safe_mode() -> Iterator[None]:
    """Keras' ``SafeModeScope(True)``: a Lambda or any other bytecode refuses to deserialize."""
    _keras()
    from keras.src.saving import serialization_lib

    with serialization_lib.SafeModeScope(True):
        yield


@contextlib.contextmanager
def fresh_layer_names() -> Iterator[None]:
    """Keras' layer-name counters as in a fresh process while building, then restored.

    A keras_hub backbone's blocks create their Dropout layers in code with automatic names
    (``dropout``, ``dropout_3``: ``keras.src.utils.naming.uniquify`` counts per name in
    ``global_state``'s ``object_name_uids``), so a second model built in one process would
    get other paths. Built inside this scope every model has the names a fresh process
    gives, the names ``scripts/gen_semantics.py`` recorded in the catalogue (Keras 3.6-3.15).
    """
    _keras()
    import collections

    from keras.src.backend.common import global_state

    before = global_state.get_global_attribute("object_name_uids")
    global_state.set_global_attribute("object_name_uids", collections.defaultdict(int))
    try:
        yield
    finally:
        global_state.set_global_attribute("object_name_uids", before)


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any]) -> Any:
    """A Keras 3 object from its serialized form (``.keras`` config.json), safe mode on."""
    _keras()
    from keras.src.saving import serialization_lib

    return serialization_lib.deserialize_keras_object(
        config, custom_objects=custom_objects, safe_mode=True)


def model_from_legacy_config(config: dict[str, Any], custom_objects: dict[str, Any]) -> Any:
    """A model from a Keras 2 / tf.keras style config (``.h5`` ``model_config``, model JSON)."""
    _keras()
    from keras.src.legacy.saving import saving_options, saving_utils

    with saving_options.keras_option_scope(use_legacy_config=True):
        return saving_utils.model_from_config(config, custom_objects=custom_objects)


def compile_args_from_training_config(training_config: dict[str, Any]) -> dict[str, Any]:
    """``model.compile`` kwargs from a legacy ``.h5`` ``training_config``."""
    _keras()
    from keras.src.legacy.saving import saving_utils

    return dict(saving_utils.compile_args_from_training_config(training_config))


# ---- legacy .h5 weights ----------------------------------------------------------------------
def symbolic_batch_ok() -> bool:
    """Whether every layer can be traced with an unknown batch size (TF ``input_signature``
    ``[None, ...]``). Keras < 3.9: ``TimeDistributed`` with a mask compares the mask's shape with
    the input's in Python (``mask_shape[:2] != (batch_size, timesteps)``) and fails on a symbolic
    batch dimension (OperatorNotAllowedInGraphError; keras PR #20765, released in 3.9; measured on
    3.6 with sample_models/tfkeras/text.*). Keras' own ``predict()`` traces concrete shapes first."""
    from dropctl.reader.versions import parse_version

    return parse_version(str(_keras().version())) >= (3, 9, 0)


def h5_layer_names(group: Any) -> list[str]:
    """``layer_names`` of a legacy weights group (joined across ``layer_names0..N`` chunks)."""
    _keras()
    from keras.src.legacy.saving import legacy_h5_format

    return [n.decode() if isinstance(n, bytes) else str(n)
            for n in legacy_h5_format.load_attributes_from_hdf5_group(group, "layer_names")]


def load_h5_weights_by_name(group: Any, model: Any,
                            renamed: dict[str, str] | None = None) -> None:
    """Keras' by-name legacy weight loader (it skips unmatched layers: callers check first).

    ``renamed``: model layer name -> the name the file stores it under (the rescue renamed
    tf.keras names with ``/``, which Keras 3 refuses); Keras' loader sees the model's names.
    """
    _keras()
    from keras.src.legacy.saving import legacy_h5_format

    top = group.get("top_level_model_weights") if hasattr(group, "get") else None
    own = list(getattr(model, "_trainable_variables", [])) + list(
        getattr(model, "_non_trainable_variables", []))
    hide_top = top is not None and not own and not len(top.attrs.get("weight_names", []))
    # Keras writes an empty top-level group into every .h5; Keras < 3.8's by-name loader
    # compares it with *all* model weights (model.trainable_weights) and fails "Weight count
    # mismatch for top-level weights" (measured on 3.6). The model owns no top-level
    # variables, so hiding the empty group loads exactly the same weights on every version.
    if hide_top or renamed:
        group = _GroupView(group, hide_top, renamed or {})
    legacy_h5_format.load_weights_from_hdf5_group_by_name(group, model)


class _GroupView:
    """An h5py group as Keras' legacy loader should see it: without its (empty)
    ``top_level_model_weights`` member, and with renamed layers under their new names
    (``layer_names`` lists them; a new name opens the group of the file's name). Keras' loader
    opens members with ``saving_lib.safe_get_h5_group`` (``in``, ``get(..., getlink=True)``,
    ``[]``), so those are translated; the groups it gets back are the file's own."""

    def __init__(self, group: Any, hide_top: bool, renamed: dict[str, str]) -> None:
        self._group = group
        self._hide_top = hide_top
        self._renamed = renamed
        self.attrs = _AttrsView(group.attrs, {old: new for new, old in renamed.items()})

    def _name(self, name: str) -> str:
        return self._renamed.get(name, name)

    def __contains__(self, name: object) -> bool:
        if self._hide_top and name == "top_level_model_weights":
            return False
        return isinstance(name, str) and self._name(name) in self._group

    def __getitem__(self, name: str) -> Any:
        return self._group[self._name(name)]

    def get(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self._hide_top and name == "top_level_model_weights":
            return None
        return self._group.get(self._name(name), *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._group, name)


class _AttrsView:
    """A group's attributes with ``layer_names`` (and its ``layer_names0..N`` chunks) giving the
    model's names for renamed layers."""

    def __init__(self, attrs: Any, new_of: dict[str, str]) -> None:
        self._attrs = attrs
        self._new_of = new_of

    def __contains__(self, key: object) -> bool:
        return key in self._attrs

    def __getitem__(self, key: str) -> Any:
        value = self._attrs[key]
        if not (key == "layer_names" or key.startswith("layer_names")) or not self._new_of:
            return value
        names = [n.decode("utf8") if isinstance(n, bytes) else str(n) for n in value]
        return [self._new_of.get(n, n) for n in names]

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self._attrs else default

    def __getattr__(self, name: str) -> Any:
        return getattr(self._attrs, name)


# ---- layer internals -------------------------------------------------------------------------
def all_layers(layer: Any) -> list[Any]:
    """The layer and every layer tracked inside it (nested models, wrappers, RNN cells)."""
    return list(layer._flatten_layers(include_self=True, recursive=True))


def sublayers(layer: Any) -> list[Any]:
    """Every layer tracked inside ``layer`` (not itself); [] for objects that track none."""
    flatten = getattr(layer, "_flatten_layers", None)
    return [] if flatten is None else list(flatten(include_self=False))


def direct_sublayers(layer: Any) -> list[Any]:
    """The layers ``layer`` tracks directly (its attributes), in creation order, not recursing."""
    flatten = getattr(layer, "_flatten_layers", None)
    return [] if flatten is None else list(flatten(include_self=False, recursive=False))


def dropout_rnn_cell_class() -> type:
    """The mixin every dropout-capable RNN cell inherits (``keras.src`` only)."""
    _keras()
    from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

    return DropoutRNNCell


def noise_shape(layer: Any, x: Any) -> list[Any] | None:
    """The noise shape a Dropout-family layer would use for ``x`` (None: same as ``x``)."""
    if hasattr(layer, "_get_noise_shape"):  # SpatialDropout*: computed from the input
        return list(layer._get_noise_shape(x))
    if is_stochastic_depth(layer):  # one draw per example: the whole residual branch
        return [None] + [1] * (len(x.shape) - 1)
    if getattr(layer, "noise_shape", None) is not None:
        return list(layer.noise_shape)
    return None


def batch_sized_noise(layer: Any, call: Callable[..., Any]) -> Callable[..., Any]:
    """``call`` (the layer's own ``call``) with a ``noise_shape`` fixed at build time given the
    batch size of each input.

    keras_hub 0.32's ``DINOV2DropPath`` and ``DINOV3DropPath`` set ``self.noise_shape =
    (input_shape[0], 1, 1)`` in ``build``; a functional backbone is built on a ``None`` batch,
    so their ``call`` under ``training=True`` fails inside the model ("Failed to convert
    elements of (None, 1, 1) to Tensor", measured; their tests use rate 0). For the call the
    ``None`` is the input's batch size, and the layer then draws what its code draws. A layer
    without such a shape gets ``call`` itself.
    """
    shape = getattr(layer, "noise_shape", None)
    if not (isinstance(shape, tuple | list) and shape and any(d is None for d in shape)):
        return call
    keras = _keras()

    def sized(x: Any, *args: Any, **kwargs: Any) -> Any:
        dynamic = keras.ops.shape(x)
        object.__setattr__(layer, "noise_shape", tuple(
            dynamic[i] if d is None else d for i, d in enumerate(shape)))
        try:
            return call(x, *args, **kwargs)
        finally:
            object.__setattr__(layer, "noise_shape", shape)

    return sized


def is_stochastic_depth(layer: Any) -> bool:
    """keras.applications' ``StochasticDepth`` (ConvNeXt ``drop_path_rate``): a private class
    (``keras.src.applications.convnext``), recognised by name and its ``drop_path_rate``."""
    return type(layer).__name__ == "StochasticDepth" and hasattr(layer, "drop_path_rate")


def attention_dropout(layer: Any) -> float:
    """MultiHeadAttention keeps its rate in ``_dropout`` (no public attribute in Keras 3.0-3.15)."""
    return float(getattr(layer, "_dropout", 0.0) or 0.0)


# ---- functional graphs -----------------------------------------------------------------------
def functional_of(model: Any) -> Any:
    """The Functional graph of ``model`` (itself, or a Sequential's inner one), else None."""
    _keras()
    from keras.src.models.functional import Functional

    if isinstance(model, Functional):
        return model
    inner = getattr(model, "_functional", None)
    return inner if isinstance(inner, Functional) else None


def as_raised(exc: BaseException) -> BaseException:
    """``exc`` marked so that Keras' layer-call wrapper re-raises it unchanged.

    An error raised inside a layer's ``call`` comes out of ``Layer.__call__`` rebuilt as
    ``type(exc)(message)`` with "Exception encountered when calling X.call()", the message in
    ANSI bold and the call's arguments. Keras skips an exception that carries
    ``_keras_call_info_injected`` ("only inject info for the innermost failing call":
    ``traceback_utils.inject_argument_info_in_traceback`` in Keras 3.6 - 3.15,
    ``Operation.__call__`` in the 3.16 nightly), so dropctl's own one-line errors raised from
    a patched call reach the user as written."""
    exc._keras_call_info_injected = True  # type: ignore[attr-defined]
    return exc


def trace_call(fn: Callable[[Any], Any], inputs: Any) -> Any:
    """``fn(inputs)`` traced on symbolic ``inputs`` (KerasTensors: shapes, no values) by the
    active backend (``keras.src.backend.compute_output_spec``): every layer's ``call`` runs
    as in an eager call, nested functional models included (``Functional.compute_output_spec``
    itself would return the cached outputs and skip them)."""
    from keras.src import backend

    return backend.compute_output_spec(fn, inputs)


def as_model_inputs(model: Any, inputs: list[Any]) -> Any:
    """``inputs`` (in ``model.inputs`` order) in the structure the model was built with.

    A model built on a dict of inputs (keras_hub backbones: ``{"token_ids", "padding_mask"}``)
    refuses a list in Keras 3.15; ``model.inputs`` is the flattened ``_inputs_struct``.
    """
    struct = getattr(compat_functional(model), "_inputs_struct", None)
    if isinstance(struct, dict) and len(inputs) == len(_keras().tree.flatten(struct)):
        return _keras().tree.pack_sequence_as(struct, list(inputs))
    return list(inputs) if len(inputs) > 1 else inputs[0]


def compat_functional(model: Any) -> Any:
    """The model itself, or a Sequential's inner Functional (the object holding the graph)."""
    return functional_of(model) or model


def accepts_shapes(model: Any, inputs: list[tuple[tuple[int, ...], str]]) -> bool:
    """Whether Keras' own shape inference lets ``model`` take inputs of these ``(shape, dtype)``
    (in ``model.inputs`` order), computing nothing: ``model.compute_output_spec`` on
    ``keras.KerasTensor`` placeholders. A Functional graph asks each layer's
    ``compute_output_shape`` (a layer without one is traced symbolically by the backend), so a
    ``Conv1D`` given fewer steps than its kernel refuses ("Computed output size would be zero or
    negative", ``operation_utils.compute_conv_output_shape``, Keras 3.0-3.15) in ~10 ms for a
    keras_hub backbone. It is only as strict as shape inference: a layer whose output shape
    ignores a mismatch (a padding mask longer than its tokens, in keras_hub 0.32) passes."""
    keras = _keras()
    placeholders = [keras.KerasTensor(shape, dtype=dtype) for shape, dtype in inputs]
    try:
        model.compute_output_spec(as_model_inputs(model, placeholders))
    except Exception:  # noqa: BLE001 - any refusal (Keras' ValueError, a backend's own error) is "no"
        return False
    return True


def run_graph(functional: Any, inputs: list[Any], operation_fn: Callable[[Any], Any]) -> Any:
    """Run ``functional``'s graph with every operation routed through ``operation_fn(op)``."""
    std = functional._standardize_inputs(as_model_inputs(functional, inputs))
    return functional._run_through_graph(std, operation_fn=operation_fn)


def takes_training(op: Any) -> bool:
    """Whether ``op.call`` accepts ``training`` (Keras records it per layer): a set of context
    argument names ``_call_context_args`` where Keras has it (3.15 has both), else the bool
    ``_call_has_training_arg`` (Keras 3.6 has only that: tests/runtime/test_custom_training.py
    in scripts/matrix.sh tf-oldest)."""
    names = getattr(op, "_call_context_args", None)
    if names is not None:
        return "training" in names
    return bool(getattr(op, "_call_has_training_arg", False))


def batch_arguments(functional: Any) -> dict[int, tuple[bool, ...]]:
    """{id(operation): per flattened call argument, whether it carries the batch axis} for the
    graph's nodes (``Function._nodes_by_depth``, ``node.arguments``: ``keras.src`` internals).

    A tensor carries the batch when its symbolic leading dimension is the model inputs' (``None``
    for a model built on any batch size). The Monte Carlo engine replicates only those:
    DINOv3's encoder takes its rotary ``position_embeddings`` as ``[tokens, dim]`` tensors with
    no batch axis, which repeating along axis 0 turns into four times the tokens (measured:
    "Incompatible shapes: [8,16,2,8] vs. [1,64,1,8]"). An operation called at several nodes
    with different argument layouts is left out (the caller then replicates every tensor).
    """
    keras = _keras()
    from keras.src.backend.common.keras_tensor import KerasTensor

    inputs = keras.tree.flatten(getattr(functional, "inputs", None) or [])
    batch = inputs[0].shape[0] if inputs and len(inputs[0].shape) else None
    out: dict[int, tuple[bool, ...]] = {}
    clash: set[int] = set()
    for nodes in getattr(functional, "_nodes_by_depth", {}).values():
        for node in nodes:
            op = getattr(node, "operation", None)
            arguments = getattr(node, "arguments", None)
            if op is None or arguments is None or getattr(node, "is_input", False):
                continue
            flags = tuple(isinstance(x, KerasTensor) and len(x.shape) > 0 and x.shape[0] == batch
                          for x in keras.tree.flatten((arguments.args, arguments.kwargs)))
            if out.setdefault(id(op), flags) != flags:
                clash.add(id(op))
    for key in clash:
        del out[key]
    return out


def keras_mask_fns() -> tuple[Callable[[Any], Any], Callable[[Any, Any], None]]:
    """(get_keras_mask, set_keras_mask): the mask carried on a tensor.

    Defined in ``keras.src.backend.common.masking`` from Keras 3.6 (the oldest supported) through
    the 3.16 nightly (measured: 3.6.0 wheel, 3.15.1, keras-nightly 3.16.0.dev2026102704). Keras
    3.6-3.15 also re-export them from ``keras.src.backend``; the 3.16 nightly no longer does
    (keras-hub 0.32 imports them from there and fails to import on it). No fallback: a Keras that
    moves them again fails here, by name, in tests/runtime/test_compat.py.
    """
    _keras()
    from keras.src.backend.common.masking import get_keras_mask, set_keras_mask

    return get_keras_mask, set_keras_mask


def saved_bytes(model: Any, suffix: str) -> bytes:
    """``model`` saved as a ``.keras`` archive or a legacy ``.h5`` file, in memory."""
    import io

    _keras()
    buf = io.BytesIO()
    if suffix == ".keras":
        from keras.src.saving import saving_lib

        saving_lib.save_model(model, buf)
    else:
        import h5py
        from keras.src.legacy.saving import legacy_h5_format

        with h5py.File(buf, "w") as f:
            legacy_h5_format.save_model_to_hdf5(model, f)
    return buf.getvalue()


def is_tensor(x: Any) -> bool:
    """A backend tensor (TF tensor, JAX array or tracer, torch tensor), not a KerasTensor."""
    keras = _keras()
    ops_is_tensor = getattr(keras.ops, "is_tensor", None)
    if ops_is_tensor is not None:
        return bool(ops_is_tensor(x))
    return bool(keras.backend.is_tensor(x))  # Keras < 3.? : only the backend module has it


def config_for_installed_keras(config: dict[str, Any], version: str) -> dict[str, Any]:
    """``config`` without the default-valued keys a newer Keras wrote and ``version`` rejects
    (:data:`dropctl.reader.versions.NEW_KEYS`): a file saved by Keras 3.15 builds in Keras 3.6.
    A copy is made only when something must go; a non-default value raises UnsupportedModelError."""
    import copy

    from dropctl.errors import UnsupportedModelError, UsageError
    from dropctl.reader.versions import NEW_KEYS, downgrade_config, parse_version

    if parse_version(version) >= max(rule.since for rule in NEW_KEYS):
        return config  # this Keras accepts every key in the table: nothing to copy
    probe = copy.deepcopy(config)
    try:
        dropped = downgrade_config(probe, version)
    except UsageError as exc:
        raise UnsupportedModelError(f"Keras {version} cannot build the model: {exc}") from None
    return probe if dropped else config


@contextlib.contextmanager
def backend_random_replaced(**functions: Callable[..., Any]) -> Iterator[None]:
    """Keras' TensorFlow ``backend.random.<name>`` replaced by ``functions`` while tracing.

    ``dropctl export`` traces its graph inside this: Keras' own noise (``Dropout`` in training,
    GaussianDropout/Noise, AlphaDropout, RNN cells' ``get_dropout_mask``) calls
    ``keras.src.backend.random.uniform/normal/dropout`` (the active backend's module, looked up
    at call time: keras/src/random/random.py, layers/rnn/dropout_rnn_cell.py in Keras 3.15),
    which on TensorFlow draws ``tf.random.stateless_*`` ops keyed by a SeedGenerator variable;
    LiteRT runs those only with Flex and tf2onnx makes them a graph onnxruntime rejects.
    Restored on exit, also on error. TensorFlow backend only.
    """
    _keras()
    from keras.src import backend

    module = backend.random
    saved = {name: getattr(module, name) for name in functions}
    try:
        for name, fn in functions.items():
            setattr(module, name, fn)
        yield
    finally:
        for name, fn in saved.items():
            setattr(module, name, fn)
