"""THE class resolution: which class Keras builds for a stored config object, without Keras.

Keras 3 (every release 3.0-3.15, read in ``keras/src/saving/serialization_lib.py``
``_retrieve_class_or_fn`` and ``object_registration.get_registered_object``) looks an object up
in this order:

1. ``registered_name`` (default: ``class_name``) in the custom-object scope, the global registry
   filled by ``register_keras_serializable`` (keras_hub registers every exported class as
   ``keras_hub>Name`` and ``keras_nlp>Name`` on import; dropctl's layers are ``dropctl>Name``),
   then the ``custom_objects`` passed to ``load_model``. When it is found, ``class_name`` and
   ``module`` are **not used**: the registered class is built from the config.
2. Else ``module`` + ``class_name``: under ``keras``/``keras.*`` the public API symbol
   ``module.class_name``; under ``keras``, ``keras_hub``, ``keras_cv``, ``keras_nlp`` the
   module is imported and ``class_name`` taken from it. Since Keras 3.15 (keras PR #22729,
   ``_assert_no_registered_name_for_builtin``) a Keras built-in found this way with a
   ``registered_name`` other than its class name is refused; Keras 3.0-3.14 built it and
   ignored the ``registered_name``.
3. Legacy configs (Keras 2 / tf.keras ``.h5``, no ``module``): ``class_name`` is looked up in
   the registry and ``custom_objects`` first (so ``dropctl>AlwaysDropout``), then among the
   built-in layers by name.

The walker (:mod:`dropctl.reader.walker`) resolves every layer here, so the sites, findings,
``convert``'s planner and the runtime's expectations describe the class Keras would build, and
a file whose names disagree (a forged ``registered_name``, a homoglyph class name, a name that
resolves differently across Keras versions) raises a security finding (DC501, DC502).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dropctl.errors import UnsupportedModelError
from dropctl.reader.classes import BUILTIN_CLASSES
from dropctl.reader.layer_names import DROPCTL_CLASSES, PACKAGE

HUB_PACKAGES = ("keras_hub", "keras_nlp", "keras_cv")
"""Packages that register their classes as ``package>Name`` (keras_hub registers both
``keras_hub>Name`` and ``keras_nlp>Name``, measured on keras-hub 0.32)."""

REGISTERED_NAME_CHECKED = "3.15"
"""First Keras that refuses a built-in whose ``registered_name`` names something else (PR #22729)."""

# Letters that look like Latin ones (Unicode confusables, the ones seen in homoglyph attacks).
_CONFUSABLES = str.maketrans({
    "а": "a", "в": "B", "е": "e", "к": "k", "м": "M", "н": "H", "о": "o", "р": "p", "с": "c",
    "т": "T", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S",
    "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u",
    "χ": "x", "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
    "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
})


@dataclass(frozen=True)
class Resolution:
    """The class Keras builds for one stored object, and whether the stored names disagree."""

    class_name: str
    """The class Keras builds (``CachedMultiHeadAttention``), without a ``package>`` prefix."""
    package: str | None
    """``keras``, ``keras_hub`` (and friends), ``dropctl``, or None for a class of the user's."""
    via: str
    """How Keras finds it: ``registered_name``, ``module``, ``name`` (legacy form)."""
    problem: str | None = None
    """``mismatch`` (registered_name and class_name name different classes),
    ``unresolvable`` (no Keras builds it) or None."""
    detail: str = ""
    """One sentence: what each Keras version builds, for the finding."""


def _keras_ops_module(module: str | None) -> bool:
    """Whether ``module`` holds Keras' Operation classes (one per ``keras.ops`` function):
    ``keras.ops.*`` or the private ``ops`` package under ``keras`` that Keras 3 records."""
    parts = (module or "").split(".")
    return parts[0] == "keras" and "ops" in parts[1:3] and len(parts) > 2


def ascii_skeleton(name: str) -> str:
    """``name`` with look-alike letters mapped to Latin and accents removed (``Drоpout`` ->
    ``Dropout``): two names with the same skeleton look the same on screen."""
    mapped = name.translate(_CONFUSABLES)
    decomposed = unicodedata.normalize("NFKD", mapped)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _q(name: str | None) -> str:
    """A stored name for a message: ASCII-escaped and cut at 80 characters (it is hostile)."""
    return ascii(name if name is None or len(name) <= 80 else name[:80] + "...")


def _plain(name: str) -> bool:
    return name.isascii() and name.isidentifier()


def _disguise(name: str) -> str:
    """Why a non-ASCII class name is suspect, for the finding."""
    skeleton = ascii_skeleton(name)
    codes = ", ".join(f"U+{ord(c):04X}" for c in name if not c.isascii())[:80]
    if skeleton != name and skeleton in BUILTIN_CLASSES:
        return f"{_q(name)} looks like {skeleton} but holds {codes}"
    return f"{_q(name)} holds non-ASCII characters ({codes})"


def registered_class(registered: str) -> tuple[str, str] | None:
    """(package, class) for a ``registered_name`` that a stock environment resolves: keras_hub's
    and dropctl's own registrations. None for anything else (a user's package, a bare name)."""
    package, sep, name = registered.partition(">")
    if not sep or not _plain(name):
        return None
    if package in HUB_PACKAGES:
        return "keras_hub" if package == "keras_nlp" else package, name
    if package == PACKAGE and name in DROPCTL_CLASSES:
        return PACKAGE, name
    return None


def resolve(entry: dict[str, Any]) -> Resolution:
    """The class Keras builds for ``entry`` (a stored ``{"class_name", "module",
    "registered_name", "config"}`` object), in Keras' own order (see the module docstring)."""
    stored = entry.get("class_name")
    stored = stored if isinstance(stored, str) else "?"
    if "module" in entry or "registered_name" in entry:
        return _resolve_keras3(entry, stored)
    return _resolve_legacy(stored)


def _resolve_keras3(entry: dict[str, Any], stored: str) -> Resolution:
    module = entry.get("module")
    module = module if isinstance(module, str) else None
    raw = entry.get("registered_name", stored)  # Keras: config.get("registered_name", class_name)
    registered = raw if isinstance(raw, str) and raw else None
    found = registered_class(registered) if registered else None
    if found is not None:
        package, cls = found
        if cls == stored:
            return Resolution(cls, package, "registered_name")
        stock = "refuses the file" if module and module.split(".")[0] == "keras" else (
            f"builds {_q(stored)} from {_q(module)}" if module else "refuses the file")
        return Resolution(
            cls, package, "registered_name", "mismatch",
            f"registered_name {_q(registered)} wins over class_name {_q(stored)}: Keras builds "
            f"{package} {cls} in any process where {package} is imported, otherwise it "
            f"{stock}")
    root = module.split(".", 1)[0] if module else None
    differs = registered is not None and registered != stored
    if root == "keras":
        if not _plain(stored):
            return Resolution(stored, "keras", "module", "unresolvable",
                              f"no Keras has the class: {_disguise(stored)}")
        if _keras_ops_module(module) and stored not in BUILTIN_CLASSES:
            # A keras.ops call in a functional graph is saved as its Operation class
            # (module ``keras`` + private ``ops.numpy``, class ``NotEqual``: Keras 3.15.1,
            # measured on a masked tf.keras text model converted to .keras); Keras imports that
            # module to build it. Deterministic, so never a site.
            return Resolution(stored, "keras", "module")
        if stored not in BUILTIN_CLASSES:
            return Resolution(stored, "keras", "module", "unresolvable",
                              f"{module}.{stored} is not a class of any Keras release")
        if differs:
            return Resolution(
                stored, "keras", "module", "mismatch",
                f"registered_name {_q(registered)} names another class than class_name "
                f"{_q(stored)}: Keras 3.0-3.14 build {stored} and ignore it (unless custom objects "
                f"or a registered package supply {_q(registered)}: then they build that), Keras "
                f">={REGISTERED_NAME_CHECKED} refuse the file (keras PR #22729)")
        return Resolution(stored, "keras", "module")
    if root in HUB_PACKAGES or root == "tf_keras":
        package = "keras_hub" if root == "keras_nlp" else root
        if not _plain(stored):
            return Resolution(stored, package, "module", "unresolvable",
                              f"no {root} module has the class: {_disguise(stored)}")
        if differs:
            return Resolution(
                stored, package, "module", "mismatch",
                f"registered_name {_q(registered)} names another class than class_name "
                f"{_q(stored)}: Keras builds {stored} from {_q(module)}, or {_q(registered)} where "
                "custom objects supply it")
        return Resolution(stored, package, "module")
    if root == PACKAGE:
        # The registry lookup failed (dropctl registers only 'dropctl>Name'), and Keras' last
        # step imports keras/keras_hub/keras_cv/keras_nlp modules only: no Keras builds it.
        return Resolution(stored, PACKAGE, "module", "unresolvable",
                          f"dropctl registers its layers as '{PACKAGE}>Name'; class {_q(stored)} "
                          f"with registered_name {_q(registered)} is not one: no Keras builds it")
    # A class of the user's (or a foreign module: DC403/DC204 judge the module).
    if not _plain(stored):
        return Resolution(stored, None, "module", "unresolvable",
                          f"class name {_disguise(stored)}")
    if registered is not None and registered.rpartition(">")[2] != stored:
        return Resolution(
            stored, None, "registered_name", "mismatch",
            f"registered_name {_q(registered)} names another class than class_name {_q(stored)}: "
            f"with that package's code imported Keras builds {_q(registered)}")
    return Resolution(stored, None, "module")


def _resolve_legacy(stored: str) -> Resolution:
    found = registered_class(stored)
    if found is not None:
        return Resolution(found[1], found[0], "name")
    if stored in BUILTIN_CLASSES:
        return Resolution(stored, "keras", "name")
    if not _plain(stored.rpartition(">")[2]):
        skeleton = ascii_skeleton(stored)
        problem = "unresolvable" if skeleton in BUILTIN_CLASSES else None
        return Resolution(stored, None, "name", problem,
                          f"no Keras has the class: {_disguise(stored)}" if problem else "")
    if stored in DROPCTL_CLASSES:
        return Resolution(stored, None, "name", "unresolvable",
                          f"{stored} without the '{PACKAGE}>' prefix: dropctl registers it as "
                          f"'{PACKAGE}>{stored}', so no Keras builds this name")
    return Resolution(stored, None, "name")


def refuse_forged_classes(path: Any, layers: Sequence[Any]) -> None:
    """Refuse to build a model whose stored names disagree about its classes (DC501), name a
    class no Keras has (DC502), or hold a layer name that escapes a directory (DC503): what
    gets built would depend on what happens to be imported and on the Keras version, so no
    report about it can be trusted, and Keras builds paths from layer names (CVE-2026-12479)."""
    for layer in layers:
        res = layer.resolution
        if res is not None and res.problem is not None:
            code = "DC501" if res.problem == "mismatch" else "DC502"
            raise UnsupportedModelError(
                f"{path}: layer {layer.path}: {res.detail}; refusing to build a model "
                f"whose class names are forged ({code})")
        if layer_escapes(layer):
            raise UnsupportedModelError(
                f"{path}: layer name {layer.name[:80]!a} escapes a directory; refusing to "
                "build it (DC503, CVE-2026-12479)")

NON_MODELING_APIS = frozenset("""
keras.backend.clear_session keras.config.enable_unsafe_deserialization keras.models.load_model
keras.models.model_from_json keras.models.save_model
keras.preprocessing.image_dataset_from_directory keras.preprocessing.image.load_img
keras.preprocessing.image.save_img keras.preprocessing.text_dataset_from_directory
keras.saving.deserialize_keras_object keras.saving.load_model keras.saving.load_weights
keras.saving.register_keras_serializable keras.saving.save_model keras.saving.save_weights
keras.saving.serialize_keras_object keras.utils.audio_dataset_from_directory
keras.utils.clear_session keras.utils.deserialize_keras_object keras.utils.get_file
keras.utils.image_dataset_from_directory keras.utils.load_img
keras.utils.register_keras_serializable keras.utils.save_img keras.utils.serialize_keras_object
keras.utils.text_dataset_from_directory
""".split())
"""Keras 3.15's ``serialization_lib.NON_MODELING_APIS`` (keras PR #23115): functions a config
may not name. Older Keras call them while loading (CVE-2025-8747: ``get_file``; CVE-2025-9906:
``enable_unsafe_deserialization``)."""
_NON_MODELING_LEAVES = frozenset(name.rsplit(".", 1)[1] for name in NON_MODELING_APIS)
MAX_API_HITS = 20


def non_modeling_calls(doc: Any, root: str) -> list[tuple[str, str]]:
    """(path, ``module.function``) of every serialized Keras function object in ``doc`` that is
    not a model part, iteratively. A function is stored as ``{"module": "keras.utils",
    "class_name": "function", "config": "get_file", "registered_name": ...}``; its private
    module spelling (under ``keras``, e.g. the file_utils module) counts too."""
    hits: list[tuple[str, str]] = []
    stack: list[tuple[Any, str]] = [(doc, root)]
    while stack and len(hits) < MAX_API_HITS:
        item, path = stack.pop()
        if isinstance(item, dict):
            module, name = item.get("module"), item.get("config")
            if (item.get("class_name") == "function" and isinstance(module, str)
                    and module.split(".", 1)[0] == "keras" and isinstance(name, str)
                    and (f"{module}.{name}" in NON_MODELING_APIS
                         or name in _NON_MODELING_LEAVES)):
                hits.append((path, f"{module}.{name}"[:120]))
            stack.extend((v, f"{path}/{k}") for k, v in item.items() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, f"{path}/{i}") for i, v in enumerate(item)
                         if isinstance(v, dict | list))
    return hits


