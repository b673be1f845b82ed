"""Files whose stored class names lie: dropctl's report against what Keras itself builds.

Each file is a real model saved by Keras, then edited the way an attacker would edit it
(``class_name``/``module`` say one class, ``registered_name`` another, or a homoglyph name).
The oracle is ``keras.saving.load_model`` in this process (keras_hub and dropctl's layers
imported, as in any process that uses them): the class and the rate of the layer it builds,
or its refusal. dropctl's static report must name the class Keras builds and fail ``check``;
dropctl's loader must refuse the file (``convert`` and ``mc-predict`` exit 2, nothing written).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tests.support import LazyModule, needs_hub

keras = LazyModule("keras")


def _edit(src: Path, dst: Path, name: str, patch: dict[str, Any], cfg: dict[str, Any]) -> Path:
    """``src`` with the layer called ``name`` given the stored fields ``patch`` and config keys."""
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    doc = json.loads(members["config.json"])
    (entry,) = [e for e in doc["config"]["layers"] if e["config"]["name"] == name]
    entry.update(patch)
    entry["config"].update(cfg)
    members["config.json"] = json.dumps(doc).encode()
    with zipfile.ZipFile(dst, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    return dst


@pytest.fixture(scope="session")
def forged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The forged files, built once from two real models."""
    d = tmp_path_factory.mktemp("forged")
    inp = keras.Input((5, 8))
    out = keras.layers.Identity(name="ident")(inp)
    plain = d / "identity.keras"
    keras.Model(inp, out).save(plain)
    files = {
        # dropctl's own layer under a bare registered name: stock Keras never registers it
        "bare_always": _edit(plain, d / "bare_always.keras", "ident",
                             {"registered_name": "AlwaysDropout"}, {"rate": 0.5}),
        # the registered dropctl name behind an innocent class_name: the registry wins
        "dropctl_behind_identity": _edit(plain, d / "dropctl_behind_identity.keras", "ident",
                                         {"registered_name": "dropctl>AlwaysDropout"},
                                         {"rate": 0.5}),
        # Cyrillic "о" (U+043E) in Dropout, under keras.layers
        "homoglyph": _edit(plain, d / "homoglyph.keras", "ident",
                           {"class_name": "Dr\u043epout"}, {"rate": 0.5}),
    }
    from importlib.util import find_spec

    if find_spec("keras_hub") is not None:
        import keras_hub

        q = keras.Input((5, 8))
        att = keras_hub.layers.CachedMultiHeadAttention(num_heads=2, key_dim=4, dropout=0.5,
                                                        name="att")(q, q)
        hub = d / "attention.keras"
        keras.Model(q, att).save(hub)
        files["hub_behind_dense"] = _edit(
            hub, d / "hub_behind_dense.keras", "att",
            {"module": "keras.layers", "class_name": "Dense",
             "registered_name": "keras_hub>CachedMultiHeadAttention"}, {})
    return files


def _keras_builds(path: Path) -> list[tuple[str, float | None]] | str:
    """What keras.saving.load_model builds: (class, dropout rate) per layer, or its refusal."""
    import dropctl.layers  # noqa: F401  registers dropctl>AlwaysDropout & co.

    try:
        model = keras.saving.load_model(path)
    except Exception as exc:  # noqa: BLE001 - the oracle's answer is the refusal itself
        return type(exc).__name__
    return [(type(layer).__name__, getattr(layer, "rate", getattr(layer, "_dropout", None)))
            for layer in model.layers[1:]]


