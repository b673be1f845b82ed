"""Builder of the hostile-input corpus (no committed binaries) and its per-command runner.

``build_corpus(directory)`` writes every hostile file into ``directory`` and returns
``{case name: HostileCase}``. The Lambda cases carry a marshalled payload that, if it
were ever executed (as Keras does with ``safe_mode=False``), would write
``directory / SENTINEL_NAME``; tests assert that file never appears.

``python tests/hostile.py run COMMAND CORPUS_DIR OUT.json`` runs one dropctl command over
every case in ONE process (warm imports, so timings are the command's own work), capturing
file descriptors 1 and 2 (so C-level writes count too), the wall time and the growth of peak
RSS per case, with a hang guard (SIGALRM). ``tests/test_hostile.py`` drives it.
"""

from __future__ import annotations

import base64
import json
import marshal
import os
import struct
import sys
import types
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SENTINEL_NAME = "PWNED_BY_LAMBDA"


CASE_NAMES = (
    "zip_bomb.keras", "zip_bomb_small_header.keras", "zip_declares_huge.keras",
    "zip_duplicate_config.keras", "zip_dotdot_member.keras", "zip_absolute_member.keras",
    "zip_no_config.keras", "zip_encrypted.keras", "zip_config_not_model.keras",
    "deep_nesting.keras", "deep_nesting.json", "deep_nesting.h5", "deep_arrays.json",
    "huge.json", "huge_config.keras", "many_nodes.json",
    "truncated.keras", "truncated.h5", "random.keras", "random.h5", "random.hdf5", "random.json",
    "random_brace.json", "random_after_hdf5_signature.h5", "empty.keras", "empty.h5",
    "not_utf8.json", "h5_no_model_config.h5", "h5_weights_only.h5", "h5_model_config_array.h5",
    "h5_external_link.h5", "h5_external_dataset.h5", "polyglot.h5", "polyglot.keras", "fifo.h5",
    "lambda_writer.keras", "lambda_writer_nested.keras", "lambda_writer_tfkeras.h5",
    *(
        "sm_huge_metadata", "sm_declares_huge", "sm_deep_metadata", "sm_many_nodes",
        "sm_deep_node_path", "sm_truncated", "sm_garbled", "sm_no_metadata_garbled_graph",
        "sm_symlink_metadata", "sm_lambda_writer",
    ),
    # issue 10: hangs, limits, findings that cannot be dodged, terminal injection
    "h5_libhdf5_loop.h5", "h5_vlen_keras_version.h5", "h5_deep_groups.h5",
    "h5_weights_fill_bomb.h5", "zip_many_entries.keras", "zip_bzip2_config.keras",
    "json_escapes.json", "flat_layers.json", "keras_weights_gzip_bomb.keras",
    "config_units_bomb.keras", "config_many_layers.keras", "lambda_in_compile_config.keras",
    "os_system_loss.h5", "builtins_exec_metric.keras", "rate_nan.json", "rate_true.keras",
    "rate_huge_int.json", "names_control_chars.keras",
    "zip64_record_lies.keras",
    # issue 18: one trigger per Keras loading CVE (see CVE_CASES)
    *(
        "cve_2024_3660_lambda.keras", "cve_2025_1550_foreign_module.keras",
        "cve_2025_8747_get_file.keras", "cve_2025_9905_h5_lambda.h5",
        "cve_2025_9906_unsafe_switch.keras", "cve_2025_12058_vocab_path.keras",
        "cve_2025_49655_torch_pickle.keras", "cve_2026_0897_shape_bomb.h5",
        "cve_2026_1669_external_storage.h5", "cve_2026_1462_tfsmlayer.keras",
        "cve_2026_11816_zip_slip.keras", "cve_2026_12479_layer_name.keras",
        "cve_2026_12480_virtual_dataset.h5", "cve_2026_12481_lambda_unset.keras",
        "cve_2026_12482_zip_symlink.keras", "cve_2026_12484_torch_zip.keras",
        "cve_2026_9335_soft_link.h5", "cve_2026_12570_h5iostore_bomb.h5",
    ),
)
"""Every case :func:`build_corpus` writes (tests parametrize over this; a test keeps it in step).
The ``sm_*`` cases are TensorFlow SavedModel directories (check finds them as artifacts)."""
READABLE = ("lambda_writer.keras", "lambda_writer_nested.keras", "lambda_writer_tfkeras.h5",
            "sm_lambda_writer")
"""Cases the static reader reads (Lambda models): inspect reports them, check fails them (exit 1),
commands that load the model refuse them (exit 2). In no case does the payload run."""
STATIC_EXPECT: dict[str, tuple[int, int, str, str]] = {
    **dict.fromkeys(READABLE, (0, 1, "DC201", "DCK004")),
    "lambda_in_compile_config.keras": (0, 1, "DC201", "DCK004"),
    "os_system_loss.h5": (0, 1, "DC204", "DCK009"),
    "builtins_exec_metric.keras": (0, 1, "DC204", "DCK009"),
    "rate_nan.json": (0, 1, "DC303", "DCK011"),
    "rate_true.keras": (0, 1, "DC303", "DCK011"),
    "rate_huge_int.json": (0, 1, "DC303", "DCK011"),
    "names_control_chars.keras": (0, 1, "\\x1b]0;owned\\x07", "DCK011"),
    "json_escapes.json": (0, 0, "", ""),
    "keras_weights_gzip_bomb.keras": (0, 0, "", ""),
    "config_units_bomb.keras": (0, 0, "", ""),
    "config_many_layers.keras": (0, 0, "", ""),
}
CVE_CASES: dict[str, tuple[str, str]] = {
    "CVE-2024-3660": ("cve_2024_3660_lambda.keras", "DC201"),
    "CVE-2025-1550": ("cve_2025_1550_foreign_module.keras", "DC403"),
    "CVE-2025-8747": ("cve_2025_8747_get_file.keras", "DC505"),
    "CVE-2025-9905": ("cve_2025_9905_h5_lambda.h5", "DC201"),
    "CVE-2025-9906": ("cve_2025_9906_unsafe_switch.keras", "DC505"),
    "CVE-2025-12058": ("cve_2025_12058_vocab_path.keras", "DC405"),
    "CVE-2025-49655": ("cve_2025_49655_torch_pickle.keras", "DC404"),
    "CVE-2026-0897": ("cve_2026_0897_shape_bomb.h5", "refused"),
    "CVE-2026-1669": ("cve_2026_1669_external_storage.h5", "refused"),
    "CVE-2026-1462": ("cve_2026_1462_tfsmlayer.keras", "DC404"),
    "CVE-2026-11816": ("cve_2026_11816_zip_slip.keras", "refused"),
    "CVE-2026-12479": ("cve_2026_12479_layer_name.keras", "DC503"),
    "CVE-2026-12480": ("cve_2026_12480_virtual_dataset.h5", "refused"),
    "CVE-2026-12481": ("cve_2026_12481_lambda_unset.keras", "DC201"),
    "CVE-2026-12482": ("cve_2026_12482_zip_symlink.keras", "refused"),
    "CVE-2026-12484": ("cve_2026_12484_torch_zip.keras", "DC404"),
    "CVE-2026-9335": ("cve_2026_9335_soft_link.h5", "refused"),
    "CVE-2026-12570": ("cve_2026_12570_h5iostore_bomb.h5", "refused"),
}
"""CVE id -> (hostile case carrying its trigger, the finding code that must name the CVE, or
``refused``: every command refuses the file with an ``Error:`` line naming the CVE)."""
STATIC_EXPECT.update({case: (0, 1, code, "DCK0") for case, code in CVE_CASES.values()
                      if code != "refused"})
