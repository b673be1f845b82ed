"""Every finding code, raised from a real config file written the way Keras writes it.

Configs are small hand-written model JSON documents (``model.to_json()`` shape) in the
Keras 2 list-node form and the Keras 3 dict-node form, written to real files.
"""

from __future__ import annotations

import base64
import json
import marshal
from pathlib import Path

import pytest

import dropctl
from dropctl.reader.lambdas import analyze_lambda
from dropctl.reader.report import Phase, Severity, SiteKind, Verdict
from dropctl.rules import FINDINGS as RULES
from tests.support import fresh_names, gen_semantics, needs_hub, uncalled


def k2_layer(cls: str, name: str, inbound: str | None, kwargs: dict | None = None, **config) -> dict:
    node = [] if inbound is None else [[[inbound, 0, 0, kwargs or {}]]]
    return {"class_name": cls, "name": name, "config": {"name": name, "trainable": True, **config},
            "inbound_nodes": node}


def functional(layers: list[dict], name: str = "m") -> dict:
    return {"class_name": "Functional", "keras_version": "2.15.0", "backend": "tensorflow",
            "config": {"name": name, "layers": layers,
                       "input_layers": [[layers[0]["name"], 0, 0]],
                       "output_layers": [[layers[-1]["name"], 0, 0]]}}


def sequential(layers: list[dict], name: str = "seq") -> dict:
    return {"class_name": "Sequential", "config": {"name": name, "layers": layers}}


def layer(cls: str, name: str, **config) -> dict:
    return {"class_name": cls, "config": {"name": name, "trainable": True, **config}}


