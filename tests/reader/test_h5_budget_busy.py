"""The HDF5 reader's CPU budget counts work: real large keras.applications files are never refused
because the machine is busy, while the libhdf5 loop is still stopped.

The models are built once per session by Keras itself (``weights=None``: the architectures and
their 1,000-plus weight datasets, no download) and saved as ``.keras``. While the reads run,
one busy-looping process per core keeps every core at 100% (the loaded CI runner of issue 18).
The two tests on the applications are ``slow`` (14 minutes on the shared 2-core machine; run
with ``-m slow``); the libhdf5-loop test runs in the default suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import SAMPLES, LazyModule

keras = LazyModule("keras")
MODELS = ("DenseNet121", "InceptionResNetV2", "EfficientNetV2B0")


@pytest.fixture(scope="session")
def applications(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("applications")
    out = {}
    for name in MODELS:
        model = getattr(keras.applications, name)(weights=None)
        path = d / f"{name}.keras"
        model.save(path)
        out[name] = path
        del model
    keras.backend.clear_session()
    return out


def _collect_datasets(found: list[str], h5py):
    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Dataset):
            found.append(name)
    return visit


@pytest.mark.slow
def test_real_models_read_on_a_busy_machine(applications: dict[str, Path], busy_cores) -> None:
    import h5py

    from dropctl.reader.h5read import read_h5

    for name, path in applications.items():
        # what the loading commands run first (loader._scan_weights): every dataset read once
        contents = read_h5(path, member="model.weights.h5", scan_weights=True)
        assert contents.datasets, name
        assert all(p.poll() is None for p in busy_cores)  # the cores stayed busy throughout
        import zipfile

        with zipfile.ZipFile(path) as z, z.open("model.weights.h5") as fh, h5py.File(fh) as f:
            found: list[str] = []
            f.visititems(_collect_datasets(found, h5py))
        assert len(contents.datasets) == len(found)  # h5py's own walk: every dataset summarised


@pytest.mark.slow
@pytest.mark.usefixtures("busy_cores")
def test_loading_commands_accept_a_real_model_on_a_busy_machine(applications: dict[str, Path]) -> None:
    from dropctl.runtime.loader import load

    loaded = load(applications["DenseNet121"])
    assert len(loaded.model.layers) > 400


def test_libhdf5_loop_is_still_stopped(tmp_path: Path) -> None:
    """The hostile corpus' loop (a real sample with 512 bytes zeroed) is refused by the step
    budget, with the message naming it."""
    from dropctl.errors import ArtifactError
    from dropctl.reader.h5read import read_h5

    blob = bytearray((SAMPLES / "no_dropout.h5").read_bytes())
    blob[4096:4608] = bytes(512)
    path = tmp_path / "loop.h5"
    path.write_bytes(bytes(blob))
    with pytest.raises(ArtifactError, match="one libhdf5 call used over 1 s of CPU"):
        read_h5(path)
