#!/usr/bin/env bash
# The one command to run first on a machine with an NVIDIA GPU (docs/gpu.md,
# "First run on a GPU"). Meant to take at most 8 minutes on a 16-core
# machine (an estimate: it has not run on a GPU yet), it:
#   1. looks for a GPU (nvidia-smi, then libcuda: cuInit and a device);
#      without one it says so, writes a report of skipped checks, exits 0;
#   2. builds what is missing (ninja on the tools it needs in the existing
#      build directory, or configures one), without the network;
#   3. probes the driver through the project's runtime (onebitCudaProbe);
#   4. runs every test that has a GPU mode, with ONEBIT_REQUIRE_GPU=1 so
#      that the no-GPU answer is a failure: inference vs the CPU for FP,
#      1-bit and int8 models (test/Pipelines/gpu-run.test), 3 KD train
#      steps vs the CPU (test/Training/train-device.test), generation with
#      the KV cache (test/Generation/gpu-cuda.test), a one-rank NCCL
#      communicator with every collective the trainer calls
#      (test/GPU/nccl-check.test; from a bundle, bin/nccl-check);
#   5. runs gpu-bench (the 1-bit kernels against cuBLAS FP16, decode);
#   6. writes RESULTS/gpu-check.md and RESULTS/gpu-check.json.
# Exit status: 0 when every GPU test passed (or there is no GPU), 1 when a
# GPU test or gpu-bench failed, 2 for bad options, 3 when it cannot build.
#
# usage: scripts/gpu-check.sh [--build-dir DIR] [--no-build] [--results DIR]
#                             [--no-tests] [--no-bench] [--bench-args "ARGS"]
#                             [--jobs N] [--force]
# --force runs every step even without a GPU (to test this script: the GPU
# tests and gpu-bench then fail, and so does the exit status).
#
# The GPU bundle (docs/gpu.md, "The GPU bundle"), for GPU machines that
# cannot build onebit (no LLVM/MLIR 22 there):
#   scripts/gpu-check.sh --prepare [DIR] [--build-dir B] [--no-build]
#       [--shapes "MxNxK,..."] [--chip sm_XY] [--emit-args "ARGS"]
#       [--max-mib N] [--models [--model-set llama|tiny]]
#     here, on a machine that builds: writes DIR (default .gpu-bundle) with
#     gpu-bench-run, libonebit_cuda_runtime.so and the launch plans (PTX) of
#     the issue's shapes and the decode model, compiled for --chip (sm_90,
#     the H100/H200); fails (exit 1) when DIR is over N MiB (60) or a
#     program in it needs libLLVM, libMLIR, libopenblas, or our CPU runtime
#     from outside the bundle. --models adds the model-level GPU tests as
#     cuda artifacts (DIR/models: FP, 1-bit, int8-head inference, 3 KD
#     train steps (llama only) and generation, with the CPU's results;
#     scripts/gpu_bundle_models.py) and
#     the C API (libonebit.so, libonebit_runtime.so built without OpenBLAS
#     in B/bundle-runtime).
#   scripts/gpu-check.sh --check-bundle DIR [--max-mib N]
#     only the checks of --prepare's end, on an existing DIR.
#   scripts/gpu-check.sh --bundle [DIR] [--results R] [--bench-args "ARGS"]
#     on the GPU machine: no build, no MLIR. Probes the GPU, runs
#     gpu-bench-run on DIR's plans, runs DIR/models' cuda artifacts against
#     the CPU's results when the bundle has them (else those tests are
#     skipped: they need MLIR), writes the report into R (default $OUT
#     when set).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${ONEBIT_BUILD_DIR:-$ROOT/build}"
RESULTS=""
NO_BUILD=0
NO_BENCH=0
NO_TESTS=0
FORCE=0
BENCH_ARGS=""
JOBS="$(nproc 2>/dev/null || echo 2)"
START=$(date +%s)
PREPARE=""
BUNDLE=""
CHECK=""
SHAPES="1x8192x8192,1x28672x8192,16x8192x8192,512x8192x8192"
CHIP="sm_90"
EMIT_ARGS=""
MAX_MIB=60
MODELS=0
MODEL_SET=llama

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD="${2:?--build-dir needs a directory}"; shift 2 ;;
    --build-dir=*) BUILD="${1#*=}"; shift ;;
    --results) RESULTS="${2:?--results needs a directory}"; shift 2 ;;
    --results=*) RESULTS="${1#*=}"; shift ;;
    --no-build) NO_BUILD=1; shift ;;
    --no-bench) NO_BENCH=1; shift ;;
    --no-tests) NO_TESTS=1; shift ;;
    --force) FORCE=1; shift ;;
    --bench-args) BENCH_ARGS="${2?--bench-args needs a value}"; shift 2 ;;
    --bench-args=*) BENCH_ARGS="${1#*=}"; shift ;;
    --prepare|--bundle) # DIR is optional: .gpu-bundle in the repository
      opt="$1" d="$ROOT/.gpu-bundle"
      if [ $# -ge 2 ] && [ -n "$2" ] && [ "${2#-}" = "$2" ]; then d="$2"; shift; fi
      shift
      if [ "$opt" = --prepare ]; then PREPARE="$d"; else BUNDLE="$d"; fi ;;
    --prepare=*) PREPARE="${1#*=}"; shift ;;
    --check-bundle) CHECK="${2:?--check-bundle needs a directory}"; shift 2 ;;
    --check-bundle=*) CHECK="${1#*=}"; shift ;;
    --bundle=*) BUNDLE="${1#*=}"; shift ;;
    --shapes) SHAPES="${2:?--shapes needs MxNxK,...}"; shift 2 ;;
    --shapes=*) SHAPES="${1#*=}"; shift ;;
    --chip) CHIP="${2:?--chip needs sm_XY}"; shift 2 ;;
    --chip=*) CHIP="${1#*=}"; shift ;;
    --emit-args) EMIT_ARGS="${2?--emit-args needs a value}"; shift 2 ;;
    --emit-args=*) EMIT_ARGS="${1#*=}"; shift ;;
    --max-mib) MAX_MIB="${2:?--max-mib needs a number}"; shift 2 ;;
    --max-mib=*) MAX_MIB="${1#*=}"; shift ;;
    --models) MODELS=1; shift ;;
    --model-set) MODEL_SET="${2:?--model-set needs llama or tiny}"; shift 2 ;;
    --model-set=*) MODEL_SET="${1#*=}"; shift ;;
    --jobs) JOBS="${2:?--jobs needs a number}"; shift 2 ;;
    --jobs=*) JOBS="${1#*=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu-check: error: unknown option '$1' (--help lists them)" >&2; exit 2 ;;
  esac
