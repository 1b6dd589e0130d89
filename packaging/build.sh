#!/usr/bin/env bash
# Build the one-file binary dist/qubithub-lite with packaging/qubithub-lite.spec.
#
#   packaging/build.sh            # full build (server + all quantum frameworks)
#   packaging/build.sh core       # server + numpy/pyarrow/h5py, no quantum frameworks
#
# Uses the current `python` (3.11+) and whatever it has installed; installs PyInstaller
# from PyPI with pip when it is missing, and the project with its extras when they are.
set -euo pipefail
cd "$(dirname "$0")/.."
VARIANT="${1:-${QUBITHUB_BUILD_VARIANT:-full}}"
PYTHON="${PYTHON:-python}"

if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
    "$PYTHON" -m pip install "pyinstaller>=6.10"
fi
extra=all
[ "$VARIANT" = core ] && extra=data
if [ "$VARIANT" = core ]; then
    need="import qubithub_lite, aiohttp, numpy, pyarrow, h5py"
else
    need="import qubithub_lite, aiohttp, numpy, pyarrow, h5py, qiskit, qiskit_aer, qiskit_ibm_runtime, cirq, pennylane, pennylane_lightning"
fi
if ! "$PYTHON" -c "$need" 2>/dev/null; then
    "$PYTHON" -m pip install ".[$extra]"
fi

start=$(date +%s)
QUBITHUB_BUILD_VARIANT="$VARIANT" "$PYTHON" -m PyInstaller --noconfirm --log-level WARN \
    --distpath dist --workpath "build/pyinstaller-$VARIANT" packaging/qubithub-lite.spec
end=$(date +%s)
size=$(du -m dist/qubithub-lite | cut -f1)
echo "built dist/qubithub-lite ($VARIANT): ${size} MiB in $((end - start)) s"
