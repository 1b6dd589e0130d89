#!/usr/bin/env bash
# CI step of the one-file binary, separate from .ci/run (a full build alone takes minutes on
# 2 cores; with the tests below about 10 min, see packaging/README.md).
#
#   packaging/ci-binary.sh              # build dist/qubithub-lite, smoke test, e2e tests against it
#   packaging/ci-binary.sh --no-build   # the same against an existing dist/qubithub-lite
#
# 1. packaging/build.sh (full variant), 2. packaging/smoke_test.py (the binary alone in a bare
# environment), 3. the project's live-server end-to-end tests with the server — and the CLI
# commands those tests run (backup, restore, export, import, examples install) — being the
# binary: tests/conftest.py's start_server starts QUBITHUB_LITE_TEST_SERVER_CMD.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
PYTHON="${PYTHON:-python}"
BINARY="$PWD/dist/qubithub-lite"

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi
need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v prlimit >/dev/null || need+=(util-linux)
command -v git >/dev/null || need+=(git)
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# the test-suite's own dependencies (the official client, requests, pytest, ...)
if ! "$PYTHON" -c "import pytest, requests, qubithub, huggingface_hub, qubithub_lite" 2>/dev/null; then
  "$PYTHON" -m pip install -q -e '.[test]'
fi

if [ "${1:-}" != "--no-build" ]; then
  PYTHON="$PYTHON" packaging/build.sh full
fi
[ -x "$BINARY" ] || { echo "no binary at $BINARY (build it, or drop --no-build)" >&2; exit 1; }

"$PYTHON" packaging/smoke_test.py "$BINARY"

# End-to-end tests that talk to a live server (and run the CLI) through the binary.
export QUBITHUB_LITE_TEST_SERVER_CMD="$BINARY"
"$PYTHON" -m pytest -q -p no:cacheprovider \
  tests/packaging/test_live_server.py \
  tests/{circuits,runs,foundation,protocols}/test_official_client.py \
  "tests/spaces/test_execute.py::test_official_client_execute_space" \
  tests/datasets/test_reference_example.py \
  tests/protocols/test_{hf,git}.py \
  tests/foundation/test_{backup,bundles}.py \
  "tests/examples/test_examples.py::test_cli_install_into_a_live_hub_twice_and_on_first_start" \
  tests/runs/test_restart.py \
  tests/admin/test_shutdown.py \
  tests/security/test_protocol_authz.py
