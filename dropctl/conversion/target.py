"""Writing a converted file that an older Keras accepts (``convert --target-keras VERSION``).

Keras writes every constructor argument into a config, including ones added in later releases
with their default value; an older Keras rejects the unknown keyword and the file does not load
(Keras 3.6-3.14: ``GlorotUniform.__init__() got an unexpected keyword argument 'input_axes'``).
:data:`dropctl.reader.versions.NEW_KEYS` lists those keys with the first release that accepts
them (read from the keras release tags) and their default. For a target older than that
release, a key holding its
default is dropped, which changes nothing (the old Keras uses the same default); a key holding
any other value cannot be expressed for that target and is an error naming the layer.
scripts/matrix.sh converts every sample with the newest Keras and loads and predicts the result
with the oldest supported one.

Pure Python over JSON, zip and HDF5 attributes: no Keras import.
"""

from __future__ import annotations

import io
import json
import zipfile

from dropctl.reader.versions import NEW_KEYS, NewKey, downgrade_config

__all__ = ["NEW_KEYS", "OLDEST_SUPPORTED", "NewKey", "downgrade_config", "rewrite_for_target"]


OLDEST_SUPPORTED = "3.6"
"""The oldest Keras dropctl supports and tests (scripts/matrix.sh): convert's default target."""

def rewrite_for_target(data: bytes, suffix: str, target: str) -> tuple[bytes, list[str]]:
    """``data`` (a saved ``.keras`` zip or ``.h5`` file, in memory) with its config rewritten
    for Keras ``target``, and the dropped keys. In memory like the save itself
    (:func:`dropctl.conversion.build._saved_bytes`): libhdf5 never writes to disk here."""
    buf = io.BytesIO(data)
    if suffix == ".keras" or zipfile.is_zipfile(buf):
        with zipfile.ZipFile(io.BytesIO(data)) as zin:
            config = json.loads(zin.read("config.json"))
            dropped = downgrade_config(config, target)
            if not dropped:
                return data, []
            out = io.BytesIO()
            with zipfile.ZipFile(out, "w") as zout:
                for info in zin.infolist():
                    member = (json.dumps(config).encode() if info.filename == "config.json"
                              else zin.read(info.filename))
                    zout.writestr(info, member)
        return out.getvalue(), dropped
    import h5py

    buf = io.BytesIO(data)
    with h5py.File(buf, "r+") as f:
        raw = f.attrs.get("model_config")
        if raw is None:
            return data, []
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        dropped = downgrade_config(config, target)
        if dropped:
            f.attrs["model_config"] = json.dumps(config).encode()
    return (buf.getvalue(), dropped) if dropped else (data, [])
