"""Script PyInstaller freezes: the CLI, or the hidden ``python-compat`` mode
(``qubithub_lite/__main__.py``'s entry, see qubithub_lite.frozen)."""

from qubithub_lite.__main__ import entry

entry()
