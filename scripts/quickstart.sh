#!/usr/bin/env bash
# Installs what is missing, builds onebit, and runs the main job on the
# bundled example: a small byte-level LLaMA-architecture teacher trained on
# public-domain prose (scripts/make_example_teacher.py), exported to ONNX,
# then
#   import -> quantize (mean / SVID-NMF / SVID-SVD) -> KD training on the CPU
#   (L_CE + L_MSE, and L_CE alone) -> held-out perplexity of each
#   -> the trained model through the GPU pipeline to PTX (ptxas-checked)
# and prints the table. Takes about 15 minutes on 2 cores.
#
# ONEBIT_QUICKSTART_OUT  output folder (default build/quickstart)
# ONEBIT_KD_STEPS        KD steps per run (default 100)
set -euo pipefail
source "$(dirname "$0")/env.sh"

onebit_install_deps
onebit_build
BIN="$ONEBIT_BUILD_DIR/bin"
OUT="${ONEBIT_QUICKSTART_OUT:-$ONEBIT_BUILD_DIR/quickstart}"
STEPS="${ONEBIT_KD_STEPS:-100}"
mkdir -p "$OUT"

if [ ! -f "$OUT/example/teacher.onnx" ]; then
  onebit_log "1. build the example teacher (KJV Bible, byte-level LLaMA, ~3 min)"
  /usr/bin/python3 "$ONEBIT_ROOT/scripts/make_example_teacher.py" "$OUT/example"
else
  onebit_log "1. reusing the example teacher in $OUT/example"
fi
EX="$OUT/example"
HELD="$EX/heldout.txt"

onebit_log "2. import the ONNX teacher"
"$BIN/onebit-translate" --import-onnx "$EX/teacher.onnx" --emit-bytecode \
  -o "$OUT/teacher.mlirbc"

ppl() { "$BIN/onebit-eval" "$1" --text "$HELD" | sed -n 's/^perplexity: //p'; }

onebit_log "3. held-out perplexity of the FP teacher"
PPL_FP="$(ppl "$OUT/teacher.mlirbc")"

for init in mean nmf svd; do
  onebit_log "4. quantize (init=$init), no training"
  "$BIN/onebit-opt" "$OUT/teacher.mlirbc" --onebit-quantize="init=$init" \
    --emit-bytecode -o "$OUT/quantized-$init.mlirbc"
  eval "PPL_$init=\"\$(ppl \"$OUT/quantized-$init.mlirbc\")\""
done

onebit_log "5. KD training, L_CE + L_MSE ($STEPS steps)"
"$BIN/onebit-train" --teacher "$EX/teacher.onnx" --data "text:$EX/train.txt" \
  --steps "$STEPS" --warmup 10 --lr 1e-3 --alpha 1 --out "$OUT/kd" \
  | tee "$OUT/kd.txt"
PPL_KD="$(ppl "$OUT/kd/model.mlirbc")"

onebit_log "6. KD training, L_CE only ($STEPS steps)"
"$BIN/onebit-train" --teacher "$EX/teacher.onnx" --data "text:$EX/train.txt" \
  --steps "$STEPS" --warmup 10 --lr 1e-3 --alpha 0 --out "$OUT/kd-ce" \
  > "$OUT/kd-ce.txt"
PPL_KD_CE="$(ppl "$OUT/kd-ce/model.mlirbc")"

onebit_log "7. the trained 1-bit model through the GPU pipeline (A100, sm_80) to PTX"
"$BIN/onebit-opt" "$OUT/kd/model.mlirbc" \
  --onebit-gpu-pipeline="chip=sm_80 features=+ptx80 format=isa" -o "$OUT/kd/model-gpu.mlir"
PTXAS="$(command -v ptxas || echo /usr/local/cuda/bin/ptxas)"
if [ -x "$PTXAS" ]; then
  /usr/bin/python3 "$ONEBIT_ROOT/test/Pipelines/Inputs/gpu_ptx.py" ptxas \
    "$OUT/kd/model-gpu.mlir" "$PTXAS" "$OUT/kd/ptx" | tail -1
else
  onebit_log "ptxas not found: PTX written but not assembled"
fi

SIZE_LINE="$(grep '^size:' "$OUT/kd.txt" || true)"
{
  echo
  echo "Held-out perplexity ($(wc -c < "$HELD") bytes of KJV Revelation, byte-level, GPTQ protocol)"
  echo
  printf '| %-42s | %10s |\n' "model" "perplexity"
  printf '|%s|%s|\n' "--------------------------------------------" "------------"
  printf '| %-42s | %10s |\n' "FP teacher" "$PPL_FP"
  printf '| %-42s | %10s |\n' "mean baseline (sign * mean|W|, no training)" "$PPL_mean"
  printf '| %-42s | %10s |\n' "SVID-NMF init, no training" "$PPL_nmf"
  printf '| %-42s | %10s |\n' "SVID-SVD init, no training" "$PPL_svd"
  printf '| %-42s | %10s |\n' "OneBit after KD (L_CE + L_MSE, $STEPS steps)" "$PPL_KD"
  printf '| %-42s | %10s |\n' "OneBit after KD (L_CE only, $STEPS steps)" "$PPL_KD_CE"
  echo
  echo "$SIZE_LINE"
} | tee "$OUT/results.md"
onebit_log "outputs in $OUT (results.md, kd/train.jsonl, kd/model.mlirbc)"
