"""Check policies: the rule catalogue, their settings, and ``[tool.dropctl]`` configuration.

A :class:`Policy` says what ``dropctl check`` demands of one artifact. Settings come from,
in increasing precedence: the defaults here, ``[tool.dropctl]`` in ``pyproject.toml`` or a
``dropctl.toml`` (found by walking up from the working directory), a matching
``[[tool.dropctl.overrides]]`` entry (per-path globs such as ``models/mc/**``), and finally
command-line options. Nothing here reads models; :mod:`dropctl.policy.run` applies the policy
(:mod:`dropctl.policy.evaluate` judges each model).
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any

from dropctl.errors import UsageError
from dropctl.policy.globs import Glob, compile_glob
from dropctl.reader.report import Severity


class Inference(StrEnum):
    """What ``predict()`` must do: ``off`` deterministic, ``on`` stochastic (MC models), ``any``."""

    OFF = "off"
    ON = "on"
    ANY = "any"


class FailOn(StrEnum):
    """The lowest violation severity that fails a check (``fail_on``, ``--fail-on``)."""

    ERROR = "error"
    WARNING = "warning"


class Level(StrEnum):
    """How a rule that can be tuned reports: as an error, as a warning, or not at all."""

    ERROR = "error"
    WARN = "warn"
    IGNORE = "ignore"

    @property
    def severity(self) -> Severity | None:
        return {"error": Severity.ERROR, "warn": Severity.WARNING, "ignore": None}[self.value]


@dataclass(frozen=True)
class Policy:
    """What ``dropctl check`` demands of one artifact."""

    inference: Inference = Inference.OFF
    """Whether predict() must be deterministic (off), stochastic (on), or either (any)."""
    max_rate: float | None = None
    """Largest allowed dropout rate (``rate`` and ``recurrent_dropout``); None: no limit."""
    min_rate: float | None = None
    """Smallest allowed dropout rate; None: no limit."""
    forbid_lambda: bool = True
    """Lambda bytecode anywhere in the model is an error."""
    frozen_active: Level = Level.WARN
    """Dropout inside a frozen sub-model."""
    pinned_training: Level = Level.WARN
    """``training=True`` stored in a call (Keras 2 and 3 disagree on it under predict())."""
    require_sites: int = 0
    """At least this many stochastic sites."""
    opaque: Level = Level.WARN
    """Subclassed or unknown containers whose insides cannot be seen."""
    unsafe_modules: Level = Level.ERROR
    """Classes from modules outside keras/keras_hub/keras_cv/keras_nlp and other loaders of code."""
    findings: Mapping[str, Level] = field(default_factory=dict)
    """Severity overrides for inspect finding codes no setting above covers."""
    keras: tuple[str, ...] = ()
    """Keras versions or ranges the model is deployed on (``">=3.16"``, ``["3.10", "3.16"]``),
    or ``"installed"`` (the installed Keras); empty: dropctl's stated default
    (:data:`dropctl.reader.versions.DEFAULT_TARGET`), whatever is installed. Verdicts must
    agree across all of them."""

    def updated(self, settings: Mapping[str, Any], source: str) -> Policy:
        """A copy with raw TOML/CLI ``settings`` applied; ``source`` names them in errors."""
        changes = _parse_settings(settings, source)
        if "findings" in changes:
            changes["findings"] = {**self.findings, **changes["findings"]}
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Override:
    """Policy settings that apply to artifacts whose path matches one of ``patterns``."""

    patterns: tuple[str, ...]
    """Globs relative to the configuration file's directory (``**`` spans directories)."""
    settings: Mapping[str, Any]
    regexes: tuple[Glob, ...]


@dataclass(frozen=True)
class Config:
    """The effective configuration: base policy, per-path overrides and run options."""

    policy: Policy = field(default_factory=Policy)
    overrides: tuple[Override, ...] = ()
    root: Path | None = None
    """Directory override globs are relative to (the config file's directory)."""
    source: Path | None = None
    """The file the configuration came from, if any."""
    fail_on: Severity = Severity.ERROR
    jobs: int = 1
    probe: bool = False

    def policy_for(self, path: Path, cli: Mapping[str, Any] | None = None) -> Policy:
        """The policy for ``path``: base, then every matching override in order, then ``cli``."""
        policy = self.policy
        if self.overrides:
            rel = _relative_posix(path, self.root or Path.cwd())
            for i, ov in enumerate(self.overrides):
                if rel is not None and any(rx.fullmatch(rel) for rx in ov.regexes):
                    policy = policy.updated(ov.settings, f"{self._where()} overrides[{i}]")
        if cli:
            policy = policy.updated(cli, "command line")
        return policy

    def _where(self) -> str:
        return str(self.source) if self.source else "configuration"