"""Cases the static reader reads: case -> (inspect exit, check exit, text inspect's stdout must
contain, text check's stdout must contain). Loading commands (convert, mc-predict) refuse every
case of the corpus with exit 2; every other case is exit 2 with one Error line for all commands."""
BIG_CASE_NAMES = ("h5_vlen_model_config_600mb.h5", "zip_3m_entries.keras",
                  "zip_bzip2_bomb.keras", "many_dropouts.json",
                  "zip64_lie_500k_entries.keras", "zip64_lie_1m_entries.keras")
"""Cases only ``bench/hostile_limits.py --big`` builds (hundreds of MB on disk, or minutes of
work before issue 10)."""


@dataclass(frozen=True)
class HostileCase:
    name: str
    path: Path
    what: str
    readable: bool = False
    """True for files the static reader may read (Lambda models): inspect reports them."""


# ---- payloads -------------------------------------------------------------------------------


def writer_code(target: Path) -> str:
    """base64(marshal(code)) of ``lambda x: (open(target, "w").write("pwned"), x)[1]``."""
    src = f"lambda x: (open({str(target)!r}, 'w').write('pwned'), x)[1]"
    module = compile(src, "<hostile>", "eval")
    code = next(c for c in module.co_consts if isinstance(c, types.CodeType))
    return base64.b64encode(marshal.dumps(code)).decode("ascii")


def run_payload(code_b64: str) -> None:
    """Execute a payload the way Keras would (for the test that proves the payload is live)."""
    code = marshal.loads(base64.b64decode(code_b64))
    types.FunctionType(code, {"__builtins__": __builtins__})(1)


# ---- configs --------------------------------------------------------------------------------


def _k3(cls: str, config: dict[str, Any], module: str = "keras.layers") -> dict[str, Any]:
    return {"module": module, "class_name": cls, "config": config, "registered_name": None}


def keras3_dense_model(name: str = "m", extra_layers: list[Any] | None = None) -> dict[str, Any]:
    layers = [
        _k3("InputLayer", {"batch_shape": [None, 4], "dtype": "float32", "name": "x"}),
        _k3("Dense", {"name": "dense", "units": 2, "activation": "relu", "trainable": True}),
        *(extra_layers or []),
    ]
    return _k3("Sequential", {"name": name, "trainable": True, "layers": layers}, "keras")


def keras3_lambda_layer(code: str, name: str = "lambda") -> dict[str, Any]:
    fn = {"class_name": "__lambda__", "config": {"code": code, "defaults": None, "closure": None}}
    return _k3("Lambda", {"name": name, "trainable": True, "function": fn,
                          "arguments": {}, "output_shape": None})


def keras3_nested_lambda_model(code: str) -> dict[str, Any]:
    """Lambda hidden three levels down: Sequential > Sequential > TimeDistributed > Lambda,
    plus a ``__lambda__`` inside an ordinary layer's config (an activation)."""
    inner = _k3("Sequential", {"name": "inner", "trainable": True, "layers": [
        _k3("TimeDistributed", {"name": "td", "trainable": True,
                                "layer": keras3_lambda_layer(code, "hidden_lambda")}),
        _k3("Dense", {"name": "dense_act", "units": 2, "trainable": True, "activation": {
            "class_name": "__lambda__",
            "config": {"code": code, "defaults": None, "closure": None}}}),
    ]}, "keras")
    return keras3_dense_model("outer", [inner])


def tfkeras_lambda_model(code: str) -> dict[str, Any]:
    """tf.keras 2.x .h5 style: Functional with a nested Sequential holding a Lambda."""
    lam = {"class_name": "Lambda", "config": {
        "name": "writer", "trainable": True, "dtype": "float32",
        "function": [code, None, None], "function_type": "lambda", "module": "__main__",
        "output_shape": None, "output_shape_type": "raw", "output_shape_module": None,
        "arguments": {}}}
    inner = {"class_name": "Sequential", "config": {"name": "inner", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4],
                                                "dtype": "float32", "name": "inner_in"}},
        lam]}, "name": "inner", "inbound_nodes": [[["inp", 0, 0, {}]]]}
    return {"class_name": "Functional", "config": {
        "name": "outer",
        "layers": [
            {"class_name": "InputLayer", "name": "inp", "inbound_nodes": [],
             "config": {"batch_input_shape": [None, 4], "dtype": "float32", "name": "inp"}},
            inner,
        ],
        "input_layers": [["inp", 0, 0]], "output_layers": [["inner", 1, 0]]}}


