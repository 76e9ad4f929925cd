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


def say(work, line):
    """Prints the verdict and appends it to WORK/result.txt (read by
    scripts/gpu-check.sh, since FileCheck consumes the output)."""
    print(line)
    with open(os.path.join(work, "result.txt"), "a") as f:
        f.write(os.path.basename(sys.argv[2]) + ": " + line + "\n")


def main():
    run, model, shape, work = sys.argv[1:5]
    x = np.random.default_rng(0).standard_normal(
        [int(d) for d in shape.split("x")]).astype(np.float32)
    xp, cpu, gpu = (os.path.join(work, n) for n in ("x.npy", "cpu.npy", "gpu.npy"))
    np.save(xp, x)
    subprocess.run([run, model, "--input", xp, "--output", cpu], check=True)
    p = subprocess.run([run, model, "--device=cuda", "--input", xp,
                        "--output", gpu], capture_output=True, text=True)
    if p.returncode != 0:
        msg = p.stderr.strip()
        say(work, msg)
        ok = msg.startswith("onebit-run: error: --device=cuda: no CUDA "
                            "driver/GPU found (")
        if ok and os.environ.get("ONEBIT_REQUIRE_GPU") == "1":
            say(work, "FAIL: ONEBIT_REQUIRE_GPU=1 but no GPU was found")
            return 1
        return 0 if ok else 1
    want, got = np.load(cpu).astype(np.float64), np.load(gpu).astype(np.float64)
    err = np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)
    if got.shape != want.shape or not err <= 1e-5:
        say(work, f"FAIL: GPU differs from CPU: shape {got.shape} vs "
            f"{want.shape}, rel_err={err:.2e}")
        return 1
    say(work, f"ok: GPU matches CPU, rel_err={err:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