done
case "$JOBS" in ''|*[!0-9]*|0) echo "gpu-check: error: --jobs must be a positive number, not '$JOBS'" >&2; exit 2 ;; esac
parent="$(cd "$(dirname "$BUILD")" 2>/dev/null && pwd)" || {
  echo "gpu-check: error: the build directory's parent $(dirname "$BUILD") does not exist" >&2; exit 2; }
BUILD="$parent/$(basename "$BUILD")"
case "$MAX_MIB" in ''|*[!0-9]*) echo "gpu-check: error: --max-mib must be a number, not '$MAX_MIB'" >&2; exit 2 ;; esac
case "$MODEL_SET" in llama|tiny) ;; *) echo "gpu-check: error: --model-set must be llama or tiny, not '$MODEL_SET'" >&2; exit 2 ;; esac
if [ -n "$PREPARE" ] && [ -n "$BUNDLE" ]; then
  echo "gpu-check: error: --prepare (here) and --bundle (on the GPU machine) do not go together" >&2; exit 2
fi

# Every ELF file under DIR must load without LLVM, MLIR, OpenBLAS or our
# CPU runtime (none is on the GPU machines) and find every library it needs;
# DIR must be at most MAX MiB (0: no limit). Prints each problem.
check_bundle() { # DIR MAX
  local dir="$1" max="$2" bad=0 f deps size
  while IFS= read -r f; do
    head -c 4 "$f" 2>/dev/null | grep -q 'ELF' || continue
    # The bundle's own lib/ first, as its programs load it there.
    if ! deps="$(LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$f" 2>&1)"; then
      echo "gpu-check: $f: ldd failed: $(echo "$deps" | head -1)"; bad=1; continue
    fi
    # Our CPU runtime only as the bundle's copy (built without OpenBLAS).
    deps="$(echo "$deps" | grep -v "libonebit_runtime\.so => $dir/lib/")"
    if echo "$deps" | grep -Eq 'lib(LLVM|MLIR|openblas|onebit_runtime)[^ ]*\.so'; then
      echo "gpu-check: $f needs $(echo "$deps" | grep -Eo 'lib(LLVM|MLIR|openblas|onebit_runtime)[^ ]*\.so[^ ]*' | sort -u | tr '\n' ' ')(not on the GPU machines)"; bad=1
    fi
    if echo "$deps" | grep -q 'not found'; then
      echo "gpu-check: $f: libraries not found: $(echo "$deps" | grep 'not found' | awk '{print $1}' | tr '\n' ' ')"; bad=1
    fi
  done < <(find "$dir" -type f \( -path "$dir/bin/*" -o -path "$dir/lib/*" \) | sort)
  size=$(du -sb "$dir" | cut -f1)
  if [ "$max" -gt 0 ] && [ "$size" -gt $(( max * 1024 * 1024 )) ]; then
    echo "gpu-check: $dir is $size bytes, over the limit of $max MiB"; bad=1
  fi
  return $bad
}

if [ -n "$CHECK" ]; then
  [ -d "$CHECK" ] || { echo "gpu-check: error: $CHECK is not a directory" >&2; exit 2; }
  if check_bundle "$CHECK" "$MAX_MIB"; then
    echo "gpu-check: $CHECK: $(du -sb "$CHECK" | cut -f1) bytes (limit $MAX_MIB MiB), no libLLVM/libMLIR/libopenblas, every library found"; exit 0
  fi
  echo "gpu-check: the bundle $CHECK is not fit to carry (above); exit 1"; exit 1
fi

