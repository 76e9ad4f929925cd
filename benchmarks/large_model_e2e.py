#!/usr/bin/env python3
"""A 1B-class model end to end on this machine (issue 28, item 4): the
wall time and peak RSS of every stage, as a markdown table.

The model has TinyLlama-1.1B's shape (22 layers, width 2048, FFN 5632,
32 heads, 4 KV heads, vocabulary 32000) with random weights, written as
GGUF F16 by test/Generation/Inputs/make_tiny_llama.py. The stages, each a
separate process measured with /usr/bin/time (wall seconds, maximum RSS):

  write     the GGUF F16 file (numpy; not onebit)
  import    onebit-translate --import-gguf --kv-cache -> FP32 .mlirbc
  quantize  onebit-opt --onebit-quantize (SVID of every linear layer)
  streamed  onebit-translate --import-gguf --kv-cache --quantize: import
            and quantize in one process, each block rewritten as it is
            built (the FP32 model is never whole), -> the 1-bit .mlirbc
            that int8 then reads
  int8      onebit-opt --onebit-int8-weights (embedding and head)
  generate  onebit-generate: JIT compile, prefill of --prompt tokens,
            --gen tokens with the KV cache (its own tokens/s are reported)
  train     onebit-train: 3 KD steps at batch 1 x --seq-len from the GGUF
            teacher (gen: data), with --train-flags added (e.g.
            --checkpoint-activations --moments=bf16); its output goes to
            WORK/llama-*.train.log. With --report-memory in --train-flags
            the peak is the trainer's own run peak (the flag resets the one
            /usr/bin/time reads)

usage: large_model_e2e.py [--work DIR] [--build DIR] [--stages a,b,...]
       [--streamed]
       [--layers 22] [--dim 2048] [--ffn 5632] [--heads 32] [--kv-heads 4]
       [--vocab 32000] [--prompt 64] [--gen 32] [--seq-len 128]
       [--train-flags "..."] [--out FILE.md]

Smaller shapes (--layers 2 --dim 256 ...) run the same stages in seconds,
to try the script. Files are kept in --work; a stage whose output exists is
run again only when asked for with --stages.
"""
import argparse
import os
import re
import sys

from bench_common import cpu_name, emit
from bench_common import timed as bench_common_timed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log(msg):
    print(f"[large_model_e2e] {msg}", file=sys.stderr, flush=True)


def timed(cmd, what):
    """bench_common.timed with the RSS in GiB."""
    wall, rss, out = bench_common_timed(cmd, what, log)
    return wall, rss / (1024.0 ** 3), out