def deep_sequential(depth: int) -> str:
    """``depth`` nested Sequential models, built as text (json.dumps would recurse)."""
    head = '{"class_name": "Sequential", "config": {"name": "s", "layers": ['
    return head * depth + "]}}" * depth


# ---- containers -----------------------------------------------------------------------------


def write_zip(path: Path, members: list[tuple[str, bytes]], *, declared: dict[str, int] | None = None,
              raw: dict[str, tuple[bytes, int, int]] | None = None, flags: int = 0,
              zip64_entries: int | None = None, classic_entries: int | None = None) -> None:
    """A zip written by hand so names, declared sizes and streams can lie.

    ``members``: (name, data) stored uncompressed. ``declared``: name -> uncompressed size
    to claim instead of the true one. ``raw``: name -> (deflate stream, crc, true size) to
    store as-is (method 8). ``zip64_entries``: write a ZIP64 end record claiming that many
    entries (and a directory that large) before an honest classic end record.
    ``classic_entries``: the count the classic end record claims (a ZIP64 archive's lie).
    """
    declared = declared or {}
    raw = raw or {}
    out = bytearray()
    central = bytearray()
    entries = [(n, d) for n, d in members] + [(n, None) for n in raw]
    for name, data in entries:
        bname = name.encode("utf-8")
        if data is None:
            stream, crc, size = raw[name]
            method = 8
        else:
            stream, crc, size, method = data, zlib.crc32(data), len(data), 0
        size = declared.get(name, size)
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, 0, 0x21,
                           crc, len(stream), size, len(bname), 0) + bname + stream
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, method, 0, 0x21,
                               crc, len(stream), size, len(bname), 0, 0, 0, 0, 0, offset) + bname
    cd_offset = len(out)
    out += central
    count = len(entries)
    if count > 0xFFFF:  # ZIP64 end records carry the real count
        z64 = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count,
                           len(central), cd_offset)
        out += struct.pack("<IIQI", 0x07064B50, 0, z64, 1)
        count = 0xFFFF
    elif zip64_entries is not None:  # the lie: zipfile reads this record, not the classic one
        z64 = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, zip64_entries,
                           zip64_entries, 46 * zip64_entries, cd_offset)
        out += struct.pack("<IIQI", 0x07064B50, 0, z64, 1)
    cd_size = min(len(central), 0xFFFFFFFF)
    if classic_entries is not None:  # the classic record lies about count and size
        count, cd_size = classic_entries, 120 * classic_entries
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, cd_size, cd_offset, 0)
    path.write_bytes(bytes(out))


