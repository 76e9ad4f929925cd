"""Trains the same few steps with onebit-train on the CPU and with --device
DEVICE, and compares the JSONL logs step by step (loss, l_ce, l_mse, lr) to
1e-4 relative. The device run must also say that its step was compiled for
DEVICE (the target the compiled model records, so a trainer that ignored
--device and lowered for the CPU fails here) and, for cuda, name its GPU
kernels. The device run must hold the train state where the step's kernels
read it for the whole run: uploaded once (one upload per tensor) and
downloaded once, for the final checkpoint (the run writes no other), however
many steps it trains. For --device=cuda without a CUDA driver or GPU the run must fail
with onebit-train's message, which is printed (a failure with
ONEBIT_REQUIRE_GPU=1, as scripts/gpu-check.sh sets on a GPU machine).
usage: device_check.py ONEBIT_TRAIN TEACHER DEVICE WORKDIR
"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "GPU", "Inputs"))
from gpu_verdict import Verdicts  # noqa: E402

STEPS = 3


def train(exe, teacher, out, device):
    cmd = [exe, "--teacher", teacher, "--data", "gen:8", "--steps", str(STEPS),
           "--warmup", "1", "--lr", "1e-3", "--threads", "1",
           "--checkpoint-every", "0", "--out", out, "--device", device]
    return subprocess.run(cmd, capture_output=True, text=True)


def log(out):
    return [json.loads(l) for l in open(os.path.join(out, "train.jsonl"))]


def main():
    exe, teacher, device, work = sys.argv[1:5]
    verdicts = Verdicts(work)
    say = verdicts.say
    cpu = train(exe, teacher, os.path.join(work, "cpu"), "cpu")
    if cpu.returncode != 0:
        say("FAIL: the CPU run failed:\n" + cpu.stderr)
        return 1
    dev = train(exe, teacher, os.path.join(work, device), device)
    if dev.returncode != 0:
        if device != "cuda":
            say(dev.stderr.strip())
            return 1
        return verdicts.device_failed("onebit-train", dev.stderr)
    compiled = re.search(r"train step compiled for (\S+) in [0-9.]+ s"
                         r"(?: \(([0-9]+) GPU kernels\))?", dev.stderr)
    if not compiled or compiled.group(1) != device:
        say(f"FAIL: the {device} run's step was not compiled for {device}:"
              f"\n{dev.stderr}")
        return 1
    if device == "cuda" and not int(compiled.group(2) or 0):
        say("FAIL: the cuda run names no GPU kernels")
        return 1
    held = re.search(r"train state held (?:in device memory|as the emulated "
                     r"device's): ([0-9]+) tensors, ([0-9]+) bytes, uploaded "
                     r"once", dev.stderr)
    moved = re.search(r"train state on the device: ([0-9]+) tensor uploads "
                      r"\(([0-9]+) bytes\), ([0-9]+) tensor downloads "
                      r"\(([0-9]+) bytes\) over ([0-9]+) steps", dev.stderr)
    if not held or not moved:
        say(f"FAIL: the {device} run does not hold its train state on the "
            f"device:\n{dev.stderr}")
        return 1
    tensors, size = int(held.group(1)), int(held.group(2))
    counts = [int(moved.group(i)) for i in range(1, 6)]
    if counts != [tensors, size, tensors, size, STEPS]:
        say(f"FAIL: {STEPS} steps moved the train state ({tensors} tensors, "
            f"{size} bytes) more than once each way: {moved.group(0)}")
        return 1
    a, b = log(os.path.join(work, "cpu")), log(os.path.join(work, device))
    if len(a) != STEPS or len(b) != STEPS:
        say(f"FAIL: {len(a)} and {len(b)} logged steps, expected {STEPS}")
        return 1
    worst = 0.0
    for ra, rb in zip(a, b):
        for k in ("lr", "loss", "l_ce", "l_mse"):
            worst = max(worst, abs(ra[k] - rb[k]) / max(abs(ra[k]), 1e-30))
    if not worst <= 1e-4:
        say(f"FAIL: {device} differs from cpu: max rel err {worst:.2e}\n"
              f"{a}\n{b}")
        return 1
    say(f"ok: {device} matches cpu over {STEPS} steps, "
          f"max rel err {worst:.2e}; train state ({tensors} tensors, "
          f"{size} bytes) uploaded once, downloaded once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
