"""The one plugin loader (qubithub_lite.plugin_loader): real entry points of real installed
distributions (a ``*.dist-info`` directory on ``sys.path``, read by importlib.metadata)."""

from __future__ import annotations

import logging
import sys
import textwrap

import pytest

from qubithub_lite import plugin_loader
from qubithub_lite.backends import registry as backend_registry
from qubithub_lite.sandbox import SandboxUnavailable
from qubithub_lite.sandbox import registry as sandbox_registry

GROUP = "qubithub_lite.test_things"


def install(root, dist: str, module: str, source: str, entries: dict[str, dict[str, str]]) -> None:
    """A distribution ``dist`` with one module and entry points {group: {name: target}}."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = []
    for group, names in entries.items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in names.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture
def site(tmp_path):
    """A directory of installed distributions on sys.path (removed afterwards, and the
    backend registry read again without it)."""
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [n for n in sys.modules if n.startswith("plugin_")]:
        del sys.modules[name]
    backend_registry.registry(reload=True)


BUILTINS = {"alpha": "json:dumps", "beta": "json:loads"}


def test_builtins_first_plugins_add_names_and_may_not_shadow(site, caplog):
    install(site, "plugin-one", "plugin_one", "A = 'one-a'\nBETA = 'one-beta'\n",
            {GROUP: {"gamma": "plugin_one:A", "beta": "plugin_one:BETA", "alpha": "json:dumps"}})
    install(site, "plugin-two", "plugin_two", "A = 'two-a'\n", {GROUP: {"gamma": "plugin_two:A"}})
    with caplog.at_level(logging.WARNING, logger=plugin_loader.__name__):
        targets = plugin_loader.plugin_targets(GROUP, BUILTINS)
        loaded = plugin_loader.load_plugins(GROUP, BUILTINS)
    assert list(targets) == ["alpha", "beta", "gamma"]
    assert targets["beta"].builtin and targets["beta"].target == "json:loads"
    assert targets["gamma"].source == "plugin-one"
    import json

    assert loaded == {"alpha": json.dumps, "beta": json.loads, "gamma": "one-a"}
    ignored = {(r.plugin, r.distribution) for r in caplog.records if r.getMessage().startswith("plugin ignored")}
    assert ignored == {("beta", "plugin-one"), ("gamma", "plugin-two")}


def test_a_broken_plugin_is_logged_not_fatal(site, caplog):
    install(site, "plugin-bad", "plugin_bad", "raise RuntimeError('broken at import')\n",
            {GROUP: {"bad": "plugin_bad:X"}})
    install(site, "plugin-missing", "plugin_missing", "X = 1\n", {GROUP: {"missing": "plugin_missing:Y"}})
    with caplog.at_level(logging.ERROR, logger=plugin_loader.__name__):
        loaded = plugin_loader.load_plugins(GROUP, BUILTINS)
    assert set(loaded) == {"alpha", "beta"}
    assert {r.plugin for r in caplog.records if r.exc_info} == {"bad", "missing"}
    with pytest.raises(plugin_loader.PluginError, match="broken at import"):
        plugin_loader.load_plugin(GROUP, BUILTINS, "bad")
    with pytest.raises(plugin_loader.PluginError, match=r"unknown .* 'nope' \(known: alpha, bad, beta, missing\)"):
        plugin_loader.load_plugin(GROUP, BUILTINS, "nope")
    assert plugin_loader.load_plugin(GROUP, BUILTINS, "alpha").__name__ == "dumps"
    assert plugin_loader.plugin_modules(GROUP, BUILTINS) == {"json", "plugin_bad", "plugin_missing"}


def test_backends_and_sandboxes_use_the_same_rule(site):
    install(site, "plugin-drivers", "plugin_drivers", """
        from qubithub_lite.backends import BackendDriver
        from qubithub_lite.sandbox.none import NoSandbox

        class Shadow(BackendDriver):
            name = "shadow_of_aer"

            def run(self, *args, **kwargs):
                raise NotImplementedError

        class Extra(Shadow):
            name = "plugin_extra"
        """, {backend_registry.GROUP: {"qiskit_aer": "plugin_drivers:Shadow", "extra": "plugin_drivers:Extra"},
              sandbox_registry.ENTRY_POINT_GROUP: {"bwrap": "plugin_drivers:NoSandbox",
                                                   "plugin_none": "plugin_drivers:NoSandbox",
                                                   "not_a_sandbox": "plugin_drivers:Extra"}})
    drivers = backend_registry.registry(reload=True)
    assert "plugin_extra" in drivers and "shadow_of_aer" not in drivers
    assert type(drivers["qiskit_aer"]).__module__ == "qubithub_lite.backends.aer"
    available = sandbox_registry.available_drivers()
    assert available["bwrap"] == sandbox_registry.BUILTIN_DRIVERS["bwrap"]
    assert available["plugin_none"] == "plugin_drivers:NoSandbox"
    assert sandbox_registry.load_driver("bwrap").__module__ == "qubithub_lite.sandbox.bwrap"
    assert sandbox_registry.load_driver("plugin_none").__name__ == "NoSandbox"
    with pytest.raises(SandboxUnavailable, match="is not a Sandbox"):
        sandbox_registry.load_driver("not_a_sandbox")
