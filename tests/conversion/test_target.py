"""convert --target-keras: configs an older Keras accepts (the load in Keras 3.6 itself runs in
scripts/matrix.sh, which converts every sample with the newest Keras and loads it with the oldest)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

import dropctl
from dropctl.conversion.target import NEW_KEYS, downgrade_config
from dropctl.errors import UsageError
from dropctl.reader.versions import parse_version
from tests.support import LazyModule

keras = LazyModule("keras")


def _config(path: Path) -> dict:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("config.json"))


def _keys(node, key: str) -> int:
    stack, n = [node], 0
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            n += key in item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return n


def test_default_target_drops_new_default_keys_and_verifies(samples_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "family_std.keras"
    report = dropctl.convert(samples_dir / "family.keras", out, mode="standard")
    assert report.target_keras == "3.6" and report.verification.passed
    cfg = _config(out)
    for key in ("input_axes", "output_axes", "quantization_config", "use_gate"):
        assert _keys(cfg, key) == 0, key
    writes_new_keys = parse_version(keras.version()) >= (3, 15, 0)
    assert ("family/dense: input_axes" in report.target_dropped) is writes_new_keys
    # The newest target keeps the file exactly as the installed Keras wrote it.
    same = tmp_path / "family_new.keras"
    newest = dropctl.convert(samples_dir / "family.keras", same, mode="standard",
                             target_keras="3.15")
    assert newest.target_dropped == ()
    assert (_keys(_config(same), "input_axes") > 0) is writes_new_keys


def test_non_default_value_cannot_be_written_for_an_older_keras() -> None:
    cfg = {"class_name": "Functional", "config": {"name": "m", "layers": [
        {"class_name": "MultiHeadAttention", "config": {"name": "mha", "sliding_window": 128}}]}}
    with pytest.raises(UsageError, match=r"m/mha: MultiHeadAttention uses sliding_window=128, "
                                         r"which Keras 3.10 does not have \(Keras >= 3.15\)"):
        downgrade_config(cfg, "3.10")
    assert downgrade_config(cfg, "3.15") == []


@pytest.mark.parametrize("rule", NEW_KEYS, ids=lambda r: r.key)
def test_each_new_key_is_dropped_only_below_its_release(rule) -> None:
    cls = sorted(rule.classes)[0] if rule.classes else "Dense"
    before = ".".join(str(p) for p in (rule.since[0], rule.since[1] - 1))
    since = ".".join(str(p) for p in rule.since[:2])
    cfg = {"class_name": cls, "config": {"name": "x", rule.key: rule.default}}
    assert downgrade_config(cfg, since) == [] and rule.key in cfg["config"]
    assert downgrade_config(cfg, before) == [f"x: {rule.key}"] and rule.key not in cfg["config"]


def test_bad_target_is_a_usage_error(samples_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is not a version"):
        dropctl.convert(samples_dir / "mlp.keras", tmp_path / "o.keras", mode="standard",
                        target_keras="oldest")
    with pytest.raises(UsageError, match="writes Keras 3 files"):
        dropctl.convert(samples_dir / "mlp.keras", tmp_path / "o.keras", mode="standard",
                        target_keras="2.15")
