"""The bounded child's side of reading untrusted HDF5: limits, then one walk of the file.

:mod:`dropctl.reader.h5read` (the parent) starts this in a child process, by fork or, when the
parent has threads, as ``python -m dropctl.reader.h5child``. Here the child sets its own memory
and CPU limits (:func:`_limit_resources`; a CPU timer re-armed per step of work, so libhdf5
looping inside one call ends the child), reads the root string attributes the static reader
needs (bounded by size), walks every link and object once (refusing external links,
external/virtual storage and chains deeper than :data:`MAX_H5_DEPTH`), summarises every dataset
(declared vs stored bytes: shape and compression bombs are refused), and optionally reads every
dataset once (``scan_weights``). The result, :class:`H5Contents`, goes back pickled on a pipe.
"""

from __future__ import annotations

import math
import os
import pickle
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from dropctl.errors import ArtifactError, one_line

MAX_H5_ATTR_BYTES = 64 * 1024 * 1024
"""Largest ``model_config``/``training_config`` attribute (variable-length: measured as read)."""
MAX_H5_SHORT_ATTR = 256
"""Largest ``keras_version``/``backend`` attribute (real values are under 20 characters)."""
MAX_H5_OBJECTS = 200_000
"""Most links walked in one file."""
MAX_H5_DEPTH = 64
"""Deepest group chain accepted (Keras weight files nest under 10 levels)."""
H5_STEP_CPU_SECONDS = 1.0
"""CPU time ONE step of the read may use: opening the file, reading one attribute, visiting one
link, summarising one object, each re-arming the timer. The budget counts work, not the whole
read: a real step takes microseconds to a few milliseconds (keras.applications DenseNet121's
1,466 objects: 0.09 s in all), so 1 s is hundreds of times what a real file needs on a machine
at load 16, while libhdf5 looping inside one call is stopped after 1 s of its own CPU."""
H5_COPY_BYTES_PER_SECOND = 10 * 1024 * 1024
"""CPU allowed per byte when a deflated zip member is copied out (zlib: ~200 MB/s on one core)."""
H5_TOTAL_CPU_SECONDS = 60.0
"""Backstop for the whole child (RLIMIT_CPU), plus 1 s per MB of file."""
H5_WALL_SECONDS = float(os.environ.get("DROPCTL_H5_SECONDS", "10"))
"""Wall-clock allowance for a child that makes no progress (plus 1 s per
:data:`H5_WALL_BYTES_PER_SECOND` of file): every step of work the child starts re-arms it
(a heartbeat on the pipe), so a real file with thousands of datasets is read on a machine at
any load (keras_hub's tiny EfficientNet was refused after 10 s on the shared 2-core machine,
measured), while a child that stalls without using CPU is stopped."""
H5_WALL_BYTES_PER_SECOND = 2 * 1024 * 1024
H5_MAX_WALL_SECONDS = float(os.environ.get("DROPCTL_H5_MAX_SECONDS", "900"))
"""Wall-clock backstop for the whole read, progress or not (plus the per-byte allowance):
with at most :data:`MAX_H5_OBJECTS` steps of at most :data:`H5_STEP_CPU_SECONDS` CPU each and
the child's total CPU limit, a hostile file cannot keep a reader longer than this."""
STARTUP_SECONDS = 60.0
"""How long a fresh child interpreter may take to start (only when forking is unsafe)."""
_READY = b"\x01"
_BEAT = b"\x02"
"""Sent by the child when it starts a step (at most every :data:`_BEAT_SECONDS`)."""
_PAYLOAD = b"\x03"
"""Sent once, right before the pickled result: every byte before it is a heartbeat."""
_BEAT_SECONDS = min(0.2, H5_WALL_SECONDS / 4)
H5_MEMORY = 512 * 1024 * 1024
"""Address space the child may add to what it inherits."""
H5_SCAN_BYTES_PER_SECOND = 20 * 1024 * 1024
"""CPU allowed per byte of one dataset when every weight is read once (``scan_weights``)."""
MAX_DATASET_RATIO = 64
"""A dataset over 1 MB declaring more than 64x the bytes it stores is a bomb (fill value, gzip)."""
MAX_WEIGHT_BYTES = 8 * 1024 * 1024 * 1024
"""Most bytes all datasets together may declare."""