def deflate_bomb(prefix: bytes, filler: bytes, megabytes: int, suffix: bytes) -> tuple[bytes, int, int]:
    """A raw deflate stream of ``prefix + filler * N + suffix`` expanding to ``megabytes`` MB,
    built from one compressed 1 MB block repeated (full flushes make the blocks identical)."""
    chunk = filler * (1024 * 1024 // len(filler))
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    first = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    assert block == again, "deflate blocks differ; cannot build the bomb by repetition"
    tail = c.compress(suffix) + c.flush()
    stream = head + first + block * (megabytes - 1) + tail
    crc = zlib.crc32(prefix)
    for _ in range(megabytes):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(suffix, crc)
    return stream, crc, len(prefix) + len(chunk) * megabytes + len(suffix)


def write_h5(path: Path, attrs: dict[str, Any], build: Any = None, userblock: int = 0) -> None:
    import h5py

    kwargs = {"userblock_size": userblock} if userblock else {}
    with h5py.File(path, "w", **kwargs) as f:
        for k, v in attrs.items():
            f.attrs[k] = v
        if build is not None:
            build(f)


# ---- protobuf (SavedModel keras_metadata.pb), written by hand so sizes can lie ------------------


def pb_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def pb_field(number: int, payload: bytes | int, *, declared: int | None = None) -> bytes:
    """One field: a varint (int payload) or a length-delimited one (``declared`` may lie)."""
    if isinstance(payload, int):
        return pb_varint(number << 3) + pb_varint(payload)
    length = len(payload) if declared is None else declared
    return pb_varint(number << 3 | 2) + pb_varint(length) + payload


def pb_node(path: str, identifier: str, metadata: str | bytes, node_id: int = 0) -> bytes:
    """A ``SavedObject`` node of ``SavedMetadata`` (node_id 2, node_path 3, identifier 4,
    metadata 5)."""
    meta = metadata.encode() if isinstance(metadata, str) else metadata
    return pb_field(1, pb_field(2, node_id) + pb_field(3, path.encode())
                    + pb_field(4, identifier.encode()) + pb_field(5, meta))


def keras_metadata(model_config: dict[str, Any], *, name: str = "m") -> bytes:
    """A minimal keras_metadata.pb: the root node carrying ``model_config`` as tf.keras does."""
    root = {"name": name, "class_name": model_config["class_name"], "keras_version": "2.15.0",
            "backend": "tensorflow", "model_config": model_config}
    return pb_node("root", "_tf_keras_network", json.dumps(root))


def write_savedmodel(d: Path, metadata: bytes | None, *, graph: bytes = b"") -> Path:
    """A SavedModel directory: saved_model.pb (``graph``) and optionally keras_metadata.pb."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "saved_model.pb").write_bytes(graph)
    if metadata is not None:
        (d / "keras_metadata.pb").write_bytes(metadata)
    return d


# ---- the corpus -----------------------------------------------------------------------------


def build_corpus(directory: Path) -> dict[str, HostileCase]:
    import h5py
    import numpy as np

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    sentinel = d / SENTINEL_NAME
    code = writer_code(sentinel)
    cases: list[HostileCase] = []

    def add(name: str, what: str, readable: bool = False) -> Path:
        p = d / name
        cases.append(HostileCase(name, p, what, readable))
        return p

    benign = json.dumps(keras3_dense_model()).encode()
    meta = json.dumps({"keras_version": "3.15.1", "date_saved": "2026-01-01@00:00:00"}).encode()
    tf_benign = json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Dense", "config": {"name": "dense", "units": 2,
                                           "batch_input_shape": [None, 4]}}]}})

    # -- zip tricks
    prefix = b'{"class_name": "Sequential", "config": {"name": "s", "layers": []}, "pad": "'
    stream, crc, size = deflate_bomb(prefix, b"a", 512, b'"}')
    write_zip(add("zip_bomb.keras", "config.json inflates to 512 MB (honest header)"),
              [("metadata.json", meta)], raw={"config.json": (stream, crc, size)})
    write_zip(add("zip_bomb_small_header.keras",
                  "config.json declares 1 KB but its stream inflates to 512 MB"),
              [("metadata.json", meta)], raw={"config.json": (stream, crc, size)},
              declared={"config.json": 1024})
    write_zip(add("zip_declares_huge.keras", "config.json declares 3 GB"),
              [("metadata.json", meta), ("config.json", benign)],
              declared={"config.json": 3_000_000_000})
    write_zip(add("zip_duplicate_config.keras",
                  "two config.json members: benign first, Lambda second"),
              [("metadata.json", meta), ("config.json", benign),
               ("config.json", json.dumps(keras3_dense_model("m", [keras3_lambda_layer(code)])).encode())])
    write_zip(add("zip_dotdot_member.keras", "member ../../evil.txt next to a valid config"),
              [("metadata.json", meta), ("config.json", benign), ("../../evil.txt", b"x")])
    write_zip(add("zip_absolute_member.keras", "member /tmp/evil.txt next to a valid config"),
              [("metadata.json", meta), ("config.json", benign), ("/tmp/evil.txt", b"x")])
    write_zip(add("zip_no_config.keras", "zip with metadata.json only"), [("metadata.json", meta)])
    write_zip(add("zip_encrypted.keras", "config.json flagged encrypted"),
              [("metadata.json", meta), ("config.json", benign)], flags=1)
    write_zip(add("zip_config_not_model.keras", "config.json is a JSON list"),
              [("config.json", b"[1, 2, 3]")])

    # -- nesting and size
    deep = deep_sequential(5000).encode()
    write_zip(add("deep_nesting.keras", "5,000 nested Sequential models in config.json"),
              [("metadata.json", meta), ("config.json", deep)])
    add("deep_nesting.json", "5,000 nested Sequential models, bare JSON").write_bytes(deep)
    write_h5(add("deep_nesting.h5", "5,000 nested Sequential models in model_config"),
             {"model_config": deep, "keras_version": "2.15.0", "backend": "tensorflow"})
    add("deep_arrays.json", "[[[[...]]]] 200,000 levels deep inside a model config").write_bytes(
        b'{"class_name": "Sequential", "config": ' + b"[" * 200_000 + b"]" * 200_000 + b"}")
    layer = json.dumps({"class_name": "Dense", "config": {"name": "d" * 40, "units": 1}})
    huge = ('{"class_name": "Sequential", "config": {"name": "s", "layers": ['
            + ",".join([layer] * 1_100_000) + "]}}").encode()
    add("huge.json", f"{len(huge) // 2**20} MB of valid model JSON").write_bytes(huge)
    write_zip(add("huge_config.keras", f"{len(huge) // 2**20} MB config.json, stored"),
              [("metadata.json", meta), ("config.json", huge)])
    many = b'{"class_name": "Sequential", "config": {"layers": [], "pad": [' + b"0," * 6_000_000 + b"0]}}"
    add("many_nodes.json", "6 million JSON nodes in 12 MB").write_bytes(many)
    del huge, many

    # -- truncated, random, empty
    full = d / "_valid.keras"
    write_zip(full, [("metadata.json", meta), ("config.json", benign),
                     ("model.weights.h5", os.urandom(4096))])
    blob = full.read_bytes()
    full.unlink()
    add("truncated.keras", "a .keras cut in half").write_bytes(blob[: len(blob) // 2])
    full = d / "_valid.h5"
    write_h5(full, {"model_config": tf_benign, "keras_version": "2.15.0"},
             lambda f: f.create_dataset("model_weights/dense/kernel", data=np.zeros((64, 64))))
    blob = full.read_bytes()
    full.unlink()
    add("truncated.h5", "an .h5 cut in half").write_bytes(blob[: len(blob) // 2])
    rng = np.random.default_rng(0)
    for ext in ("keras", "h5", "hdf5", "json"):
        add(f"random.{ext}", "64 KB of random bytes").write_bytes(rng.bytes(65536))
    add("random_brace.json", "'{' then random bytes").write_bytes(b"{" + rng.bytes(4096))
    add("random_after_hdf5_signature.h5", "HDF5 signature then junk").write_bytes(
        b"\x89HDF\r\n\x1a\n" + rng.bytes(8192))
    add("empty.keras", "empty file").write_bytes(b"")
    add("empty.h5", "empty file").write_bytes(b"")
    add("not_utf8.json", "invalid UTF-8 in JSON").write_bytes(b'{"class_name": "\xff\xfe"')

    # -- HDF5 tricks
    write_h5(add("h5_no_model_config.h5", "HDF5 with keras_version but no model_config"),
             {"keras_version": "2.15.0"},
             lambda f: f.create_dataset("data", data=np.arange(10)))
    write_h5(add("h5_weights_only.h5", "weights-only file (layer_names, no model_config)"),
             {"layer_names": np.array([b"dense"]), "keras_version": "2.15.0"},
             lambda f: f.create_dataset("dense/kernel", data=np.zeros((4, 2))))
    write_h5(add("h5_model_config_array.h5", "model_config is an int array"),
             {"model_config": np.arange(100)})

    def ext_link(f: Any) -> None:
        f["model_weights"] = h5py.ExternalLink("/etc/passwd", "/")

    write_h5(add("h5_external_link.h5", "valid model_config, model_weights is an external link "
                 "to /etc/passwd (CVE-2026-1669)"),
             {"model_config": tf_benign, "keras_version": "2.15.0"}, ext_link)
    secret = d / "_secret.txt"
    secret.write_bytes(b"secret " * 100)

    def ext_dataset(f: Any) -> None:
        g = f.create_group("model_weights/dense")
        g.attrs["weight_names"] = np.array([b"dense/kernel:0"])
        f.attrs["layer_names"] = np.array([b"dense"])
        g.create_dataset("dense/kernel:0", shape=(8,), dtype="u1",
                         external=[(str(secret), 0, 8)])

    write_h5(add("h5_external_dataset.h5", "valid model_config, a weight dataset stored in an "
                 "external file (reads arbitrary files)"),
             {"model_config": tf_benign, "keras_version": "2.15.0"}, ext_dataset)

    # -- polyglot: a zip (with the writer Lambda) inside the HDF5 user block
    zpath = d / "_inner.zip"
    write_zip(zpath, [("metadata.json", meta), ("config.json", json.dumps(
        keras3_dense_model("m", [keras3_lambda_layer(code)])).encode())])
    zbytes = zpath.read_bytes()
    zpath.unlink()
    poly = add("polyglot.h5", "HDF5 model whose user block holds a zip with a Lambda")
    write_h5(poly, {"model_config": tf_benign, "keras_version": "2.15.0"}, userblock=4096)
    with poly.open("r+b") as fh:
        fh.write(zbytes)
    add("polyglot.keras", "the same polyglot named .keras").write_bytes(poly.read_bytes())

    # -- special files
    fifo = add("fifo.h5", "a named pipe (open() would block forever)")
    os.mkfifo(fifo)

    # -- Lambdas that would write the sentinel if executed (readable: inspect reports them)
    write_zip(add("lambda_writer.keras", "Keras 3 Lambda whose bytecode writes a file",
                  readable=True),
              [("metadata.json", meta), ("config.json", json.dumps(
                  keras3_dense_model("m", [keras3_lambda_layer(code)])).encode())])
    write_zip(add("lambda_writer_nested.keras", "the writer Lambda inside a nested model, "
                  "a TimeDistributed wrapper and a Dense activation", readable=True),
              [("metadata.json", meta),
               ("config.json", json.dumps(keras3_nested_lambda_model(code)).encode())])
    write_h5(add("lambda_writer_tfkeras.h5", "tf.keras Lambda (in a nested Sequential) whose "
                 "bytecode writes a file", readable=True),
             {"model_config": json.dumps(tfkeras_lambda_model(code)),
              "keras_version": "2.15.0", "backend": "tensorflow"})

    # -- TensorFlow SavedModel directories (keras_metadata.pb written by hand)
    tf_model = json.loads(tf_benign)
    big = write_savedmodel(add("sm_huge_metadata", "keras_metadata.pb of 300 MB (sparse)"),
                           None)
    with (big / "keras_metadata.pb").open("wb") as fh:
        fh.truncate(300 * 1024 * 1024)
    write_savedmodel(add("sm_declares_huge", "a node's metadata field declares 3 GB"),
                     pb_field(1, pb_field(3, b"root") + pb_field(5, b"{}", declared=3_000_000_000)))
    deep = '{"class_name": "Sequential", "model_config": ' + "[" * 100_000 + "]" * 100_000 + "}"
    write_savedmodel(add("sm_deep_metadata", "root metadata JSON nested 100,000 deep"),
                     pb_node("root", "_tf_keras_network", deep))
    write_savedmodel(add("sm_many_nodes", "250,000 nodes in keras_metadata.pb"),
                     keras_metadata(tf_model) + b"".join(
                         pb_node(f"root.layer-{i}", "_tf_keras_layer", "{}", i)
                         for i in range(1, 250_001)))
    write_savedmodel(add("sm_deep_node_path", "a node path 10,000 attributes deep"),
                     keras_metadata(tf_model) + pb_node("root" + ".a" * 10_000,
                                                        "_tf_keras_layer", "{}", 1))
    whole = keras_metadata(tf_model)
    write_savedmodel(add("sm_truncated", "keras_metadata.pb cut in the middle"),
                     whole[: len(whole) // 2])
    write_savedmodel(add("sm_garbled", "keras_metadata.pb of random bytes"),
                     bytes((i * 131 + 7) % 256 for i in range(4096)))
    write_savedmodel(add("sm_no_metadata_garbled_graph", "no keras_metadata.pb, saved_model.pb "
                         "of random bytes"), None,
                     graph=bytes((i * 97 + 3) % 256 for i in range(4096)))
    sym = write_savedmodel(add("sm_symlink_metadata", "keras_metadata.pb is a symlink to a "
                               "file outside the directory"), None)
    os.symlink("/etc/passwd", sym / "keras_metadata.pb")
    write_savedmodel(add("sm_lambda_writer", "tf.keras SavedModel whose Lambda bytecode writes "
                         "a file", readable=True),
                     keras_metadata(tfkeras_lambda_model(code)))

    _issue10_cases(add, code, meta)
    build_cve_cases(d, add, code, meta)
    return {c.name: c for c in cases}


SAMPLES = Path(__file__).resolve().parents[2] / "sample_models"


def _k3_layer(cls: str, **config: Any) -> dict[str, Any]:
    return _k3(cls, {"trainable": True, **config})


def _weights_h5(build: Any) -> bytes:
    """An in-memory HDF5 file (a .keras archive's model.weights.h5)."""
    import io

    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        build(f)
    return buf.getvalue()


def _issue10_cases(add: Any, code: str, meta: bytes) -> None:
    import numpy as np

    tf_benign = json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Dense", "config": {"name": "dense", "units": 2,
                                           "batch_input_shape": [None, 4]}}]}})

    # -- a libhdf5 infinite loop: a real sample with 512 bytes zeroed (11 of 3,500 mutants do it)
    blob = bytearray((SAMPLES / "no_dropout.h5").read_bytes())
    blob[4096:4608] = bytes(512)
    add("h5_libhdf5_loop.h5", "no_dropout.h5 with bytes 4096-4607 zeroed: libhdf5 loops "
        "forever reading model_config").write_bytes(bytes(blob))
    # -- variable-length attributes report 16 bytes whatever they hold
    write_h5(add("h5_vlen_keras_version.h5", "keras_version is a 1 MB variable-length string"),
             {"model_config": tf_benign, "keras_version": "2." + "9" * 1_000_000})
    # -- a 2,000-deep group chain (H5Ovisit is super-linear: 7.9 s)

    def deep(f: Any) -> None:
        f.create_group("/".join(["g"] * 2000))

    write_h5(add("h5_deep_groups.h5", "model_config plus 2,000 nested groups"),
             {"model_config": tf_benign, "keras_version": "2.15.0"}, deep)

    def fill_bomb(f: Any) -> None:
        f.attrs["layer_names"] = np.array([b"dense"])
        g = f.create_group("model_weights/dense")
        g.attrs["weight_names"] = np.array([b"dense/kernel:0"])
        g.create_dataset("dense/kernel:0", shape=(2**28, 2), dtype="f4", chunks=(2**16, 2),
                         compression="gzip", fillvalue=1.0)

    write_h5(add("h5_weights_fill_bomb.h5", "a kernel declaring 2 GB stored as a fill value "
                 "(gzip, nothing written): an 18 KB file"),
             {"model_config": tf_benign, "keras_version": "2.15.0"}, fill_bomb)

    # -- zip directory and compression
    entries = [(f"f{i:06d}", b"") for i in range(150_000)]
    write_zip(add("zip_many_entries.keras", "a zip with 150,000 entries (limit 100,000)"),
              [("metadata.json", meta), ("config.json", json.dumps(keras3_dense_model()).encode()),
               *entries])
    import zipfile

    with zipfile.ZipFile(add("zip_bzip2_config.keras", "config.json compressed with bzip2 "
                             "(zipfile inflates bzip2 without an output bound)"), "w") as zf:
        zf.writestr("metadata.json", meta)
        zf.writestr("config.json", json.dumps(keras3_dense_model()),
                    compress_type=zipfile.ZIP_BZIP2)

    write_zip(add("zip64_record_lies.keras", "classic end record: 2 entries; the ZIP64 record "
                  "zipfile reads instead: 1,000,000"),
              [("metadata.json", meta), ("config.json", json.dumps(keras3_dense_model()).encode())],
              zip64_entries=1_000_000)

    # -- JSON shape
    pad = "\\" * 5_000_000 + '\\"' * 2_000_000
    add("json_escapes.json", "a valid model whose config holds 14 MB of backslash escapes "
        "(a regex shape check took 1.2 GB)").write_text(json.dumps(
            keras3_dense_model()).replace('"trainable": true, "layers"',
                                          f'"trainable": true, "pad": "{pad}", "layers"', 1))
    flat = ",".join(['{"class_name":"L","config":{}}'] * 1_000_000)
    add("flat_layers.json", "10^6 flat layers in 30 MB (4.7 s, 458 MB before)").write_text(
        '{"class_name":"Sequential","config":{"name":"s","layers":[' + flat + "]}}")

    # -- weight and config bombs in .keras archives (static reading is fine; loading is not)
    def k3_zip(name: str, what: str, doc: dict[str, Any], weights: bytes | None) -> None:
        members = [("metadata.json", meta), ("config.json", json.dumps(doc).encode())]
        if weights is not None:
            members.append(("model.weights.h5", weights))
        write_zip(add(name, what), members)

    def gzip_bomb(f: Any) -> None:
        f.create_dataset("layers/dense/vars/0", shape=(2**28, 2), dtype="f4",
                         chunks=(2**16, 2), compression="gzip", fillvalue=0.5)
        f.create_dataset("layers/dense/vars/1", data=np.zeros(2, "f4"))

    k3_zip("keras_weights_gzip_bomb.keras", "Dense(2) whose stored kernel declares 2 GB "
           "(gzip + fill value, a 9 KB file)", keras3_dense_model(), _weights_h5(gzip_bomb))
    small = _weights_h5(lambda f: f.create_dataset("layers/dense/vars/0", data=np.zeros(4, "f4")))
    k3_zip("config_units_bomb.keras", "Dense(units=2,000,000,000) with a tiny weights file",
           keras3_dense_model("m", [_k3_layer("Dense", name="huge", units=2_000_000_000)]), small)
    k3_zip("config_many_layers.keras", "5,000 Dense layers",
           keras3_dense_model("m", [_k3_layer("Dense", name=f"d{i}", units=64)
                                    for i in range(5_000)]), small)

    # -- code outside the layer tree
    lam = {"class_name": "__lambda__", "config": {"code": code, "defaults": None, "closure": None}}
    doc = keras3_dense_model()
    doc["compile_config"] = {"optimizer": "adam", "loss": lam, "metrics": None}
    k3_zip("lambda_in_compile_config.keras", "compile_config.loss is file-writing bytecode", doc,
           None)
    doc = keras3_dense_model()
    doc["compile_config"] = {"optimizer": "adam", "loss": "mse", "metrics": [
        {"module": "builtins", "class_name": "function", "config": "exec",
         "registered_name": "function"}]}
    k3_zip("builtins_exec_metric.keras", "compile_config.metrics holds builtins.exec", doc, None)
    write_h5(add("os_system_loss.h5", "training_config.loss is os.system"),
             {"model_config": tf_benign, "keras_version": "2.15.0",
              "training_config": json.dumps({"loss": "os.system", "metrics": ["accuracy"]})})

    # -- rates that are not finite numbers
    def rate_doc(raw: str) -> str:
        return json.dumps(keras3_dense_model("m", [_k3_layer("Dropout", name="drop",
                                                             rate="RATE")])).replace('"RATE"', raw)

    add("rate_nan.json", "Dropout rate NaN (passed DC303 and --max-rate)").write_text(
        rate_doc("NaN"))
    add("rate_huge_int.json", "Dropout rate with 4,001 digits (OverflowError)").write_text(
        rate_doc("1" + "0" * 4000))
    k3_zip("rate_true.keras", "Dropout rate true (shown as a no-op; Keras builds rate 1)",
           json.loads(rate_doc("true")), None)

    # -- terminal and report injection
    evil = "x\x1b]0;owned\x07\x1b[2J\r\nError: forged\x00[/bold]\u202e"
    doc = keras3_dense_model("m\x07", [_k3_layer("Dropout", name=evil, rate=1.5)])
    members = [("metadata.json", b'{"keras_version": "3.\\ud800\\u001b[31m"}'),
               ("config.json", json.dumps(doc).encode())]
    write_zip(add("names_control_chars.keras", "layer named with ESC/BEL/CR/LF/NUL, Rich markup "
                  "and a bidi override; keras_version with a lone surrogate"), members)


