"""Runs a model with onebit-run on the CPU and with --device=cuda. Without
a CUDA driver or GPU the GPU run must fail with onebit-run's message (which
is printed); with one, its output must match the CPU's to 1e-5 relative.
With ONEBIT_REQUIRE_GPU=1 (scripts/gpu-check.sh) that message is a failure.
usage: gpu_run_check.py ONEBIT_RUN MODEL SHAPE (e.g. 4x32, f32 input) WORKDIR
"""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "GPU", "Inputs"))
from gpu_verdict import Verdicts  # noqa: E402


def main():
    run, model, shape, work = sys.argv[1:5]
    verdicts = Verdicts(work, os.path.basename(model) + ": ")
    x = np.random.default_rng(0).standard_normal(
        [int(d) for d in shape.split("x")]).astype(np.float32)
    xp, cpu, gpu = (os.path.join(work, n) for n in ("x.npy", "cpu.npy", "gpu.npy"))
    np.save(xp, x)
    subprocess.run([run, model, "--input", xp, "--output", cpu], check=True)
    p = subprocess.run([run, model, "--device=cuda", "--input", xp,
                        "--output", gpu], capture_output=True, text=True)
    if p.returncode != 0:
        return verdicts.device_failed("onebit-run", p.stderr)
    want, got = np.load(cpu).astype(np.float64), np.load(gpu).astype(np.float64)
    err = np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)
    if got.shape != want.shape or not err <= 1e-5:
        verdicts.say(f"FAIL: GPU differs from CPU: shape {got.shape} vs "
            f"{want.shape}, rel_err={err:.2e}")
        return 1
    verdicts.say(f"ok: GPU matches CPU, rel_err={err:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
