# PyInstaller runtime hook of the qubithub-lite binary (runs before the entry script).
# Headless defaults for the frameworks: matplotlib draws with Agg and keeps its cache off
# the unpacked bundle (which the sandbox mounts read-only).
import os

os.environ.setdefault("MPLBACKEND", "Agg")