def build_cve_cases(d: Path, add: Any, code: str, meta: bytes) -> None:
    """One file per Keras loading CVE, carrying its trigger (:data:`CVE_CASES`)."""
    import pickle
    import zipfile

    import h5py
    import numpy as np

    def k3_zip(name: str, what: str, doc: dict[str, Any]) -> None:
        write_zip(add(name, what), [("metadata.json", meta),
                                    ("config.json", json.dumps(doc).encode())])

    def with_layer(layer: dict[str, Any]) -> dict[str, Any]:
        return keras3_dense_model("m", [layer])

    k3_zip("cve_2024_3660_lambda.keras", "a Lambda whose bytecode writes a file",
           with_layer(keras3_lambda_layer(code)))
    k3_zip("cve_2026_12481_lambda_unset.keras", "a Lambda nested in a Sequential (reached by "
           "Lambda.from_config with safe_mode unset)", keras3_nested_lambda_model(code))
    k3_zip("cve_2025_1550_foreign_module.keras", "a layer whose module is outside Keras",
           with_layer(_k3("Thing", {"name": "thing"}, module="evil_pkg.layers")))
    fn = {"module": "keras.utils", "class_name": "function", "config": "get_file",
          "registered_name": "get_file"}
    doc = with_layer(_k3_layer("Dense", name="d", units=2, kernel_initializer=fn))
    k3_zip("cve_2025_8747_get_file.keras", "keras.utils.get_file as an initializer", doc)
    doc = keras3_dense_model()
    doc["compile_config"] = {"optimizer": "adam", "loss": "mse", "metrics": [
        {"module": "keras.config", "class_name": "function",
         "config": "enable_unsafe_deserialization",
         "registered_name": "enable_unsafe_deserialization"}]}
    k3_zip("cve_2025_9906_unsafe_switch.keras", "compile_config calls "
           "keras.config.enable_unsafe_deserialization", doc)
    write_h5(add("cve_2025_9905_h5_lambda.h5", "a tf.keras .h5 whose Lambda writes a file"),
             {"model_config": json.dumps(tfkeras_lambda_model(code)), "keras_version": "2.15.0"})
    k3_zip("cve_2025_12058_vocab_path.keras", "StringLookup whose vocabulary is /etc/passwd",
           with_layer(_k3_layer("StringLookup", name="lookup", vocabulary="/etc/passwd")))
    pickled = base64.b64encode(b"\x80\x04" + pickle.dumps(0)[2:]).decode()
    k3_zip("cve_2025_49655_torch_pickle.keras", "TorchModuleWrapper holding a pickle",
           with_layer(_k3_layer("TorchModuleWrapper", name="torch", module=pickled)))
    torch_zip = base64.b64encode(b"PK\x03\x04" + bytes(60)).decode()
    k3_zip("cve_2026_12484_torch_zip.keras", "TorchModuleWrapper holding a torch.save archive",
           with_layer(_k3_layer("TorchModuleWrapper", name="torch", module=torch_zip)))
    k3_zip("cve_2026_1462_tfsmlayer.keras", "TFSMLayer naming a SavedModel on disk",
           with_layer(_k3_layer("TFSMLayer", name="sm", filepath="/tmp/attacker_savedmodel")))
    k3_zip("cve_2026_12479_layer_name.keras", "a Dense layer named ../../escape",
           with_layer(_k3_layer("Dense", name="../../escape", units=2)))
    benign = json.dumps(keras3_dense_model()).encode()
    write_zip(add("cve_2026_11816_zip_slip.keras", "a member named ../../evil.py"),
              [("metadata.json", meta), ("config.json", benign), ("../../evil.py", b"x")])
    with zipfile.ZipFile(add("cve_2026_12482_zip_symlink.keras",
                             "a member that is a symbolic link to /etc/passwd"), "w") as zf:
        zf.writestr("metadata.json", meta)
        zf.writestr("config.json", benign)
        link = zipfile.ZipInfo("assets/link")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
    tf_benign = json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Dense", "config": {"name": "dense", "units": 2,
                                           "batch_input_shape": [None, 4]}}]}})
    attrs = {"model_config": tf_benign, "keras_version": "2.15.0"}

    def bomb(shape: tuple[int, ...]) -> Any:
        def build(f: Any) -> None:
            f.attrs["layer_names"] = np.array([b"dense"])
            g = f.create_group("model_weights/dense")
            g.attrs["weight_names"] = np.array([b"dense/kernel:0"])
            g.create_dataset("dense/kernel:0", shape=shape, dtype="f4", chunks=True,
                             compression="gzip", fillvalue=1.0)
        return build

    write_h5(add("cve_2026_0897_shape_bomb.h5", "a kernel declaring 4 GB, stored as nothing"),
             attrs, bomb((2**15, 2**15)))
    write_h5(add("cve_2026_12570_h5iostore_bomb.h5", "a kernel declaring 1 TB"),
             attrs, bomb((2**20, 2**18)))
    secret = d / "cve_secret.bin"
    secret.write_bytes(b"secret" * 4)

    def external(f: Any) -> None:
        f.create_dataset("model_weights/dense/kernel", shape=(6,), dtype="f4",
                         external=[(str(secret), 0, 24)])

    write_h5(add("cve_2026_1669_external_storage.h5", "a weight stored in another file"),
             attrs, external)
    source = d / "cve_source.vds-data"  # not a model suffix: check does not judge it
    with h5py.File(source, "w") as f:
        f.create_dataset("data", data=np.arange(4, dtype="f4"))

    def virtual(f: Any) -> None:
        layout = h5py.VirtualLayout(shape=(4,), dtype="f4")
        layout[:] = h5py.VirtualSource(str(source), "data", shape=(4,))
        f.create_virtual_dataset("model_weights/dense/kernel", layout)

    write_h5(add("cve_2026_12480_virtual_dataset.h5", "a virtual dataset reading another "
                 "HDF5 file"), attrs, virtual)

    def soft(f: Any) -> None:
        f.create_dataset("model_weights/dense/kernel", data=np.zeros(4, "f4"))
        f["model_weights/alias"] = h5py.SoftLink("/model_weights/dense")

    write_h5(add("cve_2026_9335_soft_link.h5", "a soft link among the weights"), attrs, soft)