def write(tmp_path: Path, doc: dict, name: str = "model.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def codes(path: Path) -> list[str]:
    return sorted(f.code for f in dropctl.inspect(path).findings)


def lambda_code(fn) -> str:
    """Marshal a real lambda's code object the way Keras' func_dump does (base64)."""
    return base64.b64encode(marshal.dumps(fn.__code__)).decode("ascii")


def test_pinned_false_in_keras2_nodes(tmp_path: Path) -> None:
    doc = functional([
        k2_layer("InputLayer", "x", None, batch_input_shape=[None, 4]),
        k2_layer("Dropout", "dropout", "x", {"training": False}, rate=0.2),
    ])
    report = dropctl.inspect(write(tmp_path, doc))
    (site,) = report.sites
    assert site.training_pinned is False and site.in_fit is True
    assert codes(tmp_path / "model.json") == ["DC103"]


def test_pin_on_a_nested_model_call_is_inherited(tmp_path: Path) -> None:
    inner = functional([
        k2_layer("InputLayer", "i", None, batch_input_shape=[None, 4]),
        k2_layer("Dropout", "drop", "i", rate=0.1),
    ], name="inner")
    inner["name"] = "inner"
    inner["inbound_nodes"] = [[["x", 0, 0, {"training": True}]]]
    doc = functional([k2_layer("InputLayer", "x", None, batch_input_shape=[None, 4]), inner])
    (site,) = dropctl.inspect(write(tmp_path, doc)).sites
    assert site.path == "m/inner/drop" and site.training_pinned is True
    assert site.in_predict_keras2 is Phase.ALWAYS and site.in_predict is Phase.NEVER
    assert "inherited from m/inner" in (site.note or "")


def test_rate_zero_and_out_of_range(tmp_path: Path) -> None:
    doc = sequential([layer("Dropout", "d0", rate=0.0), layer("Dropout", "d1", rate=1.5),
                      layer("GaussianNoise", "n0", stddev=0.0)])
    report = dropctl.inspect(write(tmp_path, doc))
    by = {f.path: f.code for f in report.findings}
    assert by == {"seq/d0": "DC302", "seq/d1": "DC303", "seq/n0": "DC302"}
    assert next(f for f in report.findings if f.code == "DC303").severity is Severity.ERROR
    assert not report.sites[0].in_fit


def test_custom_stochastic_and_unknown_classes(tmp_path: Path) -> None:
    doc = sequential([layer("MCDropout", "mc", rate=0.2), layer("MyDense", "dense", units=3),
                      layer("Dense", "d", units=2)])
    report = dropctl.inspect(write(tmp_path, doc))
    (site,) = report.sites
    assert site.kind is SiteKind.CUSTOM and site.in_predict is Phase.UNKNOWN and site.rate == 0.2
    assert {(f.code, f.path) for f in report.findings} == {
        ("DC401", "seq/mc"), ("DC406", "seq/mc"), ("DC406", "seq/dense")}
    assert report.predict_deterministic is Verdict.UNKNOWN


def test_keras3_security_findings(tmp_path: Path) -> None:
    evil = {"module": "os", "class_name": "system", "config": {}, "registered_name": None}
    doc = {
        "module": "keras", "class_name": "Sequential", "registered_name": None,
        "config": {"name": "k3", "layers": [
            {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
             "config": {"name": "dense", "units": 2, "kernel_initializer": evil}},
            {"module": "keras.layers", "class_name": "TFSMLayer", "registered_name": None,
             "config": {"name": "sm", "filepath": "/tmp/x"}},
            {"module": "keras.layers", "class_name": "StringLookup", "registered_name": None,
             "config": {"name": "lookup", "vocabulary": "/etc/passwd"}},
            {"module": "evil_pkg.layers", "class_name": "Thing", "registered_name": "evil>Thing",
             "config": {"name": "thing"}},
        ]},
    }
    report = dropctl.inspect(write(tmp_path, doc))
    # os.system is not just foreign: it runs commands (DC204, an error), evil_pkg is foreign.
    assert {(f.code, f.path) for f in report.findings} == {
        ("DC204", "k3/dense"), ("DC404", "k3/sm"), ("DC405", "k3/lookup"), ("DC403", "k3/thing")}


def test_nested_lambda_anywhere_is_found(tmp_path: Path) -> None:
    """A __lambda__ inside a custom layer's config inside a nested model still surfaces."""
    payload = {"class_name": "__lambda__",
               "config": {"code": lambda_code(lambda x: x * 2), "defaults": None, "closure": None}}
    inner = sequential([{"module": "keras.layers", "class_name": "Dense",
                         "config": {"name": "deep", "units": 1, "activation": payload}}], name="inner")
    doc = sequential([inner], name="outer")
    report = dropctl.inspect(write(tmp_path, doc))
    assert [(f.code, f.path) for f in report.findings] == [("DC201", "outer/inner/deep")]


def test_subclassed_model_is_opaque(tmp_path: Path) -> None:
    doc = {"module": "my_models", "class_name": "Encoder", "registered_name": "Custom>Encoder",
           "config": {"units": 4}}
    report = dropctl.inspect(write(tmp_path, doc))
    assert report.opaque == ("Encoder",)
    assert {f.code for f in report.findings} == {"DC402", "DC403"}
    assert report.predict_deterministic is Verdict.UNKNOWN


def test_always_on_dropctl_layer_is_a_site(tmp_path: Path) -> None:
    doc = sequential([{"module": "dropctl.layers", "class_name": "AlwaysDropout",
                       "registered_name": "dropctl>AlwaysDropout",
                       "config": {"name": "mc", "rate": 0.1}},
                      layer("dropctl>AlwaysLSTM", "rnn", units=3, dropout=0.2)])
    report = dropctl.inspect(write(tmp_path, doc))
    assert [s.in_predict for s in report.sites] == [Phase.ALWAYS, Phase.ALWAYS]
    assert report.sites[1].kind is SiteKind.RECURRENT
    assert {f.code for f in report.findings} == {"DC203"}


def _k3(cls: str, name: str, module: str = "keras.layers", registered: str | None = None,
        **config) -> dict:
    return {"module": module, "class_name": cls, "registered_name": registered,
            "config": {"name": name, "trainable": True, **config}}


@pytest.mark.parametrize(("entry", "code", "class_name", "words"), [
    # registered_name wins in Keras (serialization_lib._retrieve_class_or_fn): the report
    # describes keras_hub's attention, rate 0.5, not the Dense the class_name claims
    (_k3("Dense", "x", registered="keras_hub>CachedMultiHeadAttention", num_heads=2, key_dim=2,
         dropout=0.5), "DC501", "CachedMultiHeadAttention", "wins over class_name 'Dense'"),
    (_k3("Identity", "x", registered="AlwaysDropout", rate=0.5), "DC501", "Identity",
     "Keras >=3.15 refuse the file"),
    (_k3("Identity", "x", registered="dropctl>AlwaysDropout", rate=0.5), "DC501",
     "AlwaysDropout", "wins over class_name 'Identity'"),
    (_k3("Dr\u043epout", "x", rate=0.5), "DC502", "Dr\u043epout", "looks like Dropout"),
    (_k3("DropOut", "x", rate=0.5), "DC502", "DropOut", "not a class of any Keras release"),
    (_k3("AlwaysDropout", "x", module="dropctl.layers", registered="AlwaysDropout", rate=0.5),
     "DC502", "AlwaysDropout", "no Keras builds it"),
    (layer("Dr\u043epout", "x", rate=0.5), "DC502", "Dr\u043epout", "U+043E"),
    (layer("AlwaysDropout", "x", rate=0.5), "DC502", "AlwaysDropout", "without the 'dropctl>'"),
    (_k3("Scaler", "x", module="mypkg.layers", registered="mypkg>Dropper"), "DC501", "Scaler",
     "names another class"),
])
def test_forged_class_names(tmp_path: Path, entry: dict, code: str, class_name: str,
                            words: str) -> None:
    report = dropctl.inspect(write(tmp_path, sequential([entry])), keras="3.15")
    (finding,) = [f for f in report.findings if f.code == code]
    assert words in finding.message and finding.severity is Severity.ERROR
    assert [e.class_name for e in report.layers][1] == class_name
    assert RULES[code].security


def test_consistent_names_raise_no_resolution_finding(tmp_path: Path) -> None:
    doc = sequential([
        _k3("Dropout", "d", rate=0.2),
        _k3("TransformerEncoder", "enc", module="keras_hub.src.layers.modeling.transformer_encoder",
            registered="keras_hub>TransformerEncoder", intermediate_dim=8, num_heads=2),
        _k3("AlwaysDropout", "mc", module="dropctl.layers", registered="dropctl>AlwaysDropout",
            rate=0.1),
        layer("dropctl>AlwaysDropout", "legacy_mc", rate=0.1),
        _k3("Mine", "mine", module="mypkg.layers", registered="mypkg>Mine"),
    ])
    report = dropctl.inspect(write(tmp_path, doc))
    assert not {f.code for f in report.findings} & {"DC501", "DC502"}
    assert [s.class_name for s in report.sites if s.path.endswith("mc")] == [
        "AlwaysDropout", "dropctl>AlwaysDropout"]


def test_names_paths_and_apis_keras_acts_on(tmp_path: Path) -> None:
    """DC503 (a layer name Keras turns into a directory), DC504 (a keras_hub file path),
    DC505 (a non-modeling Keras function: Keras 3.15 refuses it, older ones call it)."""
    get_file = {"module": "keras.utils", "class_name": "function", "config": "get_file",
                "registered_name": "get_file"}
    doc = sequential([
        _k3("Dense", "../../etc", units=2),
        _k3("BytePairTokenizer", "tok", module="keras_hub.src.tokenizers.byte_pair_tokenizer",
            registered="keras_hub>BytePairTokenizer", vocabulary="/data/vocab.json",
            merges=["a b"]),
        _k3("Dense", "d", units=2, kernel_initializer=get_file),
    ])
    report = dropctl.inspect(write(tmp_path, doc), keras="3.10")
    by_code = {f.code: f for f in report.findings}
    assert {"DC503", "DC504", "DC505"} <= set(by_code)
    assert "CVE-2026-12479 affects Keras 3.10" in by_code["DC503"].message
    assert "vocabulary '/data/vocab.json'" in by_code["DC504"].message
    assert [f.code for f in report.findings].count("DC504") == 1  # inline merges are data
    assert "keras.utils.get_file" in by_code["DC505"].message
    assert "CVE-2025-8747 affects Keras 3.10" in by_code["DC505"].message


def test_every_rule_is_raised_by_some_test() -> None:
    """The catalogue and the tests stay in step: a new code needs a test that raises it."""
    text = "".join(f.read_text() for f in sorted(Path(__file__).parent.glob("test_*.py")))
    missing = [code for code in RULES if code not in text]
    assert not missing


# ---- Lambda payload analysis (bytes only, never unmarshalled) --------------------------------
def test_lambda_rate_from_closure_keras3_value_form() -> None:
    rate = 0.35

    def perma(r):
        return lambda x: K.dropout(x, level=r)  # noqa: F821 - never called, only marshalled

    fn = perma(rate)
    value = [lambda_code(fn), None, [rate]]
    info = analyze_lambda({"function": {"class_name": "__lambda__", "config": {"value": value}}})
    assert info.is_dropout and info.rate == rate and info.rate_source == "closure"
    assert info.has_bytecode and info.payload_bytes > 50 and "dropout" in info.names


def test_lambda_rate_from_constant_and_arguments() -> None:
    code = lambda_code(lambda x: tf.nn.dropout(x, rate=0.125))  # noqa: F821
    info = analyze_lambda({"function": [code, None, None], "function_type": "lambda"})
    assert info.is_dropout and info.rate == 0.125 and info.rate_source == "constant"
    args = analyze_lambda({"function": [lambda_code(lambda x, rate: K.dropout(x, rate)), None, None],  # noqa: F821
                           "function_type": "lambda", "arguments": {"rate": 0.4}})
    assert args.rate == 0.4 and args.rate_source == "arguments"


def test_non_dropout_lambda_is_not_a_site() -> None:
    info = analyze_lambda({"function": [lambda_code(lambda x: x / 127.5 - 1.0), None, None]})
    assert info.has_bytecode and not info.is_dropout and info.rate is None


def test_named_function_has_no_bytecode() -> None:
    info = analyze_lambda({"function": "my_fn", "function_type": "function", "module": "__main__"})
    assert not info.has_bytecode and info.function_name == "my_fn"


@pytest.mark.parametrize("code", ["", "%%%not base64%%%", "Y29kZQ=="])
def test_garbage_payloads_do_not_crash(code: str) -> None:
    info = analyze_lambda({"function": [code, None, None]})
    assert not info.is_dropout


# ---- deployment formats (DC8xx): files built by the formats' own tools ---------------------------
def _onnx_file(tmp_path: Path, nodes: list, inputs: list, initializer: list) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import helper

    graph = helper.make_graph(nodes, "g", inputs,
                              [helper.make_tensor_value_info("y", 1, [1])], initializer=initializer)
    f = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph), str(f))
    return f