_POLICY_KEYS = {f.name for f in dataclasses.fields(Policy)}
_RUN_KEYS = {"fail_on", "jobs", "probe"}


def _parse_settings(raw: Mapping[str, Any], source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in _POLICY_KEYS:
            known = ", ".join(sorted(_POLICY_KEYS))
            raise UsageError(f"{source}: unknown policy setting {key!r} (known: {known})")
        out[name] = _parse_value(name, value, source)
    return out


def _parse_value(name: str, value: Any, source: str) -> Any:
    where = f"{source}: {name}"
    if name == "inference":
        return _enum(Inference, value, where)
    if name in ("frozen_active", "pinned_training", "opaque", "unsafe_modules"):
        return _level(value, where)
    if name in ("max_rate", "min_rate"):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise UsageError(f"{where} must be a number between 0 and 1, not {value!r}")
        return float(value)
    if name == "forbid_lambda":
        if not isinstance(value, bool):
            raise UsageError(f"{where} must be true or false, not {value!r}")
        return value
    if name == "keras":
        from dropctl.reader.versions import INSTALLED, representatives

        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not items or not all(
                isinstance(v, str) for v in items):
            raise UsageError(f"{where} must be a version range or a list of them, "
                             f"e.g. \">=3.16\" or [\"3.10\", \"3.16\"], or \"installed\", "
                             f"not {value!r}")
        if INSTALLED in [v.strip() for v in items]:
            if len(items) > 1:
                raise UsageError(f"{where}: \"installed\" cannot be combined with versions")
            return (INSTALLED,)
        for item in items:
            try:
                representatives(item)
            except ValueError:
                raise UsageError(f"{where}: {item!r} is not a Keras version or range") from None
        return tuple(items)
    if name == "require_sites":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UsageError(f"{where} must be a whole number >= 0, not {value!r}")
        return value
    # findings: {CODE: level}
    if not isinstance(value, Mapping):
        raise UsageError(f"{where} must be a table of finding codes, e.g. DC101 = \"ignore\"")
    return {str(code).upper(): _level(lvl, f"{where}.{code}") for code, lvl in value.items()}


def _enum(cls: type[Inference], value: Any, where: str) -> Inference:
    try:
        return cls(str(value).lower())
    except ValueError:
        choices = "|".join(m.value for m in cls)
        raise UsageError(f"{where} must be one of {choices}, not {value!r}") from None


def _level(value: Any, where: str) -> Level:
    text = str(value).lower()
    text = {"warning": "warn", "off": "ignore", "false": "ignore"}.get(text, text)
    try:
        return Level(text)
    except ValueError:
        raise UsageError(f"{where} must be one of error|warn|ignore, not {value!r}") from None


def parse_severity(value: str, where: str = "--fail-on") -> Severity:
    """``error``/``warning`` (also ``warn``) as a :class:`Severity`."""
    text = {"warn": "warning"}.get(str(value).lower(), str(value).lower())
    if text not in ("error", "warning"):
        raise UsageError(f"{where} must be error or warning, not {value!r}")
    return Severity(text)


# ---- globs -----------------------------------------------------------------------------


def glob_to_regex(pattern: str, *, anywhere: bool = True) -> Glob:
    """A compiled path glob with ``fullmatch`` (linear time; see :mod:`dropctl.globs`)."""
    return compile_glob(pattern, anywhere=anywhere)


def _relative_posix(path: Path, root: Path) -> str | None:
    try:
        rel = path.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return None
    return PurePosixPath(rel).as_posix()


# ---- configuration files ---------------------------------------------------------------


def find_config(start: Path | None = None, notes: list[str] | None = None) -> Path | None:
    """The nearest ``dropctl.toml`` or ``pyproject.toml`` with ``[tool.dropctl]``, walking up.

    In one directory ``dropctl.toml`` wins over ``pyproject.toml``. A ``pyproject.toml``
    without a ``[tool.dropctl]`` table does not stop the walk; one that cannot be read or
    parsed (another tool's broken or hostile table) is skipped, with a line in ``notes``.
    """
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / "dropctl.toml"
        if candidate.is_file():
            return candidate
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            try:
                text = candidate.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue  # someone else's unreadable pyproject is not our configuration
            try:
                data = _parse_toml(text, candidate)
            except UsageError as exc:
                if _names_dropctl(text):
                    return candidate  # ours and broken: load_config says why, in one line
                if notes is not None:  # someone else's broken or hostile pyproject
                    notes.append(f"note: skipped {exc} (no [tool.dropctl] in it)")
                continue
            tool = data.get("tool")
            if isinstance(tool, dict) and "dropctl" in tool:
                return candidate
    return None


MAX_TOML_BYTES = 4 * 1024 * 1024
"""Largest configuration file read (real ones are a few KB)."""


def _names_dropctl(text: str) -> bool:
    """Whether a TOML text that cannot be parsed is meant as dropctl's configuration."""
    return "tool.dropctl" in text or '"dropctl"' in text or "[dropctl" in text


def _parse_toml(text: str, path: Path) -> dict[str, Any]:
    """``tomllib.loads`` that fails as one UsageError on every hostile input: oversized text,
    nesting deeper than the interpreter's stack (tomllib recurses per level: 20,000 nested
    tables or arrays raise RecursionError), or invalid TOML."""
    if len(text) > MAX_TOML_BYTES:
        raise UsageError(f"{path} is {len(text):,} characters, over the "
                         f"{MAX_TOML_BYTES:,}-character limit for a configuration file")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None
    except (RecursionError, MemoryError):
        raise UsageError(f"{path} nests too deeply to read (hostile or corrupt TOML)") from None


def load_config(path: Path | None) -> Config:
    """Parse a configuration file (``None``: the defaults). Raises UsageError when it is invalid."""
    if path is None:
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"configuration file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read configuration file {path}: {exc}") from None
    data = _parse_toml(text, path)
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise UsageError(f"{path}: tool must be a table, not {type(tool).__name__}")
    if path.name == "pyproject.toml":
        table = tool.get("dropctl", {})
        where = f"{path} [tool.dropctl]"
    else:
        table = tool.get("dropctl", data)
        where = str(path)
    if not isinstance(table, dict):
        raise UsageError(f"{where} must be a table")
    return config_from_table(table, root=path.parent, source=path, where=where)