def build_big_cases(d: Path) -> dict[str, str]:
    """The cases too large for the unit suite (see :data:`BIG_CASE_NAMES`); name -> what."""
    import zipfile

    import h5py

    d.mkdir(parents=True, exist_ok=True)
    out = {}
    tf_benign = json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Dense", "config": {"name": "dense", "units": 2,
                                           "batch_input_shape": [None, 4]}}]}})
    path = d / "h5_vlen_model_config_600mb.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = tf_benign[:-2] + ', "pad": "' + "a" * 600_000_000 + '"}}'
    out[path.name] = "model_config is a 600 MB variable-length string (3.3 GB, 13 s before)"
    path = d / "zip_3m_entries.keras"
    meta = json.dumps({"keras_version": "3.15.1"}).encode()
    write_zip(path, [("metadata.json", meta),
                     ("config.json", json.dumps(keras3_dense_model()).encode()),
                     *((f"{i:07d}", b"") for i in range(3_000_000))])
    out[path.name] = "a zip central directory of 3,000,000 entries (23.6 s, 1.69 GB before)"
    path = d / "zip_bzip2_bomb.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", meta)
        info = zipfile.ZipInfo("config.json")
        info.compress_type = zipfile.ZIP_BZIP2
        zf.writestr(info, b'{"class_name": "Sequential", "config": {}, "pad": "'
                    + b"a" * 600_000_000 + b'"}')
    data = bytearray(path.read_bytes())  # make the central directory lie: 500 bytes
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        (name_len,) = struct.unpack_from("<H", data, at + 28)
        if data[at + 46:at + 46 + name_len] == b"config.json":
            struct.pack_into("<I", data, at + 24, 500)
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))
    out[path.name] = "bzip2 config.json declaring 500 bytes, inflating to 600 MB (625 MB before)"
    layers = [_k3_layer("InputLayer", batch_shape=[None, 4], name="in")]
    layers += [_k3_layer("Dropout", name=f"d{i}", rate=0.1) for i in range(199_990)]
    path = d / "many_dropouts.json"
    path.write_text(json.dumps(_k3("Sequential", {"name": "s", "layers": layers}, "keras")))
    out[path.name] = "199,990 Dropout layers in 9.4 MB (inspect > 60 s, check 54 s before)"
    for count, name in ((500_000, "zip64_lie_500k_entries.keras"),
                        (1_000_000, "zip64_lie_1m_entries.keras")):
        write_zip(d / name, [("metadata.json", meta),
                             ("config.json", json.dumps(keras3_dense_model()).encode()),
                             *((f"{i:07d}", b"") for i in range(count))], classic_entries=3)
        out[name] = (f"a real directory of {count:,} entries; the classic end record says 3, "
                     "the ZIP64 record zipfile reads says the truth (5-6 s, 295 MB before)")
    return out


