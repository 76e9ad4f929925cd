#!/usr/bin/env bash
# Installs what is missing, builds onebit, and runs every test (lit suite,
# gtest unit tests, Python tests, then the fuzzers' regression corpus under
# ASan+UBSan and a 30 s fuzz smoke per parser). Exits non-zero on any
# failure.
set -euo pipefail
source "$(dirname "$0")/env.sh"

onebit_install_deps
onebit_venv
onebit_build
cd "$ONEBIT_BUILD_DIR"
onebit_log "running ctest (lit suite + unit tests)"
ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)"

# The Python package, built the way users build it, and its tests.
cd "$ONEBIT_ROOT"
onebit_log "pip install . (the onebit Python package) into .venv"
.venv/bin/python -m pip install -q . >&2
onebit_log "running the Python tests"
.venv/bin/python -m pytest -q python/tests

# Every parser of untrusted bytes: its regression corpus under ASan+UBSan,
# then 30 s of fuzzing from seeds (docs/security.md).
onebit_log "replaying the fuzz regression corpus and fuzzing each parser for 30 s"
bash scripts/fuzz.sh --seconds "${ONEBIT_FUZZ_SECONDS:-30}"