def size_gib(path):
    return os.path.getsize(path) / (1024.0 ** 3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--work", default="/tmp/onebit-large-model")
    ap.add_argument("--stages",
                    default="write,import,quantize,int8,generate,train")
    ap.add_argument("--streamed", action="store_true",
                    help="import and quantize in one streamed step (stage "
                    "'streamed') instead of the stages import and quantize")
    ap.add_argument("--layers", type=int, default=22)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--ffn", type=int, default=5632)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--gen", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0,
                    help="0: all cores")
    ap.add_argument("--train-flags", default="",
                    help="extra onebit-train flags, space-separated")
    ap.add_argument("--out", help="also write the table to this file")
    a = ap.parse_args()
    stages = a.stages.split(",")
    known = {"write", "import", "quantize", "streamed", "int8", "generate",
             "train"}
    if a.streamed:
        stages = ["streamed" if s == "import" else s for s in stages
                  if s != "quantize"]
    if not set(stages) <= known:
        sys.exit(f"unknown stage(s): {sorted(set(stages) - known)}")
    os.makedirs(a.work, exist_ok=True)
    bin_ = lambda t: os.path.join(a.build, "bin", t)
    shape = (f"{a.layers} layers, width {a.dim}, FFN {a.ffn}, {a.heads} heads,"
             f" {a.kv_heads} KV heads, vocabulary {a.vocab}")
    stem = os.path.join(a.work, f"llama-{a.layers}x{a.dim}")
    gguf, fp = stem + ".f16.gguf", stem + ".fp32.mlirbc"
    q, q8 = stem + ".1bit.mlirbc", stem + ".1bit-int8.mlirbc"
    threads = [] if a.threads <= 0 else ["--threads", str(a.threads)]
    rows = []

    def row(stage, wall, rss, note):
        rows.append((stage, wall, rss, note))
        log(f"{stage}: {wall:.1f} s, peak RSS {rss:.2f} GiB; {note}")

    if "write" in stages or not os.path.exists(gguf):
        w, r, _ = timed([sys.executable, os.path.join(
            ROOT, "test", "Generation", "Inputs", "make_tiny_llama.py"), gguf,
            "--layers", str(a.layers), "--dim", str(a.dim), "--heads",
            str(a.heads), "--kv-heads", str(a.kv_heads), "--ffn", str(a.ffn),
            "--vocab", str(a.vocab), "--context", "2048", "--f16"], "write")
        row("write GGUF F16 (numpy)", w, r, f"{size_gib(gguf):.2f} GiB file")
    if "streamed" in stages:
        w, r, _ = timed([bin_("onebit-translate"), "--import-gguf",
                         "--kv-cache", "--quantize", gguf, "--emit-bytecode",
                         "-o", q], "streamed")
        row("import + quantize, streamed (onebit-translate --import-gguf "
            "--kv-cache --quantize)", w, r, f"{size_gib(q):.2f} GiB .mlirbc")
    if not a.streamed and ("import" in stages or not os.path.exists(fp)):
        w, r, _ = timed([bin_("onebit-translate"), "--import-gguf",
                         "--kv-cache", gguf, "--emit-bytecode", "-o", fp],
                        "import")
        row("import (onebit-translate --import-gguf --kv-cache)", w, r,
            f"{size_gib(fp):.2f} GiB .mlirbc (FP32)")
    if not a.streamed and ("quantize" in stages or not os.path.exists(q)):
        w, r, _ = timed([bin_("onebit-opt"), fp, "--onebit-quantize",
                         "--emit-bytecode", "-o", q], "quantize")
        row("--onebit-quantize (SVID)", w, r, f"{size_gib(q):.2f} GiB .mlirbc")
    if "int8" in stages or not os.path.exists(q8):
        w, r, _ = timed([bin_("onebit-opt"), q, "--onebit-int8-weights",
                         "--emit-bytecode", "-o", q8], "int8")
        row("--onebit-int8-weights (embedding, head)", w, r,
            f"{size_gib(q8):.2f} GiB .mlirbc")
    if "generate" in stages:
        ids = ",".join(str(1 + i % (a.vocab - 1)) for i in range(a.prompt))
        w, r, out = timed(["env", "ONEBIT_CACHE_DIR=off",
                           bin_("onebit-generate"), q8, "--prompt-ids", ids,
                           "--max-tokens", str(a.gen), "--temperature", "0",
                           "--ids"] + threads, "generate")
        speeds = "; ".join(
            m.strip() for m in re.findall(
                r"onebit-generate: ((?:compile|prompt|generation)[^\n]*)",
                out)) or out.strip().splitlines()[-1]
        row(f"generate ({a.prompt} prompt + {a.gen} tokens, KV cache, "
            "compile included)", w, r, speeds)
    if "train" in stages:
        run_dir = stem + ".train"
        w, r, out = timed(["env", "ONEBIT_CACHE_DIR=off",
                           bin_("onebit-train"), "--teacher", gguf, "--data",
                           "gen:2", "--batch", "1", "--seq-len",
                           str(a.seq_len), "--steps", "3", "--lr", "1e-4",
                           "--out", run_dir] + threads + a.train_flags.split(),
                          "train")
        with open(run_dir + ".log", "w") as f:
            f.write(out)
        # --report-memory resets the peak /usr/bin/time reads after each
        # phase; its own run peak (MB, 10^6 bytes) is the run's.
        peaks = [float(m) for m in re.findall(r"run peak ([0-9.]+) MB", out)]
        if peaks:
            r = max(peaks) * 1e6 / (1024.0 ** 3)
        compiled = re.search(r"train step compiled for \S+ in ([0-9.]+) s",
                             out)
        last = re.findall(r"step 3/3[^\n]*", out)
        note = (f"step compile {compiled.group(1)} s; " if compiled else "") + \
            (last[-1] if last else "") + \
            ("; peak: --report-memory's run peak" if peaks else "")
        row(f"3 KD steps, batch 1 x {a.seq_len} {a.train_flags}".strip(), w, r,
            note)

    lines = [f"Model: {shape} (random weights). CPU: {cpu_name()}, "
             f"{os.cpu_count()} cores.", "",
             "| stage | wall s | peak RSS GiB | notes |",
             "|---|---:|---:|---|"]
    lines += [f"| {s} | {w:.1f} | {r:.2f} | {n} |" for s, w, r, n in rows]
    emit("\n".join(lines) + "\n", a.out)


if __name__ == "__main__":
    main()