def config_from_table(
    table: Mapping[str, Any], *, root: Path | None, source: Path | None, where: str
) -> Config:
    """Build a :class:`Config` from an already-parsed ``[tool.dropctl]`` table."""
    base = {k: v for k, v in table.items() if k.replace("-", "_") in _POLICY_KEYS}
    run = {k.replace("-", "_"): v for k, v in table.items() if k.replace("-", "_") in _RUN_KEYS}
    unknown = set(table) - set(base) - {k for k in table if k.replace("-", "_") in _RUN_KEYS}
    unknown.discard("overrides")
    if unknown:
        known = ", ".join(sorted(_POLICY_KEYS | _RUN_KEYS | {"overrides"}))
        raise UsageError(f"{where}: unknown setting {sorted(unknown)[0]!r} (known: {known})")
    policy = Policy().updated(base, where)

    overrides = []
    raw_overrides = table.get("overrides", [])
    if not isinstance(raw_overrides, list):
        raise UsageError(f"{where}: overrides must be an array of tables ([[...overrides]])")
    for i, entry in enumerate(raw_overrides):
        ow = f"{where} overrides[{i}]"
        if not isinstance(entry, dict):
            raise UsageError(f"{ow} must be a table")
        patterns = entry.get("paths", entry.get("path"))
        if isinstance(patterns, str):
            patterns = [patterns]
        if not patterns or not all(isinstance(p, str) and p.strip() for p in patterns):
            raise UsageError(f"{ow} needs paths = [\"glob\", ...]")
        settings = {k: v for k, v in entry.items() if k not in ("paths", "path")}
        Policy().updated(settings, ow)  # validate now, not when the first file matches
        overrides.append(
            Override(tuple(patterns), settings, tuple(glob_to_regex(p) for p in patterns))
        )

    fail_on = Severity.ERROR
    if "fail_on" in run:
        fail_on = parse_severity(run["fail_on"], f"{where}: fail_on")
    jobs = run.get("jobs", 1)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise UsageError(f"{where}: jobs must be a whole number >= 1, not {jobs!r}")
    probe = run.get("probe", False)
    if not isinstance(probe, bool):
        raise UsageError(f"{where}: probe must be true or false, not {probe!r}")
    return Config(policy, tuple(overrides), root, source, fail_on, jobs, probe)