def test_dc801_dc804_onnx_dropout_training_mode(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    f = _onnx_file(tmp_path, [
        helper.make_node("Dropout", ["x", "", "off"], ["h"], name="tf2onnx_dropout"),
        helper.make_node("Dropout", ["h", "", "mode"], ["y"], name="caller_decides")],
        [helper.make_tensor_value_info("x", 1, [1]), helper.make_tensor_value_info("mode", 9, [])],
        [helper.make_tensor("off", TensorProto.BOOL, [], [False])])
    report = dropctl.inspect(f)
    codes = {(x.code, x.path) for x in report.findings}
    assert ("DC801", "tf2onnx_dropout") in codes and ("DC804", "caller_decides") in codes
    assert [s.path for s in report.sites] == ["caller_decides"]


def test_dc803_random_op_feeding_no_mask(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from onnx import helper

    f = _onnx_file(tmp_path, [
        helper.make_node("RandomNormalLike", ["x"], ["n"], name="noise"),
        helper.make_node("Add", ["x", "n"], ["y"], name="add")],
        [helper.make_tensor_value_info("x", 1, [1])], [])
    report = dropctl.inspect(f)
    assert [(x.code, x.path) for x in report.findings] == [("DC803", "noise")]
    assert report.predict_deterministic.value == "no"


def test_dc802_flex_random_op_in_litert(tmp_path: Path) -> None:
    schema = pytest.importorskip("ai_edge_litert.schema_py_generated")
    flatbuffers = pytest.importorskip("flatbuffers")

    model = schema.ModelT()
    model.version = 3
    code = schema.OperatorCodeT()
    code.builtinCode = schema.BuiltinOperator.CUSTOM
    code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = "FlexStatelessRandomUniformV2"
    model.operatorCodes = [code]
    tensor = schema.TensorT()
    tensor.name = "mask/random"
    tensor.shape = [1]
    op = schema.OperatorT()
    op.opcodeIndex = 0
    op.inputs, op.outputs = [], [0]
    sub = schema.SubGraphT()
    sub.tensors, sub.operators, sub.inputs, sub.outputs = [tensor], [op], [], [0]
    model.subgraphs = [sub]
    model.buffers = [schema.BufferT()]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    f = tmp_path / "flex.tflite"
    f.write_bytes(bytes(builder.Output()))
    report = dropctl.inspect(f)
    assert [(x.code, x.path) for x in report.findings] == [("DC802", "mask/random")]
    assert report.sites[0].class_name == "FlexStatelessRandomUniformV2"


@pytest.mark.parametrize(("name", "legacy", "escapes"), [
    ("Conv/BatchNorm", True, False),  # tf.keras MobileNetV3: an HDF5 group path, renamed by the rescue
    ("conv1/bn", True, False),  # tf.keras DenseNet121
    ("Conv/BatchNorm", False, True),  # Keras 3 refuses '/' in a name: only a forged config has one
    ("../../etc", True, True),
    ("a/../b", True, True),
    ("a//b", True, True),
    ("/abs", True, True),
    ("..", False, True),
    ("C:evil", True, True),
    ("a\\b", True, True),
    ("dense_1", False, False),
])
def test_which_layer_names_escape_a_directory(name: str, legacy: bool, escapes: bool) -> None:
    from dropctl.reader.resolve import escapes_directory

    assert escapes_directory(name, legacy=legacy) is escapes


def test_keras_ops_classes_resolve_and_homoglyphs_there_do_not(tmp_path: Path) -> None:
    """Keras 3 saves a keras.ops call of a functional graph as its Operation class under
    keras.src.ops (NotEqual for a masked text model, measured with Keras 3.15.1)."""
    ok = sequential([_k3("NotEqual", "not_equal", module="keras.src.ops.numpy",
                         registered="NotEqual")])
    assert not {"DC501", "DC502"} & set(codes(write(tmp_path, ok)))
    forged = sequential([_k3("N\u043etEqual", "not_equal", module="keras.src.ops.numpy")])
    assert "DC502" in codes(write(tmp_path, forged, "forged.json"))


@needs_hub
def test_a_site_keras_never_calls_is_dc304_not_acting(tmp_path: Path) -> None:
    """keras_hub 0.32's GemmaDecoderBlock builds a ``feedforward_dropout`` and never calls it:
    inspect says it never acts (DC304, not "acts in fit"), on exactly the layers Keras leaves
    uncalled in ``model(x, training=True)``."""
    import keras
    import numpy as np

    from dropctl.reader.semantics import catalogue

    with fresh_names():
        model = gen_semantics().instantiate("GemmaBackbone", catalogue()["hub_models"],
                                            {"dropout": 0.25}, sub_rate=0.1)
    path = tmp_path / "gemma.keras"
    model.save(path)
    drops = {f"{b.name}/{d.name}": d for b in model.layers for d in b._flatten_layers()
             if isinstance(d, keras.layers.Dropout) and d is not b}
    never = {f"{model.name}/{p}" for p in uncalled(drops, lambda: model(
        {"token_ids": np.ones((2, 5), "int32"), "padding_mask": np.ones((2, 5), "int32")},
        training=True))}
    report = dropctl.inspect(path)
    assert never and {f.path for f in report.findings if f.code == "DC304"} == never
    assert {s.path for s in report.sites if s.dead} == never
    assert all(not s.in_fit for s in report.sites if s.dead)
    assert not [f for f in report.findings if f.code == "DC302"]


@needs_hub
def test_a_site_whose_call_raises_in_training_is_dc305(tmp_path: Path) -> None:
    """keras_hub 0.32's DINOV2DropPath takes its noise shape from the symbolic build,
    ``(None, 1, 1)``, so with ``drop_path_rate`` > 0 the backbone's ``fit()`` raises in Keras:
    inspect warns (DC305) at exactly the drop paths, while predict() runs."""
    import keras
    import numpy as np

    from dropctl.reader.semantics import catalogue

    with fresh_names():
        model = gen_semantics().instantiate("DINOV2Backbone", catalogue()["hub_models"],
                                            {"drop_path_rate": 0.2}, sub_rate=0.1)
    path = tmp_path / "dinov2.keras"
    model.save(path)
    drop_paths = {f"{model.name}/{'/'.join(p)}" for p, layer in _named_layers(model)
                  if type(layer).__name__ == "DINOV2DropPath"}
    x = {k: np.ones((2, *v.shape[1:]), "float32") for k, v in model.input.items()}
    y = model.predict(x, verbose=0)  # inference runs
    with pytest.raises(Exception, match=r"DINOV2DropPath\.call\(\)"):
        model(x, training=True)
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(Exception, match="None"):
        model.fit(x, y, epochs=1, verbose=0)
    report = dropctl.inspect(path)
    found = [f for f in report.findings if f.code == "DC305"]
    assert drop_paths and {f.path for f in found} == drop_paths
    assert all(f.severity is Severity.WARNING and "DINOV2DropPath" in f.message for f in found)
    assert {s.path for s in report.sites if s.training_fails} == drop_paths
    assert not [s for s in report.sites if s.training_fails and s.path not in drop_paths]
    # and their noise is not a drop's (DC306): each drop path of this model, called alone
    # with its batch filled in, multiplies by continuous values averaging above 1 (Keras)
    from dropctl.runtime.compat import batch_sized_noise

    for p, layer in _named_layers(model):
        if type(layer).__name__ == "DINOV2DropPath":
            own = batch_sized_noise(layer, lambda v, _l=layer, **kw: type(_l).call(_l, v, **kw))
            got = np.asarray(own(keras.ops.ones((4096, 1, 1)), training=True))
            assert len(np.unique(got)) > 2 and got.mean() > 1.2, p
    noisy = [f for f in report.findings if f.code == "DC306"]
    assert {f.path for f in noisy} == drop_paths
    assert all(f.severity is Severity.WARNING and "not a drop" in f.message for f in noisy)
    keras.backend.clear_session()


def _named_layers(model: object) -> list[tuple[tuple[str, ...], object]]:
    """(names below the model, layer) of every layer, in ``_flatten_layers`` pre-order."""
    out: list[tuple[tuple[str, ...], object]] = []
    stack = [((layer.name,), layer) for layer in reversed(list(
        model._flatten_layers(include_self=False, recursive=False)))]  # type: ignore[attr-defined]
    while stack:
        names, layer = stack.pop()
        out.append((names, layer))
        stack += [((*names, sub.name), sub) for sub in reversed(list(
            layer._flatten_layers(include_self=False, recursive=False)))]  # type: ignore[attr-defined]
    return out
