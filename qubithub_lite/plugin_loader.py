"""The one way QubitHub Lite discovers plugins: Python entry-point groups.

Every pluggable kind has a group (``qubithub_lite.backends``, ``qubithub_lite.sandboxes``; a
new kind adds its own, e.g. ``qubithub_lite.executors``) and a table of built-ins, name →
``"module:attribute"``, so a plain source checkout without installed metadata works too.
:func:`plugin_targets` lists a group without importing anything; :func:`load_plugins`
imports every entry and returns name → loaded object; :func:`load_plugin` imports one.

Precedence (one rule for every group; see ``docs/plugins.md``):

1. Built-ins come first, in the order of their table.
2. A plugin may not shadow a built-in: an entry point whose name is a built-in's is ignored
   (with a warning) unless it names the very same target — which is how our own
   ``pyproject.toml`` declares the built-ins.
3. Plugins follow, sorted by entry-point name; when two plugins declare the same name, the
   first (by distribution name) is kept and the other ignored with a warning.
4. A plugin that fails to import or to load is logged and left out; it never stops the hub
   (:func:`load_plugins`). :func:`load_plugin`, asked for one name, raises
   :class:`PluginError` instead, since the caller asked for exactly that plugin.

Import-light: this module imports only the standard library.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

log = logging.getLogger(__name__)


class PluginError(Exception):
    """A plugin that is unknown or could not be loaded."""


@dataclass(frozen=True)
class PluginTarget:
    """One entry of a group: its name, ``module:attribute`` target and where it comes from
    (``"builtin"`` or the distribution's name)."""

    name: str
    target: str
    source: str

    @property
    def builtin(self) -> bool:
        return self.source == "builtin"

    def load(self) -> Any:
        """Import the target's module and return the attribute (dotted attributes allowed)."""
        module_name, _, attr = self.target.partition(":")
        obj: Any = importlib.import_module(module_name.strip())
        for part in filter(None, attr.strip().split(".")):
            obj = getattr(obj, part)
        return obj


def _distribution_name(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    name = getattr(dist, "name", None) if dist is not None else None
    return name or "?"


def plugin_targets(group: str, builtins: Mapping[str, str]) -> dict[str, PluginTarget]:
    """Name → target for ``group``, precedence applied (see the module docs); imports nothing."""
    found: dict[str, PluginTarget] = {name: PluginTarget(name, target, "builtin") for name, target in builtins.items()}
    builtin_targets = set(builtins.values())
    plugins = sorted(entry_points(group=group), key=lambda ep: (ep.name, _distribution_name(ep), ep.value))
    for ep in plugins:
        if ep.value in builtin_targets:
            continue  # a built-in, declared by our own distribution
        if ep.name in found:
            kept = found[ep.name]
            why = "a built-in" if kept.builtin else f"already declared by {kept.source}"
            log.warning("plugin ignored: its name is %s", why,
                        extra={"group": group, "plugin": ep.name, "target": ep.value,
                               "distribution": _distribution_name(ep)})
            continue
        found[ep.name] = PluginTarget(ep.name, ep.value, _distribution_name(ep))
    return found


def load_plugin(group: str, builtins: Mapping[str, str], name: str) -> Any:
    """The loaded object of one name of ``group``; :class:`PluginError` when the name is
    unknown (the message lists the known ones) or the plugin fails to load."""
    targets = plugin_targets(group, builtins)
    entry = targets.get(name)
    if entry is None:
        raise PluginError(f"unknown {group} plugin {name!r} (known: {', '.join(sorted(targets))})")
    try:
        return entry.load()
    except Exception as exc:  # noqa: BLE001 - any failure of foreign code is the plugin's
        raise PluginError(f"{group} plugin {name!r} ({entry.target}) could not be loaded: {exc}") from exc


def load_plugins(group: str, builtins: Mapping[str, str]) -> dict[str, Any]:
    """Name → loaded object for every entry of ``group`` (built-ins first). A plugin that
    fails to load is logged with its traceback and left out."""
    loaded: dict[str, Any] = {}
    for name, entry in plugin_targets(group, builtins).items():
        try:
            loaded[name] = entry.load()
        except Exception:  # noqa: BLE001 - a broken plugin must not break the hub
            log.exception("could not load plugin", extra={"group": group, "plugin": name, "target": entry.target})
    return loaded


def plugin_modules(group: str, builtins: Mapping[str, str]) -> set[str]:
    """The top-level packages the entries of ``group`` live in (for binding them into the
    sandbox); imports nothing."""
    return {entry.target.partition(":")[0].strip().split(".")[0] for entry in plugin_targets(group, builtins).values()}
