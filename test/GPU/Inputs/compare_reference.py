"""Compares a layer's output (onebit-run --output) with gpu-bench's host
reference (gpu-bench --write-layer: ref.npy, scale.npy, l2.npy) under
gpu-bench's own tolerance: |y - ref| <= 1e-3 |ref| + 3e-5 scale + 1.7e-3 l2
without a post-norm (the last term: g x rounded to f16 on tensor cores),
2e-3 |ref| + 2e-3 with one. --flip-sign first flips the sign of weight
(0, 0) in DIR/signs.npy, to show the tolerance catches one wrong weight.
usage: compare_reference.py DIR [--post-norm] [--flip-sign]
"""
import sys

import numpy as np


def main():
    d = sys.argv[1]
    if "--flip-sign" in sys.argv:
        s = np.load(d + "/signs.npy")
        s[0, 0] ^= 1
        np.save(d + "/signs.npy", s)
        return 0
    y = np.load(d + "/y.npy").astype(np.float64)
    ref, scale = np.load(d + "/ref.npy"), np.load(d + "/scale.npy")
    l2 = np.load(d + "/l2.npy")
    if y.shape != ref.shape:
        print(f"FAIL: shape {y.shape} vs {ref.shape}")
        return 1
    if "--post-norm" in sys.argv:
        tol = 2e-3 * np.abs(ref) + 2e-3
    else:
        tol = 1e-3 * np.abs(ref) + 3e-5 * scale + 1.7e-3 * l2
    worst = float((np.abs(y - ref) / tol).max())
    verdict = "ok" if np.isfinite(y).all() and worst <= 1 else "FAIL"
    print(f"{verdict}: {y.shape[0]}x{y.shape[1]} within "
          f"{worst:.2f} of the tolerance")
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
