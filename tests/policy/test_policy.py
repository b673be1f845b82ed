"""dropctl.policy.config: rule catalogue, settings parsing, configuration discovery, per-path overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from dropctl.errors import UsageError
from dropctl.policy.config import (
    Config,
    Inference,
    Level,
    Policy,
    config_from_table,
    find_config,
    glob_to_regex,
    load_config,
    parse_severity,
)
from dropctl.reader.report import Severity
from dropctl.rules import POLICY_RULES as RULES


def test_rule_ids_are_stable_and_unique() -> None:
    ids = [r.id for r in RULES]
    assert len(set(ids)) == len(ids)
    # A public contract (SARIF, JUnit, JSON, annotations): renumbering breaks users' dashboards.
    assert {r.name: r.id for r in RULES} == {
        "readable": "DCK000", "inference": "DCK001", "max_rate": "DCK002", "min_rate": "DCK003",
        "forbid_lambda": "DCK004", "frozen_active": "DCK005", "pinned_training": "DCK006",
        "require_sites": "DCK007", "opaque": "DCK008", "unsafe_modules": "DCK009",
        "probe": "DCK010", "findings": "DCK011", "keras": "DCK012",
    }
    assert all(r.summary and r.help for r in RULES)


def test_defaults() -> None:
    p = Policy()
    assert p.inference is Inference.OFF
    assert p.forbid_lambda is True
    assert p.frozen_active is Level.WARN and p.unsafe_modules is Level.ERROR
    assert (p.max_rate, p.min_rate, p.require_sites) == (None, None, 0)


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("models/mc/**", "models/mc/a.h5", True),
        ("models/mc/**", "models/mc/deep/er/b.keras", True),
        ("models/mc/**", "models/mcx/a.h5", False),
        ("models/mc/", "models/mc/a.h5", True),
        ("models/*.h5", "models/a.h5", True),
        ("models/*.h5", "models/sub/a.h5", False),
        ("*.h5", "any/where/a.h5", True),
        ("**/legacy/*.h5", "legacy/a.h5", True),
        ("**/legacy/*.h5", "x/y/legacy/a.h5", True),
        ("./models/m?.keras", "models/m1.keras", True),
        ("models/[ab].keras", "models/b.keras", True),
        ("models/[!ab].keras", "models/b.keras", False),
    ],
)
def test_glob(pattern: str, path: str, matches: bool) -> None:
    assert bool(glob_to_regex(pattern).fullmatch(path)) is matches


def test_overrides_apply_in_order_and_cli_wins(tmp_path: Path) -> None:
    cfg = config_from_table(
        {
            "max_rate": 0.5,
            "overrides": [
                {"paths": ["models/mc/**"], "inference": "on", "require_sites": 1},
                {"paths": "models/mc/legacy/*", "forbid_lambda": False},
            ],
        },
        root=tmp_path, source=None, where="t",
    )
    base = cfg.policy_for(tmp_path / "models" / "a.h5")
    assert base.inference is Inference.OFF and base.max_rate == 0.5
    mc = cfg.policy_for(tmp_path / "models" / "mc" / "a.h5")
    assert mc.inference is Inference.ON and mc.require_sites == 1 and mc.forbid_lambda
    legacy = cfg.policy_for(tmp_path / "models" / "mc" / "legacy" / "x.h5")
    assert legacy.inference is Inference.ON and legacy.forbid_lambda is False
    cli = cfg.policy_for(tmp_path / "models" / "mc" / "a.h5", {"inference": "any"})
    assert cli.inference is Inference.ANY and cli.max_rate == 0.5
    outside = cfg.policy_for(Path("/elsewhere/models/mc/a.h5"))
    assert outside.inference is Inference.OFF


def test_findings_overrides_merge() -> None:
    p = Policy().updated({"findings": {"dc301": "ignore"}}, "a").updated(
        {"findings": {"DC103": "error"}}, "b")
    assert p.findings == {"DC301": Level.IGNORE, "DC103": Level.ERROR}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"inferenc": "on"}, "unknown setting 'inferenc'"),
        ({"inference": "maybe"}, "inference must be one of off|on|any"),
        ({"max_rate": 1.5}, "max_rate must be a number between 0 and 1"),
        ({"max_rate": True}, "max_rate must be a number between 0 and 1"),
        ({"forbid_lambda": "yes"}, "forbid_lambda must be true or false"),
        ({"require_sites": -1}, "require_sites must be a whole number"),
        ({"frozen_active": "loud"}, "frozen_active must be one of error|warn|ignore"),
        ({"findings": ["DC101"]}, "findings must be a table"),
        ({"fail_on": "info"}, "fail_on must be error or warning"),
        ({"jobs": 0}, "jobs must be a whole number >= 1"),
        ({"overrides": {"paths": "x"}}, "overrides must be an array"),
        ({"overrides": [{"inference": "on"}]}, "needs paths"),
        ({"overrides": [{"paths": ["x"], "inference": "sometimes"}]}, "overrides[0]: inference"),
    ],
)
def test_bad_settings_are_usage_errors(table: dict, message: str) -> None:
    with pytest.raises(UsageError, match=None) as info:
        config_from_table(table, root=None, source=None, where="cfg")
    assert message in str(info.value)
    assert str(info.value).startswith("cfg")


def test_parse_severity() -> None:
    assert parse_severity("warn") is Severity.WARNING
    assert parse_severity("ERROR") is Severity.ERROR
    with pytest.raises(UsageError, match="--fail-on must be error or warning"):
        parse_severity("info")


def test_find_config_walks_up_and_prefers_dropctl_toml(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert find_config(deep) is None or not str(find_config(deep)).startswith(str(tmp_path))
    (tmp_path / "pyproject.toml").write_text('[tool.dropctl]\ninference = "on"\n')
    assert find_config(deep) == (tmp_path / "pyproject.toml").resolve()
    # A pyproject without [tool.dropctl] does not stop the walk.
    (tmp_path / "a" / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_config(deep) == (tmp_path / "pyproject.toml").resolve()
    (tmp_path / "a" / "dropctl.toml").write_text('inference = "any"\n')
    assert find_config(deep) == (tmp_path / "a" / "dropctl.toml").resolve()
    (tmp_path / "a" / "b" / "pyproject.toml").write_text("not toml [[[")
    assert find_config(deep) == (tmp_path / "a" / "dropctl.toml").resolve()


def test_load_config_pyproject_and_dropctl_toml(tmp_path: Path) -> None:
    py = tmp_path / "pyproject.toml"
    py.write_text(
        '[tool.dropctl]\nmax_rate = 0.6\nfail_on = "warning"\njobs = 2\n'
        '[tool.dropctl.findings]\nDC301 = "ignore"\n'
        '[[tool.dropctl.overrides]]\npaths = ["models/mc/**"]\ninference = "on"\n'
    )
    cfg = load_config(py)
    assert cfg.source == py and cfg.root == tmp_path
    assert cfg.fail_on is Severity.WARNING and cfg.jobs == 2
    assert cfg.policy.max_rate == 0.6 and cfg.policy.findings == {"DC301": Level.IGNORE}
    assert cfg.policy_for(tmp_path / "models/mc/x.keras").inference is Inference.ON

    dt = tmp_path / "dropctl.toml"
    dt.write_text('inference = "any"\nprobe = true\n')
    cfg = load_config(dt)
    assert cfg.policy.inference is Inference.ANY and cfg.probe is True
    dt.write_text('[tool.dropctl]\ninference = "on"\n')  # also accepted in dropctl.toml
    assert load_config(dt).policy.inference is Inference.ON


def test_load_config_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "dropctl.toml"
    bad.write_text("inference = \n")
    with pytest.raises(UsageError, match="is not valid TOML"):
        load_config(bad)
    assert load_config(None) == Config()


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("a/**b", "a/x/yb", True),
        ("a/***/b", "a/x/b", True),
        ("**", "x/y", True),
        ("m*l*.h5", "model.h5", True),
        ("m*l*.h5", "mod/el.h5", False),
        ("[a-c]?.keras", "b1.keras", True),
        ("[a-c]?.keras", "d1.keras", False),
        ("*" * 5000 + "x", "a" * 60 + "y", False),
        ("*" * 5000 + "x", "a" * 60 + "x", True),
    ],
)
def test_glob_more(pattern: str, path: str, matches: bool) -> None:
    assert glob_to_regex(pattern, anywhere=False).fullmatch(path) is matches


def test_override_glob_cannot_stall(tmp_path: Path) -> None:
    """A dropctl.toml override of 5,000 stars then x (a backtracking regex took > 60 s per file)
    is matched by the linear automaton; with 20 stars the old regex took 10.6 s per file."""
    import time

    from dropctl.policy.config import load_config

    cfg = tmp_path / "dropctl.toml"
    cfg.write_text('[[overrides]]\npaths = ["' + "*" * 5000 + 'x"]\nmax_rate = 0.1\n')
    config = load_config(cfg)
    target = tmp_path / ("a" * 40 + ".h5")
    start = time.process_time()
    policy = config.policy_for(target, None)
    assert time.process_time() - start < 1.0  # CPU time, not wall: milliseconds in practice
    assert policy.max_rate is None


def _deep_toml(depth: int, key: str) -> str:
    """A table nested ``depth`` deep under ``key`` (inline tables: tomllib recurses per level)."""
    return f"[{key}]\nx = " + "{a = " * depth + "1" + "}" * depth + "\n"


def test_hostile_toml_in_someone_elses_table_is_skipped(tmp_path: Path) -> None:
    """Another tool's table nested 20,000 deep (tomllib raises RecursionError on it) or a
    list-typed `tool` is not our configuration: discovery walks past it."""
    import tomllib

    deep = _deep_toml(20_000, "tool.black")
    with pytest.raises(RecursionError):
        tomllib.loads(deep)  # the oracle: the standard parser itself cannot read it
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text(deep)
    assert find_config(project) is None or not str(find_config(project)).startswith(str(tmp_path))
    (project / "pyproject.toml").write_text("tool = [1, 2]\n")
    assert find_config(project) is None or not str(find_config(project)).startswith(str(tmp_path))


def test_skipped_foreign_config_is_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from dropctl.cli import app
    from tests.support import SAMPLES

    (tmp_path / "pyproject.toml").write_text(_deep_toml(20_000, "tool.black"))
    monkeypatch.chdir(tmp_path)
    notes: list[str] = []
    find_config(tmp_path, notes)
    assert notes and "nests too deeply" in notes[0]
    result = CliRunner().invoke(app, ["check", str(SAMPLES / "mlp.keras")])
    assert result.exit_code in (0, 1), result.output
    assert "note: skipped" in result.stderr and "Error" not in result.stderr


@pytest.mark.parametrize("text", [
    _deep_toml(20_000, "tool.dropctl"),
    "tool = [1, 2]\n",
    "[tool]\ndropctl = [1, 2]\n",
    "[tool.dropctl]\nmax_rate = [[[[0.5]]]]\n",
])
def test_hostile_toml_in_our_table_is_one_usage_error(tmp_path: Path, text: str) -> None:
    from typer.testing import CliRunner

    from dropctl.cli import app

    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    with pytest.raises(UsageError):
        load_config(path)
    result = CliRunner().invoke(app, ["check", "--config", str(path), str(tmp_path / "x.keras")])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: ") and "internal error" not in line
