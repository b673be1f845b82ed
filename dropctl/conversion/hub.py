"""``convert`` on keras_hub models: their dropout is a constructor parameter, so it is the
parameter that changes (the rewrite users otherwise do by hand in a preset's config.json,
keras-hub #1620).

One parameter (``dropout``, ``dropout_rate``, ``attention_dropout``) sets every site it
governs (:mod:`dropctl.reader.hub`), so a ``--sites`` glob that matches any of them changes
all of them, and each is listed in the plan. ``--standard`` keeps them training-only (the
default) and applies ``--rate``; ``--strip`` sets the parameter to 0; ``--perma`` has no
always-on form for layers built in keras_hub's code and leaves them as they are, with a
warning (``mc-predict`` switches them on at run time instead).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dropctl.reader.hub import HubSite, hub_sites
from dropctl.reader.walker import Layer


@dataclass(frozen=True)
class HubChange:
    """One keras_hub site before and after (``plan`` turns it into a ``SiteChange``)."""

    path: str
    class_name: str
    rate_before: float | None
    rate_after: float | None
    action: str
    """A :class:`dropctl.conversion.report.Action` value."""
    note: str


def _owner_cfg(entry: dict[str, Any], owner: tuple[str, ...]) -> dict[str, Any] | None:
    cfg: Any = entry.get("config")
    for key in owner:
        cfg = cfg.get(key) if isinstance(cfg, dict) else None
    return cfg if isinstance(cfg, dict) else None


def plan_hub(layer: Layer, entry: dict[str, Any], mode: str, rate: float | None,
             selected: Callable[[str], bool]) -> tuple[list[HubChange], list[str]] | None:
    """Changes to one keras_hub model's parameters (``entry`` is its copied config entry),
    or None when ``layer`` is not a keras_hub model dropctl understands."""
    found = hub_sites(layer)
    if found is None:
        return None
    changes: list[HubChange] = []
    warnings: list[str] = []
    groups: dict[tuple[tuple[str, ...], str], list[HubSite]] = {}
    for site in found:
        if site.known and not site.param:  # a rate keras_hub's code fixes: no parameter to set
            path = f"{layer.path}/{site.rel_path}"
            if selected(path):
                changes.append(HubChange(path, site.class_name, site.rate, site.rate, "skipped",
                                         "rate fixed in keras_hub's code, not a parameter"))
        elif site.known:
            groups.setdefault((site.owner, site.param), []).append(site)
    for (owner, param), members in groups.items():
        paths = [f"{layer.path}/{s.rel_path}" for s in members]
        if not any(selected(p) for p in paths):
            continue
        cfg = _owner_cfg(entry, owner)
        before = members[0].rate
        note = f"keras_hub {layer.class_name} parameter {param} (sets {len(members)} site(s))"
        if mode == "perma" or cfg is None:
            warnings.append(f"{layer.path}: keras_hub {layer.class_name} builds its dropout in "
                            f"code; no always-on form, {param} left as it is (mc-predict "
                            "switches it on at run time)")
            changes += [HubChange(p, s.class_name, before, before, "skipped", "no always-on form")
                        for p, s in zip(paths, members, strict=True)]
            continue
        after = 0.0 if mode == "strip" else (before if rate is None else rate)
        cfg[param] = after
        action = ("zeroed" if mode == "strip" else "unchanged" if after == before else "standard")
        changes += [HubChange(p, s.class_name, before, after, action, note)
                    for p, s in zip(paths, members, strict=True)]
    # Listed in the order inspect lists the sites (one parameter may set sites far apart).
    order = {f"{layer.path}/{s.rel_path}": i for i, s in enumerate(found)}
    changes.sort(key=lambda c: order.get(c.path, len(order)))
    return changes, warnings