_SHORT = {"keras_version", "backend"}
_ATTRS = ("model_config", "keras_version", "backend", "training_config")


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset: what it declares and what it stores."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    declared: int
    """shape x itemsize, in bytes."""
    stored: int
    """Bytes allocated in the file (H5Dget_storage_size)."""


@dataclass(frozen=True)
class H5Contents:
    """What the bounded child read from one HDF5 file."""

    attrs: dict[str, str]
    """Root string attributes that exist (model_config, keras_version, backend, training_config)."""
    has_weights: bool
    """A hard-linked ``/model_weights`` group exists."""
    weights_only: bool
    """The root carries ``layer_names`` (a ``save_weights`` file)."""
    datasets: tuple[DatasetInfo, ...] = field(default=())
    """Every dataset in the file, in visit order."""

    def declared_bytes(self, under: str = "") -> int:
        return sum(d.declared for d in self.datasets if d.name.startswith(under))


# ---- the child side -------------------------------------------------------------------------


def _limit_resources(budget: int, cpu_seconds: float) -> None:
    import resource

    try:
        with open("/proc/self/status") as fh:
            vm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (vm + budget, vm + budget))
    except (OSError, ValueError, StopIteration):
        pass
    try:
        used = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
        soft = math.ceil(used + cpu_seconds) + 1  # whole seconds: the backstop of the timer
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))
    except (OSError, ValueError):
        pass
    # SIGPROF's default action ends the process once a step's CPU allowance is spent
    # (fractions work); every step re-arms it (:func:`_step`).
    global _ARMED
    signal.signal(signal.SIGPROF, signal.SIG_DFL)
    _ARMED = True
    _step()


_ARMED = False
"""True in the bounded child only: :func:`_step` arms the CPU timer there and nowhere else."""
_BEAT_FD: int | None = None
"""The child's pipe to the parent, for heartbeats (None elsewhere)."""
_LAST_BEAT = 0.0


def _step(extra_seconds: float = 0.0) -> None:
    """Start one step of work: it may use :data:`H5_STEP_CPU_SECONDS` (plus ``extra_seconds``
    for a step that reads bytes) of CPU from now, whatever the steps before it used."""
    global _LAST_BEAT
    if _ARMED:
        signal.setitimer(signal.ITIMER_PROF, H5_STEP_CPU_SECONDS + extra_seconds)
        now = time.monotonic()
        if _BEAT_FD is not None and now - _LAST_BEAT >= _BEAT_SECONDS:
            _LAST_BEAT = now
            os.write(_BEAT_FD, _BEAT)


def child_main(request: tuple[str, str | None, bool, float], out_fd: int) -> None:
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; no traceback here
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 1)  # the report's stdout and the user's stderr are not ours to write
        os.dup2(devnull, 2)
        import h5py  # noqa: F401 - before the limits: importing is not reading

        path, member, scan_weights, cpu = request
        _limit_resources(H5_MEMORY, cpu)
        os.write(out_fd, _READY)
        global _BEAT_FD
        _BEAT_FD = out_fd
        try:
            result: tuple[str, Any] = ("ok", _read(path, member, scan_weights))
        except ArtifactError as exc:
            result = ("error", str(exc))
        except MemoryError:
            result = ("error", "reading it needs more than the HDF5 reader's "
                               f"{H5_MEMORY // 2**20} MB memory limit; refusing it")
        except Exception as exc:  # noqa: BLE001 - anything libhdf5/h5py raises on a bad file
            result = ("error", f"HDF5 structure is corrupt ({one_line(exc, typed=False)})")
        data = _PAYLOAD + pickle.dumps(result)
        view = memoryview(data)
        while view:
            view = view[os.write(out_fd, view):]
        code = 0
    finally:
        os._exit(code)


