"""Script PyInstaller freezes: the CLI, or the hidden ``python-compat`` mode (qubithub_lite.frozen)."""

from qubithub_lite.frozen import entry

entry()