def _check(path: Path, *args: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from dropctl.cli import app

    result = CliRunner().invoke(app, ["check", str(path), *args])
    return result.exit_code, result.stdout + result.stderr


@needs_hub
def test_registered_hub_class_behind_dense_is_reported_as_keras_builds_it(
        forged: dict[str, Path]) -> None:
    import dropctl

    built = _keras_builds(forged["hub_behind_dense"])
    assert built == [("CachedMultiHeadAttention", 0.5)]  # the oracle: attention, dropout 0.5
    report = dropctl.inspect(forged["hub_behind_dense"])
    (site,) = report.sites
    assert (site.class_name, site.rate) == built[0]
    assert {f.code for f in report.findings} == {"DC501"}
    code, out = _check(forged["hub_behind_dense"], "--max-rate", "0.1")
    assert code == 1 and "DC501" in out and "above max_rate 0.1" in out


def test_bare_always_dropout_registered_name_is_refused_like_stock_keras(
        forged: dict[str, Path]) -> None:
    import dropctl
    from dropctl.errors import UnsupportedModelError
    from dropctl.layers import always_on_layer_classes
    from dropctl.runtime.loader import load

    path = forged["bare_always"]
    # Keras refuses the file. 3.15 names the unused registered_name (ValueError); 3.6 ignores
    # the name, builds Identity and fails on its unexpected `rate` (TypeError, "could not be
    # deserialized properly"), so the refusal's type is version-dependent, the refusal is not.
    new_keras = tuple(int(p) for p in keras.version().split(".")[:2]) >= (3, 15)
    assert _keras_builds(path) == ("ValueError" if new_keras else "TypeError")
    # dropctl's own classes passed as custom objects no longer match the bare name
    with pytest.raises(ValueError if new_keras else TypeError,
                       match="registered_name='AlwaysDropout'" if new_keras else "deserialized"):
        keras.saving.load_model(path, custom_objects=always_on_layer_classes())
    report = dropctl.inspect(path)
    assert report.sites == () and {f.code for f in report.findings} == {"DC501"}
    code, out = _check(path)
    assert code == 1 and "DC501" in out
    with pytest.raises(UnsupportedModelError, match="DC501"):
        load(path)


def test_registered_dropctl_name_wins_over_class_name(forged: dict[str, Path]) -> None:
    import dropctl
    from dropctl.reader.report import Phase

    path = forged["dropctl_behind_identity"]
    assert _keras_builds(path) == [("AlwaysDropout", 0.5)]
    report = dropctl.inspect(path)
    (site,) = report.sites
    assert (site.class_name, site.rate, site.in_predict) == ("AlwaysDropout", 0.5, Phase.ALWAYS)
    assert "DC501" in {f.code for f in report.findings}


def test_homoglyph_class_no_keras_builds(forged: dict[str, Path]) -> None:
    import dropctl

    path = forged["homoglyph"]
    assert _keras_builds(path) in ("TypeError", "ValueError")
    report = dropctl.inspect(path)
    (finding,) = [f for f in report.findings if f.code == "DC502"]
    assert "U+043E" in finding.message and "looks like Dropout" in finding.message
    code, out = _check(path)
    assert code == 1 and "DC502" in out


@pytest.mark.parametrize("mode", ["--standard", "--perma", "--strip"])
def test_convert_fails_closed_on_forged_files(forged: dict[str, Path], tmp_path: Path,
                                              mode: str) -> None:
    from typer.testing import CliRunner

    from dropctl.cli import app

    for name in ("bare_always", "dropctl_behind_identity", "homoglyph"):
        out = tmp_path / f"{name}{mode}.keras"
        result = CliRunner().invoke(app, ["convert", str(forged[name]), str(out), mode])
        assert result.exit_code == 2, (name, result.stdout, result.stderr)
        assert result.stderr.startswith("Error: ") and "forged" in result.stderr
        assert "verified" not in result.stdout and not out.exists()


def test_static_verification_catches_an_always_on_out(tmp_path: Path) -> None:
    """The static read-back alone rejects an OUT that still holds an always-on layer after
    --standard, or lacks one after --perma (what Keras builds is the oracle for the file)."""
    import dropctl.layers as L
    from dropctl.conversion.build import static_contradiction
    from dropctl.conversion.report import Action, ConvertMode, ConvertReport, SiteChange
    from dropctl.reader.formats import read_model
    from dropctl.reader.report import ArtifactFormat

    inp = keras.Input((4,))
    x = keras.layers.Dense(3, name="d")(inp)
    always = keras.Model(inp, L.AlwaysDropout(0.5, name="drop")(x), name="m")
    stock = keras.Model(inp, keras.layers.Dropout(0.5, name="drop")(x), name="m")
    a, s = tmp_path / "always.keras", tmp_path / "stock.keras"
    always.save(a)
    stock.save(s)
    reloaded = keras.saving.load_model(a)
    assert type(reloaded.get_layer("drop")).__name__ == "AlwaysDropout"
    x1 = np.ones((2, 4), "float32")
    assert not np.array_equal(reloaded.predict(x1, verbose=0), reloaded.predict(x1, verbose=0))

    def report(mode: ConvertMode, action: Action) -> ConvertReport:
        change = SiteChange("m/drop", action, "Dropout", "AlwaysDropout", 0.5, 0.5,
                            None, None)
        return ConvertReport(str(s), str(a), mode, ArtifactFormat.KERAS, ArtifactFormat.KERAS,
                             (change,), ())

    standard = static_contradiction(a, read_model(s), report(ConvertMode.STANDARD,
                                                             Action.STANDARD))
    assert standard is not None and "still acts under predict() at m/drop" in standard
    perma = static_contradiction(s, read_model(s), report(ConvertMode.PERMA, Action.ALWAYS_ON))
    assert perma is not None and "does not act under predict()" in perma
    assert static_contradiction(a, read_model(s), report(ConvertMode.PERMA,
                                                         Action.ALWAYS_ON)) is None
    assert static_contradiction(s, read_model(s), report(ConvertMode.STANDARD,
                                                         Action.STANDARD)) is None
