#!/usr/bin/env bash
# Installs what is missing, builds onebit, and runs every test (lit suite,
# gtest unit tests, Python tests). Exits non-zero on any failure.
set -euo pipefail
source "$(dirname "$0")/env.sh"

onebit_install_deps
onebit_venv
onebit_build
cd "$ONEBIT_BUILD_DIR"
onebit_log "running ctest (lit suite + unit tests)"
ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)"
