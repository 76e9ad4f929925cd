"""Compares the logits two generations chose their tokens from (the .npy
onebit-generate --logits writes): same number of steps, max relative
difference (to the reference's largest magnitude) within --rtol.
usage: compare_logits.py CACHED.npy RECOMPUTED.npy [--rtol 1e-5]
"""
import argparse
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cached")
    ap.add_argument("reference")
    ap.add_argument("--rtol", type=float, default=1e-5)
    a = ap.parse_args()
    c, r = np.load(a.cached), np.load(a.reference)
    if c.shape != r.shape:
        print(f"compare-logits: shapes differ {c.shape} vs {r.shape}")
        return 1
    rel = float(np.abs(c - r).max() / max(np.abs(r).max(), 1e-30))
    print(f"steps={c.shape[0]} vocab={c.shape[1]} max_rel_diff={rel:.3g}")
    if not np.isfinite(c).all() or rel > a.rtol:
        print(f"compare-logits: FAILED (rtol {a.rtol})")
        return 1
    print("compare-logits: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
