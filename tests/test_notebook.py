"""docs/quickstart.ipynb runs top to bottom in a real Jupyter kernel, and shows what it says.

Executed once per session with nbclient in an ipykernel whose kernelspec points at this
interpreter with PYTHONPATH set to this checkout, the notebook's own directory as working
directory and the inline backend Jupyter and Colab use. Checked: the install cell is a no-op
where dropctl is importable; the inspect cell shows the site table (names and rates from
MANIFEST.json, written by Keras when the samples were built); the progress bar ends at the
number of passes; the plots cell displays PNGs; dropctl's drawing does not switch the backend,
and the notebook's own ``plt`` figure is still shown inline afterwards. That drawing never
imports pyplot is checked in a fresh interpreter (``import keras`` imports pyplot itself).
"""

from __future__ import annotations

import ast
import base64
import inspect
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

import dropctl
from tests.support import ROOT, SAMPLES

NOTEBOOK = ROOT / "docs" / "quickstart.ipynb"
INLINE = "module://matplotlib_inline.backend_inline"
PROBE = 'import matplotlib; print("backend:", matplotlib.get_backend())'


def _by_tag(nb: Any, tag: str) -> Any:
    (cell,) = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    return cell


@pytest.fixture(scope="session")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    kernels = tmp_path_factory.mktemp("jupyter") / "kernels" / "dropctl-test"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "dropctl (test)", "language": "python",
        "env": {"PYTHONPATH": str(ROOT), "MPLBACKEND": INLINE, "TF_CPP_MIN_LOG_LEVEL": "3"},
    }))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # Probes the test adds: the backend just before dropctl draws and just after. (Importing
    # Keras imports pyplot itself: `import keras` loads keras.src.visualization, which imports
    # matplotlib.pyplot (Keras 3.15.1, measured with -X importtime), so "pyplot untouched" is
    # asked in a fresh interpreter instead, below.)
    before = nbformat.v4.new_code_cell(PROBE, metadata={"tags": ["probe-before"]})
    after = nbformat.v4.new_code_cell(PROBE, metadata={"tags": ["probe-after"]})
    nb.cells.insert(nb.cells.index(_by_tag(nb, "plots")), before)
    nb.cells.insert(nb.cells.index(_by_tag(nb, "plots")) + 1, after)
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", str(kernels.parent.parent))
    try:
        client = nbclient.NotebookClient(nb, kernel_name="dropctl-test", timeout=600,
                                         resources={"metadata": {"path": str(NOTEBOOK.parent)}})
        client.execute()
    finally:
        mp.undo()
    return nb


def _text(cell: Any) -> str:
    out = []
    for o in cell.outputs:
        if o.output_type == "stream":
            out.append(o.text)
        elif o.output_type in ("execute_result", "display_data"):
            out.append(o.data.get("text/html", "") + o.data.get("text/plain", ""))
    return "".join(out)


def _html_text(cell: Any) -> str:
    """The text a reader sees in the cell's HTML output (tags and entities removed)."""
    import html

    raw = "".join(o.data.get("text/html", "") for o in cell.outputs
                  if o.output_type in ("execute_result", "display_data"))
    return html.unescape(re.sub(r"<[^>]+>", "", raw))


def test_install_cell_is_skipped_where_dropctl_is_importable(executed: Any) -> None:
    cell = _by_tag(executed, "install")
    assert cell.outputs == []  # no pip run, no error
    assert "%pip install" in cell.source and "find_spec(\"dropctl\") is None" in cell.source


def test_inspect_cell_shows_the_site_table(executed: Any) -> None:
    entry = next(a for a in json.loads((SAMPLES / "MANIFEST.json").read_text())["artifacts"]
                 if a["file"] == "mlp.keras")
    shown = _html_text(_by_tag(executed, "inspect"))
    for name, site in entry["site_details"].items():  # what Keras saved, from the manifest
        row = next(line for line in shown.splitlines() if f"{entry['model_name']}/{name} " in line)
        assert site["class_name"] in row and f"{site['params']['rate']:g}" in row, row
    assert "predict() deterministic" in shown or "deterministic" in shown


def test_reports_display_as_tables_not_reprs(executed: Any) -> None:
    for tag, expect in (("inspect-lambda", "DC201"), ("diff", "predict() twice"),
                        ("convert", "verified"), ("diff-perma", "STOCHASTIC"),
                        ("mc", "mc-predict digits"), ("evaluate", "AURC"),
                        ("check", "1 passed, 1 failed")):
        shown = _html_text(_by_tag(executed, tag))
        assert expect in shown, (tag, shown[:2000])
        assert "Report(" not in shown and "Result(" not in shown, tag