# --prepare: the bundle, built here.
if [ -n "$PREPARE" ]; then
  PREPARE_ARG="$PREPARE"
  mkdir -p "$PREPARE" || { echo "gpu-check: error: cannot create $PREPARE" >&2; exit 2; }
  PREPARE="$(cd "$PREPARE" && pwd)"
  if [ -n "$(ls -A "$PREPARE")" ] && [ ! -f "$PREPARE/MANIFEST" ]; then
    echo "gpu-check: error: $PREPARE is not empty and holds no bundle (no MANIFEST): not overwriting it" >&2; exit 2
  fi
  if [ "$NO_BUILD" = 0 ]; then
    [ -f "$BUILD/build.ninja" ] || { say_err="no $BUILD/build.ninja: configure the build first (docs/building.md)"; echo "gpu-check: cannot build: $say_err" >&2; exit 3; }
    echo "gpu-check: building gpu-bench, gpu-bench-run and the CUDA runtime in $BUILD (ninja -j$JOBS)"
    # nccl-check exists where the build found NCCL's headers.
    nccl_target=""
    ninja -C "$BUILD" -t targets all 2>/dev/null | grep -q '^nccl-check:' && nccl_target=nccl-check
    ninja -C "$BUILD" -j "$JOBS" gpu-bench gpu-bench-run onebit_cuda_runtime $nccl_target > "$PREPARE.build.log" 2>&1 || {
      echo "gpu-check: cannot build: ninja failed (last lines of $PREPARE.build.log):" >&2
      tail -15 "$PREPARE.build.log" >&2; exit 3; }
    rm -f "$PREPARE.build.log"
  fi
  for f in bin/gpu-bench bin/gpu-bench-run lib/libonebit_cuda_runtime.so; do
    [ -x "$BUILD/$f" ] || [ -f "$BUILD/$f" ] || { echo "gpu-check: cannot prepare: $BUILD/$f is missing" >&2; exit 3; }
  done
  rm -rf "${PREPARE:?}"/bin "${PREPARE:?}"/lib "${PREPARE:?}"/plans "${PREPARE:?}"/models "$PREPARE/MANIFEST"
  mkdir -p "$PREPARE/bin" "$PREPARE/lib"
  cp "$BUILD/bin/gpu-bench-run" "$PREPARE/bin/" &&
    cp -L "$BUILD/lib/libonebit_cuda_runtime.so" "$PREPARE/lib/" || {
    echo "gpu-check: error: cannot copy the programs into $PREPARE" >&2; exit 1; }
  # The NCCL backend's check (data-parallel training over NCCL, issue 29).
  if [ -x "$BUILD/bin/nccl-check" ]; then
    cp "$BUILD/bin/nccl-check" "$PREPARE/bin/" || {
      echo "gpu-check: error: cannot copy nccl-check into $PREPARE" >&2; exit 1; }
  fi
  # The model-level tests as cuda artifacts, run there over the C API: the
  # C API and the kernel library without OpenBLAS (not on the GPU
  # machines), built in their own build directory.
  models_note="none (no --models)"
  if [ "$MODELS" = 1 ]; then
    RT="$BUILD/bundle-runtime"
    if [ "$NO_BUILD" = 0 ]; then
      if [ ! -f "$RT/build.ninja" ]; then
        echo "gpu-check: configuring $RT (the C API without OpenBLAS)"
        cmake -S "$ROOT" -B "$RT" -G Ninja -DCMAKE_BUILD_TYPE=Release \
          -DCMAKE_C_COMPILER="$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt")" \
          -DCMAKE_CXX_COMPILER="$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt")" \
          -DMLIR_DIR="$(sed -n 's/^MLIR_DIR:[A-Z]*=//p' "$BUILD/CMakeCache.txt")" \
          -DONEBIT_RUNTIME_USE_OPENBLAS=OFF > "$PREPARE.runtime.log" 2>&1 || {
          echo "gpu-check: cannot configure $RT (last lines of $PREPARE.runtime.log):" >&2
          tail -15 "$PREPARE.runtime.log" >&2; exit 3; }
      fi
      ninja -C "$RT" -j "$JOBS" onebit onebit_cuda_runtime >> "$PREPARE.runtime.log" 2>&1 &&
        ninja -C "$BUILD" -j "$JOBS" onebit-compile onebit-opt onebit-translate onebit >> "$PREPARE.runtime.log" 2>&1 || {
        echo "gpu-check: cannot build the C API for the bundle (last lines of $PREPARE.runtime.log):" >&2
        tail -15 "$PREPARE.runtime.log" >&2; exit 3; }
      rm -f "$PREPARE.runtime.log"
    fi
    for f in "$RT/lib/libonebit.so" "$RT/lib/libonebit_runtime.so" "$BUILD/bin/onebit-compile" "$BUILD/lib/libonebit.so"; do
      [ -f "$f" ] || { echo "gpu-check: cannot prepare the models: $f is missing" >&2; exit 3; }
    done
    cp -L "$RT/lib/libonebit.so" "$RT/lib/libonebit_runtime.so" "$PREPARE/lib/" || {
      echo "gpu-check: error: cannot copy the C API into $PREPARE" >&2; exit 1; }
    t0=$(date +%s)
    mpy="$ROOT/.venv/bin/python"; [ -x "$mpy" ] || mpy=python3
    echo "gpu-check: compiling the $MODEL_SET models for --device cuda ($CHIP) and recording the CPU's results"
    # The train step is the torch export's (--model-set llama).
    sel=fp,q,q8,generate; [ "$MODEL_SET" = llama ] && sel=fp,q,q8,train,generate
    if ! "$mpy" "$ROOT/scripts/gpu_bundle_models.py" prepare "$PREPARE/models" \
        --build "$BUILD" --chip "$CHIP" --set "$MODEL_SET" --models "$sel"; then
      echo "gpu-check: error: the models could not be prepared (above)" >&2; exit 1
    fi
    cp "$ROOT/scripts/gpu_bundle_models.py" "$PREPARE/models/"
    models_note="$(grep -c '"kind"' "$PREPARE/models/models.json") models ($MODEL_SET) in $(( $(date +%s) - t0 )) s"
  fi
  # The kernels, compiled here for the GPU machine's chip.
  t0=$(date +%s)
  # shellcheck disable=SC2086
  if ! "$BUILD/bin/gpu-bench" --emit-plan "$PREPARE/plans" --shapes "$SHAPES" \
      --chip "$CHIP" $EMIT_ARGS; then
    echo "gpu-check: error: gpu-bench --emit-plan failed" >&2; exit 1
  fi
  # The run side must read what was written (and says what it will launch).
  if ! "$PREPARE/bin/gpu-bench-run" "$PREPARE/plans" --print-plan > "$PREPARE/plans/launches.txt"; then
    echo "gpu-check: error: gpu-bench-run cannot read the plans it was given" >&2; exit 1
  fi
  # Each kernel through ptxas for the chip, when the toolkit is here: what
  # the driver's JIT would refuse on the GPU machine is refused now.
  PTXAS="$(command -v ptxas || echo /usr/local/cuda/bin/ptxas)"
  if [ -x "$PTXAS" ]; then
    n=0
    while IFS= read -r f; do
      if ! msg="$("$PTXAS" -arch="$CHIP" "$f" -o /dev/null 2>&1)"; then
        echo "gpu-check: error: ptxas -arch=$CHIP refuses ${f#$PREPARE/}: $(echo "$msg" | head -3)" >&2; exit 1
      fi
      n=$((n + 1))
    done < <(find "$PREPARE/plans" -name '*.ptx' | sort)
    # The cuda artifacts' kernels too (the PTX their code embeds).
    if [ -f "$PREPARE/models/models.json" ]; then
      for art in "$PREPARE"/models/*.cuda.onebit; do
        rm -rf "$PREPARE.ptx" &&
          python3 "$ROOT/test/Artifact/Inputs/artifact_code.py" "$art" --ptx "$PREPARE.ptx" > /dev/null || {
          echo "gpu-check: error: cannot read the PTX of $art" >&2; exit 1; }
        for f in "$PREPARE.ptx"/*.ptx; do
          if ! msg="$("$PTXAS" -arch="$CHIP" "$f" -o /dev/null 2>&1)"; then
            echo "gpu-check: error: ptxas -arch=$CHIP refuses a kernel of ${art#$PREPARE/}: $(echo "$msg" | head -3)" >&2; exit 1
          fi
          n=$((n + 1))
        done
      done
      rm -rf "$PREPARE.ptx"
    fi
    ptxas_note="ptxas $("$PTXAS" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p') -arch=$CHIP: $n kernels ok"
  else
    ptxas_note="not checked (no ptxas here)"
  fi
  if ! check_bundle "$PREPARE" "$MAX_MIB"; then
    echo "gpu-check: the bundle $PREPARE is not fit to carry (above); exit 1"; exit 1
  fi
  glibc="$(objdump -T "$PREPARE"/bin/* "$PREPARE"/lib/* 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)"
  glibcxx="$(objdump -T "$PREPARE"/bin/* "$PREPARE"/lib/* 2>/dev/null | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -1)"
  commit="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
  git -C "$ROOT" diff --quiet HEAD -- benchmarks lib include 2>/dev/null || commit="$commit (with uncommitted changes)"
  {
    echo "onebit-gpu-bundle 1"
    echo "commit $commit"
    echo "created $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "chip $CHIP"
    echo "shapes $SHAPES"
    echo "emit_args $EMIT_ARGS"
    echo "needs ${glibc:-?} ${glibcxx:-?}"
    echo "ptxas_check $ptxas_note"
    echo "models $models_note"
  } > "$PREPARE/MANIFEST"
  size=$(du -sb "$PREPARE" | cut -f1)
  echo "size $size" >> "$PREPARE/MANIFEST"
  echo "gpu-check: bundle $PREPARE ready: $(( size / 1024 )) KiB (limit $MAX_MIB MiB), $(grep -Ec '^(gemm|model) ' "$PREPARE/plans/plans.txt") plans for $CHIP compiled in $(( $(date +%s) - t0 )) s ($ptxas_note); models: $models_note; needs ${glibc:-?} and ${glibcxx:-?}; no libLLVM/libMLIR/libopenblas"
  echo "gpu-check: on the GPU machine: scripts/gpu-check.sh --bundle $PREPARE_ARG (docs/gpu.md, \"The GPU bundle\")"
  exit 0
fi

# --bundle: check what was carried before anything else, GPU or not.
if [ -n "$BUNDLE" ]; then
  [ -d "$BUNDLE" ] && BUNDLE="$(cd "$BUNDLE" && pwd)"
  # A copy may lose the execute bit.
  [ -f "$BUNDLE/bin/gpu-bench-run" ] && [ ! -x "$BUNDLE/bin/gpu-bench-run" ] && chmod +x "$BUNDLE/bin/gpu-bench-run" 2>/dev/null
  if [ ! -f "$BUNDLE/MANIFEST" ] || [ ! -x "$BUNDLE/bin/gpu-bench-run" ] || [ ! -f "$BUNDLE/plans/plans.txt" ]; then
    echo "gpu-check: error: $BUNDLE is not a GPU bundle (MANIFEST, bin/gpu-bench-run, plans/plans.txt): make it with scripts/gpu-check.sh --prepare $BUNDLE on a machine that builds onebit, and carry it" >&2
    exit 2
  fi
  [ -z "$RESULTS" ] && [ -n "${OUT:-}" ] && RESULTS="$OUT"
fi
RESULTS="${RESULTS:-$ROOT/gpu-check-results/$(date -u +%Y%m%d-%H%M%S)}"
mkdir -p "$RESULTS" || { echo "gpu-check: error: cannot create $RESULTS" >&2; exit 2; }
RESULTS="$(cd "$RESULTS" && pwd)"
STATE="$RESULTS/state.tsv" # one "key<TAB>value" line per fact; the report reads it
: > "$STATE"

say() { printf 'gpu-check: %s\n' "$*"; }
fact() { printf '%s\t%s\n' "$1" "$2" >> "$STATE"; }
PY="$(command -v python3 || true)"

# The GPU tests: name, lit test, what it checks.
NCCL_WHAT="one-rank NCCL communicator: every collective the trainer calls"
TESTS=(
  "inference|test/Pipelines/gpu-run.test|FP, 1-bit and int8 models vs the CPU (1e-5)"
  "train|test/Training/train-device.test|3 KD train steps vs the CPU (1e-4)"
  "generation|test/Generation/gpu-cuda.test|16 tokens with the KV cache vs the CPU (1e-5)"
  "nccl|test/GPU/nccl-check.test|$NCCL_WHAT"
)

# gpu-bench (or gpu-bench-run PLANS): the 1-bit kernels against cuBLAS,
# the decode stack; sets status=1 when it fails.
run_bench() { # PROGRAM [ARGS...]
  if [ "$NO_BENCH" = 1 ]; then
    fact bench "skipped|--no-bench"
  else
    # cuBLAS: the toolkit's, else the one PyTorch's wheels bring (the CUDA
    # image of docs/gpu.md has both, or either).
    local blas=() d
    case " $BENCH_ARGS " in *" --cublas-dir"*) ;; *)
      for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
          "$("$PY" -c 'import nvidia.cublas as c; print(list(c.__path__)[0] + "/lib")' 2>/dev/null)"; do
        if [ -n "$d" ] && ls "$d"/libcublas.so* >/dev/null 2>&1; then blas=(--cublas-dir "$d"); break; fi
      done ;;
    esac
    fact cublas_dir "${blas[1]:-not found (the default search path)}"
    say "running ${*#$ROOT/} ${blas[*]} $BENCH_ARGS"
    t0=$(date +%s)
    # shellcheck disable=SC2086
    timeout 300 "$@" "${blas[@]}" --json "$RESULTS/gpu_bench.json" $BENCH_ARGS \
      > "$RESULTS/gpu_bench.txt" 2>&1
    rc=$?
    cat "$RESULTS/gpu_bench.txt"
    case $rc in
      0) if grep -q '"gpu": false' "$RESULTS/gpu_bench.json" 2>/dev/null; then
           fact bench "fail|$(basename "$1") found no GPU"; status=1
         else
           fact bench "pass|$(( $(date +%s) - t0 )) s"
         fi ;;
      2) fact bench "fail|wrong numbers (gpu_bench.txt)"; status=1 ;;
      124) fact bench "fail|timeout after 300 s"; status=1 ;;
      *) fact bench "fail|exit $rc (gpu_bench.txt)"; status=1 ;;
    esac
  fi
}

report() { # writes the markdown and JSON reports from $STATE
  fact elapsed_s "$(( $(date +%s) - START ))"
  if [ -z "$PY" ]; then
    say "python3 not found: the report is $STATE only"
    return
  fi
  "$PY" "$ROOT/scripts/gpu_check_report.py" "$STATE" "$RESULTS" || \
    say "the report could not be written (see $STATE)"
}

# 1. Is there a GPU? nvidia-smi when present, then the driver itself.
fact started "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
fact host "$(hostname 2>/dev/null || echo ?)"
fact cpu "$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')"
fact cores "$JOBS"
SKIP_TESTS="no GPU"
if [ -n "$BUNDLE" ]; then
  # The model-level tests need the JIT (MLIR) or cuda artifacts (issue 27):
  # neither is in a bundle.
  SKIP_TESTS="not in the bundle: needs MLIR (the JIT) or cuda artifacts (issue 27)"
  # With --models, the bundle runs the model-level tests from cuda
  # artifacts (a bundle prepared without the train step leaves it to the
  # JIT).
  if [ -f "$BUNDLE/models/models.json" ]; then
    train="train|test/Training/train-device.test|3 KD train steps vs the CPU (1e-4)"
    grep -q '"kind": "train"' "$BUNDLE/models/models.json" &&
      train="train|models: train|3 KD train steps vs the CPU (1e-4), cuda artifact"
    TESTS=(
      "inference|models: fp, q, q8|FP, 1-bit and int8 models vs the CPU (1e-5), cuda artifacts"
      "$train"
      "generation|models: generate|16 tokens with the KV cache vs the CPU (1e-5), cuda artifact"
    )
  fi
  # The NCCL check needs no MLIR: the bundle carries the program itself.
  kept=()
  for t in "${TESTS[@]}"; do
    case "$t" in nccl\|*) ;; *) kept+=("$t") ;; esac
  done
  TESTS=("${kept[@]}" "nccl|bin: nccl-check|$NCCL_WHAT")
  fact bundle "$BUNDLE ($(sed -n 's/^commit //p' "$BUNDLE/MANIFEST"), $(sed -n 's/^chip //p' "$BUNDLE/MANIFEST"), made $(sed -n 's/^created //p' "$BUNDLE/MANIFEST"))"
  fact build "none (bundle)"
  if ! problems="$(check_bundle "$BUNDLE" 0)"; then
    echo "$problems"
    say "the bundle cannot run here (above); exit 1"
    fact bundle_check "fail: $(echo "$problems" | head -3 | tr '\n' ' ')"
    fact gpu_reason "the bundle cannot run here"
    fact status 1
    report
    exit 1
  fi
  if ! plans="$("$BUNDLE/bin/gpu-bench-run" "$BUNDLE/plans" --print-plan 2>&1)"; then
    say "gpu-bench-run cannot read the bundle's plans: $(echo "$plans" | tail -1); exit 1"
    fact bundle_check "fail: $(echo "$plans" | tail -1)"
    fact status 1
    report
    exit 1
  fi
  fact bundle_check "ok: $(echo "$plans" | grep -c '^[0-9]') plans read"
fi
if command -v nvidia-smi >/dev/null 2>&1; then
  if smi="$(timeout 60 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1)"; then
    smi_ok=1
    fact nvidia_smi "$(echo "$smi" | head -1)"
    cuda="$(nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' | head -1)"
    fact cuda_version "${cuda:-?}"
    say "nvidia-smi: $(echo "$smi" | head -1), CUDA $cuda"
  else
    fact nvidia_smi "failed: $(echo "$smi" | head -1)"
    say "nvidia-smi failed: $(echo "$smi" | head -1)"
  fi
else
  fact nvidia_smi "not installed"
fi
why=""
smi_ok="${smi_ok:-0}"
if [ -z "$PY" ]; then
  command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 || why="no nvidia-smi GPU and no python3 to ask libcuda"
else
  # It prints "ok" when a device is there, else why not; anything else
  # (python3 itself failing) is a reason too.
  out="$(timeout 60 "$PY" - 2>&1 <<'EOF'
import ctypes
try:
    cuda = ctypes.CDLL("libcuda.so.1")
except OSError as e:
    print(f"cannot load libcuda.so.1 ({e})")
    raise SystemExit
r = cuda.cuInit(0)
n = ctypes.c_int(0)
if r != 0:
    print(f"cuInit failed (CUresult {r})")
elif cuda.cuDeviceGetCount(ctypes.byref(n)) != 0 or n.value == 0:
    print("the CUDA driver sees no GPU")
else:
    print("ok")
EOF
)"
  case "$out" in
    ok) why="" ;;
    "") why="$PY printed nothing when asked about libcuda" ;;
    *) why="$(echo "$out" | tail -1)" ;;
  esac
fi
if [ -n "$why" ] && [ "$FORCE" = 1 ]; then
  say "no GPU ($why), but --force: running every step anyway"
  fact gpu_reason "$why (--force)"
elif [ -n "$why" ] && [ "$smi_ok" = 1 ]; then
  # nvidia-smi sees a GPU that the driver API cannot use: that is a failure.
  say "nvidia-smi lists a GPU, but the driver API cannot use it: $why (exit 1)"
  fact gpu unusable
  fact gpu_reason "$why"
  fact status 1
  report
  exit 1
elif [ -n "$why" ]; then
  say "no GPU: $why; nothing to check (exit 0)"
  fact gpu no
  fact gpu_reason "$why"
  for t in "${TESTS[@]}"; do
    IFS='|' read -r name file what <<< "$t"
    case "$file" in models:*|bin:*) r="no GPU" ;; *) r="$SKIP_TESTS" ;; esac
    fact "test:$name" "skipped|$r|$file|$what"
  done
  fact bench "skipped|no GPU"
  report
  exit 0
fi
if [ -z "$why" ]; then
  fact gpu yes
  say "a GPU is there; results go to $RESULTS"
else
  fact gpu forced
fi

# From a bundle: the project's probe from the bundle's runtime, then
# gpu-bench-run on the bundle's plans; no build, no lit.
if [ -n "$BUNDLE" ]; then
  probe="$(timeout 60 "$PY" - "$BUNDLE/lib/libonebit_cuda_runtime.so" 2>&1 <<'EOF'
import ctypes, sys
rt = ctypes.CDLL(sys.argv[1])
buf = ctypes.create_string_buffer(512)
ok = rt.onebitCudaProbe(buf, ctypes.c_size_t(512)) == 0
print(("ok " if ok else "FAIL ") + buf.value.decode(errors="replace"))
EOF
)"
  probe="$(echo "$probe" | tail -1)"
  fact probe "$probe"
  say "onebitCudaProbe: $probe"
  status=0
  case "$probe" in ok*) ;; *) status=1 ;; esac
  timeout 60 "$BUNDLE/bin/gpu-bench-run" "$BUNDLE/plans" --probe-only --json "$RESULTS/device.json" > "$RESULTS/device.txt" 2>&1
  say "$(head -1 "$RESULTS/device.txt")"
  if [ -f "$BUNDLE/models/models.json" ]; then
    say "running the cuda artifacts of $BUNDLE/models over the C API"
    timeout 300 "$PY" "$BUNDLE/models/gpu_bundle_models.py" check "$BUNDLE/models" \
      --lib "$BUNDLE/lib" > "$RESULTS/models.txt" 2>&1
    mrc=$?
    cat "$RESULTS/models.txt"
    [ "$mrc" = 0 ] || status=1
  fi
  if [ -x "$BUNDLE/bin/nccl-check" ]; then
    say "running nccl-check (one-rank NCCL communicator)"
    # libnccl: the system's, else the one PyTorch's wheels bring.
    ncclpath="$("$PY" -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib"))' 2>/dev/null || true)"
    LD_LIBRARY_PATH="${ncclpath:+$ncclpath:}${LD_LIBRARY_PATH:-}" \
      timeout 120 "$BUNDLE/bin/nccl-check" --require-gpu > "$RESULTS/nccl.txt" 2>&1
    nrc=$?
    cat "$RESULTS/nccl.txt"
  fi
  for t in "${TESTS[@]}"; do
    IFS='|' read -r name file what <<< "$t"
    case "$file" in
      "bin: nccl-check")
        if [ ! -x "$BUNDLE/bin/nccl-check" ]; then
          fact "test:$name" "skipped|not in the bundle (built without NCCL's headers)|$file|$what"
        else
          l="$(grep -E '^(ok|FAIL|skipped): nccl' "$RESULTS/nccl.txt" | head -1)"
          [ -n "$l" ] || l="FAIL: nccl: no result (exit $nrc; nccl.txt)"
          st=pass
          case "$l" in ok*) [ "$nrc" = 0 ] || st=fail ;; skipped*) st=skipped ;; *) st=fail ;; esac
          [ "$st" = pass ] || status=1
          fact "test:$name" "$st|$l|$file|$what"
        fi ;;
      models:*)
        lines=""; st=pass
        for m in $(echo "${file#models: }" | tr ',' ' '); do
          l="$(grep -E "^(ok|FAIL): $m: " "$RESULTS/models.txt" | head -1)"
          [ -n "$l" ] || l="FAIL: $m: no result (exit $mrc; models.txt)"
          case "$l" in ok*) ;; *) st=fail ;; esac
          lines="${lines:+$lines;}$l"
        done
        fact "test:$name" "$st|$lines|$file|$what" ;;
      *) fact "test:$name" "skipped|$SKIP_TESTS|$file|$what" ;;
    esac
  done
  run_bench "$BUNDLE/bin/gpu-bench-run" "$BUNDLE/plans"
  fact status "$status"
  report
  say "report: $RESULTS/gpu-check.md; exit $status"
  exit $status
fi

# 2. Build what is missing.
if [ -z "$PY" ]; then
  say "cannot run the GPU tests: python3 is missing (lit and the checks need it)"
  fact build "not run: python3 missing"
  fact status 3
  report
  exit 3
fi
# A build directory configured elsewhere (the repository was copied here)
# cannot be reused: cmake refuses a cache from another source tree. Leave it
# alone and configure a fresh one next to it.
if [ -f "$BUILD/CMakeCache.txt" ]; then
  home="$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$BUILD/CMakeCache.txt")"
  if [ -n "$home" ] && [ "$(cd "$home" 2>/dev/null && pwd)" != "$ROOT" ]; then
    say "$BUILD was configured for $home, not $ROOT: using $ROOT/build-gpu-check"
    BUILD="$ROOT/build-gpu-check"
  fi
fi
fact build_dir "$BUILD"
TOOLS=(onebit-opt onebit-translate onebit-run onebit-train onebit-generate gpu-bench)
missing_build_tools() {
  local m=()
  command -v cmake >/dev/null 2>&1 || m+=(cmake)
  command -v ninja >/dev/null 2>&1 || m+=("ninja (ninja-build)")
  command -v clang++-22 >/dev/null 2>&1 || m+=(clang++-22)
  [ -f /usr/lib/llvm-22/lib/cmake/mlir/MLIRConfig.cmake ] || m+=("MLIR 22 (libmlir-22-dev at /usr/lib/llvm-22)")
  [ -x /usr/lib/llvm-22/bin/lit ] || command -v lit >/dev/null 2>&1 || m+=("lit (llvm-22-tools)")
  echo "${m[*]}"
}
if [ "$NO_BUILD" = 0 ]; then
  t0=$(date +%s)
  if [ ! -f "$BUILD/build.ninja" ]; then
    miss="$(missing_build_tools)"
    if [ -n "$miss" ]; then
      say "cannot build: missing $miss (no network here: install them or bring a build directory)"
      fact build "failed: missing $miss"
      fact status 3
      report
      exit 3
    fi
    launcher=()
    command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    say "configuring $BUILD"
    if ! cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
        -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir "${launcher[@]}" \
        > "$RESULTS/configure.log" 2>&1; then
      say "cannot build: cmake failed (last lines of $RESULTS/configure.log):"
      tail -5 "$RESULTS/configure.log"
      fact build "failed: cmake (configure.log)"
      fact status 3
      report
      exit 3
    fi
  fi
  say "building ${TOOLS[*]} and the CUDA runtime (ninja -j$JOBS)"
  if ! ninja -C "$BUILD" -j "$JOBS" "${TOOLS[@]}" onebit_cuda_runtime \
      > "$RESULTS/build.log" 2>&1; then
    say "cannot build: ninja failed (last lines of $RESULTS/build.log):"
    tail -15 "$RESULTS/build.log"
    fact build "failed: ninja (build.log)"
    fact status 3
    report
    exit 3
  fi
  fact build "ok in $(( $(date +%s) - t0 )) s"
else
  fact build "not run (--no-build)"
fi
for tool in "${TOOLS[@]}"; do
  [ -x "$BUILD/bin/$tool" ] || { say "cannot run: $BUILD/bin/$tool is missing (--no-build with an incomplete build?)"; fact build "incomplete: no $tool"; fact status 3; report; exit 3; }
done

# 3. The project's own probe (what onebit-run --device=cuda asks).
probe="$("$PY" - "$BUILD" <<'EOF'
import ctypes, glob, sys
libs = glob.glob(sys.argv[1] + "/lib/libonebit_cuda_runtime.so*")
if not libs:
    print("FAIL no libonebit_cuda_runtime.so in the build"); raise SystemExit
rt = ctypes.CDLL(libs[0])
buf = ctypes.create_string_buffer(512)
ok = rt.onebitCudaProbe(buf, ctypes.c_size_t(512)) == 0
print(("ok " if ok else "FAIL ") + buf.value.decode(errors="replace"))
EOF
)"
fact probe "$probe"
say "onebitCudaProbe: $probe"
status=0
case "$probe" in ok*) ;; *) status=1 ;; esac

# gpu-bench --probe-only gives the device, its chip and the driver's CUDA
# version as the driver API reports them.
"$BUILD/bin/gpu-bench" --probe-only --json "$RESULTS/device.json" > "$RESULTS/device.txt" 2>&1
say "$(head -1 "$RESULTS/device.txt")"

# 4. The GPU tests, through lit, in parallel.
LIT="$(command -v /usr/lib/llvm-22/bin/lit || command -v lit || true)"
files=()
for t in "${TESTS[@]}"; do IFS='|' read -r name file what <<< "$t"; files+=("$BUILD/$file"); done
if [ "$NO_TESTS" = 1 ]; then
  for t in "${TESTS[@]}"; do IFS='|' read -r name file what <<< "$t"; fact "test:$name" "skipped|--no-tests|$file|$what"; done
elif [ -z "$LIT" ]; then
  say "lit not found: the GPU tests cannot run"
  for t in "${TESTS[@]}"; do IFS='|' read -r name file what <<< "$t"; fact "test:$name" "fail|lit not found|$file|$what"; done
  status=1
else
  say "running the GPU tests: ${files[*]#$BUILD/}"
  t0=$(date +%s)
  ONEBIT_REQUIRE_GPU=1 timeout 360 "$LIT" -v -a -j 3 "${files[@]}" > "$RESULTS/lit.log" 2>&1
  fact tests_s "$(( $(date +%s) - t0 ))"
  for t in "${TESTS[@]}"; do
    IFS='|' read -r name file what <<< "$t"
    base="${file#test/}"
    res="$(grep -E "^[A-Z]+: ONEBIT :: $base " "$RESULTS/lit.log" | head -1 | cut -d: -f1)"
    # The checks' own lines ("ok: GPU matches CPU, rel_err=...", "FAIL: ..."),
    # which they also append to result.txt in the test's folder.
    out="$BUILD/$(dirname "$file")/Output/$(basename "$file").tmp/result.txt"
    fig="$( [ -f "$out" ] && tr '\n' ';' < "$out" | sed 's/;$//')"
    case "$res" in
      PASS) st=pass ;;
      UNSUPPORTED) st=unsupported; fig="lit: UNSUPPORTED (a REQUIRES feature is missing: python modules?)" ;;
      "") st=fail; fig="no result (timeout after 360 s?)"; status=1 ;;
      *) st=fail; status=1 ;;
    esac
    say "  $name: $st ${fig:+($fig)}"
    fact "test:$name" "$st|$fig|$file|$what"
  done
  # KD steps/s of the train test's 3 steps (tiny LLaMA, batch 2 x 8).
  tmp="$BUILD/test/Training/Output/train-device.test.tmp"
  for dev in cpu cuda; do
    [ -f "$tmp/$dev/train.jsonl" ] && fact "train_log:$dev" "$tmp/$dev/train.jsonl"
  done
fi

# 5. gpu-bench.
run_bench "$BUILD/bin/gpu-bench"

fact status "$status"
report
say "report: $RESULTS/gpu-check.md; exit $status"
exit $status
