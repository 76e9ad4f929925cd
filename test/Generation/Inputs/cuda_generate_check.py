"""Generates with the KV cache on the CPU (the EXACT 1-bit kernels) and with
--device=cuda, greedily, and compares the tokens (equal) and the logits
they were chosen from (1e-5 relative to the largest). Without a CUDA driver
or GPU the cuda run must fail with onebit-generate's message, which is
printed; with ONEBIT_REQUIRE_GPU=1 (scripts/gpu-check.sh on a GPU machine)
that message is a failure too.
usage: cuda_generate_check.py ONEBIT_GENERATE MODEL WORKDIR
"""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "GPU", "Inputs"))
from gpu_verdict import Verdicts  # noqa: E402


def generate(exe, model, work, device):
    ids, logits = (os.path.join(work, f"{device}.{n}") for n in ("txt", "npy"))
    env = dict(os.environ, ONEBIT_KERNEL_MODE="exact")
    p = subprocess.run([exe, model, "--prompt-ids", "1,2,3,4,5",
                        "--max-tokens", "16", "--temperature", "0", "--ids",
                        "--logits", logits, "--device", device],
                       capture_output=True, text=True, env=env)
    return p, p.stdout.split(), logits


def main():
    exe, model, work = sys.argv[1:4]
    say = Verdicts(work).say
    cpu, cpu_ids, cpu_logits = generate(exe, model, work, "cpu")
    if cpu.returncode != 0:
        say("FAIL: the CPU run failed:\n" + cpu.stderr)
        return 1
    gpu, gpu_ids, gpu_logits = generate(exe, model, work, "cuda")
    if gpu.returncode != 0:
        return Verdicts(work).device_failed("onebit-generate", gpu.stderr)
    if gpu_ids != cpu_ids:
        say(f"FAIL: tokens differ: cuda {gpu_ids} cpu {cpu_ids}")
        return 1
    a, b = np.load(gpu_logits), np.load(cpu_logits)
    err = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))
    if a.shape != b.shape or not err <= 1e-5:
        say(f"FAIL: logits differ: shape {a.shape} vs {b.shape}, "
              f"rel_err={err:.2e}")
        return 1
    say(f"ok: cuda generation matches cpu ({len(cpu_ids)} tokens), "
          f"rel_err={err:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