# ---- the per-command runner (subprocess) ------------------------------------------------------


def command_argv(command: str, path: Path, scratch: Path) -> list[str]:
    if command == "inspect":
        return ["inspect", str(path)]
    if command == "check":
        return ["check", "--no-config", str(path)]
    if command == "convert":
        return ["convert", str(path), str(scratch / f"out_{path.stem}.keras"), "--standard"]
    if command == "mc-predict":
        return ["mc-predict", str(path), "--synthetic", "2", "--samples", "2"]
    raise ValueError(command)


class _Hang(BaseException):
    """Raised by SIGALRM; a BaseException so no `except Exception` in dropctl can hide it."""


def _run_one(argv: list[str], out_dir: Path, timeout: int) -> dict[str, Any]:
    import resource
    import signal
    import time

    from dropctl.cli import main

    out_f, err_f = out_dir / "stdout", out_dir / "stderr"
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with out_f.open("wb") as o, err_f.open("wb") as e:
        os.dup2(o.fileno(), 1)
        os.dup2(e.fileno(), 2)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        code: int | str = 0
        signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(_Hang()))
        signal.alarm(timeout)
        start = time.perf_counter()
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except _Hang:
            code = "hang"
        except BaseException as exc:  # noqa: BLE001 - recorded, the test fails on it
            code = f"escaped {type(exc).__name__}: {exc}"[:300]
        finally:
            signal.alarm(0)
            elapsed = time.perf_counter() - start
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "argv": argv, "exit": code, "seconds": elapsed, "rss_growth_mb": (after - before) / 1024,
        "stdout": out_f.read_text(errors="replace")[:20000],
        "stderr": err_f.read_text(errors="replace")[:5000],
    }


