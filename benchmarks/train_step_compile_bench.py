#!/usr/bin/env python3
"""Compile cost of the KD train step and of the inference entries against depth.

For each layer count, writes a tiny LLaMA GGUF of one width
(test/Generation/Inputs/make_tiny_llama.py), builds its train step with
onebit-opt --onebit-build-train-step in each mode, and compiles
@main_train_step with onebit-compile (the CPU pipeline and LLVM code
generation of the JIT, then a link) under /usr/bin/time -v:

  unrolled   the default pass: the gradient is differentiated unrolled
             (the CPU pipeline outlines its layer runs afterwards)
  outlined   outline-layers=true: the loss's layers are outlined before
             reverse mode, the gradient calls one forward/backward per form
  checkpoint checkpoint-activations=true: as outlined, and each layer's
             backward recomputes its forward
  inplace, inplace-outlined, inplace-checkpoint
             unrolled, outlined and checkpoint with update-in-place=true,
             the steps onebit-train builds on the CPU
  inference  no train step: the GGUF itself, @prefill and @decode
             (onebit-compile M.gguf --entries=prefill,decode, what
             onebit-generate compiles)

Prints, per model and mode, the CPU seconds (user + system) and peak RSS of
the compile, and the 32-layer / 4-layer ratio. CPU time is the figure on a
shared machine; the wall time is printed too. `--repeat N` compiles each
model N times, the layer counts alternated, and keeps the least CPU time
(short compiles vary by tens of percent from run to run). `--env VAR=VALUE`
sets a variable for the compiles (e.g. ONEBIT_LAYER_LOOPS=0 for the
comparison with every layer call in line).

`--instructions` also compiles each model once under valgrind's callgrind
and prints the instructions the compile executed, and their 32 / 4 ratio:
a count that does not move from run to run, for hosts whose CPU times do
(the profile is left in WORK/lN-MODE.callgrind for callgrind_annotate
--inclusive=yes). It is about 80 times slower than a compile (a 3 s
compile takes about 4 minutes).

usage: train_step_compile_bench.py [--build build] [--layers 4,32]
       [--dim 64] [--modes unrolled,outlined,checkpoint,inference]
       [--repeat 1] [--env VAR=VALUE ...] [--work DIR] [--instructions]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
MAKE = os.path.join(HERE, "..", "test", "Generation", "Inputs",
                    "make_tiny_llama.py")
OPTIONS = {
    "unrolled": "",
    "outlined": "outline-layers=true",
    "checkpoint": "checkpoint-activations=true",
    # What onebit-train builds on the CPU: the state updated in place.
    "inplace": "update-in-place=true",
    "inplace-outlined": "update-in-place=true outline-layers=true",
    "inplace-checkpoint": "update-in-place=true checkpoint-activations=true",
    "inference": None,
}


def timed(cmd, env):
    """Runs cmd under /usr/bin/time -v; (cpu s, wall s, peak RSS MB)."""
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, env=env,
                       capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr[-3000:]}")
    field = lambda name: re.search(name + r": (.*)", p.stderr).group(1)
    cpu = float(field("User time \\(seconds\\)")) + float(
        field("System time \\(seconds\\)"))
    wall = field("Elapsed \\(wall clock\\) time \\(h:mm:ss or m:ss\\)")
    secs = 0.0
    for part in wall.split(":"):
        secs = secs * 60 + float(part)
    return cpu, secs, int(field("Maximum resident set size \\(kbytes\\)")) / 1024


def counted(cmd, env, out):
    """Runs cmd under callgrind (profile written to out); instructions."""
    p = subprocess.run(["valgrind", "--tool=callgrind",
                        f"--callgrind-out-file={out}"] + cmd, env=env,
                       capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"failed under valgrind: {' '.join(cmd)}\n"
                 f"{p.stderr[-3000:]}")
    m = re.search(r"Collected : (\d+)", p.stderr)
    if not m:
        sys.exit(f"callgrind printed no instruction count for {' '.join(cmd)}")
    return int(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--layers", default="4,32")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--modes", default="unrolled,outlined,checkpoint")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--work")
    ap.add_argument("--instructions", action="store_true")
    args = ap.parse_args()
    if args.instructions and shutil.which("valgrind") is None:
        sys.exit("--instructions needs valgrind (Debian package valgrind, "
                 "installed by scripts/test.sh and scripts/quickstart.sh)")
    bin_dir = os.path.join(args.build, "bin")
    work = args.work or tempfile.mkdtemp(prefix="train-step-compile-")
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, ONEBIT_CACHE_DIR="off")
    for kv in args.env:
        if "=" not in kv:
            sys.exit(f"--env {kv}: expected VAR=VALUE")
        k, v = kv.split("=", 1)
        env[k] = v
    modes = args.modes.split(",")
    for m in modes:
        if m not in OPTIONS:
            sys.exit(f"unknown mode '{m}' (expected {', '.join(OPTIONS)})")
    layers = [int(n) for n in args.layers.split(",")]
    results = {}
    steps = {}
    for n in layers:
        gguf = os.path.join(work, f"l{n}.gguf")
        # Inference is measured on the generation test's shape (8 heads);
        # the step on the training tests' (4 heads).
        heads = ["--heads", "8", "--kv-heads", "4", "--ffn", str(2 * args.dim),
                 "--vocab", "512"] if modes == ["inference"] else [
                     "--heads", "4", "--kv-heads", "2"]
        subprocess.run([sys.executable, MAKE, gguf, "--layers", str(n),
                        "--dim", str(args.dim)] + heads, check=True)
        mlirbc = os.path.join(work, f"l{n}.mlirbc")
        subprocess.run([os.path.join(bin_dir, "onebit-translate"),
                        "--import-gguf", gguf, "--emit-bytecode", "-o",
                        mlirbc], check=True)
        for m in modes:
            if OPTIONS[m] is None:
                steps[(n, m)] = (gguf, "prefill,decode")
                continue
            step = os.path.join(work, f"l{n}-{m}.mlirbc")
            build = timed([os.path.join(bin_dir, "onebit-opt"), mlirbc,
                           f"--onebit-build-train-step={OPTIONS[m]}",
                           "--emit-bytecode", "-o", step], env)
            print(f"width {args.dim}, {n:3d} layers, {m:10s}: build "
                  f"{build[0]:6.2f} s CPU", flush=True)
            steps[(n, m)] = (step, "main_train_step")
    for rep in range(args.repeat):
        for m in modes:
            for n in layers:
                src, entries = steps[(n, m)]
                comp = timed([os.path.join(bin_dir, "onebit-compile"), src,
                              f"--entries={entries}", "-o",
                              os.path.join(work, f"l{n}-{m}.onebit")], env)
                if (n, m) not in results or comp[0] < results[(n, m)][0]:
                    results[(n, m)] = comp
                print(f"width {args.dim}, {n:3d} layers, {m:10s}: compile "
                      f"{comp[0]:7.2f} s CPU ({comp[1]:.1f} s wall), peak "
                      f"RSS {comp[2]:.0f} MB", flush=True)
    counts = {}
    if args.instructions:
        for m in modes:
            for n in layers:
                src, entries = steps[(n, m)]
                counts[(n, m)] = counted(
                    [os.path.join(bin_dir, "onebit-compile"), src,
                     f"--entries={entries}", "-o",
                     os.path.join(work, f"l{n}-{m}.onebit")], env,
                    os.path.join(work, f"l{n}-{m}.callgrind"))
                print(f"width {args.dim}, {n:3d} layers, {m:10s}: compile "
                      f"{counts[(n, m)] / 1e9:7.2f} G instructions",
                      flush=True)
    if len(layers) == 2:
        lo, hi = layers
        for m in modes:
            ratio = results[(hi, m)][0] / results[(lo, m)][0]
            print(f"{m}: {hi} / {lo} layers = {ratio:.2f}x CPU (least of "
                  f"{args.repeat}: {results[(lo, m)][0]:.2f} s, "
                  f"{results[(hi, m)][0]:.2f} s)")
            if counts:
                print(f"{m}: {hi} / {lo} layers = "
                      f"{counts[(hi, m)] / counts[(lo, m)]:.2f}x instructions "
                      f"({counts[(lo, m)] / 1e9:.2f} G, "
                      f"{counts[(hi, m)] / 1e9:.2f} G)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
