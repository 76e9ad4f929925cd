#!/usr/bin/env bash
# Installs what is missing, builds onebit, and runs the main job on the
# bundled example model: quantize its linear layers into OneBit form.
set -euo pipefail
source "$(dirname "$0")/env.sh"

onebit_install_deps
onebit_build
BIN="$ONEBIT_BUILD_DIR/bin"
OUT="${ONEBIT_QUICKSTART_OUT:-$ONEBIT_BUILD_DIR/quickstart}"
mkdir -p "$OUT"

model="$ONEBIT_ROOT/examples/tiny-decoder-block.mlir"
onebit_log "quantizing $model"
"$BIN/onebit-opt" "$model" \
  --onebit-quantize="init=nmf stats=true" -o "$OUT/tiny-decoder-block.onebit.mlir"
onebit_log "wrote $OUT/tiny-decoder-block.onebit.mlir"
grep -c "onebit.binary_linear" "$OUT/tiny-decoder-block.onebit.mlir" \
  | xargs -I{} echo "[onebit] {} binary linear layers in the quantized model" >&2