def test_progress_bar_ends_at_the_number_of_passes(executed: Any) -> None:
    cell = _by_tag(executed, "mc")
    bars = [o for o in cell.outputs if o.output_type == "display_data"
            and "<progress" in o.data.get("text/html", "")]
    assert len(bars) == 1, cell.outputs  # one bar, updated in place
    done, total = re.search(r'value="(\d+)" max="(\d+)"', bars[0].data["text/html"]).groups()
    assert done == total and int(total) > 0


def test_plots_display_as_png_and_leave_the_backend_alone(executed: Any) -> None:
    assert _text(_by_tag(executed, "probe-before")).strip() == f"backend: {INLINE}"
    cell = _by_tag(executed, "plots")
    (result,) = [o for o in cell.outputs if o.output_type == "execute_result"]
    png = base64.b64decode(result.data["image/png"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    # main, risk-coverage and OOD figures for a labelled classifier with OOD inputs
    assert result.data["text/html"].count("data:image/png;base64,") == 3
    assert _text(_by_tag(executed, "probe-after")).strip() == f"backend: {INLINE}"
    own = _by_tag(executed, "own-plot")
    assert f"backend: {INLINE}" in _text(own)
    assert any(o.output_type == "display_data" and "image/png" in o.data for o in own.outputs)


def test_no_error_in_any_cell(executed: Any) -> None:
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr"
                                               and "Traceback" in o.text)]
    assert not errors, errors


@pytest.mark.parametrize("name", ["check", "convert", "diff", "mc_predict", "inspect",
                                  "evaluate", "plot_mc"])
def test_public_api_has_no_catch_all_keywords(name: str) -> None:
    """IDEs and mypy see every option: no ``**options``."""
    params = inspect.signature(getattr(dropctl, name)).parameters.values()
    assert not [p for p in params if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


def test_progress_rejects_what_is_not_a_bar_or_a_callback() -> None:
    from dropctl.errors import UsageError
    from dropctl.render.progress import progress_reporter

    calls: list[tuple[int, int]] = []
    with progress_reporter(lambda d, t: calls.append((d, t)), "x") as cb:
        assert cb is not None
        cb(1, 2)
    assert calls == [(1, 2)]
    with progress_reporter(False, "x") as cb:
        assert cb is None
    with pytest.raises(UsageError, match="progress must be True, False or a callable"), \
            progress_reporter(3, "x"):  # type: ignore[arg-type]
        pass


def test_plots_never_import_pyplot_nor_pick_a_backend() -> None:
    """Drawing and saving go through ``matplotlib.figure.Figure`` alone: in an interpreter
    that has not loaded Keras, pyplot stays unimported and the backend stays unresolved."""
    import subprocess

    code = """
import sys, numpy as np, matplotlib
from dropctl.render.plots import _figure_class, Plots
fig = _figure_class("t")(figsize=(2, 2), layout="tight")
fig.subplots(1, 2)[0].hist(np.arange(10.0))
png = Plots({"main": fig}).png("main")
print(png[:4] == b"\\x89PNG", "matplotlib.pyplot" in sys.modules,
      matplotlib.rcParams._get("backend") is matplotlib.rcsetup._auto_backend_sentinel)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, check=True)
    assert out.stdout.split() == ["True", "False", "True"], out.stdout + out.stderr


# ---- the "Python API and notebooks" guide (docs/guides/python-api.md) ----------------------

_SECTION = (ROOT / "docs" / "guides" / "python-api.md").read_text()


def test_readme_api_table_is_the_real_signatures() -> None:
    rows = re.findall(r"^\| `dropctl\.(\w+)\((.*?)\)` \|", _SECTION, re.M)
    assert {name for name, _ in rows} == set(dropctl.__all__) - {"__version__", "load_model"}
    for name, args in rows:
        documented = [a.split("=")[0].strip() for a in args.split(",")]
        params = inspect.signature(getattr(dropctl, name)).parameters.values()
        real = [p.name for p in params]
        assert documented == real, name
        defaults = {p.name: p.default for p in params if p.default is not p.empty}
        for a in args.split(","):
            key, sep, value = a.partition("=")
            if sep and value.strip() != "...":
                assert defaults[key.strip()] == ast.literal_eval(value.strip()), (name, key)
            elif not sep:
                assert key.strip() not in defaults, (name, key)


def test_readme_api_snippet_prints_what_it_says(tmp_path: Path) -> None:
    import subprocess

    (code,) = re.findall(r"```python\n(.*?)```", _SECTION, re.S)
    (tmp_path / "sample_models").symlink_to(SAMPLES)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    promised = [line.split("#", 1)[1].strip() for line in code.splitlines()
                if line.startswith("print(") and "#" in line]
    assert out.stdout.splitlines() == promised
    assert (tmp_path / "digits.png").read_bytes().startswith(b"\x89PNG")