def run_command(command: str, corpus: Path, out: Path, warmup: Path | None) -> None:
    """Run ``command`` over every case in ``corpus`` in this process and write JSON results."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    scratch = out.parent / f"scratch_{command}"
    scratch.mkdir(exist_ok=True)
    cases = build_index(corpus)
    results: dict[str, Any] = {}
    if warmup is not None:  # import everything the command needs before measuring
        results["__warmup__"] = _run_one(command_argv(command, warmup, scratch), scratch, 120)
    for name in sorted(cases):
        results[name] = _run_one(command_argv(command, corpus / name, scratch), scratch, 10)
    out.write_text(json.dumps(results, indent=1))


def build_index(corpus: Path) -> dict[str, str]:
    return json.loads((corpus / "INDEX.json").read_text())


def write_index(corpus: Path, cases: dict[str, HostileCase]) -> None:
    (corpus / "INDEX.json").write_text(json.dumps({n: c.what for n, c in cases.items()}))


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "run":
        run_command(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]),
                    Path(sys.argv[5]) if len(sys.argv) > 5 else None)
    elif len(sys.argv) == 3 and sys.argv[1] == "build":
        write_index(Path(sys.argv[2]), build_corpus(Path(sys.argv[2])))
        print(f"corpus written to {sys.argv[2]}")
    else:
        print("usage: hostile.py build DIR | run COMMAND CORPUS_DIR OUT.json [WARMUP_MODEL]")
        sys.exit(2)
