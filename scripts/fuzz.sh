#!/usr/bin/env bash
# Fuzzes onebit's parsers of untrusted bytes (docs/security.md). Builds the
# libFuzzer targets (clang, ASan+UBSan, UB is fatal) into build-fuzz/,
# replays every input that ever crashed one (the regression corpus), then
# fuzzes each target from seeds for the given time.
#
#   scripts/fuzz.sh [--seconds N] [--jobs N] [--replay-only] [TARGET ...]
#
# TARGET: onnx gguf tokenizer checkpoint npy artifact bytecode (default: all).
# --seconds N  fuzzing time per target (default 30: the CI smoke);
# --jobs N     parallel fuzzing processes per target (default 1).
# The corpus each run grows is kept in build-fuzz/corpus/TARGET; a crash,
# leak, timeout or out-of-memory input lands in build-fuzz/findings/TARGET/
# and the script exits non-zero. Add such an input to the target's
# regression folder below once it is fixed.
set -euo pipefail
source "$(dirname "$0")/env.sh"

seconds=30 jobs=1 replay_only=0 targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --replay-only) replay_only=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(onnx gguf tokenizer checkpoint npy artifact bytecode)

# Where each target's regression inputs live (next to the lit tests that
# replay them through the plain tools), and its largest useful input.
regressions() {
  case "$1" in
    onnx) echo "$ONEBIT_ROOT/test/Target/ONNX/Inputs/fuzz" ;;
    gguf) echo "$ONEBIT_ROOT/test/Target/GGUF/Inputs/fuzz" ;;
    tokenizer) echo "$ONEBIT_ROOT/test/Tokenizer/Inputs/fuzz" ;;
    checkpoint) echo "$ONEBIT_ROOT/test/Training/Inputs/fuzz" ;;
    npy) echo "$ONEBIT_ROOT/test/e2e/Inputs/fuzz" ;;
    artifact) echo "$ONEBIT_ROOT/test/Artifact/Inputs/fuzz" ;;
    # Also its seeds: MLIR bytecode is written by onebit-opt, not by
    # make_seeds.py.
    bytecode) echo "$ONEBIT_ROOT/test/Artifact/Inputs/fuzz-bytecode" ;;
    *) onebit_log "error: unknown fuzz target '$1' (onnx gguf tokenizer checkpoint npy artifact bytecode)"; exit 2 ;;
  esac
}
max_len() {
  case "$1" in
    gguf) echo 131072 ;;
    onnx|tokenizer|artifact|bytecode) echo 65536 ;;
    *) echo 4096 ;;
  esac
}

FUZZ_DIR="$ONEBIT_ROOT/build-fuzz"
if [ ! -f "$FUZZ_DIR/build.ninja" ]; then
  onebit_log "configuring $FUZZ_DIR (clang, libFuzzer, ASan+UBSan)"
  cmake -S "$ONEBIT_ROOT" -B "$FUZZ_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DONEBIT_BUILD_FUZZERS=ON -DONEBIT_ENABLE_SANITIZERS=ON >/dev/null
fi
fuzzers=()
for t in "${targets[@]}"; do
  regressions "$t" >/dev/null
  fuzzers+=("onebit-$t-fuzzer")
done
onebit_log "building ${fuzzers[*]}"
ninja -C "$FUZZ_DIR" -j "$(nproc 2>/dev/null || echo 2)" "${fuzzers[@]}"

python="$ONEBIT_ROOT/.venv/bin/python"
[ -x "$python" ] || python=python3
seeds="$FUZZ_DIR/seeds"
if [ ! -d "$seeds/artifact" ]; then
  onebit_log "writing seed inputs into $seeds"
  "$python" "$ONEBIT_ROOT/test/Fuzz/make_seeds.py" "$seeds"
fi

failed=0
for t in "${targets[@]}"; do
  bin="$FUZZ_DIR/bin/onebit-$t-fuzzer"
  reg="$(regressions "$t")"
  findings="$FUZZ_DIR/findings/$t"
  corpus="$FUZZ_DIR/corpus/$t"
  mkdir -p "$findings" "$corpus"
  common=(-max_len="$(max_len "$t")" -timeout=25 -rss_limit_mb=2048
          -malloc_limit_mb=2048 -artifact_prefix="$findings/")
  if [ -d "$reg" ]; then
    onebit_log "$t: replaying $(ls "$reg" | wc -l) regression inputs under ASan+UBSan"
    if ! "$bin" "${common[@]}" -runs=0 "$reg" >"$findings/replay.log" 2>&1; then
      onebit_log "$t: a regression input fails again; see $findings/replay.log"
      tail -n 30 "$findings/replay.log" >&2
      failed=1
      continue
    fi
  fi
  [ "$replay_only" = 1 ] && continue
  onebit_log "$t: fuzzing for ${seconds}s with $jobs job(s)"
  dirs=("$corpus")
  [ -d "$seeds/$t" ] && dirs+=("$seeds/$t")
  [ -d "$reg" ] && dirs+=("$reg")
  if [ "$jobs" -gt 1 ]; then
    fork=(-fork="$jobs")
  else
    fork=()
  fi
  if ! "$bin" "${common[@]}" "${fork[@]}" -max_total_time="$seconds" \
      -print_final_stats=1 "${dirs[@]}" >"$findings/fuzz.log" 2>&1; then
    onebit_log "$t: the fuzzer found a problem; see $findings/fuzz.log"
    grep -E "ERROR|SUMMARY|runtime error" "$findings/fuzz.log" | head -n 5 >&2 || true
    failed=1
    continue
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$findings/fuzz.log")
  onebit_log "$t: ${runs:-?} runs, corpus $(ls "$corpus" | wc -l) inputs, no findings"
done
exit "$failed"
