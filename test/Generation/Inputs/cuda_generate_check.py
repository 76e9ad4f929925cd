"""Generates with onebit-generate --device cuda and checks the outcome.
Without a CUDA driver or GPU the run must fail with the tool's message
(printed); with one, its tokens must be the CPU run's and its logits within
1e-5 of them.
usage: cuda_generate_check.py ONEBIT_GENERATE MODEL CPU_IDS.txt CPU_LOGITS.npy
       WORKDIR -- ARGS...
"""
import os
import subprocess
import sys

import numpy as np


def main():
    gen, model, cpu_ids, cpu_logits, work = sys.argv[1:6]
    args = sys.argv[sys.argv.index("--") + 1:]
    logits = os.path.join(work, "cuda-logits.npy")
    p = subprocess.run([gen, model, "--device", "cuda", "--logits", logits]
                       + args, capture_output=True, text=True)
    if p.returncode != 0:
        msg = p.stderr.strip()
        print(msg)
        ok = msg.startswith("onebit-generate: error: --device=cuda: no CUDA "
                            "driver/GPU found (")
        return 0 if ok else 1
    with open(cpu_ids) as f:
        want = f.read().split()
    got = p.stdout.split()
    if got != want:
        print(f"FAIL: cuda tokens {got} differ from the CPU's {want}")
        return 1
    c, r = np.load(logits).astype(np.float64), np.load(cpu_logits)
    err = np.abs(c - r).max() / max(np.abs(r).max(), 1e-30)
    if c.shape != r.shape or not err <= 1e-5:
        print(f"FAIL: cuda logits differ: shape {c.shape} vs {r.shape}, "
              f"rel_err={err:.2e}")
        return 1
    print(f"ok: cuda generation matches the CPU, rel_err={err:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
