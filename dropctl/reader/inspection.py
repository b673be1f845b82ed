"""``dropctl inspect``'s core: artifact -> walked layers -> sites and findings -> InspectReport.

Pure Python over the static reader: never imports TensorFlow or Keras.
"""

from __future__ import annotations

from pathlib import Path

from dropctl.reader.artifact import Artifact, read_artifact
from dropctl.reader.findings import layer_findings, site_findings
from dropctl.reader.report import Finding, InspectReport, LayerEntry, ModelInfo, Site
from dropctl.reader.sites import classify, phases
from dropctl.reader.versions import KerasTarget, resolve_target
from dropctl.reader.walker import Layer, walk


def build_sites(layers: list[Layer], keras: tuple[int, int, int] = (3, 15, 0)
                ) -> list[tuple[Site, Layer]]:
    """Every stochastic site with the layer it belongs to, in walk order, for Keras ``keras``."""
    out: list[tuple[Site, Layer]] = []
    for layer in layers:
        if layer.depth == 0:
            continue
        spec = classify(layer)
        if spec is None:
            continue
        ph = phases(layer, spec, keras)
        site = Site(
            path=layer.path,
            class_name=layer.class_name,
            kind=spec.kind,
            rate=spec.rate,
            recurrent_rate=spec.recurrent_rate,
            stddev=spec.stddev,
            trainable=layer.trainable,
            effective_trainable=layer.effective_trainable,
            training_pinned=layer.pin,
            in_fit=ph.in_fit,
            in_predict=ph.in_predict,
            in_predict_keras2=ph.in_predict_keras2,
            in_call=ph.in_call,
            module=layer.module,
            note=ph.note,
        )
        out.append((site, layer))
    return out


def report_from_artifact(artifact: Artifact, *, display_path: str | None = None,
                         include_layers: bool = True, keras: str | KerasTarget | None = None
                         ) -> InspectReport:
    """Build the inspect report of an artifact already read by :func:`read_artifact`.

    Verdicts are for ``keras`` (a version or a :class:`KerasTarget`); None: the installed
    Keras, else the version that saved the file (:func:`dropctl.reader.versions.resolve_target`).
    """
    target = keras if isinstance(keras, KerasTarget) else resolve_target(keras, artifact.keras_version)
    layers = walk(artifact.model_config)
    root = layers[0]
    pairs = build_sites(layers, target.parsed)
    site_paths = {s.path for s, _ in pairs}
    findings: list[Finding] = []
    for layer in layers:
        findings.extend(layer_findings(layer))
    for site, layer in pairs:
        findings.extend(site_findings(site, layer))
    name = artifact.model_config.get("config")
    model_name = name.get("name") if isinstance(name, dict) else None
    info = ModelInfo(
        path=display_path if display_path is not None else str(artifact.path),
        format=artifact.format,
        keras_version=artifact.keras_version,
        backend=artifact.backend,
        name=model_name if isinstance(model_name, str) else root.name,
        class_name=root.class_name,
        has_weights=artifact.has_weights,
    )
    entries = tuple(
        LayerEntry(
            path=layer.path,
            class_name=layer.class_name,
            depth=layer.depth,
            trainable=layer.trainable,
            effective_trainable=layer.effective_trainable,
            container=layer.container,
            stochastic=layer.path in site_paths,
        )
        for layer in layers
    ) if include_layers else ()
    return InspectReport(
        model=info,
        sites=tuple(s for s, _ in pairs),
        findings=tuple(findings),
        opaque=tuple(layer.path for layer in layers if layer.opaque),
        layers=entries,
        keras_target=target,
    )


def inspect_path(path: str | Path, *, include_layers: bool = True,
                 keras: str | KerasTarget | None = None) -> InspectReport:
    """Read ``path`` statically and return its :class:`InspectReport` (verdicts for ``keras``)."""
    artifact = read_artifact(path)
    return report_from_artifact(artifact, display_path=str(path), include_layers=include_layers,
                                keras=keras)