def _read(path: str, member: str | None, scan_weights: bool) -> H5Contents:
    import h5py

    if member is None:
        return _read_file(h5py, path, os.path.getsize(path), scan_weights)
    import tempfile
    import zipfile

    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
        if info.file_size > MAX_WEIGHT_BYTES:
            raise ArtifactError(f"declares {info.file_size:,} bytes, over the "
                                f"{MAX_WEIGHT_BYTES:,}-byte limit")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.compress_size != info.file_size:
                raise ArtifactError("is a stored zip member whose sizes disagree (corrupt)")
            with zf.open(info) as src:  # seekable in place: no copy
                return _read_file(h5py, src, info.file_size, scan_weights)
        if info.compress_type != zipfile.ZIP_DEFLATED:
            raise ArtifactError(f"uses zip compression method {info.compress_type}; refusing it")
        if info.file_size > max(info.compress_size, 1) * MAX_DATASET_RATIO and (
                info.file_size > 1024 * 1024):
            raise ArtifactError(f"expands {info.file_size // max(info.compress_size, 1):,}:1 "
                                "(zip bomb); refusing it")
        _step(info.file_size / H5_COPY_BYTES_PER_SECOND)
        with tempfile.TemporaryFile() as tmp, zf.open(info) as src:
            copied = 0
            while chunk := src.read(1 << 20):
                copied += len(chunk)
                if copied > info.file_size:
                    raise ArtifactError("is larger than its zip entry declares (zip bomb?)")
                tmp.write(chunk)
            tmp.flush()
            tmp.seek(0)
            return _read_file(h5py, tmp, copied, scan_weights)


def _attr_text(h5py: Any, f: Any, name: str) -> str | None:
    _step()
    if name not in f.attrs:
        return None
    cap = MAX_H5_SHORT_ATTR if name in _SHORT else MAX_H5_ATTR_BYTES
    aid = f.attrs.get_id(name)
    if aid.shape not in ((), (1,), None):
        raise ArtifactError(f"attribute {name} has shape {aid.shape}, expected a string")
    tid = aid.get_type()
    if not isinstance(tid, h5py.h5t.TypeStringID):
        raise ArtifactError(f"attribute {name} is not a string")
    if not tid.is_variable_str() and aid.get_storage_size() > cap:
        raise ArtifactError(f"attribute {name} declares {aid.get_storage_size():,} bytes, "
                            f"over the {cap:,}-byte limit")
    # A variable-length string reports 16 bytes whatever it holds: its real size is only
    # known once read, which the child's memory limit bounds; the cap applies right after.
    value = f.attrs[name]
    if getattr(value, "shape", None) == (1,):
        value = value[0]
    if isinstance(value, bytes):
        if len(value) > cap:
            raise ArtifactError(f"attribute {name} holds {len(value):,} bytes, over the "
                                f"{cap:,}-byte limit")
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        raise ArtifactError(f"attribute {name} is not a string")
    if len(value) > cap:
        raise ArtifactError(f"attribute {name} holds {len(value):,} characters, over the "
                            f"{cap:,}-character limit")
    return value


def _read_file(h5py: Any, source: Any, file_size: int, scan_weights: bool) -> H5Contents:
    _step()
    try:
        f = h5py.File(source, "r")
    except Exception as exc:  # noqa: BLE001 - OSError for truncated/corrupt files, others from HDF5
        raise ArtifactError(f"is not a readable HDF5 file ({one_line(exc, typed=False)})") from None
    with f:
        attrs = {}
        for name in _ATTRS:
            text = _attr_text(h5py, f, name)
            if text is not None:
                attrs[name] = text
        raw_names, datasets = _walk(h5py, f, file_size)
        _step()
        link = f.get("model_weights", getlink=True)
        has_weights = isinstance(link, h5py.HardLink)
        weights_only = "layer_names" in f.attrs or any(
            str(k).startswith("layer_names") for k in f.attrs)
        if scan_weights:
            _read_every_dataset(f, raw_names)
    return H5Contents(attrs, has_weights, weights_only, tuple(datasets))


