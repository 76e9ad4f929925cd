#!/usr/bin/env bash
# Installs what is missing, builds onebit, and runs the main job on the
# bundled example model: quantize its linear layers into OneBit form, then
# run the full-precision and the 1-bit model on the CPU and compare.
set -euo pipefail
source "$(dirname "$0")/env.sh"

onebit_install_deps
onebit_build
BIN="$ONEBIT_BUILD_DIR/bin"
OUT="${ONEBIT_QUICKSTART_OUT:-$ONEBIT_BUILD_DIR/quickstart}"
mkdir -p "$OUT"

model="$ONEBIT_ROOT/examples/tiny-decoder-block.mlir"
onebit_log "1. quantize $model (SVID, NMF init)"
"$BIN/onebit-opt" "$model" --onebit-quantize="init=nmf stats=true" \
  -o "$OUT/tiny-decoder-block.onebit.mlir"

onebit_log "2. run the FP and the 1-bit model on the CPU (onebit-run, JIT)"
/usr/bin/python3 -c "import numpy as np; np.save('$OUT/x.npy', np.random.default_rng(0).standard_normal((4, 32)).astype(np.float32))"
"$BIN/onebit-run" "$model" --input "$OUT/x.npy" --output "$OUT/logits_fp.npy" --bench 20
"$BIN/onebit-run" "$OUT/tiny-decoder-block.onebit.mlir" --input "$OUT/x.npy" \
  --output "$OUT/logits_1bit.npy" --bench 20

onebit_log "3. compare (before the distillation training that OneBit adds)"
/usr/bin/python3 - "$OUT" <<'PY'
import sys
import numpy as np
out = sys.argv[1]
fp, q = np.load(f"{out}/logits_fp.npy"), np.load(f"{out}/logits_1bit.npy")
agree = (fp.argmax(-1) == q.argmax(-1)).mean()
corr = np.corrcoef(fp.ravel(), q.ravel())[0, 1]
print(f"[onebit] logits {fp.shape}: correlation FP vs 1-bit {corr:.3f}, "
      f"argmax agreement {agree:.0%}")
PY
onebit_log "outputs in $OUT"
