#!/usr/bin/env python3
"""LLaMA-7B shape, quantization only (issue 28, item 5): import, quantize and
write the packed model from a 7B-shaped ONNX with f16 external data, streamed
(onebit-translate --import-onnx --quantize), against the targets: at most 15
minutes and at most 4 GB of peak RSS beyond the mapped input.

The model (benchmarks/llama_onnx.py: 32 layers, width 4096, FFN 11008, 32
heads, vocabulary 32000, random weights, ~13.5 GB of f16) is written one
tensor at a time. The quantize step runs under /usr/bin/time (wall seconds,
maximum RSS). The importer maps the external data and releases each weight's
pages once its layer is rewritten, so the maximum RSS counts the heap plus
the mapped pages resident at the worst moment (one weight's, and the kept
embedding and head while they are written); it is reported as is, an upper
bound on the RSS beyond the mapped input.

usage: quantize_7b.py [--work /work/bench/7b] [--build DIR] [--keep]
       [--model EXISTING.onnx]
       [--layers 32] [--dim 4096] [--ffn 11008] [--heads 32] [--vocab 32000]
       [--quantize-options "..."] [--out FILE.md]

Smaller shapes (--layers 2 --dim 256 --ffn 512 --vocab 1000) run the same
steps in seconds. Files are deleted at the end unless --keep.
"""
import argparse
import os
import shutil
import sys
import time

from bench_common import cpu_name, emit, timed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import llama_onnx  # noqa: E402


def log(msg):
    print(f"[quantize_7b] {msg}", file=sys.stderr, flush=True)



def gib(n):
    return n / 1024.0 ** 3


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default="/work/bench/7b")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--keep", action="store_true",
                    help="keep the model files")
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--dim", type=int, default=4096)
    ap.add_argument("--ffn", type=int, default=11008)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--quantize-options", default="stats=true")
    ap.add_argument("--model", help="an existing model written by "
                    "llama_onnx.py with this shape (not deleted)")
    ap.add_argument("--out")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    stem = os.path.join(a.work, f"llama-{a.layers}x{a.dim}")
    onnx_path, out = a.model or stem + ".onnx", stem + ".1bit.mlirbc"
    data = onnx_path + ".data"
    params = (a.vocab * a.dim * 2 + a.layers *
              (4 * a.dim * a.dim + 3 * a.dim * a.ffn + 2 * a.dim) + a.dim)
    need = params * 2 * 1.15
    free = shutil.disk_usage(a.work).free
    if not os.path.exists(data) and free < need:
        sys.exit(f"quantize_7b: {gib(free):.1f} GiB free in {a.work}, the "
                 f"model needs {gib(need):.1f} GiB")
    rows = []
    if not (os.path.exists(onnx_path) and os.path.exists(data)):
        log(f"writing {onnx_path} ({gib(params * 2):.1f} GiB of f16)")
        start = time.monotonic()
        llama_onnx.write(onnx_path, a.layers, a.dim, a.ffn, a.heads, a.vocab)
        rows.append(("write the ONNX + f16 external data (numpy)",
                     time.monotonic() - start, None,
                     f"{gib(os.path.getsize(data)):.2f} GiB of data"))
    translate = os.path.join(a.build, "bin", "onebit-translate")
    wall, rss, text = timed([translate, "--import-onnx", onnx_path,
                             f"--quantize={a.quantize_options}",
                             "--emit-bytecode", "-o", out],
                            "quantize_7b: onebit-translate", log)
    summary = [ln for ln in text.splitlines()
               if "linear layers quantized" in ln]
    rows.append(("import + quantize + write, streamed "
                 "(onebit-translate --import-onnx --quantize)", wall, rss,
                 f"{gib(os.path.getsize(out)):.2f} GiB .mlirbc; " +
                 (summary[-1].replace("onebit-quantize: ", "")
                  if summary else "")))
    ok_time, ok_rss = wall <= 15 * 60, rss <= 4 * 1024 ** 3
    shape = (f"{a.layers} layers, width {a.dim}, FFN {a.ffn}, {a.heads} heads,"
             f" vocabulary {a.vocab}; {params / 1e9:.2f} B parameters")
    lines = [f"Model: {shape} (random weights, f16 external data). CPU: "
             f"{cpu_name()}, {os.cpu_count()} cores.", "",
             "| step | wall s | peak RSS GiB | notes |", "|---|---:|---:|---|"]
    lines += [f"| {s} | {w:.1f} | {'' if r is None else f'{gib(r):.2f}'} | "
              f"{n} |" for s, w, r, n in rows]
    lines += ["", f"Targets: wall <= 900 s: {'met' if ok_time else 'NOT met'}"
              f" ({wall:.0f} s); peak RSS <= 4 GiB: "
              f"{'met' if ok_rss else 'NOT met'} ({gib(rss):.2f} GiB, mapped"
              " pages included)."]
    emit("\n".join(lines) + "\n", a.out)
    if not a.keep:
        for p in ((out,) if a.model else (onnx_path, data, out)):
            if os.path.exists(p):
                os.unlink(p)


if __name__ == "__main__":
    main()
