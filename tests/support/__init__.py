"""Shared test and benchmark helpers: sample paths, the hostile corpus builder, fuzz strategies.

Tests import ``tests.support``; the bench scripts are run from the project root as modules
(``python -m bench.hostile_limits``), so they import the same helpers without touching
``sys.path``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
"""The project checkout."""
SAMPLES = ROOT / "sample_models"
"""The committed sample artifacts (made by python -m sample_models.make)."""
REAL_MODELS = ROOT.parent / "shared" / "real_models"
DOCS = ROOT / "docs"
"""The docs site's pages (mkdocs); README.md is the short front page."""


def doc_text(*pages: str) -> str:
    """README.md and every docs page (or just ``pages``, paths under docs/), joined: what a user
    reads, for tests that hold the docs to the behaviour."""
    paths = [DOCS / page for page in pages] if pages else [ROOT / "README.md",
                                                            *sorted(DOCS.rglob("*.md"))]
    return "\n".join(path.read_text(encoding="utf-8") for path in paths)
"""The read-only corpus of real published Keras files (absent on some machines)."""


def sample_files() -> list[Path]:
    """Every model artifact in sample_models/ (for parametrisation at collection time)."""
    return sorted(
        p for p in SAMPLES.iterdir()
        if p.suffix in (".keras", ".h5", ".hdf5") or (p.suffix == ".json" and p.name != "MANIFEST.json")
    )


def real_model_files() -> list[Path]:
    """Every file of the real corpus, or [] when it is absent."""
    if not REAL_MODELS.is_dir():
        return []
    return sorted(p for p in REAL_MODELS.iterdir() if p.suffix in (".keras", ".h5", ".hdf5"))


class LazyModule:
    """A module imported on first attribute access (Keras through dropctl's quiet import).

    Test modules that use Keras bind ``keras = LazyModule("keras")`` at module level, so
    collecting the suite never imports TensorFlow; the first test that touches ``keras.``
    pays the import.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> object:
        import importlib

        if attr.startswith("_") or attr == "pytestmark":  # pytest's collection probes
            raise AttributeError(attr)

        if self._name in ("keras", "dropctl.layers"):
            from dropctl.runtime import keras_module

            keras_module()  # quiet import, always-on layers registered
        return getattr(importlib.import_module(self._name), attr)


needs_hub = pytest.mark.skipif(
    importlib.util.find_spec("keras_hub") is None,
    reason="keras_hub is not installed (scripts/matrix.sh venvs: keras-hub needs Keras >= 3.15 "
           "and tensorflow-text; the default test environment has it)")
"""Runs a keras_hub model: skipped where keras_hub cannot be installed, never in the dev env."""

needs_tf = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None,
    reason="tensorflow is not installed (the jax/torch venvs of scripts/matrix.sh): TF SavedModel "
           "checkpoints are read with TensorFlow")
"""Reads a TF SavedModel checkpoint: skipped in the TensorFlow-free backend venvs."""


def fresh_names() -> Any:
    """Keras' layer-name counters as in a fresh process (what a user's ``dropctl`` process
    sees): the runtime's own scope (:func:`dropctl.runtime.compat.fresh_layer_names`, where
    the private Keras access lives), imported when used so collecting imports no Keras."""
    from dropctl.runtime.compat import fresh_layer_names

    return fresh_layer_names()


def uncalled(layers: dict[str, Any], run: Callable[[], Any],
             passthrough: frozenset[str] = frozenset()) -> set[str]:
    """The keys of ``layers`` ({path: layer}) whose layer Keras never calls while ``run()``
    runs (a site built but dead: keras_hub 0.32's GemmaDecoderBlock builds a
    ``feedforward_dropout`` its ``call`` never uses). Each layer's ``call`` is wrapped by an
    instance attribute, so only these instances, in this build, are instrumented. The layers
    in ``passthrough`` return their input instead of running their code (a layer whose own
    call raises, keras_hub 0.32's DINOV2DropPath under training=True)."""
    called: set[int] = set()
    for path, layer in layers.items():
        def call(*args: Any, _layer: Any = layer, _skip: bool = path in passthrough,
                 **kwargs: Any) -> Any:
            called.add(id(_layer))
            if _skip:
                return args[0] if args else kwargs["inputs"]
            return type(_layer).call(_layer, *args, **kwargs)

        object.__setattr__(layer, "call", call)
    run()
    return {p for p, layer in layers.items() if id(layer) not in called}


@functools.lru_cache(maxsize=1)
def gen_semantics() -> Any:
    """scripts/gen_semantics.py as a module (the catalogue's generator: its builds and checks
    are the ones the tests repeat)."""
    spec = importlib.util.spec_from_file_location("gen_semantics",
                                                  ROOT / "scripts" / "gen_semantics.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Hang(BaseException):
    """Raised by :func:`hang_guard`; a BaseException so no ``except Exception`` in dropctl (or
    click's test runner) can hide it."""


def _hang(*_: Any) -> None:
    raise Hang


@contextlib.contextmanager
def hang_guard(seconds: int) -> Iterator[None]:
    """A hang inside the block becomes :class:`Hang` after ``seconds`` (SIGALRM), where an
    elapsed-time check after the fact would wait forever and flake on a busy machine: a guard
    against never finishing, not a timing target (those are in ``bench/``)."""
    old = signal.signal(signal.SIGALRM, _hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