def escapes_directory(name: str, *, legacy: bool = False) -> bool:
    """Whether a layer name, used by Keras as a directory name (DiskIOStore), leaves it:
    ``..`` or ``.`` as a component, a backslash, an absolute/drive path, or (in a Keras 3
    config, where Keras itself refuses a ``/`` in a name) any separator (CVE-2026-12479).

    ``legacy``: a Keras 1/2 / tf.keras config (classes by bare name). tf.keras named layers
    with ``/`` (keras.applications' MobileNetV3 ``Conv/BatchNorm``, DenseNet ``conv1/bn``): a
    group path inside the HDF5 file, not a file-system path, and dropctl's rescue renames them
    (``/`` -> ``_``) before Keras 3 builds anything, so only ``..``/``.``/absolute parts count."""
    if "\\" in name or name.startswith("/") or name in ("..", "."):
        return True
    if len(name) > 1 and name[1] == ":" and name[0].isalpha():
        return True
    if "/" in name:
        return not legacy or any(part in ("", ".", "..") for part in name.split("/"))
    return False


def layer_escapes(layer: Any) -> bool:
    """:func:`escapes_directory` for a walked layer, legacy when its class resolved by name."""
    res = layer.resolution
    return escapes_directory(layer.name, legacy=res is not None and res.via == "name")
