"""Circuit diagrams for ``POST /spaces/{id}/visualize``.

The user's code is untrusted, so drawing happens inside the sandbox:
:data:`DRIVER_SOURCE` runs there (as ``python -c``), imports the user's code
as a module (so an ``if __name__ == "__main__":`` block does not run), finds
the circuit by the platform conventions (platform-notes §6) — a
``create_circuit()`` / ``circuit()`` / ``build_circuit()`` / ``main()``
function, or a module-level ``circuit`` / ``qc``, else any circuit object bound
at module level — and draws it with the framework's own drawer:

- Qiskit: ``qiskit.visualization.circuit_drawer(output="mpl")`` saved as SVG;
- Cirq: ``cirq.contrib.svg.circuit_to_svg``;
- PennyLane: ``qml.draw_mpl`` saved as SVG (QNodes with required arguments are
  drawn with every argument set to 0.1 when they can't be drawn without).

It writes ``.qubithub/diagram.svg`` and ``.qubithub/visualize.json``
(``{ok, framework, found, error}``); the server reads both back without
following links and checks the SVG (``svg_safety``) before returning it.
"""

from __future__ import annotations

import re

from ..backends import frameworks

#: Work-dir folder for the driver's own files. Space file names never start with
#: a dot (``storage.paths``), so it cannot collide with the user's files.
WORK = ".qubithub"
CODE_FILE = f"{WORK}/code.py"
SVG_FILE = f"{WORK}/diagram.svg"
STATUS_FILE = f"{WORK}/visualize.json"

#: Modules a warm sandboxed interpreter imports before an execute / visualize call of an SDK
#: (the framework facts live in ``backends.frameworks``; re-exported here for the services).
EXECUTE_PRELOAD, VISUALIZE_PRELOAD = frameworks.EXECUTE_PRELOAD, frameworks.VISUALIZE_PRELOAD

_IMPORT_RE = {
    fw: re.compile(rf"^[ \t]*(?:import[ \t]+{mod}\b|from[ \t]+{mod}(?:\.[\w.]+)?[ \t]+import\b)", re.M)
    for fw, mod in ((sdk, sdk) for sdk in frameworks.SDKS)
}


def detect_framework(source: str, default: str) -> str:
    """The framework the code imports; the space's SDK when it imports several or none."""
    found = {fw: m.start() for fw, rx in _IMPORT_RE.items() if (m := rx.search(source))}
    if not found or default in found:
        return default
    return min(found, key=found.get)


DRIVER_SOURCE = r'''
import inspect, io, json, linecache, os, sys, traceback, types

CFG = json.loads(sys.argv[1])
for _key in ("path", "svg", "status"):  # the user's code may chdir
    CFG[_key] = os.path.abspath(CFG[_key])
FUNCTIONS = ("create_circuit", "circuit", "build_circuit", "make_circuit", "main")
OBJECTS = ("circuit", "qc")


class NoCircuit(Exception):
    pass


def kind(obj):
    if "qiskit" in sys.modules:
        from qiskit import QuantumCircuit
        if isinstance(obj, QuantumCircuit):
            return "qiskit"
    if "cirq" in sys.modules:
        import cirq
        if isinstance(obj, cirq.AbstractCircuit):
            return "cirq"
    if "pennylane" in sys.modules:
        import pennylane as qml
        if isinstance(obj, qml.QNode):
            return "pennylane"
    return None


def required_params(fn):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    return [p for p in sig.parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def load(path, display):
    with open(path, encoding="utf-8") as fh:
        source = fh.read()
    linecache.cache[display] = (len(source), None, source.splitlines(True), display)
    module = types.ModuleType("qubithub_user_code")
    module.__file__ = display
    sys.modules["qubithub_user_code"] = module
    exec(compile(source, display, "exec"), module.__dict__)
    return module


def find(module, framework, auto):
    def accept(obj, how):
        fw = kind(obj)
        if fw is None:
            return None
        if fw != framework and not auto:
            raise NoCircuit(f"{how} is a {fw} circuit, but framework '{framework}' was requested")
        return obj, how, fw

    names = vars(module)
    for name in FUNCTIONS + OBJECTS:
        obj = names.get(name)
        if obj is None:
            continue
        got = accept(obj, name)
        if got:
            return got
        if framework == "pennylane" and name in FUNCTIONS and inspect.isfunction(obj) and "pennylane" in sys.modules:
            return obj, f"{name} (quantum function)", "pennylane"
        if inspect.isfunction(obj) and required_params(obj) == []:
            got = accept(obj(), f"{name}()")
            if got:
                return got
    for name, obj in list(names.items()):
        if not name.startswith("_"):
            got = kind(obj) and accept(obj, name)
            if got:
                return got
    raise NoCircuit(
        "no circuit found: define create_circuit() (Qiskit, Cirq) or circuit() (PennyLane) returning the "
        "circuit, or bind a module-level `circuit` or `qc`")


def figure_svg(fig):
    import matplotlib.pyplot as plt
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return buf.getvalue()


def draw(obj, fw):
    if fw == "qiskit":
        from qiskit.visualization import circuit_drawer
        return figure_svg(circuit_drawer(obj, output="mpl"))
    if fw == "cirq":
        import cirq
        from cirq.contrib.svg import circuit_to_svg
        if isinstance(obj, cirq.FrozenCircuit):
            obj = obj.unfreeze()
        return circuit_to_svg(obj)
    import pennylane as qml
    target = obj.func if isinstance(obj, qml.QNode) else obj
    params = required_params(target) or []
    attempts = [()] + ([tuple(0.1 for _ in params)] if params else [])
    last = None
    for args in attempts:
        try:
            fig, _ = qml.draw_mpl(obj)(*args)
            return figure_svg(fig)
        except TypeError as exc:
            last = exc
    raise last


def user_traceback(exc):
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == "<string>":
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb)).rstrip()


def main():
    status = {"ok": False, "framework": CFG["framework"], "found": None, "error": None}
    try:
        module = load(CFG["path"], CFG["display"])
        obj, how, fw = find(module, CFG["framework"], CFG["auto"])
        status.update(framework=fw, found=how)
        svg = draw(obj, fw)
        with open(CFG["svg"], "w", encoding="utf-8") as fh:
            fh.write(svg)
        status["ok"] = True
    except NoCircuit as exc:
        status["error"] = str(exc)
    except SystemExit as exc:
        status["error"] = f"the code called exit({exc.code!r}) before a circuit was found"
    except BaseException as exc:
        status["error"] = user_traceback(exc)
    with open(CFG["status"], "w", encoding="utf-8") as fh:
        json.dump(status, fh)


main()
'''