def _walk(h5py: Any, f: Any, file_size: int) -> tuple[list[bytes], list[DatasetInfo]]:
    """Links first (depth and count capped, external links refused), then every dataset.

    H5Lvisit is linear in the number of links; H5Ovisit is super-linear on deep group chains
    (measured 47 s for 4,000 levels), so depth is refused before objects are visited.
    """
    names: list[bytes] = []
    bad: list[str] = []

    def on_link(name: bytes, info: Any) -> int | None:
        _step()  # each link is one step of work
        if info.type == h5py.h5l.TYPE_EXTERNAL:
            bad.append(f"HDF5 external link /{name.decode(errors='replace')[:200]}; "
                       "refusing a model file that points to other files (CVE-2026-9335)")
            return 1
        if info.type == h5py.h5l.TYPE_SOFT:
            # Keras never writes soft links; a soft link reaches other objects by name
            bad.append(f"HDF5 soft link /{name.decode(errors='replace')[:200]}; refusing a "
                       "model file whose weights are reached by name (CVE-2026-9335)")
            return 1
        if len(names) >= MAX_H5_OBJECTS:
            bad.append(f"HDF5 file has more than {MAX_H5_OBJECTS:,} links")
            return 1
        if name.count(b"/") >= MAX_H5_DEPTH:
            bad.append(f"HDF5 groups nest deeper than {MAX_H5_DEPTH} levels (hostile file)")
            return 1
        if info.type == h5py.h5l.TYPE_HARD:
            names.append(name)
        return None

    _step()
    f.id.links.visit(on_link, info=True)
    if bad:
        raise ArtifactError(bad[0])
    datasets: list[DatasetInfo] = []
    raw_names: list[bytes] = []
    total = 0
    seen: set[Any] = set()
    for name in names:
        _step()  # each object is one step of work
        info = h5py.h5o.get_info(f.id, name)
        if info.type != h5py.h5o.TYPE_DATASET:
            continue
        key = (info.fileno, info.addr)
        if key in seen:  # a second hard link to the same dataset
            continue
        seen.add(key)
        did = h5py.h5d.open(f.id, name)
        plist = did.get_create_plist()
        shown = name.decode(errors="replace")[:200]
        if plist.get_external_count() > 0:
            raise ArtifactError(f"HDF5 dataset /{shown} stores its data in another file "
                                "(external storage); refusing it (CVE-2026-1669)")
        if plist.get_layout() == h5py.h5d.VIRTUAL:
            raise ArtifactError(f"HDF5 dataset /{shown} is a virtual dataset reading other "
                                "files; refusing it (CVE-2026-12480)")
        space = did.get_space()
        shape = tuple(int(n) for n in (space.shape or ()))
        tid = did.get_type()
        itemsize = int(tid.get_size())
        declared = itemsize
        for n in shape:
            declared *= n
        stored = int(did.get_storage_size())
        _check_dataset(shown, declared, stored, file_size)
        total += declared
        if total > MAX_WEIGHT_BYTES:
            raise ArtifactError(f"HDF5 datasets declare more than {MAX_WEIGHT_BYTES:,} bytes "
                                f"in total; refusing it ({SHAPE_BOMB_CVES})")
        datasets.append(DatasetInfo(shown, shape, _dtype_name(tid), declared, stored))
        raw_names.append(name)
    return raw_names, datasets


SHAPE_BOMB_CVES = "CVE-2026-0897, CVE-2026-12570"
"""The Keras CVEs of an HDF5 dataset declaring more than it stores or than any model needs."""


def _dtype_name(tid: Any) -> str:
    try:
        import numpy as np

        return str(np.dtype(tid.dtype))
    except Exception:  # noqa: BLE001 - compound/odd types: only the size matters here
        return f"{tid.get_size()}-byte"


def _check_dataset(name: str, declared: int, stored: int, file_size: int) -> None:
    if stored > file_size:
        raise ArtifactError(f"HDF5 dataset /{name} claims {stored:,} stored bytes in a "
                            f"{file_size:,}-byte file (corrupt or hostile); refusing it")
    if declared > 1024 * 1024 and declared > max(stored, 1) * MAX_DATASET_RATIO:
        raise ArtifactError(
            f"HDF5 dataset /{name} declares {declared:,} bytes but stores {stored:,} "
            f"(over {MAX_DATASET_RATIO}:1: a fill-value or compression bomb); refusing it "
            f"({SHAPE_BOMB_CVES})")


def _read_every_dataset(f: Any, names: list[bytes]) -> None:
    import numpy as np

    for name in names:
        ds = f[name]
        if ds.size == 0:
            continue
        out = np.empty(ds.shape, dtype=ds.dtype)
        _step(out.nbytes / H5_SCAN_BYTES_PER_SECOND)
        ds.read_direct(out)
        del out


# ---- spawned child (when the parent has threads) --------------------------------------------


def _spawned() -> None:
    # Run as `python -m dropctl.reader.h5child`: call the importable module, so the pickled
    # result names dropctl.reader.h5child.H5Contents, not __main__.H5Contents.
    from dropctl.reader import h5child

    request = pickle.loads(sys.stdin.buffer.read())  # our parent's request, not file bytes
    h5child.child_main(request, os.dup(sys.stdout.fileno()))


if __name__ == "__main__":
    _spawned()
