"""``dropctl inspect``'s core: artifact -> walked layers -> sites and findings -> InspectReport.

Pure Python over the static reader: never imports TensorFlow or Keras.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dropctl.reader.artifact import Artifact
from dropctl.reader.callables import CodeHit, scan_document
from dropctl.reader.findings import (
    api_findings,
    document_findings,
    layer_findings,
    site_findings,
    with_cves,
)
from dropctl.reader.formats import read_model
from dropctl.reader.hub import HubSite, hub_sites, unknown_hub_site
from dropctl.reader.report import Finding, InspectReport, LayerEntry, ModelInfo, Phase, Site
from dropctl.reader.sites import Phases, SiteSpec, classify, phases
from dropctl.reader.versions import KerasTarget, resolve_target
from dropctl.reader.walker import Layer, backward_twin, walk


def _hub_site_pairs(layer: Layer, found: list[HubSite], keras: tuple[int, int, int]
                    ) -> list[tuple[Site, Layer]]:
    """Sites a keras_hub model's code creates, placed below the model's own path."""
    out = []
    for hub in found:
        note = (f"keras_hub {layer.class_name}: {hub.param} sets it" if hub.known and hub.param
                else f"keras_hub {layer.class_name}: rate fixed in keras_hub's code"
                if hub.known else
                f"keras_hub {layer.class_name}: dropout built in code dropctl does not model")
        spec = SiteSpec(hub.kind, hub.rate, None, None, False, not hub.known, note)
        ph = phases(layer, spec, keras)
        if not hub.called:  # measured by the catalogue's generator: no phase calls it
            ph = Phases(False, Phase.NEVER, Phase.NEVER, Phase.NEVER,
                        f"keras_hub {layer.class_name} builds it and never calls it, even "
                        "with training=True: it never acts")
        path = f"{layer.path}/{hub.rel_path}" if hub.rel_path else layer.path
        out.append((Site(path=path, class_name=hub.class_name, kind=spec.kind, rate=spec.rate,
                         recurrent_rate=None, stddev=None, trainable=layer.trainable,
                         effective_trainable=layer.effective_trainable,
                         training_pinned=layer.pin, in_fit=ph.in_fit, in_predict=ph.in_predict,
                         in_predict_keras2=ph.in_predict_keras2, in_call=ph.in_call,
                         module=layer.module, note=ph.note, dead=not hub.called,
                         training_fails=hub.fails, noise=hub.noise), layer))
    return out


def _outside_layers(artifact: Artifact, root: str) -> list[CodeHit]:
    """Code in the document outside the layer tree: Keras 3 compile_config (and any other key
    beside ``config``), the legacy training_config attribute."""
    hits = scan_document(artifact.model_config, root, skip=frozenset({"config"}))
    if artifact.training_config is not None:
        hits.extend(scan_document(artifact.training_config, "training_config"))
    return hits


def build_sites(layers: list[Layer], keras: tuple[int, int, int] = (3, 15, 0)
                ) -> list[tuple[Site, Layer]]:
    """Every stochastic site with the layer it belongs to, in walk order, for Keras ``keras``."""
    out: list[tuple[Site, Layer]] = []
    for layer in layers:
        hub = hub_sites(layer)
        if hub is not None:
            out.extend(_hub_site_pairs(layer, hub, keras))
            continue
        unknown = unknown_hub_site(layer)
        if unknown is not None:
            out.extend(_hub_site_pairs(layer, [unknown], keras))
            continue
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
        twin = backward_twin(layer, layers)
        if twin is not None:  # Keras builds the backward direction from the same config
            out.append((dataclasses.replace(site, path=twin), layer))
    return out


def report_from_artifact(artifact: Artifact, *, display_path: str | None = None,
                         include_layers: bool = True, keras: str | KerasTarget | None = None
                         ) -> InspectReport:
    """Build the inspect report of an artifact already read by :func:`read_model`.

    Verdicts are for ``keras`` (a version, ``"installed"`` or a :class:`KerasTarget`); None:
    dropctl's stated default, whatever is installed (:func:`dropctl.reader.versions.resolve_target`).
    """
    target = keras if isinstance(keras, KerasTarget) else resolve_target(keras)
    # keras_hub models dropctl understands are not opaque: their sites are listed.
    layers = [dataclasses.replace(layer, opaque=False) if hub_sites(layer) is not None else layer
              for layer in walk(artifact.model_config)]
    root = layers[0]
    pairs = build_sites(layers, target.parsed)
    site_paths = {s.path for s, _ in pairs}
    findings: list[Finding] = []
    for layer in layers:
        findings.extend(layer_findings(layer))
    for site, layer in pairs:
        findings.extend(site_findings(site, layer))
    findings.extend(document_findings(_outside_layers(artifact, root.path)))
    findings.extend(api_findings(artifact.model_config, root.path))
    if artifact.training_config is not None:
        findings.extend(api_findings(artifact.training_config, "training_config"))
    findings = with_cves(findings, target.parsed, target.version)
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
                 config: str | Path | None = None, keras: str | KerasTarget | None = None
                 ) -> InspectReport:
    """Read ``path`` statically and return its :class:`InspectReport` (verdicts for ``keras``).

    ``path`` is a model file or an artifact directory (SavedModel, preset); ``config`` pairs
    a ``*.weights.h5`` with its architecture JSON.
    """
    from dropctl.reader.deployed import detect, report_from_deployed

    if config is None and detect(Path(path)) is not None:  # ONNX, LiteRT, SavedModel graph
        return report_from_deployed(path, str(path))
    artifact = read_model(path, config=config)
    return report_from_artifact(artifact, display_path=str(path), include_layers=include_layers,
                                keras=keras)


def select_sites(report: InspectReport, pattern: str) -> InspectReport:
    """``report`` with only the sites ``--sites pattern`` selects (the matcher every command
    uses, :func:`dropctl.reader.walker.site_matches`) and the findings about them or about
    the model as a whole. Raises :class:`UsageError` when the glob selects nothing."""
    from dropctl.reader.walker import bidirectional_aliases, no_site_error, site_matches

    wrappers = {entry.path for entry in report.layers if entry.class_name == "Bidirectional"}

    def chosen(path: str) -> bool:
        inside = path.rpartition("/")[0] in wrappers
        return site_matches(path, pattern, bidirectional_aliases(path) if inside else ())

    kept = tuple(s for s in report.sites if chosen(s.path))
    if not kept:
        raise no_site_error(pattern, (s.path for s in report.sites),
                            (entry.class_name for entry in report.layers))
    dropped = {s.path for s in report.sites} - {s.path for s in kept}
    return dataclasses.replace(
        report, sites=kept, findings=tuple(f for f in report.findings if f.path not in dropped))
